import type { Embodiment } from "../schema.ts";
import { serialChain, type SerialChain } from "./chain.ts";
import { compose, composeRotZ, type Transform } from "./transform.ts";

/** A frame in the world: position in m, rotation row-major 3×3. */
export type Pose = { position: Float64Array; rotation: Float64Array };

export function poseFromTransform(t: Transform): Pose {
  return {
    position: Float64Array.of(t[3]!, t[7]!, t[11]!),
    rotation: Float64Array.of(t[0]!, t[1]!, t[2]!, t[4]!, t[5]!, t[6]!, t[8]!, t[9]!, t[10]!),
  };
}

export function transformFromPose(p: Pose, out: Transform = new Float64Array(12)): Transform {
  const r = p.rotation,
    x = p.position;
  out[0] = r[0]!;
  out[1] = r[1]!;
  out[2] = r[2]!;
  out[3] = x[0]!;
  out[4] = r[3]!;
  out[5] = r[4]!;
  out[6] = r[5]!;
  out[7] = x[1]!;
  out[8] = r[6]!;
  out[9] = r[7]!;
  out[10] = r[8]!;
  out[11] = x[2]!;
  return out;
}

/**
 * Joint frames after their rotation, in the world: frames[i] is joint i's frame (its z is
 * the joint axis) — the same frame as URDF link i+1 and pinocchio's oMi. Writes into the
 * caller's buffers: frames must hold n transforms, flange and tcp one each.
 */
export function forwardChain(
  c: SerialChain,
  q: ArrayLike<number>,
  frames: Transform[],
  flange: Transform,
  tcp: Transform,
  scratch: Transform,
): void {
  let prev = c.base;
  for (let i = 0; i < c.jointOrigins.length; i++) {
    compose(prev, c.jointOrigins[i]!, scratch);
    composeRotZ(scratch, q[i]!, frames[i]!);
    prev = frames[i]!;
  }
  compose(prev, c.flange, flange);
  compose(flange, c.tcp, tcp);
}

function run(emb: Embodiment, q: ArrayLike<number>) {
  const c = serialChain(emb);
  const n = c.jointOrigins.length;
  if (q.length < n)
    throw new RangeError(`${emb.name}: expected ${n} joint positions, got ${q.length}`);
  const frames = Array.from({ length: n }, () => new Float64Array(12));
  const flange = new Float64Array(12),
    tcp = new Float64Array(12);
  forwardChain(c, q, frames, flange, tcp, new Float64Array(12));
  return { frames, flange, tcp };
}

/** TCP pose in the world frame (the definition's base origin applied). */
export function forwardKinematics(emb: Embodiment, q: ArrayLike<number>): Pose {
  return poseFromTransform(run(emb, q).tcp);
}

/** Flange pose in the world frame. */
export function flangePose(emb: Embodiment, q: ArrayLike<number>): Pose {
  return poseFromTransform(run(emb, q).flange);
}

/** Every joint frame in the world, base to wrist (frame i's z axis is joint i's axis). */
export function jointFrames(emb: Embodiment, q: ArrayLike<number>): Pose[] {
  return run(emb, q).frames.map(poseFromTransform);
}
