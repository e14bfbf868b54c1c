import { fail, ok, toWire, type Result, type WireResult } from "../../../lib/errors.ts";
import type { RawImage } from "../image.ts";
import { expandImagePads, renderChat } from "./chat.ts";
import { ropeIndex, visionIndices, type Grid } from "./indices.ts";
import { preprocessQwenImage } from "./preprocess.ts";
import type { QwenBackboneSpec } from "./schema.ts";
import { HfTokenizer } from "./tokenizer.ts";

/**
 * Qwen2.5-VL input preparation (pure CPU work, no inference): smart resize, normalization and
 * patches of every camera image, the chat template, tokenization with image pad expansion, the
 * vision window index / cu_seqlens and the M-RoPE position ids. `QwenBackbone` calls
 * `prepareQwenInputs` inline, or, with `threading: "worker"`, runs `createQwenPreparer` inside the
 * inference worker (DESIGN decision 10: none of this may hold up the main thread's event loop).
 */

export interface QwenEncodeRequest {
  /** One image per camera, in the model's camera order. */
  readonly images: readonly RawImage[];
  readonly instruction: string;
}

/** Everything the graphs take, computed from the request (pure; no inference). */
export interface QwenInputs {
  readonly pixels: Float32Array; // [patches, 3 * temporal * patch²]
  readonly grids: readonly Grid[];
  readonly ids: readonly number[]; // [tokens], image pads expanded
  readonly positionIds: BigInt64Array; // [3, 1, tokens]
  readonly vision: ReturnType<typeof visionIndices>;
}

/** Images + instruction -> the graphs' inputs, exactly as the reference processor and model compute them. */
export function prepareQwenInputs(
  spec: QwenBackboneSpec,
  tokenizer: HfTokenizer,
  req: QwenEncodeRequest,
): Result<QwenInputs> {
  const { vision: v, image, tokens, prompt } = spec;
  const geo = {
    patchSize: v.patch_size,
    temporalPatchSize: v.temporal_patch_size,
    mergeSize: v.merge_size,
  };
  const budget = { minPixels: image.min_pixels, maxPixels: image.max_pixels };
  const norm = { rescale: image.rescale, mean: image.mean, std: image.std };
  const parts: Float32Array[] = [];
  const grids: Grid[] = [];
  for (const [i, img] of req.images.entries()) {
    const p = preprocessQwenImage(img, geo, budget, norm);
    if (!p.ok) return fail(p.error.code, `camera image ${i}: ${p.error.message}`, p.error.detail);
    parts.push(p.value.pixels);
    grids.push(p.value.grid);
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const pixels = new Float32Array(total);
  let off = 0;
  for (const p of parts) {
    pixels.set(p, off);
    off += p.length;
  }
  const text = renderChat(req.images.length, req.instruction, {
    system: prompt.system,
    addGenerationPrompt: prompt.add_generation_prompt,
  });
  if (!text.ok) return text;
  const merge2 = v.merge_size * v.merge_size;
  const ids = expandImagePads(
    tokenizer.encode(text.value),
    tokens.image_pad,
    grids.map(([t, h, w]) => (t * h * w) / merge2),
  );
  if (!ids.ok) return ids;
  const { positionIds } = ropeIndex(
    ids.value,
    undefined,
    1,
    ids.value.length,
    grids,
    { imagePad: tokens.image_pad, videoPad: tokens.video_pad, visionStart: tokens.vision_start },
    v.merge_size,
  );
  const vision = visionIndices(grids, v.merge_size, v.window_size, v.patch_size);
  return ok({ pixels, grids, ids: ids.value, positionIds, vision });
}

/** Runs in the inference worker: loads the tokenizer there and prepares requests posted to it. */
export async function createQwenPreparer(
  dir: string,
  spec: QwenBackboneSpec,
): Promise<{ prepare(req: QwenEncodeRequest): WireResult<QwenInputs> }> {
  const tok = await HfTokenizer.load(dir, spec.tokenizer.file, spec.tokenizer.config);
  if (!tok.ok) throw tok.error;
  return {
    prepare: (req) => toWire(prepareQwenInputs(spec, tok.value, req)),
  };
}
