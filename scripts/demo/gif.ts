import gifenc from "gifenc";

// gifenc's package.json offers CommonJS to Node, whose named exports Node cannot see.
const { applyPalette, GIFEncoder, quantize } = gifenc;

export interface RgbFrame {
  width: number;
  height: number;
  /** Tightly packed rgb8. */
  rgb: Uint8Array;
}

/** Encodes rgb8 frames as a looping GIF, one 256-colour palette per frame. */
export function encodeGif(frames: readonly RgbFrame[], delayMs: number): Uint8Array {
  const gif = GIFEncoder();
  for (const f of frames) {
    const rgba = new Uint8Array(f.width * f.height * 4);
    for (let i = 0, j = 0; i < f.rgb.length; i += 3, j += 4) {
      rgba[j] = f.rgb[i]!;
      rgba[j + 1] = f.rgb[i + 1]!;
      rgba[j + 2] = f.rgb[i + 2]!;
      rgba[j + 3] = 255;
    }
    const palette = quantize(rgba, 256);
    gif.writeFrame(applyPalette(rgba, palette), f.width, f.height, { palette, delay: delayMs });
  }
  gif.finish();
  return gif.bytes();
}
