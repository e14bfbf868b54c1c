import { describe, expect, it } from "vitest";
import { ChunkExecutor, dynamicScale, jointLimits } from "../../../embodiments/control/index.ts";
import {
  EMBODIMENTS,
  chunkFrom,
  home,
  sampleQuintic,
  sineAbout,
  snap,
  tcpDipping,
  type Snapshot,
} from "./fixtures.ts";
import { forwardKinematics } from "../../../embodiments/kinematics/index.ts";

/** Drives an executor at its control period with perfect joint feedback (measured = commanded). */
function loop(
  ex: ChunkExecutor,
  t0: number,
  t1: number,
  each: (t: number, i: number) => void,
  onTick: (s: Snapshot) => void,
): number {
  const h = ex.periodSec;
  let t = t0;
  for (let i = 1; t + h <= t1 + 1e-12; i++) {
    t = t0 + i * h;
    ex.noteObservation(t);
    each(t, i);
    const s = snap(ex.tick(t));
    ex.updateJointState(s.sp, undefined, t);
    onTick(s);
  }
  return t;
}

describe("ChunkExecutor and the table plane", () => {
  for (const emb of EMBODIMENTS) {
    it(`${emb.name}: a descent aimed 2 cm under the table (lifted by default) settles just above it and never commands the TCP under it`, () => {
      const ex = new ChunkExecutor(emb, { rampInSec: 0.2 });
      const floor = emb.safety.table_z + emb.safety.table_margin;
      const q0 = tcpDipping(emb, -0.06);
      const q1 = tcpDipping(emb, 0.02);
      const n = q0.length;
      expect(ex.activate(q0, 0).ok).toBe(true);
      // the reference moves from q0 to q1 in joint space over 1.5 s, then stays
      const f = (t: number, out: Float64Array) => {
        const s = Math.min(1, Math.max(0, (t - 0.3) / 1.5));
        for (let j = 0; j < n; j++) out[j] = q0[j]! + s * (q1[j]! - q0[j]!);
      };
      let next = 0,
        lowest = Infinity,
        last = Infinity,
        accepted = 0;
      loop(
        ex,
        0,
        4,
        (t) => {
          if (t >= next) {
            if (ex.submitChunk(chunkFrom(emb, t - 0.05, 0.05, 16, f), t).ok) accepted++;
            next += 0.1;
          }
        },
        (s) => {
          last = forwardKinematics(emb, s.sp).position[2]!;
          lowest = Math.min(lowest, last);
        },
      );
      expect(accepted).toBeGreaterThan(30); // the chunks were repaired, not rejected
      // the chunk points are lifted above the plane + margin; the jerk-limited stream may overshoot
      // a point by millimetres while it brakes (WidowX: 1.7 mm), which is what the margin is for
      expect(lowest).toBeGreaterThan(emb.safety.table_z);
      expect(lowest).toBeGreaterThan(floor - 0.5 * emb.safety.table_margin);
      expect(last).toBeLessThan(floor + 0.006); // it went down to the plane, not held above
    });
  }
});

