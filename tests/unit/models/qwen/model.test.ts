import { copyFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../../lib/errors.ts";
import { createLogger } from "../../../../lib/log.ts";
import { BlmModel } from "../../../../models/runtime/model.ts";
import { assembleQwenModel, QWEN_DIR, syntheticImage } from "./support.ts";

/**
 * A model folder whose manifest says backbone.kind qwen2_5_vl: BlmModel loads the three Qwen graphs
 * in place of the stand-in backbone graph, and encode() runs images + instruction through them and
 * the intent bridge (test-tiny's bridge and denoiser, the tiny Qwen export, assembled in a temp dir).
 */
const log = createLogger("test", "silent");

describe("BlmModel with a qwen2_5_vl backbone", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await assembleQwenModel(["front", "wrist"]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(["inline", "worker"] as const)(
    "encodes camera images + instruction to intent tokens (%s)",
    async (threading) => {
      const model = unwrap(
        await BlmModel.load(dir, {
          graphs: ["backbone", "intent_bridge"],
          session: { execution_provider: "cpu", threading },
          logger: log,
        }),
      );
      try {
        expect(model.qwen?.spec.layer_k).toBe(2);
        const images = { front: syntheticImage(128, 128, 1), wrist: syntheticImage(96, 160, 2) };
        const intent = unwrap(
          await model.encode({ images, instruction: "push the blue cube to the goal" }),
        );
        expect([intent.count, intent.dim]).toEqual([8, 64]);
        expect(intent.tokens.every(Number.isFinite)).toBe(true);
        const missing = await model.encode({ images: { front: images.front }, instruction: "x" });
        expect(!missing.ok && missing.error.code).toBe("E_MODEL_INPUT");
      } finally {
        await model.dispose();
      }
    },
  );

  it("fails with E_MODEL_MISSING when a Qwen graph is absent", async () => {
    await rm(join(dir, "language.onnx"));
    const r = await BlmModel.load(dir, {
      graphs: ["backbone"],
      session: { execution_provider: "cpu" },
      logger: log,
    });
    expect(!r.ok && r.error.code).toBe("E_MODEL_MISSING");
    await copyFile(join(QWEN_DIR, "language.onnx"), join(dir, "language.onnx"));
  });
});
