/**
 * Model outputs in embodiment units → executable joint-space chunks (DESIGN decision 3).
 *
 * Rows are one action each, horizon rows, row-major:
 * - absolute_joint: [q_1..q_n, gripper]
 * - delta_joint:    [Δq_1..Δq_n, gripper]; each row moves from the previous row's target,
 *                   the first from `anchor`, the previously commanded target (never the
 *                   measured state: its noise would integrate into a drift).
 * - ee_delta:       [dx, dy, dz, rx, ry, rz, gripper]; a translation (m) and a rotation
 *                   vector (rad) applied to the previous row's TCP pose (the first row's to
 *                   FK(anchor)), in the base/world frame or the tool frame, solved by IK seeded
 *                   with the previous row's joints.
 * - ee_pose:        [x, y, z, r00, r10, r20, r01, r11, r21, gripper]; the TCP pose in the
 *                   world frame (position, then the rotation's first two columns, made
 *                   orthonormal here), solved by IK seeded with the previous row's joints (the
 *                   first with `anchor`), with no restarts and no pull of a redundant arm's
 *                   posture towards mid-range: a row the arm cannot reach near its posture
 *                   fails the chunk instead of jumping to another configuration, and the
 *                   elbow stays where the arm has it.
 * The gripper value is a jaw width (m), an open/close command (≥ threshold opens), or the
 * gripper joint position, mapped through the definition's width_at_lower/width_at_upper.
 */
import { fail, ok, stripCode, type Result } from "../../lib/errors.ts";
import { forwardKinematics, solveIk, type Pose } from "../kinematics/index.ts";
import type { ActionSpace, Embodiment } from "../schema.ts";
import type { Chunk } from "./types.ts";

export type GripperEncoding = "width" | "joint_position" | "open_close";

export interface ConvertOptions {
  stampSec: number;
  dt: number;
  horizon: number;
  /** Default: the definition's model.action_space. */
  space?: ActionSpace;
  /** Default: the definition's model.gripper_value. */
  gripper?: GripperEncoding;
  /** open_close: values at or above this open the gripper. */
  openThreshold?: number;
  /** ee_delta: the frame the deltas are expressed in. */
  eeFrame?: "base" | "tool";
  /** Kinematics, injectable for tests; the embodiment layer's by default. */
  kinematics?: {
    forwardKinematics: (emb: Embodiment, q: ArrayLike<number>) => Pose;
    solveIk: (emb: Embodiment, target: Pose, seed: ArrayLike<number>) => Result<Float64Array>;
  };
}

/** Values per row of an action space. */
export function actionWidth(emb: Embodiment, space: ActionSpace): number {
  return space === "ee_delta" ? 7 : space === "ee_pose" ? 10 : emb.joints.length + 1;
}

/**
 * ee_pose: how far the nearest reachable pose may be from a row's, beyond which the chunk fails.
 * A model's pose is an estimate, a centimetre or so off what the arm can reach near its posture
 * (a joint at its limit, the table); the nearest reachable pose is what it means, and the
 * controller's limits still apply to it. In the first closed-loop run a 5 mm slack failed the same
 * row of the same chunk, 7-15 mm off, again and again while the arm held.
 */
export const EE_POSE_SLACK = { position: 0.02, orientation: 0.2 } as const;
/**
 * ee_pose: the most any joint moves from one row to the next (rad; 2 rad/s at the 0.05 s row step,
 * the first row from the measured joints). Near a wrist singularity a small turn of the hand asks
 * for a large swing of the joints around it (xArm6 joints 4 and 6, 0.3-0.6 rad, rejected as jumps in
 * the closed loop); bounded, the row gets the nearest pose within the step, inside EE_POSE_SLACK.
 */
export const EE_POSE_ROW_STEP = 0.1;
const EE_POSE_IK = {
  restarts: 0,
  centering: 0,
  maxDeviation: EE_POSE_ROW_STEP,
  // 2 cm of position for 0.2 rad of orientation, as EE_POSE_SLACK: where a bounded step cannot
  // meet both, the TCP keeps to its place first (a grasp or a push is won by position)
  orientationWeight: EE_POSE_SLACK.position / EE_POSE_SLACK.orientation,
  maxIterations: 100,
  positionTolerance: 2e-4,
  orientationTolerance: 2e-3,
};

