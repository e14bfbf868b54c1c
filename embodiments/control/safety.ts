/**
 * Safety checks as pure functions (STYLE.md 5): each returns a CheckResult and never throws.
 * A chunk that fails is repaired (clipped, time-scaled) when the repair is small and
 * well-defined, and rejected with a typed reason otherwise; it is never passed through.
 */
import type { Embodiment } from "../schema.ts";
import { forwardKinematics, solveIk } from "../kinematics/index.ts";
import type { JointLimits } from "./limits.ts";
import { stepMaxPosition, stepMaxVelocity } from "./profile.ts";
import { PASS, reject, repaired, type CheckResult, type Chunk } from "./types.ts";

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)).toString() : String(x));

/** Lengths, horizon, step and stamp are usable at all. */
export function checkShape(chunk: Chunk, nJoints: number, maxHorizon: number): CheckResult {
  const { horizon: H, dt, stampSec } = chunk;
  if (!Number.isInteger(H) || H < 2 || H > maxHorizon)
    return reject("E_CHUNK_SHAPE", `horizon ${fmt(H)} must be an integer in 2..${maxHorizon}`);
  if (!(Number.isFinite(dt) && dt > 0 && dt <= 10))
    return reject("E_CHUNK_SHAPE", `dt ${fmt(dt)} s must be in (0, 10]`);
  if (!Number.isFinite(stampSec))
    return reject("E_CHUNK_SHAPE", `stamp ${fmt(stampSec)} is not a time`);
  if (!(chunk.positions instanceof Float64Array) || chunk.positions.length !== H * nJoints)
    return reject(
      "E_CHUNK_SHAPE",
      `positions must hold horizon × joints = ${H}×${nJoints} values, got ${chunk.positions?.length}`,
    );
  if (
    chunk.velocities !== undefined &&
    (!(chunk.velocities instanceof Float64Array) || chunk.velocities.length !== H * nJoints)
  )
    return reject(
      "E_CHUNK_SHAPE",
      `velocities must hold ${H}×${nJoints} values, got ${chunk.velocities?.length}`,
    );
  if (!(chunk.gripper instanceof Float64Array) || chunk.gripper.length !== H)
    return reject("E_CHUNK_SHAPE", `gripper must hold ${H} values, got ${chunk.gripper?.length}`);
  return PASS;
}

/** Every number is finite. Call after checkShape. */
export function checkFinite(chunk: Chunk, names: readonly string[]): CheckResult {
  const n = names.length;
  const bad = (arr: Float64Array, what: string, perRow: number): CheckResult | null => {
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i]!)) {
        const where =
          perRow > 1 ? `${names[i % perRow]} at point ${Math.floor(i / perRow)}` : `point ${i}`;
        return reject("E_CHUNK_NONFINITE", `${what} of ${where} is ${arr[i]}`);
      }
    }
    return null;
  };
  return (
    bad(chunk.positions, "position", n) ??
    (chunk.velocities ? bad(chunk.velocities, "velocity", n) : null) ??
    bad(chunk.gripper, "gripper target", 1) ??
    PASS
  );
}

export interface StampContext {
  nowSec: number;
  /** Stamp of the last accepted chunk (−Infinity before the first). */
  lastStampSec: number;
  /** Chunks computed from observations older than this are stale (s). */
  staleAfterSec: number;
  /** Clock skew tolerated for stamps ahead of now (s). */
  futureToleranceSec: number;
}

/**
 * Order and age: a chunk must come from a newer observation than the last accepted one, not
 * from the future, not be older than staleAfterSec, and still have something ahead of now
 * (its last point at least one step in the future).
 */