describe("ChunkExecutor tracking (DESIGN decision 15: a controller that only holds fails these)", () => {
  for (const emb of EMBODIMENTS) {
    it(`${emb.name}: follows a stream of sinusoid chunks (100 ms late) to within a quarter of the distance the reference moves per control period`, () => {
      const ex = new ChunkExecutor(emb, { rampInSec: 0.2 });
      const n = emb.joints.length;
      const amp = 0.2,
        period = 2;
      const f = sineAbout(emb, amp, period);
      const q0 = new Float64Array(n);
      f(0, q0);
      expect(ex.activate(q0, 0).ok).toBe(true);
      // Bound: the reference's top speed is amp·2π/period; lagging even one tick behind it
      // would cost vmax·h, so a quarter of that leaves no room for lag.
      const bound = 0.25 * ((amp * 2 * Math.PI) / period) * ex.periodSec;
      let next = 0,
        worst = 0,
        moved = 0;
      const ref = new Float64Array(n);
      loop(
        ex,
        0,
        5,
        (t) => {
          if (t >= next) {
            const r = ex.submitChunk(chunkFrom(emb, t - 0.1, 0.05, 16, f), t);
            expect(r.ok).toBe(true);
            next += 0.1;
          }
        },
        (s) => {
          if (s.t < 1.5) return;
          expect(s.stage).toBe("tracking");
          f(s.t, ref);
          for (let j = 0; j < n; j++) {
            worst = Math.max(worst, Math.abs(s.sp[j]! - ref[j]!));
            moved = Math.max(moved, Math.abs(s.sp[j]! - q0[j]!));
          }
        },
      );
      console.info(
        `${emb.name}: worst tracking error ${worst.toExponential(2)} rad, bound ${bound.toExponential(2)} rad`,
      );
      expect(moved).toBeGreaterThan(amp); // it moved the full swing, not a hold
      expect(worst).toBeLessThan(bound);
    });

    it(`${emb.name}: reaches a target 0.25 rad away on every joint within the time the limits allow, and settles there`, () => {
      const ex = new ChunkExecutor(emb, { rampInSec: 0.2 });
      const n = emb.joints.length;
      const q0 = home(emb);
      const target = q0.map((q, j) => {
        const { lower, upper } = emb.joints[j]!.position;
        return upper - q > q - lower ? q + 0.25 : q - 0.25;
      });
      expect(ex.activate(q0, 0).ok).toBe(true);
      // Bound from the limits: ramp-in, then a rest-to-rest move of d = 0.25 rad braking at
      // A/2 (the tracking law's braking curve) takes at most 2·√(2d/(A/2)) + d/V, plus the
      // jerk ramps 2A/J, plus 6/kp for the critically damped approach of the last millimetre.
      const kp = ex.gains.kp;
      const bound = Math.max(
        ...emb.joints.map((jt, j) => {
          const A = jt.acceleration,
            J = ex.planningJerk[j]!;
          return (
            0.2 + 2 * Math.sqrt((2 * 0.25) / (A / 2)) + 0.25 / jt.velocity + (2 * A) / J + 6 / kp
          );
        }),
      );
      let next = 0,
        reachedAt = Infinity,
        worstAfter = 0;
      loop(
        ex,
        0,
        bound + 1,
        (t) => {
          if (t >= next) {
            ex.submitChunk(
              chunkFrom(emb, t - 0.02, 0.05, 16, (_, out) => out.set(target)),
              t,
            );
            next += 0.1;
          }
        },
        (s) => {
          let err = 0;
          for (let j = 0; j < n; j++) err = Math.max(err, Math.abs(s.sp[j]! - target[j]!));
          if (err < 1e-3 && reachedAt === Infinity) reachedAt = s.t;
          if (reachedAt < Infinity) worstAfter = Math.max(worstAfter, err);
        },
      );
      console.info(
        `${emb.name}: within 1 mrad after ${reachedAt.toFixed(3)} s (bound ${bound.toFixed(3)} s)`,
      );
      expect(reachedAt).toBeLessThan(bound);
      expect(worstAfter).toBeLessThan(1e-3);
    });
  }
});

