/**
 * Joint origins and axes transcribed from the manufacturers' published URDFs, with a small
 * FK of their own (plain 4×4 arrays, Rodrigues rotations), independent of
 * embodiments/kinematics. Tests compare our DH-based FK against these at random q.
 */
type V3 = [number, number, number];
interface UrdfJoint {
  xyz: V3;
  rpy: V3;
  axis: V3;
}
export interface PublishedChain {
  source: string;
  joints: UrdfJoint[];
  /** Last joint's link → TCP, URDF-style. */
  tool: { xyz: V3; rpy: V3 };
}

const H = 1.5707963267948966;
const j = (xyz: V3, rpy: V3 = [0, 0, 0], axis: V3 = [0, 0, 1]): UrdfJoint => ({ xyz, rpy, axis });

export const PUBLISHED_CHAINS: Record<string, PublishedChain> = {
  panda: {
    source:
      "franka_description robots/common/franka_arm.xacro (panda) + franka_hand.xacro: hand rpy(0,0,-pi/4), hand_tcp z 0.1034",
    joints: [
      j([0, 0, 0.333]),
      j([0, 0, 0], [-H, 0, 0]),
      j([0, -0.316, 0], [H, 0, 0]),
      j([0.0825, 0, 0], [H, 0, 0]),
      j([-0.0825, 0.384, 0], [-H, 0, 0]),
      j([0, 0, 0], [H, 0, 0]),
      j([0.088, 0, 0], [H, 0, 0]),
    ],
    // joint8 (flange, z 0.107), then the hand (-pi/4 about z), then the TCP (z 0.1034).
    tool: { xyz: [0, 0, 0.107 + 0.1034], rpy: [0, 0, -Math.PI / 4] },
  },
  xarm6: {
    source:
      "xarm_ros2 xarm_description/urdf/xarm6/xarm6.urdf.xacro + gripper/xarm_gripper.urdf.xacro (link_tcp z 0.172)",
    joints: [
      j([0, 0, 0.267]),
      j([0, 0, 0], [-1.5708, 0, 0]),
      j([0.0535, -0.2845, 0]),
      j([0.0775, 0.3425, 0], [-1.5708, 0, 0]),
      j([0, 0, 0], [1.5708, 0, 0]),
      j([0.076, 0.097, 0], [-1.5708, 0, 0]),
    ],
    tool: { xyz: [0, 0, 0.172], rpy: [0, 0, 0] },
  },
  xarm7: {
    source:
      "xarm_ros2 xarm_description/urdf/xarm7/xarm7.urdf.xacro + gripper/xarm_gripper.urdf.xacro (link_tcp z 0.172)",
    joints: [
      j([0, 0, 0.267]),
      j([0, 0, 0], [-1.5708, 0, 0]),
      j([0, -0.293, 0], [1.5708, 0, 0]),
      j([0.0525, 0, 0], [1.5708, 0, 0]),
      j([0.0775, -0.3425, 0], [1.5708, 0, 0]),
      j([0, 0, 0], [1.5708, 0, 0]),
      j([0.076, 0.097, 0], [-1.5708, 0, 0]),
    ],
    tool: { xyz: [0, 0, 0.172], rpy: [0, 0, 0] },
  },
  widowx_ai: {
    source:
      "trossen_arm_description urdf/macros/_wxai.urdf.xacro; tool 0.15606 m along link_6 x (Trossen DH), turned so z is the approach axis",
    joints: [
      j([0, 0, 0.05725]),
      j([0.02, 0, 0.04625], [0, 0, 0], [0, 1, 0]),
      j([-0.264, 0, 0], [0, 0, 0], [0, -1, 0]),
      j([0.245, 0, 0.06], [0, 0, 0], [0, -1, 0]),
      j([0.06775, 0, 0.0455], [0, 0, 0], [0, 0, -1]),
      j([0.02895, 0, -0.0455], [0, 0, 0], [1, 0, 0]),
    ],
    tool: { xyz: [0.15606, 0, 0], rpy: [0, H, 0] },
  },
};

type M4 = number[][];

function mul(a: M4, b: M4): M4 {
  return a.map((row) => [0, 1, 2, 3].map((c) => row.reduce((s, v, k) => s + v * b[k]![c]!, 0)));
}

function rot(axis: V3, angle: number): M4 {
  const [x, y, z] = axis;
  const c = Math.cos(angle),
    s = Math.sin(angle),
    t = 1 - c;
  return [
    [t * x * x + c, t * x * y - s * z, t * x * z + s * y, 0],
    [t * x * y + s * z, t * y * y + c, t * y * z - s * x, 0],
    [t * x * z - s * y, t * y * z + s * x, t * z * z + c, 0],
    [0, 0, 0, 1],
  ];
}

function origin(xyz: V3, rpy: V3): M4 {
  const r = mul(mul(rot([0, 0, 1], rpy[2]), rot([0, 1, 0], rpy[1])), rot([1, 0, 0], rpy[0]));
  r[0]![3] = xyz[0];
  r[1]![3] = xyz[1];
  r[2]![3] = xyz[2];
  return r;
}

/** TCP and last-link poses (4×4) of a published chain at q, base at `base`. */
export function publishedFk(
  chain: PublishedChain,
  q: ArrayLike<number>,
  base: V3,
): { tcp: M4; wrist: M4 } {
  let t = origin(base, [0, 0, 0]);
  chain.joints.forEach((jt, i) => {
    t = mul(mul(t, origin(jt.xyz, jt.rpy)), rot(jt.axis, q[i]!));
  });
  return { wrist: t, tcp: mul(t, origin(chain.tool.xyz, chain.tool.rpy)) };
}
