import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { unwrap } from "../../../lib/errors.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import { GaussianNoise } from "../../../models/runtime/random.ts";
import { f32, loadFixture, memoryLogger, MODEL_DIR } from "./support.ts";

const ARMS = ["panda", "xarm6", "xarm7", "widowx_ai"];

/** Limits (joints then gripper, [lower, upper]) from the embodiment definition, in the model's units. */
function limits(name: string): [number, number][] {
  const e = unwrap(loadEmbodiment(name));
  const g = e.gripper;
  const grip: [number, number] =
    e.model.gripper_value === "width"
      ? [Math.min(g.width_at_lower, g.width_at_upper), Math.max(g.width_at_lower, g.width_at_upper)]
      : [g.position.lower, g.position.upper];
  return [...e.joints.map((j) => [j.position.lower, j.position.upper] as [number, number]), grip];
}

describe("GaussianNoise", () => {
  it("repeats its sequence for a seed and differs between seeds", () => {
    const a = new GaussianNoise(42).fill(new Float32Array(64));
    const b = new GaussianNoise(42).fill(new Float32Array(64));
    const c = new GaussianNoise(43).fill(new Float32Array(64));
    expect([...a]).toEqual([...b]);
    expect([...a]).not.toEqual([...c]);
  });

  it("draws standard normal samples", () => {
    const x = new GaussianNoise(1).fill(new Float32Array(200_001));
    let m = 0;
    for (const v of x) m += v;
    m /= x.length;
    let v2 = 0;
    for (const v of x) v2 += (v - m) ** 2;
    const sd = Math.sqrt(v2 / x.length);
    expect(Math.abs(m)).toBeLessThan(0.01);
    expect(Math.abs(sd - 1)).toBeLessThan(0.01);
    expect(x.every(Number.isFinite)).toBe(true);
  });
});