describe("ChunkExecutor chunk switches", () => {
  for (const emb of EMBODIMENTS) {
    it(`${emb.name}: a chunk switch under 200 ms inference delay changes the commanded velocity by no more than A·h per tick and never jumps`, () => {
      const ex = new ChunkExecutor(emb, { rampInSec: 0.1 });
      const n = emb.joints.length;
      const h = ex.periodSec;
      const f = sineAbout(emb, 0.1, 2);
      const q0 = new Float64Array(n);
      f(0, q0);
      ex.activate(q0, 0);
      let next = 0.3,
        k = 0,
        prev: Snapshot | null = null;
      let worstJump = 0,
        worstDvRatio = 0,
        worstRefDisagreement = 0;
      const old = new Float64Array(n),
        fresh = new Float64Array(n);
      loop(
        ex,
        0,
        3,
        (t) => {
          if (t >= next) {
            // Each chunk is computed 200 ms ago and disagrees with the last one by an offset
            // of up to ±0.04 rad: what a model with a new view of the scene would do.
            const off = 0.04 * Math.sin(1.3 * ++k);
            const stamp = t - 0.2;
            const g = (tt: number, out: Float64Array) => {
              f(tt, out);
              for (let j = 0; j < n; j++) out[j] = out[j]! + off;
            };
            ex.targetAt(t, old);
            g(t, fresh);
            if (k > 1)
              for (let j = 0; j < n; j++)
                worstRefDisagreement = Math.max(
                  worstRefDisagreement,
                  Math.abs(old[j]! - fresh[j]!),
                );
            const r = ex.submitChunk(chunkFrom(emb, stamp, 0.05, 16, g), t);
            if (!r.ok) throw r.error;
            next += 0.1;
          }
        },
        (s) => {
          if (prev) {
            for (let j = 0; j < n; j++) {
              const q = sampleQuintic(prev, n, s.t, j);
              worstJump = Math.max(worstJump, Math.abs(q.v - s.sv[j]!));
              worstDvRatio = Math.max(
                worstDvRatio,
                Math.abs(s.sv[j]! - prev.sv[j]!) / (emb.joints[j]!.acceleration * h),
              );
            }
          }
          prev = s;
        },
      );
      console.info(
        `${emb.name}: chunks disagreed by up to ${worstRefDisagreement.toFixed(3)} rad at the switch; ` +
          `velocity jump at switches ${worstJump.toExponential(2)} rad/s; per-tick |Δv| up to ${worstDvRatio.toFixed(3)}·A·h`,
      );
      expect(worstRefDisagreement).toBeGreaterThan(0.02); // the switches are real
      expect(worstJump).toBeLessThan(1e-7);
      expect(worstDvRatio).toBeLessThanOrEqual(1 + 1e-9);
    });
  }

  it("a late chunk (delay half its horizon) continues from its present, not from its stale first points", () => {
    const emb = EMBODIMENTS[0]!;
    const ex = new ChunkExecutor(emb, { rampInSec: 0 });
    const n = emb.joints.length;
    const q0 = home(emb);
    ex.activate(q0, 0);
    // A ramp on joint 0 at 0.2 rad/s starting at t = 1 − 0.4 (stamp): by arrival (t = 1) it
    // is already 0.08 rad along. Jumping back to its first point would drag the arm backwards.
    const stamp = 0.6,
      ramp = (tt: number, out: Float64Array) => {
        out.set(q0);
        out[0] = q0[0]! + 0.2 * Math.max(0, tt - stamp);
      };
    let minV = Infinity;
    const ref = new Float64Array(n);
    let errAtEnd = 0;
    loop(
      ex,
      0,
      1.3,
      (t, i) => {
        if (i === Math.round(1 / ex.periodSec))
          expect(ex.submitChunk(chunkFrom(emb, stamp, 0.05, 16, ramp), t).ok).toBe(true);
      },
      (s) => {
        if (s.t > 1) minV = Math.min(minV, s.sv[0]!);
        ramp(s.t, ref);
        errAtEnd = Math.abs(s.sp[0]! - ref[0]!);
      },
    );
    expect(minV).toBeGreaterThanOrEqual(-1e-9); // never moves backwards
    expect(errAtEnd).toBeLessThan(2e-3); // and is on the chunk's present by the end
  });
});

describe("ChunkExecutor slow-down bound (the agent's chunk_max_slowdown)", () => {
  const emb = EMBODIMENTS[0]!;
  const q0 = home(emb);
  // A wrist wobble that starts at the measured state: its amplitude sets how much slower its
  // timing has to be to respect the acceleration and jerk limits.
  const wobble = (amp: number) => (t: number, out: Float64Array) => {
    out.set(q0);
    out[5] = q0[5]! + amp * (1 - Math.cos(2 * Math.PI * 4 * Math.max(0, t - 1.2)));
  };
  const needed = (amp: number) =>
    dynamicScale(
      chunkFrom(emb, 1, 0.05, 16, wobble(amp)).positions,
      16,
      0.05,
      jointLimits(emb),
      Infinity,
    ).scale!;
  const amp = [0.3, 0.35, 0.4, 0.45].find((a) => needed(a) > 3.3 && needed(a) < 5)!;

  it("rejects a chunk that needs more than the bound, executes it slowed within a larger one", () => {
    expect(amp).toBeDefined();
    const s = needed(amp);
    const submit = (maxTimeScale?: number) => {
      const ex = new ChunkExecutor(emb, { rampInSec: 0, maxTimeScale });
      ex.activate(q0, 1);
      return ex.submitChunk(chunkFrom(emb, 1, 0.05, 16, wobble(amp)), 1);
    };
    const byDefault = submit();
    expect(byDefault.ok).toBe(false);
    if (!byDefault.ok) expect(byDefault.error.message).toMatch(/slower timing.*more than 3×/);
    const wider = submit(5);
    expect(wider.ok ? "" : wider.error.message).toBe("");
    if (wider.ok) expect(wider.value.timeScale).toBeCloseTo(s, 6);
  });
});
