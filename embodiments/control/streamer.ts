import type { JointLimits } from "./limits.ts";
import { planningJerk } from "./limits.ts";
import {
  brakeDistance,
  chooseJerk,
  defaultGains,
  desiredJerk,
  type TrackingGains,
} from "./profile.ts";
import { checkTrajectory } from "./safety.ts";
import type { CheckResult } from "./types.ts";

export interface StreamerOptions {
  /** Spacing of the emitted points (s); the control period. */
  periodSec: number;
  /** Points per emitted trajectory (≥ 2). */
  points: number;
  /** Distance kept from each position limit when planning (rad); the check uses the limit itself. */
  positionMarginRad: number;
  /** Control periods the acceleration needs at least to swing from 0 to its limit. */
  smoothingTicks: number;
  gains?: TrackingGains | undefined;
}

/** What the planned motion follows: the chunk reference, a stop (zero velocity), or a fixed hold. */
export type Drive = "track" | "stop" | "hold";

/**
 * Turns a joint-space reference into the short trajectory sent each tick, through the
 * limiter in profile.ts, and remembers it: the next tick starts from this trajectory sampled
 * at its own time, which is what the joint_trajectory_controller is executing then. That is
 * what makes position, velocity and acceleration continuous across ticks and chunk switches
 * by construction. All buffers are allocated here, once.
 */
export class Streamer {
  readonly n: number;
  readonly k: number;
  readonly h: number;
  readonly limits: JointLimits;
  /** The jerk planned with (≤ published), per joint. */
  readonly jerk: Float64Array;
  readonly gains: TrackingGains;
  private readonly margin: number;

  // The trajectory last planned: start state at t0, then k points at t0 + (i+1)·h.
  t0 = 0;
  readonly startP: Float64Array;
  readonly startV: Float64Array;
  readonly startA: Float64Array;
  readonly times: Float64Array;
  readonly p: Float64Array;
  readonly v: Float64Array;
  readonly a: Float64Array;
  /** Jerk of each segment, k × n. */
  readonly u: Float64Array;

  /** Scratch: reference positions at t0 + (j − 1)·h, j = 0..k+1 (one period back, for central differences). */
  readonly ref: Float64Array;

  constructor(limits: JointLimits, opts: StreamerOptions) {
    if (!(opts.periodSec > 0) || !Number.isFinite(opts.periodSec))
      throw new RangeError("periodSec must be positive");
    if (!(opts.points >= 2)) throw new RangeError("points must be at least 2");
    this.limits = limits;
    this.n = limits.n;
    this.k = Math.floor(opts.points);
    this.h = opts.periodSec;
    this.margin = Math.max(0, opts.positionMarginRad);
    this.jerk = planningJerk(limits, this.h, opts.smoothingTicks, new Float64Array(this.n));
    let jOverA = Infinity;
    for (let j = 0; j < this.n; j++)
      jOverA = Math.min(jOverA, this.jerk[j]! / limits.acceleration[j]!);
    this.gains = opts.gains ?? defaultGains(this.h, jOverA);
    const n = this.n,
      k = this.k;
    this.startP = new Float64Array(n);
    this.startV = new Float64Array(n);
    this.startA = new Float64Array(n);
    this.times = new Float64Array(k);
    for (let i = 0; i < k; i++) this.times[i] = (i + 1) * this.h;
    this.p = new Float64Array(k * n);
    this.v = new Float64Array(k * n);
    this.a = new Float64Array(k * n);
    this.u = new Float64Array(k * n);
    this.ref = new Float64Array((k + 2) * n);
  }

  /** Starts at rest at q (clamped into the limits) at time t. */
  reset(q: ArrayLike<number>, t: number): void {
    const { lower, upper } = this.limits;
    for (let j = 0; j < this.n; j++) {
      const x = q[j]!;
      this.startP[j] = x < lower[j]! ? lower[j]! : x > upper[j]! ? upper[j]! : x;
    }
    this.startV.fill(0);
    this.startA.fill(0);
    this.holdFromStart(t);
  }

