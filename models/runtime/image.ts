import { fail, ok, type Result } from "../../lib/errors.ts";
import type { ImageSpec } from "./manifest.ts";

/** A decoded camera image as sensor_msgs/Image carries it (row stride `step` in bytes). */
export interface RawImage {
  readonly width: number;
  readonly height: number;
  readonly encoding: "rgb8" | "bgr8" | "rgba8" | "bgra8" | "mono8";
  readonly data: Uint8Array;
  readonly step?: number;
}

export const CHANNELS = { rgb8: 3, bgr8: 3, rgba8: 4, bgra8: 4, mono8: 1 } as const;
/** For each encoding, the byte offset of R, G, B inside one pixel. */
export const RGB_OFFSETS = {
  rgb8: [0, 1, 2],
  bgr8: [2, 1, 0],
  rgba8: [0, 1, 2],
  bgra8: [2, 1, 0],
  mono8: [0, 0, 0],
} as const;

/** Bytes per pixel and row stride of a raw image, after checking its size and encoding. */
export function imageLayout(img: RawImage): Result<{ ch: number; step: number }> {
  const { width: w, height: h } = img;
  if (!(w > 0 && h > 0)) return fail("E_IMAGE_EMPTY", `image is ${w}x${h}`);
  const ch = CHANNELS[img.encoding];
  if (ch === undefined)
    return fail("E_IMAGE_ENCODING", `unsupported encoding ${String(img.encoding)}`);
  const step = img.step ?? w * ch;
  if (step < w * ch || img.data.length < step * (h - 1) + w * ch)
    return fail(
      "E_IMAGE_SIZE",
      `image data has ${img.data.length} bytes, ${w}x${h} ${img.encoding} needs ${step * h}`,
    );
  return ok({ ch, step });
}

/**
 * Resizes (bilinear with half-pixel centres, as PyTorch's interpolate(align_corners=False) without
 * antialiasing; or nearest) and normalizes one image into `out` at `offset` as planar CHW float32:
 * (value * rescale - mean[c]) / std[c], channels in the spec's order. Allocates nothing.
 */
export function preprocessImage(
  img: RawImage,
  spec: ImageSpec,
  out: Float32Array,
  offset: number,
): Result<void> {
  const layout = imageLayout(img);
  if (!layout.ok) return layout;
  const { ch, step } = layout.value;
  const { width: sw, height: sh } = img;
  const { width: dw, height: dh } = spec;
  if (out.length < offset + 3 * dw * dh)
    return fail("E_MODEL_INPUT", "preprocessing output buffer too small");
  const order = spec.channel_order === "rgb" ? [0, 1, 2] : [2, 1, 0];
  const src = RGB_OFFSETS[img.encoding];
  const plane = dw * dh;
  const sy = sh / dh;
  const sx = sw / dw;
  const d = img.data;
  for (let c = 0; c < 3; c++) {
    const o = src[order[c]!]!;
    const mul = spec.rescale / spec.std[c]!;
    const add = -spec.mean[c]! / spec.std[c]!;
    const base = offset + c * plane;
    for (let y = 0; y < dh; y++) {
      let fy = (y + 0.5) * sy - 0.5;
      if (spec.resize === "nearest") fy = Math.min(sh - 1, Math.floor((y + 0.5) * sy));
      fy = Math.min(Math.max(fy, 0), sh - 1);
      const y0 = Math.floor(fy);
      const y1 = Math.min(y0 + 1, sh - 1);
      const wy = fy - y0;
      for (let x = 0; x < dw; x++) {
        let fx = (x + 0.5) * sx - 0.5;
        if (spec.resize === "nearest") fx = Math.min(sw - 1, Math.floor((x + 0.5) * sx));
        fx = Math.min(Math.max(fx, 0), sw - 1);
        const x0 = Math.floor(fx);
        const x1 = Math.min(x0 + 1, sw - 1);
        const wx = fx - x0;
        const p00 = d[y0 * step + x0 * ch + o]!;
        const p01 = d[y0 * step + x1 * ch + o]!;
        const p10 = d[y1 * step + x0 * ch + o]!;
        const p11 = d[y1 * step + x1 * ch + o]!;
        const v = (p00 * (1 - wx) + p01 * wx) * (1 - wy) + (p10 * (1 - wx) + p11 * wx) * wy;
        out[base + y * dw + x] = v * mul + add;
      }
    }
  }
  return ok(undefined);
}
