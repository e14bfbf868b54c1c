import type { Embodiment } from "../schema.ts";
import {
  chain,
  fromXyzRpy,
  identity,
  rotX,
  rotZ,
  translation,
  type Transform,
} from "./transform.ts";

/**
 * A serial chain in URDF form: world ← base · Π_i (joint_origin_i · Rz(q_i)) · flange · tcp.
 * Both DH conventions reduce to it, so FK, the Jacobian and the URDF/MJCF generators share
 * one decomposition.
 */
export interface SerialChain {
  /** World → robot base (the definition's base origin). */
  readonly base: Transform;
  /** Fixed transform from the previous joint's frame (or the base) to joint i's frame at q_i = 0. */
  readonly jointOrigins: readonly Transform[];
  /** Last joint's frame → flange. */
  readonly flange: Transform;
  /** Flange → TCP. */
  readonly tcp: Transform;
}

const cache = new WeakMap<Embodiment, SerialChain>();

export function serialChain(emb: Embodiment): SerialChain {
  let c = cache.get(emb);
  if (!c) {
    c = buildChain(emb);
    cache.set(emb, c);
  }
  return c;
}

function buildChain(emb: Embodiment): SerialChain {
  const { convention, dh, flange, tcp, base } = emb.kinematics;
  // Split each DH row around its joint rotation: before = fixed part preceding Rz(q),
  // after = fixed part following it, which folds into the next joint's origin.
  const before: Transform[] = [];
  const after: Transform[] = [];
  for (const row of dh) {
    if (convention === "modified_dh") {
      // Craig: Rx(α_{i-1}) Tx(a_{i-1}) Rz(θ_i) Tz(d_i)
      before.push(chain(rotX(row.alpha), translation(row.a, 0, 0), rotZ(row.theta_offset)));
      after.push(translation(0, 0, row.d));
    } else {
      // Standard: Rz(θ_i) Tz(d_i) Tx(a_i) Rx(α_i)
      before.push(rotZ(row.theta_offset));
      after.push(chain(translation(0, 0, row.d), translation(row.a, 0, 0), rotX(row.alpha)));
    }
  }
  const jointOrigins = before.map((b, i) => (i === 0 ? b : chain(after[i - 1]!, b)));
  return {
    base: fromXyzRpy(base.xyz, base.rpy),
    jointOrigins,
    flange: chain(after[after.length - 1] ?? identity(), fromXyzRpy(flange.xyz, flange.rpy)),
    tcp: fromXyzRpy(tcp.xyz, tcp.rpy),
  };
}