export function checkStamps(
  stampSec: number,
  dt: number,
  horizon: number,
  ctx: StampContext,
): CheckResult {
  if (stampSec <= ctx.lastStampSec)
    return reject(
      "E_CHUNK_ORDER",
      `stamp ${fmt(stampSec)} s is not newer than the last accepted ${fmt(ctx.lastStampSec)} s`,
    );
  if (stampSec > ctx.nowSec + ctx.futureToleranceSec)
    return reject(
      "E_CHUNK_ORDER",
      `stamp ${fmt(stampSec)} s is ahead of now (${fmt(ctx.nowSec)} s)`,
    );
  const age = ctx.nowSec - stampSec;
  if (age > ctx.staleAfterSec)
    return reject(
      "E_CHUNK_STALE",
      `computed from an observation ${fmt(age)} s old (limit ${fmt(ctx.staleAfterSec)} s)`,
    );
  if (stampSec + horizon * dt < ctx.nowSec + dt)
    return reject(
      "E_CHUNK_STALE",
      `ends at ${fmt(stampSec + horizon * dt)} s, nothing left to execute at ${fmt(ctx.nowSec)} s`,
    );
  return PASS;
}

/**
 * Position limits, in place: points slightly outside are clipped to `marginRad` inside the
 * limit; a point further than `rejectBeyondRad` outside rejects the chunk (the model is not
 * asking for something nearby, it is wrong).
 */
export function clipPositions(
  positions: Float64Array,
  horizon: number,
  limits: JointLimits,
  marginRad: number,
  rejectBeyondRad: number,
): CheckResult {
  const n = limits.n;
  let clipped = 0;
  for (let k = 0; k < horizon; k++) {
    for (let j = 0; j < n; j++) {
      const i = k * n + j,
        x = positions[i]!;
      const lo = limits.lower[j]!,
        hi = limits.upper[j]!;
      const m = Math.min(marginRad, 0.25 * (hi - lo));
      if (x < lo - rejectBeyondRad || x > hi + rejectBeyondRad)
        return reject(
          "E_CHUNK_LIMIT",
          `${limits.names[j]} target ${fmt(x)} at point ${k} is far outside [${fmt(lo)}, ${fmt(hi)}]`,
        );
      if (x < lo + m) {
        positions[i] = lo + m;
        clipped++;
      } else if (x > hi - m) {
        positions[i] = hi - m;
        clipped++;
      }
    }
  }
  return clipped
    ? repaired("E_CHUNK_LIMIT", `clipped ${clipped} target(s) into the position limits`)
    : PASS;
}

/** Gripper targets, in place, into the gripper's range (any finite value is a request to open or close). */
export function clipGripper(gripper: Float64Array, lower: number, upper: number): void {
  for (let i = 0; i < gripper.length; i++) {
    const g = gripper[i]!;
    gripper[i] = g < lower ? lower : g > upper ? upper : g;
  }
}

/**
 * Velocity, acceleration and (where published) jerk between consecutive points, by finite
 * differences. Returns the time scale s ≥ 1 that brings them within the limits (velocity
 * scales with 1/s, acceleration 1/s², jerk 1/s³); more than maxScale rejects.
 */
export function dynamicScale(
  positions: Float64Array,
  horizon: number,
  dt: number,
  limits: JointLimits,
  maxScale: number,
): CheckResult {
  const n = limits.n;
  let s = 1,
    worst = "";
  for (let j = 0; j < n; j++) {
    let vm = 0,
      am = 0,
      jm = 0;
    for (let k = 1; k < horizon; k++) {
      const q0 = positions[(k - 1) * n + j]!,
        q1 = positions[k * n + j]!;
      vm = Math.max(vm, Math.abs(q1 - q0) / dt);
      if (k >= 2) {
        const qm = positions[(k - 2) * n + j]!;
        am = Math.max(am, Math.abs(q1 - 2 * q0 + qm) / (dt * dt));
        if (k >= 3) {
          const qmm = positions[(k - 3) * n + j]!;
          jm = Math.max(jm, Math.abs(q1 - 3 * q0 + 3 * qm - qmm) / (dt * dt * dt));
        }
      }
    }
    const sv = vm / limits.velocity[j]!,
      sa = Math.sqrt(am / limits.acceleration[j]!),
      sj = Math.cbrt(jm / limits.jerk[j]!);
    const sj2 = Number.isFinite(sj) ? sj : 0;
    const sj3 = Math.max(sv, sa, sj2);
    if (sj3 > s) {
      s = sj3;
      worst = `${limits.names[j]} (${sv >= sa && sv >= sj2 ? `velocity ${fmt(vm)} rad/s` : sa >= sj2 ? `acceleration ${fmt(am)} rad/s²` : `jerk ${fmt(jm)} rad/s³`})`;
    }
  }
  if (s > maxScale)
    return {
      ok: false,
      code: "E_CHUNK_LIMIT",
      message: `needs ${fmt(s)}× slower timing to respect ${worst}; more than ${fmt(maxScale)}×`,
      scale: s,
    };
  if (s > 1) return repaired("E_CHUNK_LIMIT", `time-scaled ${fmt(s)}× for ${worst}`, s);
  return { ok: true, code: null, message: "", scale: 1 };
}

