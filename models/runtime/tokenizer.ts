import { fail, ok, type Result } from "../../lib/errors.ts";
import type { TokenizerSpec } from "./manifest.ts";

/** Turns an instruction into the backbone's fixed-length token ids and attention mask. */
export interface Tokenizer {
  readonly maxLength: number;
  /** Writes ids and mask (1 = token, 0 = padding), each `maxLength` long; returns the token count. */
  encode(text: string, ids: BigInt64Array, mask: BigInt64Array): number;
}

/** `[bos] + (UTF-8 bytes + offset)` truncated to max_length - 1, then `[eos]`, padded with pad_id. */
export class ByteTokenizer implements Tokenizer {
  private readonly encoder = new TextEncoder();
  readonly maxLength: number;
  constructor(private readonly spec: Extract<TokenizerSpec, { kind: "bytes" }>) {
    this.maxLength = spec.max_length;
  }
  encode(text: string, ids: BigInt64Array, mask: BigInt64Array): number {
    const n = this.maxLength;
    const bytes = this.encoder.encode(text);
    const body = Math.min(bytes.length, n - 2);
    ids[0] = BigInt(this.spec.bos_id);
    for (let i = 0; i < body; i++) ids[1 + i] = BigInt(bytes[i]! + this.spec.byte_offset);
    ids[1 + body] = BigInt(this.spec.eos_id);
    const used = body + 2;
    for (let i = used; i < n; i++) ids[i] = BigInt(this.spec.pad_id);
    for (let i = 0; i < n; i++) mask[i] = i < used ? 1n : 0n;
    return used;
  }
}

export function createTokenizer(spec: TokenizerSpec): Result<Tokenizer> {
  if (spec.kind === "bytes") {
    if (spec.max_length < 2)
      return fail("E_MODEL_CORRUPT", "tokenizer max_length must be at least 2 (bos + eos)");
    return ok(new ByteTokenizer(spec));
  }
  return fail(
    "E_CONFIG",
    `tokenizer kind ${spec.kind} (${spec.file}) is described by the manifest but not implemented yet; ` +
      "the Qwen2.5-VL export issue brings it",
  );
}
