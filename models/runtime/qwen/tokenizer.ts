import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { fail, ok, type Result } from "../../../lib/errors.ts";

/**
 * A Hugging Face tokenizer.json (+ tokenizer_config.json) through @huggingface/tokenizers (the
 * tokenizer of transformers.js, pure JS): byte-level BPE, Qwen2's split regex, added special tokens.
 */
export class HfTokenizer {
  private constructor(private readonly tok: Tokenizer) {}

  static async load(
    dir: string,
    file = "tokenizer.json",
    config = "tokenizer_config.json",
  ): Promise<Result<HfTokenizer>> {
    let json: unknown;
    let cfg: unknown;
    try {
      json = JSON.parse(await readFile(join(dir, file), "utf8"));
    } catch (e) {
      return fail("E_MODEL_MISSING", `tokenizer ${join(dir, file)}: ${(e as Error).message}`);
    }
    try {
      cfg = JSON.parse(await readFile(join(dir, config), "utf8"));
    } catch (e) {
      return fail(
        "E_MODEL_MISSING",
        `tokenizer config ${join(dir, config)}: ${(e as Error).message}`,
      );
    }
    try {
      return ok(new HfTokenizer(new Tokenizer(json as object, cfg as object)));
    } catch (e) {
      return fail(
        "E_MODEL_CORRUPT",
        `tokenizer ${join(dir, file)} does not load: ${(e as Error).message}`,
      );
    }
  }

  /** Token ids of `text` (special tokens written in the text are matched as such). */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: true }).ids;
  }

  decode(ids: readonly number[]): string {
    return this.tok.decode([...ids], { skip_special_tokens: false });
  }
}
