import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../../lib/errors.ts";
import { createLogger } from "../../../../lib/log.ts";
import { BlmModel } from "../../../../models/runtime/model.ts";
import { assembleQwenModel, f32FromB64, fixture, syntheticImage } from "./support.ts";

/**
 * Parity through the intent bridge: BlmModel with a qwen2_5_vl backbone (the tiny Qwen export +
 * test-tiny's intent bridge) turns camera images + instruction into intent tokens that match
 * PyTorch's bridge applied to transformers' layer-k hidden states (fixtures/bridge.json, written by
 * models/tools/qwen_export/bridge.py from fixtures/parity.json), for one and two images.
 * Tolerance: TOL_REL of the largest reference magnitude (max |ref| ≈ 1.7). The hidden states
 * already differ by ≈ 2e-6 relative (float32 reassociation, parity.test.ts); the bridge's final
 * layer norm damps that: observed max abs error 6e-7 (≈ 3.6e-7 relative) in every case, worker and
 * inline. Different cases' intents differ by orders of magnitude more (checked below).
 */
const TOL_REL = 1e-5;

interface BridgeCase {
  parity_case: number;
  images: { height: number; width: number; seed: number }[];
  instruction: string;
  count: number;
  dim: number;
  intent_f32_b64: string;
}
const fx = fixture<{ cases: BridgeCase[] }>("bridge");
const CAMERAS = ["front", "wrist"];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("bridge.json", () => {
  it("has one- and two-image cases whose intents differ far beyond the tolerance", () => {
    expect(new Set(fx.cases.map((c) => c.images.length))).toEqual(new Set([1, 2]));
    const refs = fx.cases.map((c) => f32FromB64(c.intent_f32_b64));
    for (let i = 0; i < refs.length; i++)
      for (let j = i + 1; j < refs.length; j++)
        expect(maxAbsDiff(refs[i]!, refs[j]!)).toBeGreaterThan(1e-2);
  });
});
const log = createLogger("test", "silent");

describe.each(["worker", "inline"] as const)(
  "Qwen backbone -> intent bridge parity with PyTorch (%s threading)",
  (threading) => {
    const models = new Map<number, { dir: string; model: BlmModel }>();
    beforeAll(async () => {
      for (const n of [1, 2]) {
        const dir = await assembleQwenModel(CAMERAS.slice(0, n));
        const model = unwrap(
          await BlmModel.load(dir, {
            graphs: ["backbone", "intent_bridge"],
            session: { execution_provider: "cpu", threading },
            logger: log,
          }),
        );
        models.set(n, { dir, model });
      }
    });
    afterAll(async () => {
      for (const { dir, model } of models.values()) {
        await model.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it.each(fx.cases.map((c) => ({ ...c, n: c.images.length })))(
      "parity case $parity_case: $n image(s) -> the same intent tokens",
      async (c) => {
        const { model } = models.get(c.n)!;
        const images = Object.fromEntries(
          c.images.map((im, j) => [CAMERAS[j]!, syntheticImage(im.height, im.width, im.seed)]),
        );
        const intent = unwrap(await model.encode({ images, instruction: c.instruction }));
        expect([intent.count, intent.dim]).toEqual([c.count, c.dim]);
        const ref = f32FromB64(c.intent_f32_b64);
        expect(intent.tokens.length).toBe(ref.length);
        const maxRef = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const maxAbs = maxAbsDiff(intent.tokens, ref);
        expect(maxAbs / maxRef).toBeLessThan(TOL_REL);
      },
    );
  },
);
