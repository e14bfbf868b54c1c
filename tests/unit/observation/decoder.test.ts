import { afterAll, describe, expect, it } from "vitest";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import type { Result } from "../../../lib/errors.ts";
import {
  CompressedDecoder,
  ObservationStore,
  decodeCompressed,
  type CompressedLike,
} from "../../../lib/observation/index.ts";
import type { RawImage } from "../../../models/runtime/image.ts";
import { ticksDuring } from "../../support/event-loop.ts";

/**
 * DESIGN decision 10: compressed camera images are decoded in a worker thread, so the main
 * thread's event loop (rclnodejs, the control timer) keeps turning while a large frame decodes.
 * The worker runs the same decodeCompressed, so results, errors included, are the same.
 */

function rgba(w: number, h: number, seed: number): Uint8Array {
  const d = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      d[i] = (x * 3 + y + seed) & 0xff;
      d[i + 1] = (x ^ y) & 0xff;
      d[i + 2] = ((x * y) >> 4) & 0xff;
      d[i + 3] = 255;
    }
  return d;
}
const jpegOf = (w: number, h: number, seed = 0): CompressedLike => ({
  format: "jpeg",
  data: new Uint8Array(
    jpeg.encode({ data: Buffer.from(rgba(w, h, seed)), width: w, height: h }, 90).data,
  ),
});
function pngOf(w: number, h: number): CompressedLike {
  const png = new PNG({ width: w, height: h });
  png.data.set(rgba(w, h, 1));
  return { format: "png", data: new Uint8Array(PNG.sync.write(png)) };
}
const corruptJpeg = (): CompressedLike => {
  const data = Uint8Array.from(jpegOf(32, 24).data);
  for (let i = 20; i < data.length; i++) data[i] = (i * 31) & 0xff;
  return { format: "jpeg", data };
};

/** A Result in comparable form: the image's fields and bytes, or the error's code, text and detail. */
function summary(r: Result<RawImage>) {
  if (!r.ok) return { code: r.error.code, message: r.error.message, detail: r.error.detail };
  const { width, height, encoding, step, data } = r.value;
  return {
    width,
    height,
    encoding,
    step,
    length: data.length,
    bytes: Buffer.from(data).toString("base64"),
  };
}

async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 10));
}

const decoders: CompressedDecoder[] = [];
function decoderWith(maxPixels?: number) {
  const got: Array<{ camera: string; image: Result<RawImage>; stampSec: number }> = [];
  const d = new CompressedDecoder(
    (camera, image, stampSec) => got.push({ camera, image, stampSec }),
    maxPixels,
  );
  decoders.push(d);
  return { d, got };
}
afterAll(async () => {
  await Promise.all(decoders.map((d) => d.close()));
});

describe("CompressedDecoder (one worker thread)", () => {
  const big = jpegOf(1280, 960);

  it("keeps the event loop turning while a 1280x960 jpeg decodes (inline, it cannot)", async () => {
    const { d } = decoderWith();
    await d.decode("front", jpegOf(16, 16)); // warm-up: the worker starts and loads the decoder
    let off: Result<RawImage> | undefined;
    const offTicks = await ticksDuring(async () => (off = await d.decode("front", big)));
    let on: Result<RawImage> | undefined;
    const onTicks = await ticksDuring(async () => (on = decodeCompressed("front", big)));
    expect(offTicks).toBeGreaterThanOrEqual(3);
    expect(onTicks).toBe(0);
    expect(summary(off!)).toMatchObject({ width: 1280, height: 960, encoding: "rgba8" });
    expect(summary(off!)).toEqual(summary(on!));
  });

  it("decodes jpeg and png exactly as decodeCompressed does", async () => {
    const { d } = decoderWith();
    for (const m of [jpegOf(64, 48, 7), pngOf(64, 48)])
      expect(summary(await d.decode("wrist", m))).toEqual(summary(decodeCompressed("wrist", m)));
  });

  it("fails exactly as decodeCompressed does: corrupt jpeg, unsupported format, empty, too large", async () => {
    const maxPixels = 40 * 40;
    const { d } = decoderWith(maxPixels);
    const cases: Array<[CompressedLike, string]> = [
      [corruptJpeg(), "E_IMAGE_ENCODING"],
      [{ format: "bmp", data: Uint8Array.of(0x42, 0x4d, 1, 2, 3, 4) }, "E_IMAGE_ENCODING"],
      [{ format: "png", data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }, "E_IMAGE_ENCODING"],
      [{ format: "jpeg", data: new Uint8Array(0) }, "E_IMAGE_EMPTY"],
      [pngOf(64, 48), "E_IMAGE_SIZE"],
      [jpegOf(64, 48), "E_IMAGE_ENCODING"], // jpeg-js refuses beyond maxResolutionInMP
    ];
    for (const [m, code] of cases) {
      const inline = decodeCompressed("front", m, maxPixels);
      const off = await d.decode("front", m);
      expect(!off.ok && off.error.code).toBe(code);
      expect(summary(off)).toEqual(summary(inline));
    }
  });

  it("keeps only the newest pending frame per camera, counts the dropped ones, and keeps order", async () => {
    const { d, got } = decoderWith();
    await d.decode("front", jpegOf(16, 16));
    for (let k = 1; k <= 5; k++) d.submit("front", k === 1 ? big : jpegOf(32, 24, k), k);
    d.submit("wrist", pngOf(32, 24), 10);
    await until(() => got.length >= 3);
    await new Promise((r) => setTimeout(r, 50)); // nothing more arrives
    const front = got.filter((g) => g.camera === "front");
    expect(front.map((g) => g.stampSec)).toEqual([1, 5]); // the first, then the newest
    expect(summary(front[1]!.image)).toEqual(summary(decodeCompressed("front", jpegOf(32, 24, 5))));
    expect(got.filter((g) => g.camera === "wrist").map((g) => g.stampSec)).toEqual([10]);
    expect(d.counts("front")).toEqual({ decoded: 2, dropped: 3 });
    expect(d.counts("wrist")).toEqual({ decoded: 1, dropped: 0 });
  });

  it("a corrupt frame marks its camera invalid in the store with the decoder's code", async () => {
    const store = new ObservationStore(["front"], {
      imageTimeoutSec: 1,
      jointTimeoutSec: 1,
      requireJoints: false,
    });
    const d = new CompressedDecoder((cam, image, stampSec) => store.putImage(cam, image, stampSec));
    decoders.push(d);
    d.submit("front", jpegOf(32, 24), 1);
    await until(() => store.counts().front!.good === 1);
    expect(store.check(1.1)).toBeNull();
    d.submit("front", corruptJpeg(), 1.2);
    await until(() => store.counts().front!.bad === 1);
    const p = store.check(1.3);
    expect(p?.code).toBe("E_IMAGE_ENCODING");
    expect(p?.source).toBe("front");
    expect(p?.message).toContain("cannot decode jpeg");
  });
});
