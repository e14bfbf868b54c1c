import { describe, expect, it } from "vitest";
import { expandImagePads, renderChat } from "../../../../models/runtime/qwen/chat.ts";
import { HfTokenizer } from "../../../../models/runtime/qwen/tokenizer.ts";
import { fixture, QWEN_DIR } from "./support.ts";

/** Fixtures: tokenizers 0.22.2 / transformers 4.57.6 Qwen2TokenizerFast and Qwen2_5_VLProcessor. */
interface ChatCase {
  images: number;
  instruction: string;
  grids: number[][];
  text: string;
  input_ids: number[];
}
interface TextFixture {
  tokenize: { text: string; ids: number[] }[];
  chat: ChatCase[];
  no_generation_prompt: { images: number; instruction: string; text: string };
}
const fx = fixture<TextFixture>("text");
const prompt = { system: "You are a helpful assistant.", addGenerationPrompt: true };
const PAD = 12; // <|image_pad|> in the tiny vocabulary

describe("HfTokenizer (@huggingface/tokenizers)", () => {
  it.each(fx.tokenize)("gives the Python tokenizer's ids for %j", async (c) => {
    const tok = await HfTokenizer.load(QWEN_DIR);
    if (!tok.ok) throw tok.error;
    expect(tok.value.encode(c.text)).toEqual(c.ids);
  });
  it("fails with E_MODEL_MISSING for a folder without tokenizer.json", async () => {
    const tok = await HfTokenizer.load("/nonexistent");
    expect(!tok.ok && tok.error.code).toBe("E_MODEL_MISSING");
  });
});

describe("renderChat", () => {
  it.each(fx.chat)("renders the chat template as Jinja does for $images image(s)", (c) => {
    const r = renderChat(c.images, c.instruction, prompt);
    expect(r.ok && r.value).toBe(c.text);
  });
  it("renders without the generation prompt", () => {
    const c = fx.no_generation_prompt;
    const r = renderChat(c.images, c.instruction, { ...prompt, addGenerationPrompt: false });
    expect(r.ok && r.value).toBe(c.text);
  });
  it("rejects instructions carrying reserved tokens with E_INSTRUCTION", () => {
    const r = renderChat(1, "pick <|image_pad|> up", prompt);
    expect(!r.ok && r.error.code).toBe("E_INSTRUCTION");
  });
});

describe("chat template + tokenizer + image pad expansion", () => {
  it.each(fx.chat)("gives the processor's input_ids for $images image(s)", async (c) => {
    const tok = await HfTokenizer.load(QWEN_DIR);
    if (!tok.ok) throw tok.error;
    const text = renderChat(c.images, c.instruction, prompt);
    if (!text.ok) throw text.error;
    const counts = c.grids.map(([t, h, w]) => (t! * h! * w!) / 4);
    const ids = expandImagePads(tok.value.encode(text.value), PAD, counts);
    expect(ids.ok && ids.value).toEqual(c.input_ids);
  });
  it("fails when pads and images disagree", () => {
    const r = expandImagePads([1, PAD, 2], PAD, [4, 4]);
    expect(!r.ok && r.error.code).toBe("E_MODEL_INPUT");
  });
});
