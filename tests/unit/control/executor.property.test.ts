/**
 * Property tests on all four embodiments: random streams of chunks, good and bad (NaN/Inf,
 * huge values, wrong lengths, out-of-order and future stamps, noise, delays up to half the
 * horizon), random joint-state and observation dropouts, velocity-scale changes and tick
 * jitter. Whatever arrives, every emitted trajectory must:
 *
 *  1. stay inside the position, velocity and acceleration limits, at its points and between
 *     them (sampled with an independent quintic, as joint_trajectory_controller interpolates),
 *     with the jerk between points within the published jerk limit (where published) and
 *     within the planning jerk Jp = min(J, A / (2h)) the executor promises;
 *  2. start where the previous one is at that instant: |Δp| ≤ 1e-9 rad, |Δv| ≤ 1e-7 rad/s,
 *     |Δa| ≤ 1e-5 rad/s² (exact continuity: the controller's "state before the trajectory"
 *     is the state we planned from);
 *  3. at its first point (one period h later) differ from the previous trajectory at the same
 *     instant by at most what one period of a different jerk can do, both jerks bounded by Jp:
 *     |Δp| ≤ Jp·h³/3, |Δv| ≤ Jp·h², |Δa| ≤ 2·Jp·h.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChunkExecutor, type Chunk } from "../../../embodiments/control/index.ts";
import type { Embodiment } from "../../../embodiments/schema.ts";
import { EMBODIMENTS, sampleQuintic, snap, type Snapshot } from "./fixtures.ts";

type ChunkKind =
  | "smooth"
  | "late"
  | "toLimit"
  | "fast"
  | "nan"
  | "inf"
  | "huge"
  | "wrongLength"
  | "outOfOrder"
  | "future"
  | "noise"
  | "velocitiesBad";

interface Event {
  ticks: number;
  kind: ChunkKind | "scale" | "jointDropout" | "obsDropout";
  delayFrac: number;
  amp: number;
  seed: number;
}

const eventArb = fc.record({
  ticks: fc.integer({ min: 1, max: 20 }),
  kind: fc.constantFrom<Event["kind"]>(
    "smooth",
    "smooth",
    "smooth",
    "late",
    "late",
    "toLimit",
    "toLimit",
    "fast",
    "nan",
    "inf",
    "huge",
    "wrongLength",
    "outOfOrder",
    "future",
    "noise",
    "velocitiesBad",
    "scale",
    "jointDropout",
    "obsDropout",
  ),
  delayFrac: fc.double({ min: 0, max: 0.5, noNaN: true }),
  amp: fc.double({ min: -0.6, max: 0.6, noNaN: true }),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
});

const scenarioArb = fc.record({
  events: fc.array(eventArb, { minLength: 10, maxLength: 40 }),
  jitter: fc.boolean(),
  dt: fc.constantFrom(0.05, 0.1),
  horizon: fc.constantFrom(8, 16),
  blend: fc.constantFrom<"receding" | "ensemble">("receding", "ensemble"),
});

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function makeChunk(
  emb: Embodiment,
  ex: ChunkExecutor,
  e: Event,
  now: number,
  dt: number,
  H: number,
  lastStamp: number,
): Chunk {
  const n = emb.joints.length;
  const r = rng(e.seed);
  const late = e.kind === "late" ? e.delayFrac * H * dt : r() * 0.05;
  let stamp = now - late;
  if (e.kind === "outOfOrder") stamp = lastStamp - r() * 0.1;
  if (e.kind === "future") stamp = now + 0.5 + r();
  const start = ex.targetAt(stamp);
  const dir = Array.from({ length: n }, (_, j) => {
    if (e.kind === "toLimit") {
      // Towards a limit and a little past it (the check clips), at most 0.29 rad from here.
      const { lower, upper } = emb.joints[j]!.position;
      const goal = e.amp >= 0 ? upper + 0.05 : lower - 0.05;
      return Math.max(-0.29, Math.min(0.29, goal - start[j]!));
    }
    // "fast" asks for up to 1.5 rad within one chunk: time-scaled, or rejected beyond the largest slow-down.
    return (r() * 2 - 1) * (e.kind === "fast" ? 1.5 : e.amp);
  });
  const positions = new Float64Array(H * n);
  for (let k = 0; k < H; k++) {
    const s = (k + 1) / H;
    const ease = s * s * (3 - 2 * s);
    for (let j = 0; j < n; j++) {
      positions[k * n + j] =
        e.kind === "noise"
          ? emb.joints[j]!.position.lower +
            r() * (emb.joints[j]!.position.upper - emb.joints[j]!.position.lower)
          : start[j]! + dir[j]! * ease;
    }
  }
  const gripper = new Float64Array(H).map(() => (r() - 0.25) * 2);
  const idx = Math.floor(r() * H * n);
  if (e.kind === "nan") positions[idx] = NaN;
  if (e.kind === "inf") positions[idx] = r() < 0.5 ? Infinity : -Infinity;
  if (e.kind === "huge") positions[idx] = (r() < 0.5 ? -1 : 1) * 10 ** (3 + Math.floor(r() * 300));
  const chunk: Chunk = { stampSec: stamp, dt, horizon: H, positions, gripper };
  if (e.kind === "wrongLength") {
    const which = Math.floor(r() * 3);
    if (which === 0)
      chunk.positions = positions.subarray(0, positions.length - 1 - Math.floor(r() * n));
    else if (which === 1) chunk.gripper = gripper.subarray(1);
    else chunk.horizon = H + 1;
  }
  if (e.kind === "velocitiesBad")
    chunk.velocities = new Float64Array(H * n).fill(e.amp < 0 ? NaN : 1e9);
  return chunk;
}

// Plain checks: expect() costs microseconds, and these run millions of times.
function atMost(x: number, bound: number, what: string): void {
  if (!(x <= bound)) throw new Error(`${what} = ${x} exceeds ${bound}`);
}
function atLeast(x: number, bound: number, what: string): void {
  if (!(x >= bound)) throw new Error(`${what} = ${x} is below ${bound}`);
}
function truthy(x: boolean, what: string): void {
  if (!x) throw new Error(`${what} is false`);
}

function assertWithinLimits(emb: Embodiment, ex: ChunkExecutor, s: Snapshot, stats: Stats): void {
  const n = emb.joints.length;
  const jp = ex.planningJerk;
  let prevT = 0;
  for (let i = 0; i < s.nPoints; i++) {
    const t = s.times[i]!;
    atLeast(t, prevT + Number.EPSILON, "t");
    const h = t - prevT;
    for (let j = 0; j < n; j++) {
      const lim = emb.joints[j]!;
      const o = i * n + j;
      const p = s.p[o]!,
        v = s.v[o]!,
        a = s.a[o]!;
      const a0 = i === 0 ? s.sa[j]! : s.a[o - n]!;
      truthy(
        Number.isFinite(p) && Number.isFinite(v) && Number.isFinite(a),
        "Number.isFinite(p) && Number.isFinite(v) && Number.isFinite(a)",
      );
      atLeast(p, lim.position.lower - 1e-9, "p");
      atMost(p, lim.position.upper + 1e-9, "p");
      atMost(Math.abs(v), lim.velocity * (1 + 1e-9), "Math.abs(v)");
      atMost(Math.abs(a), lim.acceleration * (1 + 1e-9), "Math.abs(a)");
      const jerk = Math.abs(a - a0) / h;
      atMost(jerk, jp[j]! * (1 + 1e-6) + 1e-9, "jerk");
      if (lim.jerk !== undefined) atMost(jerk, lim.jerk, "jerk");
      stats.maxVelRatio = Math.max(stats.maxVelRatio, Math.abs(v) / lim.velocity);
      // Between points, as the controller interpolates.
      for (const f of [0.25, 0.5, 0.75]) {
        const q = sampleQuintic(s, n, s.t + prevT + f * h, j);
        atLeast(q.p, lim.position.lower - 1e-9, "q.p");
        atMost(q.p, lim.position.upper + 1e-9, "q.p");
        atMost(Math.abs(q.v), lim.velocity * (1 + 1e-6), "Math.abs(q.v)");
        atMost(Math.abs(q.a), lim.acceleration * (1 + 1e-6), "Math.abs(q.a)");
      }
    }
    prevT = t;
  }
}

interface Stats {
  ticks: number;
  accepted: number;
  rejected: Record<string, number>;
  maxStartDp: number;
  maxStartDv: number;
  maxFirstDv: number;
  maxFirstDvBound: number;
  maxVelRatio: number;
  tracking: number;
}

function assertContinuous(
  emb: Embodiment,
  ex: ChunkExecutor,
  prev: Snapshot,
  s: Snapshot,
  stats: Stats,
): void {
  const n = emb.joints.length;
  const jp = ex.planningJerk;
  for (let j = 0; j < n; j++) {
    const q = sampleQuintic(prev, n, s.t, j);
    const dp = Math.abs(q.p - s.sp[j]!),
      dv = Math.abs(q.v - s.sv[j]!),
      da = Math.abs(q.a - s.sa[j]!);
    atMost(dp, 1e-9, "dp");
    atMost(dv, 1e-7, "dv");
    atMost(da, 1e-5, "da");
    stats.maxStartDp = Math.max(stats.maxStartDp, dp);
    stats.maxStartDv = Math.max(stats.maxStartDv, dv);
    // First new point against the previous trajectory at the same instant.
    const t1 = s.t + s.times[0]!;
    if (t1 <= prev.t + prev.times[prev.nPoints - 1]!) {
      const h = s.times[0]!;
      const r = sampleQuintic(prev, n, t1, j);
      const J = jp[j]!;
      const fp = Math.abs(r.p - s.p[j]!),
        fv = Math.abs(r.v - s.v[j]!),
        fa = Math.abs(r.a - s.a[j]!);
      atMost(fp, (J * h ** 3) / 3 + 1e-9, "fp");
      atMost(fv, J * h ** 2 + 1e-7, "fv");
      atMost(fa, 2 * J * h + 1e-5, "fa");
      if (fv / (J * h * h) > stats.maxFirstDv / (stats.maxFirstDvBound || 1)) {
        stats.maxFirstDv = fv;
        stats.maxFirstDvBound = J * h * h;
      }
    }
  }
}

type Scenario = {
  events: Event[];
  jitter: boolean;
  dt: number;
  horizon: number;
  blend: "receding" | "ensemble";
};

function run(emb: Embodiment, sc: Scenario, stats: Stats): void {
  const ex = new ChunkExecutor(emb, { rampInSec: 0.1, blend: sc.blend, ensembleDecayPerSec: 2 });
  const n = emb.joints.length;
  const h = ex.periodSec;
  const noise = rng(7);
  let t = 10;
  expect(ex.activate(Float64Array.from(emb.home), t).ok).toBe(true);
  let prev: Snapshot | null = null;
  let lastStamp = -Infinity;
  let jointOffUntil = -Infinity,
    obsOffUntil = -Infinity;
  const q = new Float64Array(n);
  for (const e of sc.events) {
    for (let i = 0; i < e.ticks; i++) {
      t += sc.jitter ? h * (0.8 + 0.4 * noise()) : h;
      if (t >= obsOffUntil) ex.noteObservation(t - 0.01);
      const o = ex.tick(t);
      const s = snap(o);
      stats.ticks++;
      if (s.stage === "tracking") stats.tracking++;
      assertWithinLimits(emb, ex, s, stats);
      if (prev) assertContinuous(emb, ex, prev, s, stats);
      prev = s;
      if (t >= jointOffUntil) {
        for (let j = 0; j < n; j++) q[j] = s.sp[j]! + (noise() - 0.5) * 2e-4;
        ex.updateJointState(q, undefined, t);
      }
    }
    if (e.kind === "scale") ex.setVelocityScale(Math.abs(e.amp) / 0.6);
    else if (e.kind === "jointDropout") jointOffUntil = t + 0.05 + e.delayFrac;
    else if (e.kind === "obsDropout") obsOffUntil = t + 0.2 + 2 * e.delayFrac;
    else {
      const c = makeChunk(emb, ex, e, t, sc.dt, sc.horizon, lastStamp);
      const r = ex.submitChunk(c, t);
      if (r.ok) {
        stats.accepted++;
        lastStamp = c.stampSec;
        // Only sane chunks may pass: garbage must be rejected, not executed.
        const sane =
          ["smooth", "late", "toLimit", "fast"].includes(e.kind) ||
          (e.kind === "velocitiesBad" && e.amp >= 0);
        expect(sane).toBe(true);
      } else {
        stats.rejected[r.error.code] = (stats.rejected[r.error.code] ?? 0) + 1;
      }
    }
  }
}

describe("ChunkExecutor properties", () => {
  for (const emb of EMBODIMENTS) {
    it(`${emb.name}: never emits a point outside the limits and stays continuous across ticks and chunk switches, whatever chunks arrive`, () => {
      const stats: Stats = {
        ticks: 0,
        accepted: 0,
        rejected: {},
        maxStartDp: 0,
        maxStartDv: 0,
        maxFirstDv: 0,
        maxFirstDvBound: 0,
        maxVelRatio: 0,
        tracking: 0,
      };
      fc.assert(
        fc.property(scenarioArb, (sc) => run(emb, sc, stats)),
        { numRuns: 25, seed: 20251124 },
      );
      // The streams must actually exercise both paths: accepted chunks tracked and garbage rejected.
      expect(stats.accepted).toBeGreaterThan(50);
      expect(stats.tracking).toBeGreaterThan(stats.ticks / 4);
      for (const code of ["E_CHUNK_NONFINITE", "E_CHUNK_SHAPE", "E_CHUNK_ORDER", "E_CHUNK_LIMIT"])
        expect(stats.rejected[code] ?? 0).toBeGreaterThan(0);
      console.info(
        `${emb.name}: ${stats.ticks} ticks (${stats.tracking} tracking), ${stats.accepted} chunks accepted, rejected ${JSON.stringify(stats.rejected)}; ` +
          `start continuity max |Δp| ${stats.maxStartDp.toExponential(2)} rad, |Δv| ${stats.maxStartDv.toExponential(2)} rad/s; ` +
          `first-point |Δv| ${stats.maxFirstDv.toExponential(2)} of bound ${stats.maxFirstDvBound.toExponential(2)} rad/s; peak |v|/vmax ${stats.maxVelRatio.toFixed(3)}`,
      );
    });
  }
});
