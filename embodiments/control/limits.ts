import type { Embodiment } from "../schema.ts";

/** Per-joint limits as flat arrays, read once from the definition. */
export interface JointLimits {
  readonly n: number;
  readonly names: readonly string[];
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly velocity: Float64Array;
  readonly acceleration: Float64Array;
  /** Published jerk limit, Infinity where the manufacturer publishes none. */
  readonly jerk: Float64Array;
}

export function jointLimits(emb: Embodiment): JointLimits {
  const n = emb.joints.length;
  const l = {
    n,
    names: emb.joints.map((j) => j.name),
    lower: new Float64Array(n),
    upper: new Float64Array(n),
    velocity: new Float64Array(n),
    acceleration: new Float64Array(n),
    jerk: new Float64Array(n),
  };
  emb.joints.forEach((j, i) => {
    l.lower[i] = j.position.lower;
    l.upper[i] = j.position.upper;
    l.velocity[i] = j.velocity;
    l.acceleration[i] = j.acceleration;
    l.jerk[i] = j.jerk ?? Infinity;
  });
  return l;
}

/**
 * The jerk the streamer plans with: the published limit, tightened so that the acceleration
 * needs at least `smoothingTicks` control periods to swing from 0 to its limit. Without it a
 * joint with no published jerk (WidowX AI) or a huge one (Panda: 7500 rad/s³ against a
 * 10 ms period) would see its acceleration flip sign from one tick to the next.
 */
export function planningJerk(
  limits: JointLimits,
  periodSec: number,
  smoothingTicks: number,
  out: Float64Array,
): Float64Array {
  for (let i = 0; i < limits.n; i++) {
    const smooth = limits.acceleration[i]! / (Math.max(1, smoothingTicks) * periodSec);
    // A hair under the limit, so differences of emitted accelerations round below it.
    out[i] = Math.min(limits.jerk[i]!, smooth) * (1 - 1e-9);
  }
  return out;
}