function reachPose(emb: Embodiment, target: Pose, seed: ArrayLike<number>): Result<Float64Array> {
  const r = solveIk(emb, target, seed, EE_POSE_IK);
  if (r.ok) return r;
  const d = r.error.detail as
    { positionResidual?: number; orientationResidual?: number; best?: number[] } | undefined;
  if (
    d?.best &&
    (d.positionResidual ?? Infinity) <= EE_POSE_SLACK.position &&
    (d.orientationResidual ?? Infinity) <= EE_POSE_SLACK.orientation
  )
    return ok(Float64Array.from(d.best));
  return r;
}

/** Nine pose values (position, two rotation columns) → a pose; the columns by Gram–Schmidt. */
export function poseFrom9(v: ArrayLike<number>, offset = 0): Result<Pose> {
  const a = [v[offset + 3]!, v[offset + 4]!, v[offset + 5]!];
  const b = [v[offset + 6]!, v[offset + 7]!, v[offset + 8]!];
  const na = Math.hypot(a[0]!, a[1]!, a[2]!);
  if (!(na > 1e-6)) return fail("E_IK", "TCP rotation's first column is zero");
  const x = a.map((c) => c / na);
  const dot = x[0]! * b[0]! + x[1]! * b[1]! + x[2]! * b[2]!;
  const yb = b.map((c, i) => c - dot * x[i]!);
  const nb = Math.hypot(yb[0]!, yb[1]!, yb[2]!);
  if (!(nb > 1e-6)) return fail("E_IK", "TCP rotation's columns are parallel");
  const y = yb.map((c) => c / nb);
  const z = [
    x[1]! * y[2]! - x[2]! * y[1]!,
    x[2]! * y[0]! - x[0]! * y[2]!,
    x[0]! * y[1]! - x[1]! * y[0]!,
  ];
  // row-major, columns x, y, z
  return ok({
    position: Float64Array.of(v[offset]!, v[offset + 1]!, v[offset + 2]!),
    rotation: Float64Array.of(x[0]!, y[0]!, z[0]!, x[1]!, y[1]!, z[1]!, x[2]!, y[2]!, z[2]!),
  });
}

/** A pose → nine values (position, then the rotation's first and second columns), poseFrom9's inverse. */
export function pose9(p: Pose, out: Float64Array = new Float64Array(9)): Float64Array {
  const r = p.rotation;
  out.set(p.position);
  out[3] = r[0]!;
  out[4] = r[3]!;
  out[5] = r[6]!;
  out[6] = r[1]!;
  out[7] = r[4]!;
  out[8] = r[7]!;
  return out;
}

/** A gripper value in the given encoding → gripper joint position, clamped into its range. */
export function gripperJointPosition(
  emb: Embodiment,
  value: number,
  encoding: GripperEncoding,
  openThreshold = 0.5,
): number {
  const g = emb.gripper;
  const { lower, upper } = g.position;
  let q: number;
  if (encoding === "joint_position") {
    q = value;
  } else if (encoding === "open_close") {
    // Whichever end of the range has the wider jaw is "open" (xArm's drive_joint closes as it rises).
    const openAtUpper = g.width_at_upper >= g.width_at_lower;
    const open = value >= openThreshold;
    q = open === openAtUpper ? upper : lower;
  } else {
    const span = g.width_at_upper - g.width_at_lower;
    q = span === 0 ? lower : lower + ((value - g.width_at_lower) / span) * (upper - lower);
  }
  return q < lower ? lower : q > upper ? upper : q;
}

/** Gripper joint position → jaw width (m), the inverse of the width map. */
export function gripperWidth(emb: Embodiment, q: number): number {
  const g = emb.gripper;
  const { lower, upper } = g.position;
  return g.width_at_lower + ((q - lower) / (upper - lower)) * (g.width_at_upper - g.width_at_lower);
}