/** Largest per-joint distance between the target now and the measured state. */
export function checkJump(
  target: ArrayLike<number>,
  measured: ArrayLike<number>,
  maxJump: number,
  names: readonly string[],
): CheckResult {
  let worst = 0,
    wj = 0;
  for (let j = 0; j < names.length; j++) {
    const d = Math.abs(target[j]! - measured[j]!);
    if (!(d <= worst)) {
      worst = d;
      wj = j;
    }
  }
  if (!(worst <= maxJump))
    return reject(
      "E_CHUNK_JUMP",
      `${names[wj]} target is ${fmt(worst)} rad from the measured position (limit ${fmt(maxJump)} rad)`,
    );
  return PASS;
}

/** Every point's TCP inside the workspace box and above the table plane plus its margin. */
export function checkWorkspace(
  emb: Embodiment,
  positions: Float64Array,
  horizon: number,
): CheckResult {
  const n = emb.joints.length;
  const { workspace: box, table_z, table_margin } = emb.safety;
  for (let k = 0; k < horizon; k++) {
    const x = forwardKinematics(emb, positions.subarray(k * n, (k + 1) * n)).position;
    for (let c = 0; c < 3; c++) {
      if (!(x[c]! >= box.min[c]! && x[c]! <= box.max[c]!))
        return reject(
          "E_CHUNK_LIMIT",
          `TCP ${"xyz"[c]} = ${fmt(x[c]!)} m at point ${k} leaves the workspace [${fmt(box.min[c]!)}, ${fmt(box.max[c]!)}]`,
        );
    }
    if (x[2]! < table_z + table_margin)
      return reject(
        "E_CHUNK_LIMIT",
        `TCP at z = ${fmt(x[2]!)} m at point ${k} is below the table plane ${fmt(table_z)} m + ${fmt(table_margin)} m`,
      );
  }
  return PASS;
}

/** How far above the table plane plus margin a lifted point lands (m): FK rounding and the later position clip stay clear of the plane. */
const LIFT_CLEARANCE_M = 0.002;

/**
 * Table plane, in place: a point whose TCP dips at most `maxLiftM` below the table plane plus
 * its margin is moved to the nearest joint configuration (damped least squares from the point
 * itself, same TCP orientation and x, y) whose TCP is just above it; a deeper dip, or one the
 * arm cannot lift locally within `maxJumpRad` per joint, rejects the chunk. Why repair at all:
 * a learned policy reaching for an object on the table predicts the contact height with some
 * centimetres of error, and rejecting the whole chunk freezes the arm at the object; lifting
 * the low points keeps every executed point above the plane. 0 disables the repair.
 */