describe("FlowMatchingSampler", () => {
  let model: BlmModel;
  const fx = loadFixture();
  const intent = () => ({ tokens: f32(fx.encode.intent!), count: 8, dim: 64 });
  beforeAll(async () => {
    model = unwrap(
      await BlmModel.load(MODEL_DIR, {
        session: { execution_provider: "cpu" },
        logger: memoryLogger().log,
        graphs: ["denoiser"],
      }),
    );
  });
  afterAll(async () => {
    await model.dispose();
  });

  it("is reproducible for a seed and uses the manifest's default steps", async () => {
    const state = f32(fx.sample[0]!.state_units);
    const a = unwrap(
      await unwrap(model.createSampler("panda", { seed: 5 })).sample({ state, intent: intent() }),
    );
    const b = unwrap(
      await unwrap(model.createSampler("panda", { seed: 5 })).sample({ state, intent: intent() }),
    );
    const c = unwrap(
      await unwrap(model.createSampler("panda", { seed: 6 })).sample({ state, intent: intent() }),
    );
    expect(a.steps).toBe(4);
    expect([...a.positions]).toEqual([...b.positions]);
    expect([...a.positions]).not.toEqual([...c.positions]);
  });

  it("scales its drawn noise: 0 gives deterministic chunks, equal to passing zero noise", async () => {
    const state = f32(fx.sample[0]!.state_units);
    const draw = async (seed: number, options: { noiseScale?: number; noise?: Float32Array }) =>
      unwrap(
        await unwrap(model.createSampler("panda", { seed, noiseScale: options.noiseScale })).sample(
          { state, intent: intent(), noise: options.noise },
        ),
      ).positions;
    const zero = await draw(1, { noise: new Float32Array(16 * 32) });
    expect([...(await draw(5, { noiseScale: 0 }))]).toEqual([...zero]);
    expect([...(await draw(6, { noiseScale: 0 }))]).toEqual([...zero]);
    // 1 is the default sampler; a scale between lands between zero noise and full noise
    const one = await draw(5, { noiseScale: 1 });
    expect([...one]).toEqual([...(await draw(5, {}))]);
    const half = await draw(5, { noiseScale: 0.5 });
    const dist = (a: Float32Array, b: Float32Array) => Math.hypot(...a.map((x, k) => x - b[k]!));
    expect(dist(half, zero)).toBeGreaterThan(0);
    expect(dist(half, zero)).toBeLessThan(dist(one, zero));
  });

  it("refuses a noise scale outside [0, 1] with E_CONFIG", () => {
    for (const noiseScale of [-0.1, 1.5, Number.NaN]) {
      const r = model.createSampler("panda", { noiseScale });
      expect(!r.ok && r.error.code).toBe("E_CONFIG");
      expect(!r.ok && r.error.message).toMatch(/noiseScale must be in \[0, 1\]/);
    }
  });

  it("serves several embodiments in one batched denoiser call (dynamic batch, gathered weights)", async () => {
    const B = 3;
    const den = model.denoiser!;
    const run = async (
      b: number,
      ids: bigint[],
      x: Float32Array,
      st: Float32Array,
      it: Float32Array,
    ) =>
      Float32Array.from(
        (
          await den.run({
            noisy_actions: { type: "float32", dims: [b, 16, 32], data: x },
            flow_time: { type: "float32", dims: [b], data: new Float32Array(b).fill(0.25) },
            state: { type: "float32", dims: [b, 64], data: st },
            embodiment_id: { type: "int64", dims: [b], data: BigInt64Array.from(ids) },
            intent: { type: "float32", dims: [b, 8, 64], data: it },
          })
        ).velocity!.data as Float32Array,
      );
    const rng = new GaussianNoise(4);
    const x = rng.fill(new Float32Array(B * 16 * 32));
    const st = rng.fill(new Float32Array(B * 64));
    const it = rng.fill(new Float32Array(B * 8 * 64));
    const batched = await run(B, [0n, 3n, 1n], x, st, it);
    expect(batched.length).toBe(B * 16 * 32);
    const single = await run(1, [3n], x.slice(512, 1024), st.slice(64, 128), it.slice(512, 1024));
    for (let k = 0; k < 512; k++) expect(batched[512 + k]).toBeCloseTo(single[k]!, 5);
    const other = await run(1, [2n], x.slice(512, 1024), st.slice(64, 128), it.slice(512, 1024));
    expect(other).not.toEqual(single); // another embodiment's weights
  });

  it("continues a committed prefix exactly (real-time chunking)", async () => {
    const s = unwrap(model.createSampler("xarm7", { seed: 3 }));
    const first = unwrap(
      await s.sample({ state: new Float32Array(8).fill(0.1), intent: intent() }),
    );
    const P = 4;
    const prefix = first.positions.slice(4 * first.dims, (4 + P) * first.dims); // rows 4..7 of the previous chunk
    const next = unwrap(
      await s.sample({
        state: prefix.subarray(0, 8),
        intent: intent(),
        prefix: { actions: prefix, length: P },
      }),
    );
    for (let k = 0; k < prefix.length; k++) expect(next.positions[k]).toBeCloseTo(prefix[k]!, 5);
  });

  it("reuses its buffers: sampling does not grow the heap per step", async () => {
    const s = unwrap(model.createSampler("widowx_ai", { seed: 1 }));
    const req = { state: new Float32Array(7), intent: intent(), steps: 10 };
    for (let i = 0; i < 5; i++) unwrap(await s.sample(req));
    const view = s.lastNormalized;
    unwrap(await s.sample(req));
    expect(s.lastNormalized).toBe(view); // same working buffer, not a new one
  });

  it.each(ARMS)("lays out %s as its embodiment definition does", (name) => {
    const def = unwrap(loadEmbodiment(name));
    const e = model.manifest.embodiments[name]!;
    expect(e.joint_names).toEqual(def.joints.map((j) => j.name));
    expect(e.gripper.name).toBe(def.gripper.joint);
    expect(e.gripper.value).toBe(def.model.gripper_value);
    expect(e.state.indices).toEqual(def.model.state_indices);
    expect(e.action.indices).toEqual(def.model.action_indices);
    expect(e.action_space).toBe(def.model.action_space);
  });

  it.each(["panda", "xarm6", "xarm7", "widowx_ai"])(
    "keeps %s's chunks inside its joint limits",
    async (name) => {
      const ranges = limits(name);
      const source = `embodiments/${name}/embodiment.yaml`;
      const e = model.manifest.embodiments[name]!;
      const norm = e.action.normalization;
      expect(norm.mode).toBe("min_max");
      if (norm.mode !== "min_max") return;
      // the statistics themselves lie inside the limits ...
      ranges.forEach(([lo, hi], i) => {
        expect(norm.min[i]!, `${source} dim ${i}`).toBeGreaterThanOrEqual(lo);
        expect(norm.max[i]!, `${source} dim ${i}`).toBeLessThanOrEqual(hi);
      });
      // ... so every sampled action does, for random states, intents and seeds
      const s = unwrap(model.createSampler(name, { seed: 11 }));
      const rng = new GaussianNoise(99);
      const dims = s.codec.dims;
      let outsideUnclipped = 0;
      let total = 0;
      for (let trial = 0; trial < 12; trial++) {
        const state = Float32Array.from(
          { length: dims },
          (_, i) => norm.min[i]! + (norm.max[i]! - norm.min[i]!) * rng.uniform(),
        );
        const it = { tokens: rng.fill(new Float32Array(8 * 64)), count: 8, dim: 64 };
        const chunk = unwrap(await s.sample({ state, intent: it }));
        for (let r = 0; r < chunk.horizon; r++)
          for (let i = 0; i < dims; i++) {
            const q = chunk.positions[r * dims + i]!;
            expect(q).toBeGreaterThanOrEqual(ranges[i]![0]);
            expect(q).toBeLessThanOrEqual(ranges[i]![1]);
            const raw = s.lastNormalized[r * s.actionDim + e.action.indices[i]!]!;
            if (Math.abs(raw) > 1) outsideUnclipped++;
            total++;
          }
      }
      // the trained test model stays mostly within its statistics even before the clip
      expect(outsideUnclipped / total).toBeLessThan(0.1);
    },
  );
});
