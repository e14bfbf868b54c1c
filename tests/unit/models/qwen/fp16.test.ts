import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unwrap } from "../../../../lib/errors.ts";
import { createLogger } from "../../../../lib/log.ts";
import { QwenBackbone } from "../../../../models/runtime/qwen/backbone.ts";
import { f32FromB64, fixture, QWEN_DIR, syntheticImage } from "./support.ts";

/**
 * The fp16 export with external data (models/qwen-tiny/fp16: the format for the CUDA provider),
 * opened by path, run on onnxruntime-node's CPU provider: within TOL_REL of the fp32 transformers
 * reference (fp16 weights and compute; observed ≈ 3e-3).
 */
const TOL_REL = 1e-2;
const log = createLogger("test", "silent");
const fx = fixture<{
  cases: {
    images: { height: number; width: number; seed: number }[];
    instruction: string;
    hidden_states_f32_b64: string;
  }[];
}>("parity");

describe.each(["inline", "worker"] as const)(
  "fp16 Qwen export with external data (%s)",
  (threading) => {
    it("loads by path and matches the fp32 reference within 1e-2 relative", async () => {
      const bb = unwrap(
        await QwenBackbone.load(join(QWEN_DIR, "fp16"), {
          session: { execution_provider: "cpu", threading },
          logger: log,
        }),
      );
      try {
        expect(bb.spec.dtype).toBe("float16");
        expect(bb.spec.graphs.language.external_data?.length).toBe(1);
        const c = fx.cases[1]!;
        const images = c.images.map((im) => syntheticImage(im.height, im.width, im.seed));
        const hidden = unwrap(await bb.encode({ images, instruction: c.instruction }));
        const ref = f32FromB64(c.hidden_states_f32_b64);
        let maxAbs = 0;
        let maxRef = 0;
        for (let i = 0; i < ref.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(hidden.states[i]! - ref[i]!));
          maxRef = Math.max(maxRef, Math.abs(ref[i]!));
        }
        expect(maxAbs / maxRef).toBeLessThan(TOL_REL);
      } finally {
        await bb.dispose();
      }
    });
  },
);
