import { describe, expect, it } from "vitest";
import { ChunkExecutor, rampInScale, Watchdog } from "../../../embodiments/control/index.ts";
import type { Embodiment } from "../../../embodiments/schema.ts";
import { EMBODIMENTS, chunkFrom, home, snap, type Snapshot } from "./fixtures.ts";

const emb = EMBODIMENTS[0]!; // panda
const n = emb.joints.length;

/** An executor moving joint 0 at 0.5 rad/s along a ramp of chunks, fed until `feedUntil`. */
function moving(e: Embodiment = emb) {
  const ex = new ChunkExecutor(e, { rampInSec: 0.1, observationTimeoutSec: 0.3 });
  const q0 = home(e);
  ex.activate(q0, 0);
  const ramp = (t: number, out: Float64Array) => {
    out.set(q0);
    out[0] = q0[0]! + 0.5 * t;
  };
  return { ex, q0, ramp };
}

interface Feed {
  joints: boolean;
  obs: boolean;
  chunks: boolean;
}

function drive(
  ex: ChunkExecutor,
  ramp: (t: number, o: Float64Array) => void,
  from: number,
  to: number,
  feed: (t: number) => Feed,
): Snapshot[] {
  const h = ex.periodSec;
  const out: Snapshot[] = [];
  let nextChunk = from;
  for (let t = from + h; t <= to + 1e-9; t += h) {
    const f = feed(t);
    if (f.obs) ex.noteObservation(t);
    if (f.chunks && t >= nextChunk) {
      ex.submitChunk(chunkFrom(emb, t - 0.05, 0.05, 16, ramp), t);
      nextChunk = t + 0.1;
    }
    const s = snap(ex.tick(t));
    out.push(s);
    if (f.joints) ex.updateJointState(s.sp, undefined, t);
  }
  return out;
}

const all: Feed = { joints: true, obs: true, chunks: true };

function expectDecelerationWithinLimits(trace: Snapshot[]): void {
  for (const s of trace) {
    for (let j = 0; j < n; j++) {
      expect(Math.abs(s.sa[j]!)).toBeLessThanOrEqual(emb.joints[j]!.acceleration * (1 + 1e-9));
      expect(Math.abs(s.sv[j]!)).toBeLessThanOrEqual(emb.joints[j]!.velocity * (1 + 1e-9));
    }
  }
}

