/**
 * Rigid transforms as 3×4 row-major matrices [R | p] in a Float64Array(12): small enough to
 * live in fixed buffers, so the IK loop composes them without allocating.
 */
export type Transform = Float64Array;

export function identity(out: Transform = new Float64Array(12)): Transform {
  out.fill(0);
  out[0] = out[5] = out[10] = 1;
  return out;
}

/** out = a · b (out may alias neither a nor b). */
export function compose(a: Transform, b: Transform, out: Transform): Transform {
  for (let r = 0; r < 3; r++) {
    const a0 = a[4 * r]!,
      a1 = a[4 * r + 1]!,
      a2 = a[4 * r + 2]!;
    for (let c = 0; c < 3; c++) {
      out[4 * r + c] = a0 * b[c]! + a1 * b[4 + c]! + a2 * b[8 + c]!;
    }
    out[4 * r + 3] = a0 * b[3]! + a1 * b[7]! + a2 * b[11]! + a[4 * r + 3]!;
  }
  return out;
}

/** out = a · Rz(theta), in place on a copy-free path (out may not alias a). */
export function composeRotZ(a: Transform, theta: number, out: Transform): Transform {
  const c = Math.cos(theta),
    s = Math.sin(theta);
  for (let r = 0; r < 3; r++) {
    const x = a[4 * r]!,
      y = a[4 * r + 1]!;
    out[4 * r] = x * c + y * s;
    out[4 * r + 1] = -x * s + y * c;
    out[4 * r + 2] = a[4 * r + 2]!;
    out[4 * r + 3] = a[4 * r + 3]!;
  }
  return out;
}

/** URDF origin: translation xyz, then fixed-axis roll-pitch-yaw (R = Rz(yaw)·Ry(pitch)·Rx(roll)). */
export function fromXyzRpy(
  xyz: readonly [number, number, number],
  rpy: readonly [number, number, number],
  out: Transform = new Float64Array(12),
): Transform {
  const [r, p, y] = rpy;
  const cr = Math.cos(r),
    sr = Math.sin(r),
    cp = Math.cos(p),
    sp = Math.sin(p);
  const cy = Math.cos(y),
    sy = Math.sin(y);
  out[0] = cy * cp;
  out[1] = cy * sp * sr - sy * cr;
  out[2] = cy * sp * cr + sy * sr;
  out[3] = xyz[0];
  out[4] = sy * cp;
  out[5] = sy * sp * sr + cy * cr;
  out[6] = sy * sp * cr - cy * sr;
  out[7] = xyz[1];
  out[8] = -sp;
  out[9] = cp * sr;
  out[10] = cp * cr;
  out[11] = xyz[2];
  return out;
}

export function rotX(theta: number): Transform {
  return fromXyzRpy([0, 0, 0], [theta, 0, 0]);
}

export function rotZ(theta: number): Transform {
  return fromXyzRpy([0, 0, 0], [0, 0, theta]);
}

export function translation(x: number, y: number, z: number): Transform {
  const t = identity();
  t[3] = x;
  t[7] = y;
  t[11] = z;
  return t;
}

/** Product of several transforms, left to right (set-up only; allocates). */
export function chain(...ts: Transform[]): Transform {
  let acc = identity();
  for (const t of ts) acc = compose(acc, t, new Float64Array(12));
  return acc;
}

/** Fixed-axis roll-pitch-yaw of a rotation, the inverse of fromXyzRpy. */
export function toRpy(t: Transform): [number, number, number] {
  const r20 = t[8]!;
  const pitch = Math.asin(Math.max(-1, Math.min(1, -r20)));
  if (Math.abs(r20) < 1 - 1e-12) {
    return [Math.atan2(t[9]!, t[10]!), pitch, Math.atan2(t[4]!, t[0]!)];
  }
  // Gimbal lock: only roll ± yaw is defined; put it all in yaw.
  return [0, pitch, Math.atan2(-t[1]!, t[5]!)];
}

export function toXyz(t: Transform): [number, number, number] {
  return [t[3]!, t[7]!, t[11]!];
}

/** Inverse of a rigid transform. */
export function invert(t: Transform, out: Transform = new Float64Array(12)): Transform {
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) out[4 * r + c] = t[4 * c + r]!;
  for (let r = 0; r < 3; r++) {
    out[4 * r + 3] = -(out[4 * r]! * t[3]! + out[4 * r + 1]! * t[7]! + out[4 * r + 2]! * t[11]!);
  }
  return out;
}