  /**
   * Moves the start state to time t along the last trajectory (constant jerk per segment,
   * so this is exact). Past its end the controller holds the last position, and so do we.
   */
  advance(t: number): void {
    const n = this.n,
      k = this.k,
      h = this.h;
    let tau = t - this.t0;
    if (!(tau > 0)) {
      // A clock that went back (sim reset) re-anchors the trajectory where it is.
      if (tau < 0) this.t0 = t;
      return;
    }
    const seg = Math.floor(tau / h);
    if (seg >= k) {
      const o = (k - 1) * n;
      for (let j = 0; j < n; j++) this.startP[j] = this.p[o + j]!;
      this.startV.fill(0);
      this.startA.fill(0);
    } else {
      tau -= seg * h;
      const o = seg * n,
        po = (seg - 1) * n;
      for (let j = 0; j < n; j++) {
        const p0 = seg === 0 ? this.startP[j]! : this.p[po + j]!;
        const v0 = seg === 0 ? this.startV[j]! : this.v[po + j]!;
        const a0 = seg === 0 ? this.startA[j]! : this.a[po + j]!;
        const u = this.u[o + j]!;
        this.startP[j] = p0 + v0 * tau + (a0 * tau * tau) / 2 + (u * tau * tau * tau) / 6;
        this.startV[j] = v0 + a0 * tau + (u * tau * tau) / 2;
        this.startA[j] = a0 + u * tau;
      }
    }
    this.t0 = t;
  }

  /** True when the start state is at rest within eps. */
  atRest(vEps: number, aEps: number): boolean {
    for (let j = 0; j < this.n; j++) {
      if (Math.abs(this.startV[j]!) > vEps || Math.abs(this.startA[j]!) > aEps) return false;
    }
    return true;
  }

  /**
   * Plans k points from the start state. `drive` chooses what to follow: "track" the
   * reference in `this.ref` (positions at t0 + (j − 1)·h for j = 0..k+1), "stop" (zero
   * velocity), or "hold" (the reference's first n values, fixed). Velocities are limited to
   * vScale × limit (the global scale, ramp-in and watchdog together), never above the limit.
   * The result is checked before it is kept; a failed check leaves a hold at the start
   * position and is returned.
   */
  plan(drive: Drive, vScale: number): CheckResult {
    const n = this.n,
      k = this.k,
      h = this.h;
    const { lower, upper, velocity, acceleration } = this.limits;
    const ref = this.ref;
    const scale = vScale > 0 ? (vScale < 1 ? vScale : 1) : 0;
    for (let i = 0; i < k; i++) {
      const o = i * n,
        po = (i - 1) * n;
      for (let j = 0; j < n; j++) {
        const p = i === 0 ? this.startP[j]! : this.p[po + j]!;
        const v = i === 0 ? this.startV[j]! : this.v[po + j]!;
        const a = i === 0 ? this.startA[j]! : this.a[po + j]!;
        const A = acceleration[j]!,
          J = this.jerk[j]!,
          V = velocity[j]!;
        let r: number, rv: number, ra: number;
        if (drive === "hold") {
          r = ref[j]!;
          rv = 0;
          ra = 0;
        } else {
          // The reference at this step's start, with central differences for its velocity
          // and acceleration (feed-forward).
          const rm = ref[i * n + j]!,
            r0 = ref[(i + 1) * n + j]!,
            rp = ref[(i + 2) * n + j]!;
          r = r0;
          rv = (rp - rm) / (2 * h);
          ra = (rp - 2 * r0 + rm) / (h * h);
        }
        const uDes = desiredJerk(
          p,
          v,
          a,
          r,
          rv,
          ra,
          V * scale,
          A,
          J,
          h,
          this.gains,
          drive === "stop",
        );
        // Plan inside a margin, but never ask for more than "no worse than now" when a
        // state starts inside the margin (after activation next to a limit).
        let hi = upper[j]! - this.margin,
          lo = lower[j]! + this.margin;
        const up = p + brakeDistance(v, a, A, J);
        if (up > hi) hi = Math.min(upper[j]!, up);
        const down = p - brakeDistance(-v, -a, A, J);
        if (down < lo) lo = Math.max(lower[j]!, down);
        const u = chooseJerk(p, v, a, h, uDes, lo, hi, V, A, J);
        this.u[o + j] = u;
        this.p[o + j] = p + v * h + (a * h * h) / 2 + (u * h * h * h) / 6;
        this.v[o + j] = v + a * h + (u * h * h) / 2;
        let a1 = a + u * h;
        // Rounding must not leave |a| a hair above the limit the check enforces.
        if (a1 > A) a1 = A;
        else if (a1 < -A) a1 = -A;
        this.a[o + j] = a1;
      }
    }
    const check = checkTrajectory(
      this.limits,
      this.jerk,
      this.startP,
      this.startV,
      this.startA,
      this.times,
      this.p,
      this.v,
      this.a,
      k,
    );
    if (!check.ok) this.holdFromStart(this.t0);
    return check;
  }

  /** Replaces the trajectory by a stationary one at the start position (a hold, or an estop). */
  holdFromStart(t: number): void {
    const n = this.n;
    this.t0 = t;
    this.startV.fill(0);
    this.startA.fill(0);
    for (let i = 0; i < this.k; i++) this.p.set(this.startP, i * n);
    this.v.fill(0);
    this.a.fill(0);
    this.u.fill(0);
  }
}
