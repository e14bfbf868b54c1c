/**
 * sensor_msgs/JointState → the embodiment's joint vector, matched by name (never by index).
 * Missing arm joints, NaN/Inf readings and readings outside the limits (beyond a tolerance)
 * are rejected with a code naming the joint; the caller then holds. The gripper joint is
 * optional (some drivers publish it on another topic): when absent the last known value is kept.
 */
import { fail, ok, type Result } from "../errors.ts";
import type { Embodiment } from "../../embodiments/schema.ts";

export interface JointStateLike {
  readonly name: readonly string[];
  readonly position: ArrayLike<number>;
  readonly velocity?: ArrayLike<number>;
}

export interface JointSample {
  /** Arm joint positions in definition order (rad / m). */
  readonly q: Float64Array;
  /** Arm joint velocities, or undefined when the message carries none. */
  readonly qd: Float64Array | undefined;
  /** Gripper joint position (joint units), NaN until one was received. */
  readonly gripper: number;
  /** Header stamp (s, ROS time). */
  readonly stampSec: number;
}

export interface JointMatcherOptions {
  /** Readings this far outside a limit are rejected (rad); the executor tolerates the same. */
  limitTolerance?: number;
}

export class JointStateMatcher {
  readonly names: readonly string[];
  private readonly lower: Float64Array;
  private readonly upper: Float64Array;
  private readonly tol: number;
  private readonly gripperName: string;
  private readonly gLower: number;
  private readonly gUpper: number;
  private lastGripper = NaN;
  /** Index of each arm joint in the last message's name list (a cache: names rarely change order). */
  private readonly index: Int32Array;
  private lastNames: readonly string[] | null = null;
  private gripperIndex = -1;

  constructor(
    readonly emb: Embodiment,
    opts: JointMatcherOptions = {},
  ) {
    this.names = emb.joints.map((j) => j.name);
    this.lower = Float64Array.from(emb.joints.map((j) => j.position.lower));
    this.upper = Float64Array.from(emb.joints.map((j) => j.position.upper));
    this.tol = opts.limitTolerance ?? 0.05;
    this.gripperName = emb.gripper.joint;
    this.gLower = emb.gripper.position.lower;
    this.gUpper = emb.gripper.position.upper;
    this.index = new Int32Array(this.names.length).fill(-1);
  }

  /** Matches one message. `stampSec` is its header stamp. */
  match(msg: JointStateLike, stampSec: number): Result<JointSample> {
    if (!sameNames(this.lastNames, msg.name)) this.reindex(msg.name);
    const n = this.names.length;
    const missing: string[] = [];
    for (let j = 0; j < n; j++) {
      const i = this.index[j]!;
      if (i < 0 || i >= msg.position.length) missing.push(this.names[j]!);
    }
    if (missing.length)
      return fail(
        "E_JOINT_MISSING",
        `joint state lacks ${missing.join(", ")} (has ${msg.name.length ? msg.name.join(", ") : "no names"})`,
        { joints: missing },
      );
    const q = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const x = msg.position[this.index[j]!]!;
      const name = this.names[j]!;
      if (!Number.isFinite(x))
        return fail("E_JOINT_NONFINITE", `joint ${name} position is ${x}`, { joint: name });
      if (x < this.lower[j]! - this.tol || x > this.upper[j]! + this.tol)
        return fail(
          "E_JOINT_OUT_OF_LIMIT",
          `joint ${name} at ${x.toFixed(4)} is outside [${this.lower[j]}, ${this.upper[j]}]`,
          { joint: name, value: x },
        );
      q[j] = x;
    }
    let qd: Float64Array | undefined;
    const vel = msg.velocity;
    if (vel && vel.length === msg.position.length) {
      qd = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        const v = vel[this.index[j]!]!;
        if (!Number.isFinite(v))
          return fail("E_JOINT_NONFINITE", `joint ${this.names[j]} velocity is ${v}`, {
            joint: this.names[j],
          });
        qd[j] = v;
      }
    }
    if (this.gripperIndex >= 0 && this.gripperIndex < msg.position.length) {
      const g = msg.position[this.gripperIndex]!;
      if (!Number.isFinite(g))
        return fail("E_JOINT_NONFINITE", `gripper joint ${this.gripperName} position is ${g}`, {
          joint: this.gripperName,
        });
      this.lastGripper = Math.min(Math.max(g, this.gLower), this.gUpper);
    }
    if (!Number.isFinite(stampSec))
      return fail("E_STALE_JOINT_STATE", `joint state stamp ${stampSec} is not a time`);
    return ok({ q, qd, gripper: this.lastGripper, stampSec });
  }

  private reindex(names: readonly string[]): void {
    const at = new Map<string, number>();
    names.forEach((name, i) => at.set(name, i));
    for (let j = 0; j < this.names.length; j++) this.index[j] = at.get(this.names[j]!) ?? -1;
    this.gripperIndex = at.get(this.gripperName) ?? -1;
    this.lastNames = names.slice();
  }
}

function sameNames(a: readonly string[] | null, b: readonly string[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A reading is stale when its stamp is older than `timeoutSec` (or never arrived). */
export function staleness(stampSec: number, nowSec: number, timeoutSec: number): number | null {
  const age = nowSec - stampSec;
  return age > timeoutSec || !Number.isFinite(age) ? age : null;
}
