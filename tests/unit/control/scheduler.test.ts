import { describe, expect, it } from "vitest";
import { DelayEstimator, Scheduler } from "../../../embodiments/control/index.ts";
import { EMBODIMENTS, chunkFrom, home } from "./fixtures.ts";

describe("scheduling", () => {
  it("the inference-delay estimate ignores cold-start outliers and single spikes (median of the last N)", () => {
    const d = new DelayEstimator(3, 9);
    for (const x of [2.5, 1.8, 0.9]) d.add(x); // graph compilation, caches
    expect(d.estimate()).toBeNaN();
    for (const x of [0.1, 0.11, 0.09, 0.1, 0.6, 0.1, 0.12]) d.add(x);
    expect(d.estimate()).toBeCloseTo(0.1, 12);
  });

  it("temporal ensembling averages overlapping chunks with exponential weights; receding follows the newest", () => {
    const n = 1;
    const mk = (stamp: number, value: number) => ({
      stampSec: stamp,
      dt: 0.1,
      horizon: 10,
      positions: new Float64Array(10).fill(value),
      gripper: new Float64Array(10).fill(value),
    });
    const ens = new Scheduler(n, {
      mode: "ensemble",
      capacity: 4,
      maxHorizon: 16,
      ensembleDecayPerSec: Math.log(2) / 0.5,
    });
    const rec = new Scheduler(n, {
      mode: "receding",
      capacity: 4,
      maxHorizon: 16,
      ensembleDecayPerSec: 0,
    });
    for (const s of [ens, rec]) {
      s.add(mk(0, 0), 0, 0.05, [0], 0);
      s.add(mk(0.5, 1), 0.5, 0.05, [0], 0);
    }
    const out = new Float64Array(1);
    ens.evaluate(0.7, out, 0);
    // Weights: newest 1, older exp(−ln2) = ½ → (0·½ + 1·1) / 1.5.
    expect(out[0]).toBeCloseTo(2 / 3, 12);
    rec.evaluate(0.7, out, 0);
    expect(out[0]).toBe(1);
    // Mid-blend, the reference lies between the old and the new chunk.
    rec.evaluate(0.525, out, 0);
    expect(out[0]).toBeGreaterThan(0);
    expect(out[0]).toBeLessThan(1);
  });

  it("a chunk arriving late takes over from the executing reference without a jump", () => {
    const emb = EMBODIMENTS[1]!;
    const n = emb.joints.length;
    const s = new Scheduler(n, {
      mode: "receding",
      capacity: 4,
      maxHorizon: 16,
      ensembleDecayPerSec: 0,
    });
    s.add(
      chunkFrom(emb, 0, 0.05, 16, (_, o) => o.set(home(emb))),
      0.05,
      0.05,
      home(emb),
      0,
    );
    const shifted = home(emb).map((q) => q + 0.1);
    s.add(
      chunkFrom(emb, 0.2, 0.05, 16, (_, o) => o.set(shifted)),
      0.5,
      0.2,
      home(emb),
      0,
    );
    const a = new Float64Array(n),
      b = new Float64Array(n);
    s.evaluate(0.5, a, 0);
    s.evaluate(0.5 + 1e-6, b, 0);
    expect(Math.abs(a[0]! - emb.home[0]!)).toBeLessThan(1e-12); // still on the old chunk at arrival
    expect(Math.abs(b[0]! - a[0]!)).toBeLessThan(1e-9);
    s.evaluate(0.75, a, 0);
    expect(a[0]).toBeCloseTo(shifted[0]!, 12); // fully on the new one after its blend
  });
});