export function liftAboveTable(
  emb: Embodiment,
  positions: Float64Array,
  horizon: number,
  maxLiftM: number,
  maxJumpRad: number,
): CheckResult {
  if (!(maxLiftM > 0)) return PASS;
  const n = emb.joints.length;
  const floor = emb.safety.table_z + emb.safety.table_margin;
  let lifted = 0,
    deepest = 0;
  for (let k = 0; k < horizon; k++) {
    const q = positions.subarray(k * n, (k + 1) * n);
    const pose = forwardKinematics(emb, q);
    const dip = floor - pose.position[2]!;
    if (!(dip > 0)) continue;
    if (dip > maxLiftM)
      return reject(
        "E_CHUNK_LIMIT",
        `TCP at z = ${fmt(pose.position[2]!)} m at point ${k} is ${fmt(dip)} m below the table plane ${fmt(emb.safety.table_z)} m + ${fmt(emb.safety.table_margin)} m (lifts up to ${fmt(maxLiftM)} m)`,
      );
    pose.position[2] = floor + LIFT_CLEARANCE_M;
    const r = solveIk(emb, pose, q, { restarts: 0, maxIterations: 50, orientationTolerance: 1e-3 });
    const far = r.ok ? r.value.findIndex((x, i) => Math.abs(x - q[i]!) > maxJumpRad) : -1;
    const why = !r.ok
      ? r.error.message.replace(/^[^:]*: /, "")
      : far >= 0
        ? `${emb.joints[far]!.name} would move ${fmt(Math.abs(r.value[far]! - q[far]!))} rad (limit ${fmt(maxJumpRad)} rad)`
        : "";
    if (!r.ok || why)
      return reject(
        "E_CHUNK_LIMIT",
        `TCP at z = ${fmt(floor - dip)} m at point ${k} is below the table plane + margin and cannot be lifted locally: ${why}`,
      );
    q.set(r.value);
    lifted++;
    deepest = Math.max(deepest, dip);
  }
  return lifted
    ? repaired(
        "E_CHUNK_LIMIT",
        `lifted ${lifted} point(s) up to ${fmt(deepest)} m to stay above the table plane + margin`,
      )
    : PASS;
}

/** Position of the chunk at time t (piecewise linear between its points, clamped at the ends). */
export function chunkPositionAt(
  chunk: Chunk,
  nJoints: number,
  t: number,
  out: Float64Array,
): Float64Array {
  const { positions, horizon: H, dt, stampSec } = chunk;
  const x = (t - stampSec) / dt - 1;
  if (!(x > 0)) {
    for (let j = 0; j < nJoints; j++) out[j] = positions[j]!;
  } else if (x >= H - 1) {
    for (let j = 0; j < nJoints; j++) out[j] = positions[(H - 1) * nJoints + j]!;
  } else {
    const k = Math.floor(x),
      s = x - k;
    for (let j = 0; j < nJoints; j++)
      out[j] = (1 - s) * positions[k * nJoints + j]! + s * positions[(k + 1) * nJoints + j]!;
  }
  return out;
}

export interface ChunkCheckContext extends StampContext {
  emb: Embodiment;
  limits: JointLimits;
  maxHorizon: number;
  /** Latest measured joint positions. */
  measured: Float64Array;
  /** Clipped targets land this far inside the limits (rad). */
  clipMarginRad: number;
  /** Targets further outside the limits than this reject the chunk (rad). */
  rejectBeyondRad: number;
  /** Largest slow-down accepted to respect the dynamic limits. */
  maxTimeScale: number;
  /** Deepest TCP dip below the table plane + margin that is lifted rather than rejected (m); 0 = none. */
  maxTableLiftM?: number;
  /** Skip the forward-kinematics workspace check (only for callers that check it elsewhere). */
  skipWorkspace?: boolean;
}

export interface ChunkCheck {
  result: CheckResult;
  /** The chunk as it may be executed: a copy, clipped and time-scaled (dt × scale). Null when rejected. */
  chunk: Chunk | null;
  /** Every repair made, in order. */
  repairs: CheckResult[];
}

/**
 * The whole-chunk check, in order: shape, finiteness, stamps, position limits (clip or
 * reject), gripper range (clip), table plane (lift small dips or reject),
 * velocity/acceleration/jerk (time-scale or reject), staleness after time-scaling, jump from
 * the measured state at the point due now, and the Cartesian workspace and table plane as the
 * final gate (reject). Never mutates its input.
 */
