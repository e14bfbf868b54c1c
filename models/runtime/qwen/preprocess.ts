import { fail, ok, type Result } from "../../../lib/errors.ts";
import { imageLayout, RGB_OFFSETS, type RawImage } from "../image.ts";

/**
 * Qwen2.5-VL image preprocessing, identical to transformers 4.57's Qwen2VLImageProcessor (the PIL
 * path): smart_resize to the pixel budget, Pillow's BICUBIC resize of the 8-bit RGB image
 * (reproduced exactly: same coefficients, same 22-bit fixed point, horizontal then vertical pass
 * with 8-bit rounding in between), rescale in float64 then float32, (x - mean) / std in float32,
 * and the flattened patch layout [grid_t * grid_h * grid_w, 3 * temporal * patch * patch].
 */

export interface PatchGeometry {
  readonly patchSize: number; // 14
  readonly temporalPatchSize: number; // 2
  readonly mergeSize: number; // 2
}

export interface PixelBudget {
  readonly minPixels: number;
  readonly maxPixels: number;
}

export interface Normalization {
  readonly rescale: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/** Python's round(): to nearest, ties to even. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** transformers' smart_resize: both sides multiples of `factor`, area within [min, max] pixels. */
export function smartResize(
  height: number,
  width: number,
  factor: number,
  budget: PixelBudget,
): Result<[number, number]> {
  if (!(height > 0 && width > 0)) return fail("E_IMAGE_EMPTY", `image is ${width}x${height}`);
  if (Math.max(height, width) / Math.min(height, width) > 200)
    return fail(
      "E_IMAGE_SIZE",
      `absolute aspect ratio must be smaller than 200, got ${Math.max(height, width) / Math.min(height, width)}`,
    );
  let h = pyRound(height / factor) * factor;
  let w = pyRound(width / factor) * factor;
  if (h * w > budget.maxPixels) {
    const beta = Math.sqrt((height * width) / budget.maxPixels);
    h = Math.max(factor, Math.floor(height / beta / factor) * factor);
    w = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (h * w < budget.minPixels) {
    const beta = Math.sqrt(budget.minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return ok([h, w]);
}

// ---------------------------------------------------------------------------------------------
// Pillow's resample (libImaging/Resample.c), BICUBIC (a = -0.5, support 2), 8 bits per channel.

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  ksize: number;
  bounds: Int32Array; // [xmin, count] per output pixel
  kk: Float64Array; // fixed-point integer coefficients (exact in double)
}

// Camera sizes are fixed, so the few coefficient tables in use are kept (keyed "in:out").
const coeffCache = new Map<string, Coeffs>();

function precomputeCoeffs(inSize: number, outSize: number): Coeffs {
  const key = `${inSize}:${outSize}`;
  let c = coeffCache.get(key);
  if (!c) {
    if (coeffCache.size > 64) coeffCache.clear();
    c = computeCoeffs(inSize, outSize);
    coeffCache.set(key, c);
  }
  return c;
}

function computeCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax ? (ww !== 0 ? k[x]! / ww : k[x]!) : 0;
      // normalize_coeffs_8bpc: round half away from zero into 22-bit fixed point
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(ss: number): number {
  const v = Math.floor(ss / ONE); // in >> PRECISION_BITS
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One horizontal pass: [h][sw] -> [h][dw] (ImagingResampleHorizontal_8bpc). */
function horizontalPass(src: Uint8Array, sw: number, h: number, dw: number): Uint8Array {
  const c = precomputeCoeffs(sw, dw);
  const out = new Uint8Array(dw * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * sw * 3;
    for (let xx = 0; xx < dw; xx++) {
      const xmin = c.bounds[xx * 2]!;
      const n = c.bounds[xx * 2 + 1]!;
      const kb = xx * c.ksize;
      let s0 = ONE / 2;
      let s1 = ONE / 2;
      let s2 = ONE / 2;
      for (let x = 0; x < n; x++) {
        const w = c.kk[kb + x]!;
        const p = row + (x + xmin) * 3;
        s0 += src[p]! * w;
        s1 += src[p + 1]! * w;
        s2 += src[p + 2]! * w;
      }
      const o = (y * dw + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

/** One vertical pass: [sh][w] -> [dh][w] (ImagingResampleVertical_8bpc). */
function verticalPass(src: Uint8Array, w: number, sh: number, dh: number): Uint8Array {
  const c = precomputeCoeffs(sh, dh);
  const out = new Uint8Array(w * dh * 3);
  for (let yy = 0; yy < dh; yy++) {
    const ymin = c.bounds[yy * 2]!;
    const n = c.bounds[yy * 2 + 1]!;
    const kb = yy * c.ksize;
    for (let x = 0; x < w; x++) {
      let s0 = ONE / 2;
      let s1 = ONE / 2;
      let s2 = ONE / 2;
      for (let y = 0; y < n; y++) {
        const k = c.kk[kb + y]!;
        const p = ((y + ymin) * w + x) * 3;
        s0 += src[p]! * k;
        s1 += src[p + 1]! * k;
        s2 += src[p + 2]! * k;
      }
      const o = (yy * w + x) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

/**
 * Pillow 13's Image.resize((dw, dh), BICUBIC) of an interleaved RGB uint8 image. Two separable
 * passes with an 8-bit image in between; Pillow 13 (python-pillow/Pillow#9549) runs the vertical
 * pass first when the height shrinks by more than twice as many pixels as the width does, the
 * horizontal pass first otherwise (as all earlier versions always did). The order changes results
 * by up to a level on some pixels, so the pinned Pillow (13.0.0) is the reference.
 */
export function resizeBicubicRgb(
  src: Uint8Array,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
): Uint8Array {
  const needH = dw !== sw;
  const needV = dh !== sh;
  if (!needH && !needV) return src.slice();
  if (!needV) return horizontalPass(src, sw, sh, dw);
  if (!needH) return verticalPass(src, sw, sh, dh);
  const verticalFirst = dh < sh && sh - dh > 2 * (sw - dw);
  return verticalFirst
    ? horizontalPass(verticalPass(src, sw, sh, dh), sw, dh, dw)
    : verticalPass(horizontalPass(src, sw, sh, dw), dw, sh, dh);
}

// ---------------------------------------------------------------------------------------------

/** A sensor_msgs-style image as packed RGB uint8 (PIL's convert("RGB"); alpha dropped). */
export function toRgb(img: RawImage): Result<Uint8Array> {
  const layout = imageLayout(img);
  if (!layout.ok) return layout;
  const { ch, step } = layout.value;
  const { width: w, height: h } = img;
  const [r, g, b] = RGB_OFFSETS[img.encoding];
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * step + x * ch;
      const o = (y * w + x) * 3;
      out[o] = img.data[p + r]!;
      out[o + 1] = img.data[p + g]!;
      out[o + 2] = img.data[p + b]!;
    }
  }
  return ok(out);
}

export interface PreprocessedImage {
  /** [gridT * gridH * gridW, 3 * temporal * patch * patch] float32, the processor's pixel_values rows. */
  readonly pixels: Float32Array;
  readonly grid: readonly [number, number, number];
  readonly resized: readonly [number, number];
}

/**
 * Normalizes a resized RGB image and lays it out as the processor's flattened patches. A single
 * image is repeated `temporalPatchSize` times along time (grid_t = 1), as the processor does.
 */
export function patchify(
  rgb: Uint8Array,
  height: number,
  width: number,
  geo: PatchGeometry,
  norm: Normalization,
): PreprocessedImage {
  const { patchSize: P, temporalPatchSize: T, mergeSize: M } = geo;
  const gh = height / P;
  const gw = width / P;
  // per-channel lookup: float32((float64(u8) * rescale)), then float32 (x - mean) / std
  const lut = new Float32Array(256 * 3);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(norm.mean[c]!);
    const std = Math.fround(norm.std[c]!);
    for (let v = 0; v < 256; v++) {
      const x = Math.fround(v * norm.rescale);
      lut[c * 256 + v] = Math.fround(Math.fround(x - mean) / std);
    }
  }
  const cols = 3 * T * P * P;
  const rows = gh * gw;
  const plane = new Float32Array(height * width * 3);
  for (let i = 0; i < plane.length; i++) plane[i] = lut[(i % 3) * 256 + rgb[i]!]!;
  const out = new Float32Array(rows * cols);
  let r = 0;
  for (let bh = 0; bh < gh / M; bh++)
    for (let bw = 0; bw < gw / M; bw++)
      for (let mh = 0; mh < M; mh++)
        for (let mw = 0; mw < M; mw++, r++) {
          const y0 = (bh * M + mh) * P;
          const x0 = (bw * M + mw) * P;
          let o = r * cols;
          for (let c = 0; c < 3; c++)
            for (let t = 0; t < T; t++)
              for (let py = 0; py < P; py++) {
                const rowBase = ((y0 + py) * width + x0) * 3 + c;
                for (let px = 0; px < P; px++) out[o++] = plane[rowBase + px * 3]!;
              }
        }
  return { pixels: out, grid: [1, gh, gw], resized: [height, width] };
}

/** One camera image -> pixel_values rows and image_grid_thw, as Qwen2VLImageProcessor computes them. */
export function preprocessQwenImage(
  img: RawImage,
  geo: PatchGeometry,
  budget: PixelBudget,
  norm: Normalization,
): Result<PreprocessedImage> {
  const rgb = toRgb(img);
  if (!rgb.ok) return rgb;
  const size = smartResize(img.height, img.width, geo.patchSize * geo.mergeSize, budget);
  if (!size.ok) return size;
  const [h, w] = size.value;
  const resized =
    h === img.height && w === img.width
      ? rgb.value
      : resizeBicubicRgb(rgb.value, img.width, img.height, w, h);
  return ok(patchify(resized, h, w, geo, norm));
}