describe("Watchdog stages", () => {
  it("stale joint state: decelerates within the limits to a stop, then holds that position", () => {
    const { ex, ramp } = moving();
    const before = drive(ex, ramp, 0, 1, () => all);
    expect(before.at(-1)!.stage).toBe("tracking");
    expect(before.at(-1)!.sv[0]!).toBeGreaterThan(0.45);
    const after = drive(ex, ramp, 1, 2, () => ({ ...all, joints: false }));
    const decel = after.filter((s) => s.stage === "decelerating");
    const hold = after.filter((s) => s.stage === "holding");
    expect(decel.length).toBeGreaterThan(0);
    expect(decel[0]!.active).toBe("E_STALE_JOINT_STATE");
    // Decelerating starts within the timeout plus one tick.
    expect(decel[0]!.t - 1).toBeLessThanOrEqual(0.1 + ex.periodSec + 1e-9);
    expect(hold.length).toBeGreaterThan(10);
    expectDecelerationWithinLimits(after);
    // |v| never grows while decelerating, and the hold does not move.
    for (let i = 1; i < decel.length; i++)
      expect(Math.abs(decel[i]!.sv[0]!)).toBeLessThanOrEqual(Math.abs(decel[i - 1]!.sv[0]!) + 1e-9);
    // "At rest" means below 1e-3 rad/s and 1e-2 rad/s²; what that residual motion can
    // still travel is far below 1e-5 rad.
    const p = hold[0]!.sp[0]!;
    for (const s of hold) {
      expect(Math.abs(s.sp[0]! - p)).toBeLessThan(1e-5);
      for (let k = 0; k < s.nPoints; k++) expect(Math.abs(s.p[k * n]! - p)).toBeLessThan(1e-5);
    }
    // The stop takes about v/A plus the jerk ramp: bound it from the limits.
    const a0 = emb.joints[0]!.acceleration,
      j0 = ex.planningJerk[0]!;
    expect(hold[0]!.t - decel[0]!.t).toBeLessThan(0.5 / a0 + (2 * a0) / j0 + 0.2);
  });

  it("stale observation: decelerates, then holds, with E_STALE_IMAGE", () => {
    const { ex, ramp } = moving();
    drive(ex, ramp, 0, 1, () => all);
    const after = drive(ex, ramp, 1, 2.5, () => ({ ...all, obs: false }));
    const first = after.find((s) => s.stage !== "tracking")!;
    expect(first.stage).toBe("decelerating");
    expect(first.active).toBe("E_STALE_IMAGE");
    expect(after.at(-1)!.stage).toBe("holding");
    expectDecelerationWithinLimits(after);
  });

  it("starved chunk queue: once the last chunk ends it decelerates and holds; a new chunk resumes tracking", () => {
    const { ex, ramp } = moving();
    drive(ex, ramp, 0, 1, () => all);
    const after = drive(ex, ramp, 1, 2.5, () => ({ ...all, chunks: false }));
    const first = after.find((s) => s.stage !== "tracking")!;
    expect(first.stage).toBe("decelerating");
    expect(first.active).toBe("E_CHUNK_STALE");
    // The last chunk was stamped ≤ 0.95 s with 16 × 0.05 s: it ends before 1.75 s.
    expect(first.t).toBeLessThan(1.76);
    expect(after.at(-1)!.stage).toBe("holding");
    expectDecelerationWithinLimits(after);
    const here = Float64Array.from(after.at(-1)!.sp);
    const resume = drive(
      ex,
      (_, o) => o.set(here),
      2.5,
      3,
      () => all,
    );
    expect(resume.at(-1)!.stage).toBe("tracking");
  });

  it("the stage machine goes run → decelerate → hold and back to run when the fault clears", () => {
    const w = new Watchdog({ jointStateTimeoutSec: 0.1, observationTimeoutSec: Infinity });
    const x = {
      nowSec: 1,
      lastJointStateSec: 1,
      lastObservationSec: 1,
      starved: false,
      atRest: false,
    };
    expect(w.update(x)).toBe("run");
    expect(w.update({ ...x, nowSec: 1.2 })).toBe("decelerate");
    expect(w.update({ ...x, nowSec: 1.3 })).toBe("decelerate");
    expect(w.update({ ...x, nowSec: 1.4, atRest: true })).toBe("hold");
    expect(w.update({ ...x, nowSec: 1.5, atRest: false })).toBe("hold");
    expect(w.update({ ...x, nowSec: 1.5, lastJointStateSec: 1.5 })).toBe("run");
  });
});

describe("estop", () => {
  it("stops at once, holds the commanded position, and stays latched until clearEstop() — fresh data and chunks do not release it", () => {
    const { ex, ramp } = moving();
    const before = drive(ex, ramp, 0, 1, () => all);
    const last = before.at(-1)!;
    expect(last.sv[0]!).toBeGreaterThan(0.45);
    ex.estop();
    const during = drive(ex, ramp, 1, 2, () => all);
    const p = during[0]!.sp;
    for (const s of during) {
      expect(s.mode).toBe("estopped");
      expect(s.active).toBe("E_ESTOP");
      for (let k = 0; k < s.nPoints; k++) {
        for (let j = 0; j < n; j++) {
          expect(s.p[k * n + j]).toBe(p[j]);
          expect(s.v[k * n + j]).toBe(0);
        }
      }
    }
    // The hold is where the command was at the estop tick (within one tick's travel of the last output).
    expect(Math.abs(p[0]! - last.sp[0]!)).toBeLessThanOrEqual(
      emb.joints[0]!.velocity * ex.periodSec,
    );
    const r = ex.submitChunk(chunkFrom(emb, 1.99, 0.05, 16, ramp), 2);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe("E_ESTOP");

    ex.clearEstop();
    const after = drive(ex, ramp, 2, 2.05, () => ({ ...all, chunks: false }));
    expect(after[0]!.mode).toBe("ramp_in");
    expect(after[0]!.scale).toBe(0);
  });
});

