/**
 * Instruction validation: the text a model conditions on must be non-empty, bounded in UTF-8
 * bytes, and clean text (well-formed Unicode, no replacement characters from a broken decode,
 * no control characters other than tab and newline).
 */
import { fail, ok, type Result } from "../errors.ts";

const encoder = new TextEncoder();

export function validateInstruction(text: unknown, maxBytes: number): Result<string> {
  if (typeof text !== "string") return fail("E_INSTRUCTION", "instruction is not text");
  const trimmed = text.trim();
  if (trimmed.length === 0) return fail("E_INSTRUCTION", "instruction is empty");
  if (!isWellFormed(trimmed))
    return fail("E_INSTRUCTION", "instruction is not valid UTF-8 (unpaired surrogate)");
  if (trimmed.includes("\uFFFD"))
    return fail(
      "E_INSTRUCTION",
      "instruction is not valid UTF-8 (contains U+FFFD replacement characters)",
    );
  const ctl = /[\u0000-\u0008\u000b-\u001f\u007f]/.exec(trimmed);
  if (ctl)
    return fail(
      "E_INSTRUCTION",
      `instruction contains control character U+${ctl[0].charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  const bytes = encoder.encode(trimmed).length;
  if (bytes > maxBytes)
    return fail(
      "E_INSTRUCTION",
      `instruction is ${bytes} bytes, the limit is ${maxBytes} (instruction_max_bytes)`,
      {
        bytes,
        maxBytes,
      },
    );
  return ok(trimmed);
}

/** Raw bytes → text, rejecting invalid UTF-8 (for transports that carry bytes). */
export function decodeInstruction(bytes: Uint8Array, maxBytes: number): Result<string> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return fail("E_INSTRUCTION", "instruction is not valid UTF-8");
  }
  return validateInstruction(text, maxBytes);
}

function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}
