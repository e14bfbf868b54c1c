import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../lib/errors.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import { preprocessImage } from "../../../models/runtime/image.ts";
import { createTokenizer } from "../../../models/runtime/tokenizer.ts";
import { decode, f32, i64, loadFixture, maxAbsDiff, memoryLogger, MODEL_DIR } from "./support.ts";

/**
 * Parity with PyTorch (fixtures from models/tools/make_test_model.py, which carry the noise).
 * Tolerances: hidden states and intent tokens 1e-4 absolute (observed ~1e-6); sampled chunks 1e-4
 * in normalized units (observed < 1e-5 at 10 steps) and 1e-4 rad / m in embodiment units.
 */
const TOL_INTENT = 1e-4;
const TOL_CHUNK = 1e-4;

const fx = loadFixture();
const observed: Record<string, number> = {};

describe.each(["worker", "inline"] as const)(
  "BlmModel parity with PyTorch (%s threading)",
  (threading) => {
    let model: BlmModel;
    beforeAll(async () => {
      model = unwrap(
        await BlmModel.load(MODEL_DIR, {
          session: { execution_provider: "cpu", threading },
          logger: memoryLogger().log,
        }),
      );
    });
    afterAll(async () => {
      await model.dispose();
      if (threading === "inline") console.log("observed max abs errors", observed);
    });

    it("tokenizes the instruction as the tools do", () => {
      const tok = unwrap(createTokenizer(model.manifest.tokenizer));
      const ids = new BigInt64Array(tok.maxLength);
      const mask = new BigInt64Array(tok.maxLength);
      tok.encode(fx.encode.instruction, ids, mask);
      expect([...ids]).toEqual([...i64(fx.encode.input_ids!)]);
      expect([...mask]).toEqual([...i64(fx.encode.attention_mask!)]);
    });

    it("preprocesses camera images as the tools do", () => {
      const { image, backbone } = model.manifest;
      const raw = decode(fx.encode.images_rgb8!) as Uint8Array;
      const plane = image.height * image.width * 3;
      const out = new Float32Array(backbone.cameras.length * plane);
      backbone.cameras.forEach((_, c) => {
        const r = preprocessImage(
          {
            width: image.width,
            height: image.height,
            encoding: "rgb8",
            data: raw.subarray(c * plane, (c + 1) * plane),
          },
          image,
          out,
          c * plane,
        );
        expect(r.ok).toBe(true);
      });
      expect(maxAbsDiff(out, f32(fx.encode.pixel_values!))).toBeLessThan(1e-6);
    });

    it("matches the backbone's hidden states and the intent tokens", async () => {
      const hidden = unwrap(
        await model.runBackbone(
          f32(fx.encode.pixel_values!),
          i64(fx.encode.input_ids!),
          i64(fx.encode.attention_mask!),
        ),
      );
      const dh = maxAbsDiff(hidden.states, f32(fx.encode.hidden_states!));
      expect(dh).toBeLessThan(TOL_INTENT);
      expect([...hidden.mask]).toEqual([...i64(fx.encode.hidden_mask!)]);
      const intent = unwrap(await model.runIntentBridge(hidden));
      const di = maxAbsDiff(intent.tokens, f32(fx.encode.intent!));
      expect(di).toBeLessThan(TOL_INTENT);
      observed[`${threading} hidden`] = dh;
      observed[`${threading} intent`] = di;
    });

    it("runs images + instruction -> intent -> chunk from the model folder", async () => {
      const { image, backbone } = model.manifest;
      const raw = decode(fx.encode.images_rgb8!) as Uint8Array;
      const plane = image.height * image.width * 3;
      const images = Object.fromEntries(
        backbone.cameras.map((cam, c) => [
          cam,
          {
            width: image.width,
            height: image.height,
            encoding: "rgb8" as const,
            data: raw.subarray(c * plane, (c + 1) * plane),
          },
        ]),
      );
      const intent = unwrap(await model.encode({ images, instruction: fx.encode.instruction }));
      expect(maxAbsDiff(intent.tokens, f32(fx.encode.intent!))).toBeLessThan(TOL_INTENT);
      const sampler = unwrap(model.createSampler("panda", { seed: 7 }));
      const c = fx.sample.find((s) => s.embodiment === "panda")!;
      const chunk = unwrap(await sampler.sample({ state: f32(c.state_units), intent }));
      expect(chunk.positions.length).toBe(16 * 8);
      expect(chunk.names[7]).toBe("panda_finger_joint1");
      expect(chunk.dt).toBeCloseTo(0.05);
      expect(chunk.steps).toBe(4);
    });

    it.each(
      fx.sample.map(
        (c) =>
          [`${c.embodiment} ${c.steps} steps${c.prefix_units ? " inpainted" : ""}`, c] as const,
      ),
    )("samples the same chunk as PyTorch: %s", async (_, c) => {
      const sampler = unwrap(model.createSampler(c.embodiment));
      const intent = {
        tokens: f32(fx.encode.intent!),
        count: model.manifest.intent.tokens,
        dim: model.manifest.intent.dim,
      };
      const prefixUnits = c.prefix_units ? f32(c.prefix_units) : undefined;
      const chunk = unwrap(
        await sampler.sample({
          state: f32(c.state_units),
          intent,
          steps: c.steps,
          noise: f32(c.noise),
          prefix: prefixUnits
            ? { actions: prefixUnits, length: prefixUnits.length / sampler.codec.dims }
            : undefined,
        }),
      );
      const dn = maxAbsDiff(sampler.lastNormalized, f32(c.normalized_chunk));
      const du = maxAbsDiff(chunk.positions, f32(c.chunk_units));
      expect(dn).toBeLessThan(TOL_CHUNK);
      expect(du).toBeLessThan(TOL_CHUNK);
      if (prefixUnits)
        expect(
          maxAbsDiff(chunk.positions.subarray(0, prefixUnits.length), prefixUnits),
        ).toBeLessThan(1e-5);
      const key = `${threading} chunk ${c.steps} steps${prefixUnits ? " inpainted" : ""}`;
      observed[key] = Math.max(observed[key] ?? 0, dn);
    });
  },
);
