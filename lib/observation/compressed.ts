/**
 * sensor_msgs/CompressedImage decoding (jpeg, png) with pure-JS decoders. The format string
 * (e.g. "jpeg", "png", "rgb8; jpeg compressed bgr8") is checked against the data's magic bytes,
 * which decide. The observer runs this in its decode worker (`decoder.ts`): a 128×128 jpeg takes
 * about a millisecond, but a 1280×960 one takes hundreds, far more than a control period.
 * `maxPixels` bounds the cost of a hostile or misconfigured stream.
 */
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { fail, ok, toWire, type Result, type WireResult } from "../errors.ts";
import type { RawImage } from "../../models/runtime/image.ts";

export interface CompressedLike {
  readonly format: string;
  readonly data: Uint8Array | ArrayLike<number>;
}

export type CompressedKind = "jpeg" | "png";

export function sniffFormat(data: ArrayLike<number>): CompressedKind | undefined {
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return "jpeg";
  if (
    data.length >= 8 &&
    data[0] === 0x89 &&
    data[1] === 0x50 &&
    data[2] === 0x4e &&
    data[3] === 0x47
  )
    return "png";
  return undefined;
}

/** Decodes one compressed image from `camera` into rgba8. */
export function decodeCompressed(
  camera: string,
  msg: CompressedLike,
  maxPixels = 4096 * 4096,
): Result<RawImage> {
  const n = msg.data?.length ?? 0;
  if (n === 0) return fail("E_IMAGE_EMPTY", `camera ${camera}: empty compressed image`, { camera });
  const bytes = msg.data instanceof Uint8Array ? msg.data : Uint8Array.from(msg.data);
  const kind = sniffFormat(bytes);
  const fmt = msg.format.toLowerCase();
  if (kind === undefined) {
    const claimed = fmt.includes("png")
      ? "png"
      : fmt.includes("jpeg") || fmt.includes("jpg")
        ? "jpeg"
        : undefined;
    return fail(
      "E_IMAGE_ENCODING",
      claimed
        ? `camera ${camera}: format says ${claimed} but the data is not ${claimed}`
        : `camera ${camera}: unsupported compressed format '${msg.format}' (accepted: jpeg, png)`,
      { camera, format: msg.format },
    );
  }
  try {
    if (kind === "jpeg") {
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: 512,
      });
      return ok({
        width: img.width,
        height: img.height,
        encoding: "rgba8",
        step: img.width * 4,
        data: img.data,
      });
    }
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (png.width * png.height > maxPixels)
      return fail(
        "E_IMAGE_SIZE",
        `camera ${camera}: png is ${png.width}x${png.height}, too large`,
        { camera },
      );
    const data = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
    return ok({
      width: png.width,
      height: png.height,
      encoding: "rgba8",
      step: png.width * 4,
      data,
    });
  } catch (e) {
    return fail(
      "E_IMAGE_ENCODING",
      `camera ${camera}: cannot decode ${kind}: ${(e as Error).message}`,
      {
        camera,
      },
    );
  }
}

/** Made inside the decode worker by `CompressedDecoder` (WorkerHost.loadTask). */
export function createCompressedDecoder(maxPixels?: number): {
  decode(camera: string, msg: CompressedLike): WireResult<RawImage>;
} {
  return {
    decode(camera, msg) {
      const r = decodeCompressed(camera, msg, maxPixels);
      // The pixels are transferred back, not copied: they must own their whole buffer.
      if (r.ok && r.value.data.byteLength !== r.value.data.buffer.byteLength)
        return ok({ ...r.value, data: r.value.data.slice() });
      return toWire(r);
    },
  };
}
