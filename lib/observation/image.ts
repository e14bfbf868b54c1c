/**
 * Camera image validation and conversion (pure: no ROS). A sensor_msgs/Image is accepted when
 * its encoding is one the model runtime converts (rgb8, bgr8, rgba8, bgra8, mono8; "8UC3" and
 * "8UC1" as their bgr8/mono8 equivalents), its step covers a row, and its data holds exactly
 * `step × height` bytes. Anything else marks the camera invalid with a code naming the problem.
 */
import { fail, ok, type Result } from "../errors.ts";
import type { RawImage } from "../../models/runtime/image.ts";

export type ImageEncoding = RawImage["encoding"];

export const CHANNELS: Readonly<Record<ImageEncoding, number>> = {
  rgb8: 3,
  bgr8: 3,
  rgba8: 4,
  bgra8: 4,
  mono8: 1,
};

const ALIASES: Readonly<Record<string, ImageEncoding>> = {
  "8UC3": "bgr8",
  "8UC1": "mono8",
  "8UC4": "bgra8",
};

/** The fields of sensor_msgs/Image this check reads. */
export interface ImageLike {
  readonly width: number;
  readonly height: number;
  readonly encoding: string;
  readonly step: number;
  readonly is_bigendian?: number;
  readonly data: Uint8Array | ArrayLike<number>;
}

export interface ImageLimits {
  /** Largest accepted width × height (pixels); default 4096 × 4096. */
  maxPixels?: number;
  /** When set, the only accepted size. */
  width?: number;
  height?: number;
}

export function normalizeEncoding(encoding: string): ImageEncoding | undefined {
  const e = encoding.trim();
  if (e in CHANNELS) return e as ImageEncoding;
  const lower = e.toLowerCase();
  if (lower in CHANNELS) return lower as ImageEncoding;
  return ALIASES[e.toUpperCase()];
}

/** Validates one raw image from `camera`. The returned image shares the message's bytes. */
export function checkImage(
  camera: string,
  msg: ImageLike,
  limits: ImageLimits = {},
): Result<RawImage> {
  const enc = normalizeEncoding(msg.encoding);
  if (enc === undefined)
    return fail(
      "E_IMAGE_ENCODING",
      `camera ${camera}: unsupported encoding '${msg.encoding}' (accepted: rgb8, bgr8, rgba8, bgra8, mono8)`,
      { camera, encoding: msg.encoding },
    );
  const { width, height, step } = msg;
  const n = msg.data?.length ?? 0;
  if (n === 0 || !(width > 0) || !(height > 0))
    return fail("E_IMAGE_EMPTY", `camera ${camera}: empty image (${width}x${height}, ${n} bytes)`, {
      camera,
    });
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width * height > (limits.maxPixels ?? 4096 * 4096)
  )
    return fail("E_IMAGE_SIZE", `camera ${camera}: implausible size ${width}x${height}`, {
      camera,
    });
  if (
    (limits.width !== undefined && width !== limits.width) ||
    (limits.height !== undefined && height !== limits.height)
  )
    return fail(
      "E_IMAGE_SIZE",
      `camera ${camera}: image is ${width}x${height}, expected ${limits.width}x${limits.height}`,
      { camera },
    );
  const ch = CHANNELS[enc];
  if (step < width * ch)
    return fail(
      "E_IMAGE_SIZE",
      `camera ${camera}: step ${step} is below width × channels = ${width * ch} for ${width}x${height} ${enc}`,
      { camera, step },
    );
  if (n !== step * height)
    return fail(
      "E_IMAGE_SIZE",
      `camera ${camera}: data has ${n} bytes, step ${step} × height ${height} needs ${step * height}`,
      { camera, bytes: n },
    );
  const data = msg.data instanceof Uint8Array ? msg.data : Uint8Array.from(msg.data);
  return ok({ width, height, encoding: enc, step, data });
}

/** Converts any accepted image to packed rgb8 (a new buffer). For tools and tests; the model reads every encoding directly. */
export function toRgb8(img: RawImage): RawImage {
  const { width: w, height: h } = img;
  const ch = CHANNELS[img.encoding];
  const step = img.step ?? w * ch;
  const out = new Uint8Array(w * h * 3);
  const swap = img.encoding === "bgr8" || img.encoding === "bgra8";
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = y * step + x * ch;
      const d = (y * w + x) * 3;
      if (ch === 1) {
        out[d] = out[d + 1] = out[d + 2] = img.data[s]!;
      } else {
        out[d] = img.data[swap ? s + 2 : s]!;
        out[d + 1] = img.data[s + 1]!;
        out[d + 2] = img.data[swap ? s : s + 2]!;
      }
    }
  }
  return { width: w, height: h, encoding: "rgb8", step: w * 3, data: out };
}