describe("ramp-in and dry run", () => {
  for (const e of EMBODIMENTS) {
    it(`${e.name}: activation starts at rest at the measured state and the allowed speed ramps in from zero`, () => {
      const ex = new ChunkExecutor(e, { rampInSec: 1 });
      const m = e.joints.length;
      const q0 = home(e);
      const measured = q0.map((q, j) => q + (j % 2 ? 0.01 : -0.01));
      ex.activate(measured, 0);
      const far = (_: number, out: Float64Array) => {
        for (let j = 0; j < m; j++) {
          const { lower, upper } = e.joints[j]!.position;
          out[j] = upper - q0[j]! > q0[j]! - lower ? q0[j]! + 0.28 : q0[j]! - 0.28;
        }
      };
      const h = ex.periodSec;
      let first = true;
      let sawRamp = false;
      for (let t = h; t < 1.5; t += h) {
        ex.noteObservation(t);
        if (Math.abs((t / 0.1) % 1) < h / 0.1)
          ex.submitChunk(chunkFrom(e, t - 0.01, 0.05, 16, far), t);
        const s = snap(ex.tick(t));
        ex.updateJointState(s.sp, undefined, t);
        if (first) {
          for (let j = 0; j < m; j++) expect(s.sp[j]).toBeCloseTo(measured[j]!, 12);
          first = false;
        }
        if (t < 1) {
          sawRamp ||= s.mode === "ramp_in";
          expect(s.scale).toBeCloseTo(rampInScale(t, 0, 1), 12);
          // Within the ramped limit, give or take what one tick of acceleration adds.
          for (let j = 0; j < m; j++)
            expect(Math.abs(s.sv[j]!)).toBeLessThanOrEqual(
              e.joints[j]!.velocity * s.scale + e.joints[j]!.acceleration * h,
            );
        } else {
          expect(s.mode).toBe("tracking");
        }
      }
      expect(sawRamp).toBe(true);
    });
  }

  it("dry run computes the trajectory but marks it as not to be commanded", () => {
    const ex = new ChunkExecutor(emb, { dryRun: true, rampInSec: 0 });
    ex.activate(home(emb), 0);
    ex.noteObservation(0.01);
    expect(
      ex.submitChunk(
        chunkFrom(emb, 0.005, 0.05, 16, (_, o) => o.set(home(emb))),
        0.01,
      ).ok,
    ).toBe(true);
    const o = ex.tick(0.01);
    expect(o.mode).toBe("dry_run");
    expect(o.stage).toBe("tracking");
    expect(o.command).toBe(false);
    expect(o.nPoints).toBeGreaterThan(0);
    ex.setDryRun(false);
    expect(ex.tick(0.02).command).toBe(true);
  });

  it("is idle and commands nothing before activation", () => {
    const ex = new ChunkExecutor(emb);
    const o = ex.tick(1);
    expect(o.mode).toBe("idle");
    expect(o.command).toBe(false);
    expect(o.nPoints).toBe(0);
    expect(
      ex.submitChunk(
        chunkFrom(emb, 0.9, 0.05, 16, (_, q) => q.set(home(emb))),
        1,
      ).ok,
    ).toBe(false);
  });

  it("refuses to activate from a measured state that is not finite or far outside the limits", () => {
    const ex = new ChunkExecutor(emb);
    const q = home(emb);
    q[2] = NaN;
    const r = ex.activate(q, 0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe("E_JOINT_NONFINITE");
    q[2] = 10;
    const r2 = ex.activate(q, 0);
    if (!r2.ok) expect(r2.error.code).toBe("E_JOINT_OUT_OF_LIMIT");
    expect(r2.ok).toBe(false);
    expect(ex.activate(home(emb).subarray(1), 0).ok).toBe(false);
  });

  it("lowering the global velocity scale while moving slows down within the acceleration limit", () => {
    const { ex, ramp } = moving();
    drive(ex, ramp, 0, 1, () => all);
    ex.setVelocityScale(0.2);
    const after = drive(ex, ramp, 1, 1.6, () => all);
    expectDecelerationWithinLimits(after);
    const vmax = emb.joints[0]!.velocity;
    expect(Math.abs(after.at(-1)!.sv[0]!)).toBeLessThanOrEqual(0.2 * vmax + 1e-6);
    void n;
  });
});
