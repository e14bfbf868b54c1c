import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../../lib/errors.ts";
import { createLogger } from "../../../../lib/log.ts";
import { BlmModel } from "../../../../models/runtime/model.ts";
import { QwenBackbone } from "../../../../models/runtime/qwen/backbone.ts";
import { QWEN_DIR, syntheticImage } from "./support.ts";

/**
 * The Qwen backbone's layer-k hidden states feed the model runtime's intent bridge (test-tiny's
 * Perceiver bridge takes D = 64, the tiny Qwen's width): variable-length hidden states in, a fixed
 * number of intent tokens out, and the intent follows the instruction.
 */
const log = createLogger("test", "silent");

describe("Qwen backbone -> intent bridge", () => {
  let bb: QwenBackbone;
  let brain: BlmModel;
  beforeAll(async () => {
    const session = { execution_provider: "cpu" as const, threading: "inline" as const };
    bb = unwrap(await QwenBackbone.load(QWEN_DIR, { session, logger: log }));
    brain = unwrap(
      await BlmModel.load(join(QWEN_DIR, "../test-tiny"), {
        graphs: ["intent_bridge"],
        session,
        logger: log,
      }),
    );
  });
  afterAll(async () => {
    await bb?.dispose();
    await brain?.dispose();
  });

  it("turns two camera images and an instruction into 8 finite intent tokens", async () => {
    const images = [syntheticImage(128, 128, 1), syntheticImage(128, 128, 2)];
    const a = unwrap(await bb.encode({ images, instruction: "pick up the red cube" }));
    const b = unwrap(
      await bb.encode({ images, instruction: "stack the red cube on top of the green cube" }),
    );
    expect(b.length).toBeGreaterThan(a.length);
    const ia = unwrap(await brain.runIntentBridge(a));
    const ib = unwrap(await brain.runIntentBridge(b));
    expect([ia.count, ia.dim, ib.count, ib.dim]).toEqual([8, 64, 8, 64]);
    expect(ia.tokens.every(Number.isFinite)).toBe(true);
    const diff = ia.tokens.reduce((m, v, i) => Math.max(m, Math.abs(v - ib.tokens[i]!)), 0);
    expect(diff).toBeGreaterThan(1e-6);
  });
});