export function checkChunk(input: Chunk, ctx: ChunkCheckContext): ChunkCheck {
  const { limits } = ctx;
  const n = limits.n;
  const rejected = (result: CheckResult, repairs: CheckResult[] = []): ChunkCheck => ({
    result,
    chunk: null,
    repairs,
  });
  let r = checkShape(input, n, ctx.maxHorizon);
  if (!r.ok) return rejected(r);
  r = checkFinite(input, limits.names);
  if (!r.ok) return rejected(r);
  r = checkStamps(input.stampSec, input.dt, input.horizon, ctx);
  if (!r.ok) return rejected(r);

  const H = input.horizon;
  const chunk: Chunk = {
    stampSec: input.stampSec,
    dt: input.dt,
    horizon: H,
    positions: Float64Array.from(input.positions),
    velocities: input.velocities ? Float64Array.from(input.velocities) : undefined,
    gripper: Float64Array.from(input.gripper),
  };
  const repairs: CheckResult[] = [];
  r = clipPositions(chunk.positions, H, limits, ctx.clipMarginRad, ctx.rejectBeyondRad);
  if (!r.ok) return rejected(r);
  if (r.code) repairs.push(r);
  clipGripper(chunk.gripper, ctx.emb.gripper.position.lower, ctx.emb.gripper.position.upper);
  if (!ctx.skipWorkspace) {
    r = liftAboveTable(
      ctx.emb,
      chunk.positions,
      H,
      ctx.maxTableLiftM ?? 0,
      ctx.emb.safety.max_jump,
    );
    if (!r.ok) return rejected(r, repairs);
    if (r.code) {
      repairs.push(r);
      // the lift may have touched a position limit; land inside it again (a small clip)
      r = clipPositions(chunk.positions, H, limits, ctx.clipMarginRad, ctx.rejectBeyondRad);
      if (!r.ok) return rejected(r, repairs);
    }
  }

  r = dynamicScale(chunk.positions, H, chunk.dt, limits, ctx.maxTimeScale);
  if (!r.ok) return rejected(r, repairs);
  const s = r.scale ?? 1;
  if (r.code) repairs.push(r);
  if (s > 1) {
    chunk.dt *= s;
    if (chunk.velocities)
      for (let i = 0; i < chunk.velocities.length; i++)
        chunk.velocities[i] = chunk.velocities[i]! / s;
  }
  if (chunk.velocities) {
    let clipped = 0;
    for (let i = 0; i < chunk.velocities.length; i++) {
      const vm = limits.velocity[i % n]!,
        x = chunk.velocities[i]!;
      if (x < -vm || x > vm) {
        chunk.velocities[i] = x < -vm ? -vm : vm;
        clipped++;
      }
    }
    if (clipped)
      repairs.push(
        repaired("E_CHUNK_LIMIT", `clipped ${clipped} velocity hint(s) to the velocity limits`),
      );
  }
  if (s > 1) {
    r = checkStamps(chunk.stampSec, chunk.dt, H, { ...ctx, lastStampSec: -Infinity });
    if (!r.ok) return rejected(r, repairs);
  }

  const target = chunkPositionAt(chunk, n, ctx.nowSec, new Float64Array(n));
  r = checkJump(target, ctx.measured, ctx.emb.safety.max_jump, limits.names);
  if (!r.ok) return rejected(r, repairs);

  if (!ctx.skipWorkspace) {
    r = checkWorkspace(ctx.emb, chunk.positions, H);
    if (!r.ok) return rejected(r, repairs);
  }
  const last = repairs[repairs.length - 1];
  return { result: last ?? PASS, chunk, repairs };
}

/**
 * The last word before a trajectory leaves the executor: every point finite, inside the
 * position, velocity and acceleration limits, the jerk between consecutive points within
 * `jerk`, consecutive points one constant-jerk cubic apart (so the controller's spline is
 * the motion checked here), and the extremes inside each segment within the limits too.
 * `times` are time_from_start, strictly increasing from 0 (the start state).
 */
