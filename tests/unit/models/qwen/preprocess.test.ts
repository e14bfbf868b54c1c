import { describe, expect, it } from "vitest";
import {
  patchify,
  preprocessQwenImage,
  pyRound,
  resizeBicubicRgb,
  smartResize,
  toRgb,
} from "../../../../models/runtime/qwen/preprocess.ts";
import { fixture, sha256, syntheticImage } from "./support.ts";

/** Fixtures: transformers 4.57.6 Qwen2VLImageProcessor (PIL 13 bicubic), models/tools/qwen_export/fixtures.py. */
interface PreprocessCase {
  height: number;
  width: number;
  seed: number;
  resized: [number, number];
  grid_thw: number[];
  resized_sha256: string;
  pixel_values_shape: [number, number];
  pixel_values_sha256: string;
  pixel_values_head: number[];
}
interface PreprocessFixture {
  pillow: string;
  min_pixels: number;
  max_pixels: number;
  cases: PreprocessCase[];
  smart_resize: { height: number; width: number; resized?: number[]; error?: string }[];
  resize: { height: number; width: number; seed: number; to: [number, number]; sha256: string }[];
}
const fx = fixture<PreprocessFixture>("preprocess");
const budget = { minPixels: fx.min_pixels, maxPixels: fx.max_pixels };
const geo = { patchSize: 14, temporalPatchSize: 2, mergeSize: 2 };
const norm = {
  rescale: 1 / 255,
  mean: [0.48145466, 0.4578275, 0.40821073] as const,
  std: [0.26862954, 0.26130258, 0.27577711] as const,
};

describe("pyRound", () => {
  it("rounds half to even like Python's round()", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(pyRound)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });
});

describe("smartResize", () => {
  it.each(fx.smart_resize)(
    "matches transformers for $height x $width",
    ({ height, width, resized, error }) => {
      const r = smartResize(height, width, 28, budget);
      if (error) expect(r.ok).toBe(false);
      else expect(r.ok && r.value).toEqual(resized);
    },
  );
  it("rejects aspect ratios above 200 with E_IMAGE_SIZE", () => {
    const r = smartResize(10, 2001, 28, budget);
    expect(!r.ok && r.error.code).toBe("E_IMAGE_SIZE");
  });
});

describe("Qwen image preprocessing", () => {
  it.each(fx.cases)(
    "resizes $height x $width to $resized with exactly Pillow's bicubic pixels",
    (c) => {
      const img = syntheticImage(c.height, c.width, c.seed);
      const rgb = toRgb(img);
      if (!rgb.ok) throw rgb.error;
      const [h, w] = c.resized;
      const resized =
        h === c.height && w === c.width
          ? rgb.value
          : resizeBicubicRgb(rgb.value, c.width, c.height, w, h);
      expect(sha256(resized)).toBe(c.resized_sha256);
    },
  );

  it.each(fx.cases)("gives the processor's pixel_values bit for bit for $height x $width", (c) => {
    const r = preprocessQwenImage(syntheticImage(c.height, c.width, c.seed), geo, budget, norm);
    if (!r.ok) throw r.error;
    expect(r.value.grid).toEqual(c.grid_thw);
    expect([r.value.pixels.length / c.pixel_values_shape[1], c.pixel_values_shape[1]]).toEqual(
      c.pixel_values_shape,
    );
    expect(Array.from(r.value.pixels.subarray(0, 8))).toEqual(c.pixel_values_head);
    expect(sha256(r.value.pixels)).toBe(c.pixel_values_sha256);
  });

  it("reads bgr8, rgba8 and strided rows as the same RGB pixels", () => {
    const rgb = syntheticImage(28, 30, 3);
    const n = 28 * 30;
    const bgr = new Uint8Array(n * 3);
    const rgba = new Uint8Array(28 * (30 * 4 + 8)); // 8 bytes of row padding
    for (let i = 0; i < n; i++) {
      const [r, g, b] = [rgb.data[i * 3]!, rgb.data[i * 3 + 1]!, rgb.data[i * 3 + 2]!];
      bgr.set([b, g, r], i * 3);
      const y = Math.floor(i / 30);
      rgba.set([r, g, b, 255], y * 128 + (i % 30) * 4);
    }
    const a = toRgb(rgb);
    const b = toRgb({ ...rgb, encoding: "bgr8", data: bgr });
    const c = toRgb({ ...rgb, encoding: "rgba8", data: rgba, step: 128 });
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (a.ok && b.ok && c.ok) {
      expect(b.value).toEqual(a.value);
      expect(c.value).toEqual(a.value);
    }
  });

  it("rejects short buffers and empty images with codes", () => {
    const img = syntheticImage(28, 28, 0);
    const short = preprocessQwenImage(
      { ...img, data: img.data.subarray(0, 100) },
      geo,
      budget,
      norm,
    );
    expect(!short.ok && short.error.code).toBe("E_IMAGE_SIZE");
    const empty = preprocessQwenImage({ ...img, width: 0 }, geo, budget, norm);
    expect(!empty.ok && empty.error.code).toBe("E_IMAGE_EMPTY");
  });

  it("lays out patches as (merge block, 2x2, channel, time, 14x14)", () => {
    // a 28x28 image whose red value is its column: patch 1 (top-right of the first block) starts at x = 14
    const data = new Uint8Array(28 * 28 * 3);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) data[(y * 28 + x) * 3] = x;
    const p = patchify(data, 28, 28, geo, { rescale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    expect(p.grid).toEqual([1, 2, 2]);
    const cols = 3 * 2 * 14 * 14;
    expect(p.pixels[0]).toBe(0);
    expect(p.pixels[1 * cols]).toBe(14); // second patch: x0 = 14
    expect(p.pixels[1 * cols + 196]).toBe(14); // second frame repeats the first
    expect(p.pixels[2 * cols + 13]).toBe(13); // third patch: second row of patches, x = 13
  });
});

describe("resizeBicubicRgb", () => {
  it(`matches Pillow ${fx.pillow}'s BICUBIC bit for bit on 80 random up/down size pairs (both pass orders)`, () => {
    const wrong: string[] = [];
    for (const c of fx.resize) {
      const img = syntheticImage(c.height, c.width, c.seed);
      const out = resizeBicubicRgb(img.data, c.width, c.height, c.to[1], c.to[0]);
      if (sha256(out) !== c.sha256) wrong.push(`${c.width}x${c.height}->${c.to[1]}x${c.to[0]}`);
    }
    expect(wrong).toEqual([]);
  });
});