/** Converts `horizon` rows of model actions into a chunk anchored at `anchor` (previously commanded target). */
export function convertActions(
  emb: Embodiment,
  actions: ArrayLike<number>,
  anchor: ArrayLike<number>,
  opts: ConvertOptions,
): Result<Chunk> {
  const n = emb.joints.length;
  const space = opts.space ?? emb.model.action_space;
  const enc = opts.gripper ?? emb.model.gripper_value;
  const H = opts.horizon;
  const w = actionWidth(emb, space);
  if (!Number.isInteger(H) || H < 1)
    return fail("E_CHUNK_SHAPE", `horizon ${H} must be a positive integer`);
  if (actions.length !== H * w)
    return fail("E_CHUNK_SHAPE", `${space} actions need ${H}×${w} values, got ${actions.length}`);
  if (anchor.length !== n)
    return fail("E_CHUNK_SHAPE", `anchor needs ${n} joint positions, got ${anchor.length}`);
  for (let i = 0; i < actions.length; i++) {
    if (!Number.isFinite(actions[i]!))
      return fail(
        "E_CHUNK_NONFINITE",
        `action value ${i % w} of row ${Math.floor(i / w)} is ${actions[i]}`,
      );
  }
  for (let j = 0; j < n; j++)
    if (!Number.isFinite(anchor[j]!))
      return fail("E_CHUNK_NONFINITE", `anchor of ${emb.joints[j]!.name} is ${anchor[j]}`);

  const positions = new Float64Array(H * n);
  const gripper = new Float64Array(H);
  for (let k = 0; k < H; k++)
    gripper[k] = gripperJointPosition(emb, actions[k * w + w - 1]!, enc, opts.openThreshold);

  if (space === "ee_pose") {
    const solve =
      opts.kinematics?.solveIk ??
      ((e: Embodiment, t: Pose, s: ArrayLike<number>) => reachPose(e, t, s));
    let seed: ArrayLike<number> = anchor;
    for (let k = 0; k < H; k++) {
      const target = poseFrom9(actions, k * w);
      if (!target.ok) return fail("E_IK", `row ${k}: ${stripCode(target.error)}`);
      const q = solve(emb, target.value, seed);
      if (!q.ok) return fail("E_IK", `row ${k}: ${stripCode(q.error)}`);
      positions.set(q.value, k * n);
      seed = q.value;
    }
  } else if (space === "absolute_joint") {
    for (let k = 0; k < H; k++)
      for (let j = 0; j < n; j++) positions[k * n + j] = actions[k * w + j]!;
  } else if (space === "delta_joint") {
    for (let k = 0; k < H; k++) {
      for (let j = 0; j < n; j++) {
        const prev = k === 0 ? anchor[j]! : positions[(k - 1) * n + j]!;
        positions[k * n + j] = prev + actions[k * w + j]!;
      }
    }
  } else {
    const kin = opts.kinematics ?? {
      forwardKinematics,
      solveIk: (e: Embodiment, t: Pose, s: ArrayLike<number>) => solveIk(e, t, s),
    };
    let seed: ArrayLike<number> = anchor;
    const pose = kin.forwardKinematics(emb, anchor);
    const target: Pose = {
      position: Float64Array.from(pose.position),
      rotation: Float64Array.from(pose.rotation),
    };
    const dR = new Float64Array(9),
      tmp = new Float64Array(9);
    for (let k = 0; k < H; k++) {
      const o = k * w;
      rotationFromVector(actions[o + 3]!, actions[o + 4]!, actions[o + 5]!, dR);
      const R = target.rotation,
        x = target.position;
      if (opts.eeFrame === "tool") {
        // Translation along the current tool axes, rotation about them: x += R·d, R = R·dR.
        for (let c = 0; c < 3; c++)
          x[c] =
            x[c]! +
            R[3 * c]! * actions[o]! +
            R[3 * c + 1]! * actions[o + 1]! +
            R[3 * c + 2]! * actions[o + 2]!;
        matMul(R, dR, tmp);
      } else {
        for (let c = 0; c < 3; c++) x[c] = x[c]! + actions[o + c]!;
        matMul(dR, R, tmp);
      }
      R.set(tmp);
      const q = kin.solveIk(emb, target, seed);
      if (!q.ok) return fail("E_IK", `row ${k}: ${stripCode(q.error)}`);
      positions.set(q.value, k * n);
      seed = q.value;
    }
  }
  return ok({ stampSec: opts.stampSec, dt: opts.dt, horizon: H, positions, gripper });
}