export function checkTrajectory(
  limits: JointLimits,
  jerk: Float64Array,
  sp: Float64Array,
  sv: Float64Array,
  sa: Float64Array,
  times: Float64Array,
  p: Float64Array,
  v: Float64Array,
  a: Float64Array,
  k: number,
): CheckResult {
  const n = limits.n;
  const { lower, upper, velocity, acceleration } = limits;
  const POS_TOL = 1e-9,
    REL = 1e-9;
  let prevT = 0;
  for (let i = 0; i < k; i++) {
    const t = times[i]!;
    if (!(t > prevT) || !Number.isFinite(t))
      return reject(
        "E_CHUNK_LIMIT",
        `output check: time_from_start ${fmt(t)} s at point ${i} does not increase`,
      );
    const h = t - prevT;
    for (let j = 0; j < n; j++) {
      const o = i * n + j,
        po = (i - 1) * n + j;
      const p0 = i === 0 ? sp[j]! : p[po]!,
        v0 = i === 0 ? sv[j]! : v[po]!,
        a0 = i === 0 ? sa[j]! : a[po]!;
      const p1 = p[o]!,
        v1 = v[o]!,
        a1 = a[o]!;
      if (!(
        Number.isFinite(p1) &&
        Number.isFinite(v1) &&
        Number.isFinite(a1) &&
        Number.isFinite(p0) &&
        Number.isFinite(v0) &&
        Number.isFinite(a0)
      ))
        return reject(
          "E_CHUNK_NONFINITE",
          `output check: ${limits.names[j]} not finite at point ${i}`,
        );
      const lo = lower[j]! - POS_TOL,
        hi = upper[j]! + POS_TOL;
      const V = velocity[j]! * (1 + REL),
        A = acceleration[j]! * (1 + REL),
        J = jerk[j]! * (1 + 1e-6) + 1e-9;
      if (p1 < lo || p1 > hi)
        return reject(
          "E_CHUNK_LIMIT",
          `output check: ${limits.names[j]} position ${fmt(p1)} outside its limits at point ${i}`,
        );
      if (Math.abs(v1) > V)
        return reject(
          "E_CHUNK_LIMIT",
          `output check: ${limits.names[j]} velocity ${fmt(v1)} above ${fmt(velocity[j]!)} at point ${i}`,
        );
      if (Math.abs(a1) > A)
        return reject(
          "E_CHUNK_LIMIT",
          `output check: ${limits.names[j]} acceleration ${fmt(a1)} above ${fmt(acceleration[j]!)} at point ${i}`,
        );
      const u = (a1 - a0) / h;
      if (Math.abs(u) > J)
        return reject(
          "E_CHUNK_LIMIT",
          `output check: ${limits.names[j]} jerk ${fmt(u)} above ${fmt(jerk[j]!)} before point ${i}`,
        );
      const pe = p0 + v0 * h + (a0 * h * h) / 2 + (u * h * h * h) / 6;
      const ve = v0 + a0 * h + (u * h * h) / 2;
      if (
        Math.abs(pe - p1) > 1e-9 * (1 + Math.abs(p1)) ||
        Math.abs(ve - v1) > 1e-9 * (1 + Math.abs(v1))
      )
        return reject(
          "E_CHUNK_LIMIT",
          `output check: ${limits.names[j]} point ${i} is not reachable by the segment before it`,
        );
      if (stepMaxVelocity(v0, a0, u, h) > V || stepMaxVelocity(-v0, -a0, -u, h) > V)
        return reject(
          "E_CHUNK_LIMIT",
          `output check: ${limits.names[j]} exceeds its velocity limit between points ${i - 1} and ${i}`,
        );
      if (stepMaxPosition(p0, v0, a0, u, h) > hi || -stepMaxPosition(-p0, -v0, -a0, -u, h) < lo)
        return reject(
          "E_CHUNK_LIMIT",
          `output check: ${limits.names[j]} leaves its limits between points ${i - 1} and ${i}`,
        );
    }
    prevT = t;
  }
  return PASS;
}
