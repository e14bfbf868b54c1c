// gifenc ships no types; this is the part of its API the demo uses.
declare module "gifenc" {
  export interface GifEncoder {
    writeFrame(
      index: Uint8Array,
      width: number,
      height: number,
      opts?: { palette?: number[][]; delay?: number; repeat?: number },
    ): void;
    finish(): void;
    bytes(): Uint8Array;
  }
  const gifenc: {
    GIFEncoder(): GifEncoder;
    quantize(
      rgba: Uint8Array | Uint8ClampedArray,
      maxColors: number,
      opts?: { format?: string },
    ): number[][];
    applyPalette(
      rgba: Uint8Array | Uint8ClampedArray,
      palette: number[][],
      format?: string,
    ): Uint8Array;
  };
  export default gifenc;
}
