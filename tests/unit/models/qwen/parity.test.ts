import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../../lib/errors.ts";
import { createLogger } from "../../../../lib/log.ts";
import { QwenBackbone } from "../../../../models/runtime/qwen/backbone.ts";
import { f32FromB64, fixture, QWEN_DIR, syntheticImage } from "./support.ts";

/**
 * Layer-k hidden states of the exported tiny Qwen2.5-VL (models/qwen-tiny, random weights, 3
 * layers, k = 2), run from TypeScript through onnxruntime-node, against the transformers forward
 * (fixtures/parity.json). Token ids and grids must be identical; hidden states agree within
 * TOL_REL of the largest reference magnitude (max |ref| ≈ 24 with the tiny model's wide init;
 * observed max abs error ≈ 4e-5, i.e. ≈ 2e-6 relative: float32 reassociation between PyTorch and
 * onnxruntime; 1-D instead of M-RoPE positions would move them by ≈ 0.7 relative).
 */
const TOL_REL = 1e-4;

interface ParityCase {
  images: { height: number; width: number; seed: number }[];
  instruction: string;
  input_ids: number[];
  grid_thw: number[][];
  length: number;
  dim: number;
  hidden_states_f32_b64: string;
}
const fx = fixture<{ layer_k: number; cases: ParityCase[] }>("parity");
const cases = fx.cases.map((c, i) => ({
  ...c,
  i,
  n: c.images.length,
  words: c.instruction.split(" ").length,
}));
const log = createLogger("test", "silent");

describe.each(["worker", "inline"] as const)(
  "QwenBackbone parity with transformers (%s threading)",
  (threading) => {
    let bb: QwenBackbone;
    beforeAll(async () => {
      bb = unwrap(
        await QwenBackbone.load(QWEN_DIR, {
          session: { execution_provider: "cpu", threading },
          logger: log,
        }),
      );
    });
    afterAll(async () => {
      await bb?.dispose();
    });

    it.each(cases)(
      "case $i: $n image(s), $words-word instruction -> same ids, grids and layer-k hidden states",
      async (c) => {
        const images = c.images.map((im) => syntheticImage(im.height, im.width, im.seed));
        const inputs = bb.prepare({ images, instruction: c.instruction });
        if (!inputs.ok) throw inputs.error;
        expect(inputs.value.ids).toEqual(c.input_ids);
        expect(inputs.value.grids).toEqual(c.grid_thw);
        const hidden = await bb.run(inputs.value);
        if (!hidden.ok) throw hidden.error;
        expect([hidden.value.length, hidden.value.dim]).toEqual([c.length, c.dim]);
        expect(Array.from(hidden.value.mask).every((m) => m === 1n)).toBe(true);
        const ref = f32FromB64(c.hidden_states_f32_b64);
        let maxAbs = 0;
        let maxRef = 0;
        for (let i = 0; i < ref.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(hidden.value.states[i]! - ref[i]!));
          maxRef = Math.max(maxRef, Math.abs(ref[i]!));
        }
        expect(maxAbs / maxRef).toBeLessThan(TOL_REL);
      },
    );

    it("fails with E_IMAGE_SIZE for a camera buffer that is too short", async () => {
      const img = syntheticImage(64, 64, 0);
      const r = await bb.encode({
        images: [{ ...img, data: img.data.subarray(0, 10) }],
        instruction: "pick up the red cube",
      });
      expect(!r.ok && r.error.code).toBe("E_IMAGE_SIZE");
    });
  },
);

describe("QwenBackbone.load", () => {
  it("fails with E_MODEL_MISSING for a folder without a backbone", async () => {
    const r = await QwenBackbone.load("/nonexistent-qwen", {
      session: { execution_provider: "cpu" },
      logger: log,
    });
    expect(!r.ok && r.error.code).toBe("E_MODEL_MISSING");
  });
});
