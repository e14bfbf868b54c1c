import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RawImage } from "../../../../models/runtime/image.ts";

export const QWEN_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../../../models/qwen-tiny",
);

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(join(QWEN_DIR, "fixtures", `${name}.json`), "utf8")) as T;
}

/** The export tool's synthetic_image (qwen_export/pipeline.py), as an rgb8 RawImage. */
export function syntheticImage(height: number, width: number, seed: number): RawImage {
  const data = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        const v = x * 5 + y * 3 + c * 80 + seed * 17 + (((x * 7) ^ (y * 11) ^ (seed * 29)) & 63);
        data[(y * width + x) * 3 + c] = v & 255;
      }
  return { height, width, encoding: "rgb8", data };
}

export function sha256(a: ArrayBufferView): string {
  return createHash("sha256")
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest("hex");
}

export function f32FromB64(s: string): Float32Array {
  const b = Buffer.from(s, "base64");
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export const toNumbers = (a: BigInt64Array): number[] => Array.from(a, Number);

/**
 * A temp model folder whose manifest says backbone.kind qwen2_5_vl: test-tiny's intent bridge and
 * denoiser (D = 64, the tiny Qwen's width) with the tiny Qwen export, for the given cameras.
 */
export async function assembleQwenModel(cameras: readonly string[]): Promise<string> {
  const testTiny = join(QWEN_DIR, "../test-tiny");
  const dir = await mkdtemp(join(tmpdir(), "blm-qwen-"));
  const manifest = JSON.parse(await readFile(join(testTiny, "manifest.json"), "utf8"));
  const section = JSON.parse(await readFile(join(QWEN_DIR, "backbone.json"), "utf8"));
  for (const f of ["intent_bridge.onnx", "denoiser.onnx"])
    await copyFile(join(testTiny, f), join(dir, f));
  for (const f of [
    "vision.onnx",
    "embed.onnx",
    "language.onnx",
    "tokenizer.json",
    "tokenizer_config.json",
  ])
    await copyFile(join(QWEN_DIR, f), join(dir, f));
  delete manifest.graphs.backbone;
  manifest.backbone = {
    ...manifest.backbone,
    kind: "qwen2_5_vl",
    hidden_dim: 64,
    cameras: [...cameras],
    qwen2_5_vl: section,
  };
  await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}