/**
 * Remembers the last converted chunk so the next one's delta actions start from the target
 * that chunk commanded at the new observation's time, and reset() re-anchors on the
 * measured state after a hold or at start.
 */
export class ActionConverter {
  private last: Chunk | null = null;
  private readonly anchor: Float64Array;

  constructor(
    readonly emb: Embodiment,
    readonly defaults: Omit<ConvertOptions, "stampSec" | "dt" | "horizon"> = {},
  ) {
    this.anchor = new Float64Array(emb.joints.length);
  }

  reset(measured: ArrayLike<number>): void {
    this.last = null;
    for (let j = 0; j < this.anchor.length; j++) this.anchor[j] = measured[j]!;
  }

  /** The previously commanded target at time t: the last chunk interpolated, else the reset anchor. */
  targetAt(t: number, out: Float64Array = new Float64Array(this.anchor.length)): Float64Array {
    const c = this.last,
      n = this.anchor.length;
    if (!c) {
      out.set(this.anchor);
      return out;
    }
    // Point k is due at stamp + (k+1)·dt; before the first point, between the anchor and it.
    const x = (t - c.stampSec) / c.dt - 1;
    if (x >= c.horizon - 1) {
      out.set(c.positions.subarray((c.horizon - 1) * n, c.horizon * n));
    } else if (x >= 0) {
      const k = Math.floor(x),
        s = x - k;
      for (let j = 0; j < n; j++)
        out[j] = (1 - s) * c.positions[k * n + j]! + s * c.positions[(k + 1) * n + j]!;
    } else {
      const s = Math.max(0, x + 1);
      for (let j = 0; j < n; j++) out[j] = (1 - s) * this.anchor[j]! + s * c.positions[j]!;
    }
    return out;
  }

  /**
   * `measured`: the joints at `stampSec`. An ee_pose chunk is solved from them: its rows are
   * absolute poses, so the seed only picks the IK solution, and the arm's own posture is the one
   * to stay near; the last converted chunk may never have run (the controller can reject it), and
   * seeding from it would carry a posture the arm does not have into every chunk after.
   */
  convert(
    actions: ArrayLike<number>,
    stampSec: number,
    dt: number,
    horizon: number,
    measured?: ArrayLike<number>,
  ): Result<Chunk> {
    const space = this.defaults.space ?? this.emb.model.action_space;
    const anchor =
      space === "ee_pose" && measured ? Float64Array.from(measured) : this.targetAt(stampSec);
    const r = convertActions(this.emb, actions, anchor, {
      ...this.defaults,
      stampSec,
      dt,
      horizon,
    });
    if (r.ok) {
      this.anchor.set(anchor);
      this.last = r.value;
    }
    return r;
  }
}

/** Rodrigues: rotation vector (axis × angle, rad) → row-major 3×3. */
export function rotationFromVector(
  rx: number,
  ry: number,
  rz: number,
  out: Float64Array,
): Float64Array {
  const th = Math.hypot(rx, ry, rz);
  let a: number, b: number;
  if (th < 1e-8) {
    a = 1 - (th * th) / 6;
    b = 0.5 - (th * th) / 24;
  } else {
    a = Math.sin(th) / th;
    b = (1 - Math.cos(th)) / (th * th);
  }
  out[0] = 1 - b * (ry * ry + rz * rz);
  out[1] = -a * rz + b * rx * ry;
  out[2] = a * ry + b * rx * rz;
  out[3] = a * rz + b * rx * ry;
  out[4] = 1 - b * (rx * rx + rz * rz);
  out[5] = -a * rx + b * ry * rz;
  out[6] = -a * ry + b * rx * rz;
  out[7] = a * rx + b * ry * rz;
  out[8] = 1 - b * (rx * rx + ry * ry);
  return out;
}

function matMul(a: Float64Array, b: Float64Array, out: Float64Array): void {
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++)
      out[3 * r + c] = a[3 * r]! * b[c]! + a[3 * r + 1]! * b[3 + c]! + a[3 * r + 2]! * b[6 + c]!;
  }
}
