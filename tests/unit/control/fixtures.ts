import { unwrap } from "../../../lib/errors.ts";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { EMBODIMENT_NAMES, type Embodiment } from "../../../embodiments/schema.ts";
import type { Chunk, ControlOutput } from "../../../embodiments/control/index.ts";
import { forwardKinematics, solveIk } from "../../../embodiments/kinematics/index.ts";

/** The four real definitions (the property tests run on every one). */
export const EMBODIMENTS: readonly Embodiment[] = EMBODIMENT_NAMES.map((name) =>
  unwrap(loadEmbodiment(name)),
);

export function home(emb: Embodiment): Float64Array {
  return Float64Array.from(emb.home);
}

/** A joint configuration with the home TCP orientation and x, y, its TCP `dip` m below the table plane + margin (negative: above). */
export function tcpDipping(emb: Embodiment, dip: number): Float64Array {
  const pose = forwardKinematics(emb, emb.home);
  pose.position[2] = emb.safety.table_z + emb.safety.table_margin - dip;
  return unwrap(solveIk(emb, pose, emb.home));
}

/** A chunk whose point k is f(stamp + (k+1)·dt) for a function of time f(t, out). */
export function chunkFrom(
  emb: Embodiment,
  stampSec: number,
  dt: number,
  horizon: number,
  f: (t: number, out: Float64Array) => void,
  gripper = 0,
): Chunk {
  const n = emb.joints.length;
  const positions = new Float64Array(horizon * n);
  const q = new Float64Array(n);
  for (let k = 0; k < horizon; k++) {
    f(stampSec + (k + 1) * dt, q);
    positions.set(q, k * n);
  }
  return { stampSec, dt, horizon, positions, gripper: new Float64Array(horizon).fill(gripper) };
}

/**
 * Per-joint sinusoid near home: amplitude amp (rad), period periodSec, a phase per joint,
 * centred at home moved just far enough from the limits to keep amp + 0.05 rad clear.
 */
export function sineAbout(
  emb: Embodiment,
  amp: number,
  periodSec: number,
): (t: number, out: Float64Array) => void {
  const c = emb.home.map((q, j) => {
    const { lower, upper } = emb.joints[j]!.position;
    return Math.min(Math.max(q, lower + amp + 0.05), upper - amp - 0.05);
  });
  const w = (2 * Math.PI) / periodSec;
  return (t, out) => {
    for (let j = 0; j < c.length; j++) out[j] = c[j]! + amp * Math.sin(w * t + 0.7 * j);
  };
}

/** A snapshot of one tick's output (the executor reuses its buffers). */
export interface Snapshot {
  t: number;
  mode: string;
  stage: string;
  command: boolean;
  nPoints: number;
  times: Float64Array;
  p: Float64Array;
  v: Float64Array;
  a: Float64Array;
  sp: Float64Array;
  sv: Float64Array;
  sa: Float64Array;
  gripper: number;
  scale: number;
  active: string | null;
}

export function snap(o: ControlOutput): Snapshot {
  return {
    t: o.stampSec,
    mode: o.mode,
    stage: o.stage,
    command: o.command,
    nPoints: o.nPoints,
    times: Float64Array.from(o.timeFromStart),
    p: Float64Array.from(o.positions),
    v: Float64Array.from(o.velocities),
    a: Float64Array.from(o.accelerations),
    sp: Float64Array.from(o.startPositions),
    sv: Float64Array.from(o.startVelocities),
    sa: Float64Array.from(o.startAccelerations),
    gripper: o.gripper,
    scale: o.velocityScale,
    active: o.active.code,
  };
}

/**
 * Samples a snapshot's trajectory at time t (absolute) the way joint_trajectory_controller
 * does with positions, velocities and accelerations: a quintic per segment through (p, v, a)
 * at both ends. Independent of the executor's own constant-jerk arithmetic on purpose.
 */
export function sampleQuintic(
  s: Snapshot,
  n: number,
  t: number,
  j: number,
): { p: number; v: number; a: number } {
  const tau = t - s.t;
  let t0 = 0;
  let p0 = s.sp[j]!,
    v0 = s.sv[j]!,
    a0 = s.sa[j]!;
  for (let i = 0; i < s.nPoints; i++) {
    const t1 = s.times[i]!;
    const p1 = s.p[i * n + j]!,
      v1 = s.v[i * n + j]!,
      a1 = s.a[i * n + j]!;
    if (tau <= t1 || i === s.nPoints - 1) {
      const T = t1 - t0;
      const x = Math.min(Math.max(tau - t0, 0), T);
      return quintic(p0, v0, a0, p1, v1, a1, T, x);
    }
    t0 = t1;
    p0 = p1;
    v0 = v1;
    a0 = a1;
  }
  return { p: p0, v: v0, a: a0 };
}

function quintic(
  p0: number,
  v0: number,
  a0: number,
  p1: number,
  v1: number,
  a1: number,
  T: number,
  x: number,
) {
  const T2 = T * T,
    T3 = T2 * T,
    T4 = T3 * T,
    T5 = T4 * T;
  const c0 = p0,
    c1 = v0,
    c2 = a0 / 2;
  const c3 = (20 * p1 - 20 * p0 - (8 * v1 + 12 * v0) * T - (3 * a0 - a1) * T2) / (2 * T3);
  const c4 = (30 * p0 - 30 * p1 + (14 * v1 + 16 * v0) * T + (3 * a0 - 2 * a1) * T2) / (2 * T4);
  const c5 = (12 * p1 - 12 * p0 - (6 * v1 + 6 * v0) * T + (a1 - a0) * T2) / (2 * T5);
  return {
    p: c0 + c1 * x + c2 * x ** 2 + c3 * x ** 3 + c4 * x ** 4 + c5 * x ** 5,
    v: c1 + 2 * c2 * x + 3 * c3 * x ** 2 + 4 * c4 * x ** 3 + 5 * c5 * x ** 4,
    a: 2 * c2 + 6 * c3 * x + 12 * c4 * x ** 2 + 20 * c5 * x ** 3,
  };
}
