import { describe, expect, it } from "vitest";
import { decodeInstruction, validateInstruction } from "../../../lib/observation/index.ts";

describe("validateInstruction", () => {
  it("accepts and trims ordinary text, UTF-8 included", () => {
    const r = validateInstruction("  pick up the red cube — schnell \n", 64);
    expect(r.ok && r.value).toBe("pick up the red cube — schnell");
  });
  it("rejects empty and whitespace-only text", () => {
    for (const t of ["", "   \n\t"]) {
      const r = validateInstruction(t, 64);
      expect(!r.ok && r.error.code).toBe("E_INSTRUCTION");
      expect(!r.ok && r.error.message).toContain("empty");
    }
  });
  it("bounds the length in UTF-8 bytes, not characters", () => {
    expect(validateInstruction("é".repeat(8), 16).ok).toBe(true);
    const r = validateInstruction("é".repeat(9), 16);
    expect(!r.ok && r.error.message).toContain("18 bytes, the limit is 16");
  });
  it("rejects text that is not clean UTF-8", () => {
    expect(validateInstruction("bad \uFFFD decode", 64).ok).toBe(false);
    expect(validateInstruction("lone \uD800 surrogate", 64).ok).toBe(false);
    expect(validateInstruction("bell \u0007", 64).ok).toBe(false);
  });
  it("rejects invalid UTF-8 bytes", () => {
    const r = decodeInstruction(Uint8Array.of(0x70, 0xc3, 0x28), 64);
    expect(!r.ok && r.error.message).toContain("not valid UTF-8");
    expect(decodeInstruction(new TextEncoder().encode("push the cube"), 64).ok).toBe(true);
  });
});
