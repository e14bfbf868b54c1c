import { fail, ok, type Result } from "../../../lib/errors.ts";

/**
 * Qwen2.5-VL-Instruct's chat template for the one message shape the brain sends (a user turn with
 * the camera images, then the instruction), rendered as its Jinja template renders it, and the
 * processor's <|image_pad|> expansion (one pad per merged visual token).
 */

export const IMAGE_PAD = "<|image_pad|>";
const RESERVED = [
  "<|im_start|>",
  "<|im_end|>",
  "<|vision_start|>",
  "<|vision_end|>",
  "<|vision_pad|>",
  IMAGE_PAD,
  "<|video_pad|>",
  "<|endoftext|>",
];

export interface PromptOptions {
  readonly system: string;
  readonly addGenerationPrompt: boolean;
}

/** The template's text for [system?] + user(images..., instruction) (+ assistant prompt). */
export function renderChat(
  images: number,
  instruction: string,
  prompt: PromptOptions,
): Result<string> {
  const bad = RESERVED.find((t) => instruction.includes(t));
  if (bad) return fail("E_INSTRUCTION", `instruction contains the reserved token ${bad}`);
  let s = `<|im_start|>system\n${prompt.system}<|im_end|>\n<|im_start|>user\n`;
  for (let i = 0; i < images; i++) s += `<|vision_start|>${IMAGE_PAD}<|vision_end|>`;
  s += `${instruction}<|im_end|>\n`;
  if (prompt.addGenerationPrompt) s += "<|im_start|>assistant\n";
  return ok(s);
}

/** Replaces each image pad id by `counts[i]` copies (t·h·w / merge² for image i), in order. */
export function expandImagePads(
  ids: readonly number[],
  padId: number,
  counts: readonly number[],
): Result<number[]> {
  const out: number[] = [];
  let k = 0;
  for (const id of ids) {
    if (id !== padId) {
      out.push(id);
      continue;
    }
    const n = counts[k++];
    if (n === undefined)
      return fail("E_MODEL_INPUT", `more image pads than images (${counts.length})`);
    for (let i = 0; i < n; i++) out.push(padId);
  }
  if (k !== counts.length)
    return fail("E_MODEL_INPUT", `${k} image pads for ${counts.length} images`);
  return ok(out);
}
