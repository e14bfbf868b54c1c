import { serialChain } from "../kinematics/chain.ts";
import type { Embodiment } from "../schema.ts";
import { chain, fromXyzRpy, identity, invert, type Transform } from "../kinematics/transform.ts";

/**
 * The robot as a tree of bodies, built once from the definition and written out by both the
 * URDF and the MJCF writers, so the two can only differ in syntax.
 */
export type Vec3 = [number, number, number];

export type Geom =
  | { kind: "capsule"; from: Vec3; to: Vec3; radius: number; role: GeomRole }
  | { kind: "sphere"; pos: Vec3; radius: number; role: GeomRole }
  | { kind: "box"; pos: Vec3; halfSize: Vec3; role: GeomRole };

/** link: arm and hand; finger: finger bodies; pad: fingertip contact; visual: no contact. */
export type GeomRole = "link" | "finger" | "pad" | "visual";

export interface JointSpec {
  name: string;
  type: "revolute" | "prismatic";
  axis: Vec3;
  lower: number;
  upper: number;
  /** N·m or N */
  effort: number;
  velocity: number;
  /** This joint = multiplier · that joint + offset (URDF mimic, MJCF equality). */
  mimic?: { joint: string; multiplier: number; offset: number };
  group: "arm" | "gripper";
}

export interface BodySpec {
  name: string;
  /** Parent body frame → this body's frame (the joint sits at this frame's origin). */
  origin: Transform;
  joint?: JointSpec;
  geoms: Geom[];
  mass?: number;
  sites: { name: string; pos: Vec3 }[];
  /** Camera looking along −z of (xAxis × yAxis), MuJoCo's convention. */
  cameras: { name: string; pos: Vec3; xAxis: Vec3; yAxis: Vec3; fovy: number }[];
  children: BodySpec[];
}

export interface RobotTree {
  name: string;
  /** World → base body. */
  root: BodySpec;
  rootOrigin: Transform;
  /** Joints driven by position actuators: arm joints then the gripper joint. */
  actuated: JointSpec[];
}

export function buildTree(emb: Embodiment): RobotTree {
  const c = serialChain(emb);
  const n = emb.joints.length;
  const radius = linkRadius(emb);
  const base = body("base_link", identity());
  const firstOrigin = c.jointOrigins[0]!;
  // Geoms near the base start one radius up, so they rest on the table top instead of
  // intersecting it (a contact there would act as friction on the first joint).
  const lift = (to: Vec3, r: number): Vec3 => (to[2] > 2 * r ? [0, 0, r] : [0, 0, 0]);
  const baseTo = translationOf(firstOrigin);
  base.geoms.push(segment(lift(baseTo, radius * 1.15), baseTo, radius * 1.15));

  const actuated: JointSpec[] = [];
  let parent = base;
  for (let i = 0; i < n; i++) {
    const j = emb.joints[i]!;
    const link = body(`link_${i + 1}`, c.jointOrigins[i]!);
    link.joint = {
      name: j.name,
      type: "revolute",
      axis: [0, 0, 1],
      lower: j.position.lower,
      upper: j.position.upper,
      effort: j.effort ?? 100,
      velocity: j.velocity,
      group: "arm",
    };
    actuated.push(link.joint);
    const next = translationOf(i + 1 < n ? c.jointOrigins[i + 1]! : c.flange);
    const onBase = i === 0 && Math.hypot(...translationOf(firstOrigin)) < 1e-9;
    link.geoms.push(segment(onBase ? lift(next, radius) : [0, 0, 0], next, radius));
    parent.children.push(link);
    parent = link;
  }

  const flange = body("flange", c.flange);
  parent.children.push(flange);
  // The hand frame sits at the flange, turned like the TCP: z = approach, y = opening.
  const tcpRot: Transform = Float64Array.from(c.tcp);
  tcpRot[3] = tcpRot[7] = tcpRot[11] = 0;
  const hand = body("hand", tcpRot);
  flange.children.push(hand);
  const tcpInHand = translationOf(chain(invert(tcpRot), c.tcp));
  hand.sites.push({ name: "tcp", pos: tcpInHand });
  const tcpBody = body("tcp", fromXyzRpy(tcpInHand, [0, 0, 0]));
  hand.children.push(tcpBody);

  const gripper = buildGripper(emb, hand, tcpInHand[2], radius);
  actuated.push(gripper);
  return { name: emb.name, root: base, rootOrigin: c.base, actuated };
}

function buildGripper(
  emb: Embodiment,
  hand: BodySpec,
  tcpDepth: number,
  radius: number,
): JointSpec {
  const g = emb.gripper;
  const geo = g.geometry ?? {
    palm_depth: Math.min(0.06, tcpDepth / 2),
    pad_size: [0.02, 0.008, 0.02] as Vec3,
  };
  const [padLen, padThick, padWidth] = geo.pad_size;
  const halfOpen = Math.max(g.width_at_lower, g.width_at_upper) / 2;
  // Palm: a block spanning the open jaw, from the flange to the finger roots.
  hand.geoms.push({
    kind: "box",
    pos: [0, 0, geo.palm_depth / 2],
    halfSize: [Math.max(radius * 0.8, padWidth), halfOpen + padThick + 0.01, geo.palm_depth / 2],
    role: "link",
  });
  // Wrist camera: on the palm's side, looking along the approach axis at the TCP.
  const camPos: Vec3 = [-(radius + 0.02), 0, geo.palm_depth * 0.5];
  const d = normalize([-camPos[0], 0, tcpDepth - camPos[2]]);
  const xAxis: Vec3 = [0, 1, 0];
  hand.cameras.push({ name: "wrist", pos: camPos, xAxis, yAxis: cross(xAxis, d), fovy: 75 });

  const mimics = g.mimic_joints;
  if (geo.four_bar) return fourBar(emb, hand, tcpDepth, geo.four_bar, [padLen, padThick, padWidth]);

  const k = (g.width_at_upper - g.width_at_lower) / (g.position.upper - g.position.lower);
  if (Math.abs(k - 2) > 1e-9) {
    throw new Error(
      `${emb.name}: a sliding gripper must open 2 m of jaw per m of joint travel (got ${k})`,
    );
  }
  // Each finger's inner face sits at half the jaw width: width/2 = q + (w_lo/2 − lo).
  const face = g.width_at_lower / 2 - g.position.lower;
  const reach = tcpDepth - geo.palm_depth + padLen / 2;
  const fingers: JointSpec[] = [];
  for (const side of [1, -1] as const) {
    const f = body(
      side > 0 ? "left_finger" : "right_finger",
      fromXyzRpy([0, 0, geo.palm_depth], [0, 0, 0]),
    );
    const joint: JointSpec = {
      name: side > 0 ? g.joint : (mimics[0] ?? `${g.joint}_mimic`),
      type: "prismatic",
      axis: [0, side, 0],
      lower: g.position.lower,
      upper: g.position.upper,
      effort: g.max_effort,
      velocity: g.velocity,
      group: "gripper",
      ...(side < 0 ? { mimic: { joint: g.joint, multiplier: 1, offset: 0 } } : {}),
    };
    f.joint = joint;
    fingers.push(joint);
    f.mass = 0.05;
    const y = side * (face + padThick / 2);
    f.geoms.push({
      kind: "box",
      pos: [0, y, reach / 2],
      halfSize: [padWidth / 2, padThick / 2, reach / 2],
      role: "finger",
    });
    f.geoms.push({
      kind: "box",
      pos: [0, y, tcpDepth - geo.palm_depth],
      halfSize: [padWidth / 2, padThick / 2, padLen / 2],
      role: "pad",
    });
    hand.children.push(f);
  }
  return fingers[0]!;
}

/**
 * xArm-style parallel four-bar: the driven outer knuckle swings about x, the finger counter-
 * rotates on its tip (mimic) so the pad stays parallel, and the passive inner knuckle (mimic)
 * closes the parallelogram. Every mimic has multiplier 1, as in xarm_gripper.urdf.xacro.
 */
function fourBar(
  emb: Embodiment,
  hand: BodySpec,
  tcpDepth: number,
  fb: {
    knuckle_pivot: [number, number];
    finger_pivot: [number, number];
    inner_pivot: [number, number];
  },
  [padLen, padThick, padWidth]: Vec3,
): JointSpec {
  const g = emb.gripper;
  const [m0, m1, m2, m3, m4] = g.mimic_joints;
  const names = {
    left: { finger: m0 ?? "left_finger_joint", inner: m1 ?? "left_inner_knuckle_joint" },
    right: {
      outer: m2 ?? "right_outer_knuckle_joint",
      finger: m3 ?? "right_finger_joint",
      inner: m4 ?? "right_inner_knuckle_joint",
    },
  };
  const link: Vec3 = [
    0,
    fb.finger_pivot[0] - fb.knuckle_pivot[0],
    fb.finger_pivot[1] - fb.knuckle_pivot[1],
  ];
  const knuckleLength = Math.hypot(link[1], link[2]);
  const effort = g.max_effort * knuckleLength;
  const rev = (name: string, axisX: number, mimic: boolean): JointSpec => ({
    name,
    type: "revolute",
    axis: [axisX, 0, 0],
    lower: g.position.lower,
    upper: g.position.upper,
    effort,
    velocity: g.velocity,
    group: "gripper",
    ...(mimic ? { mimic: { joint: g.joint, multiplier: 1, offset: 0 } } : {}),
  });
  let driven: JointSpec | undefined;
  for (const side of [1, -1] as const) {
    const outerJoint = side > 0 ? rev(g.joint, 1, false) : rev(names.right.outer, -1, true);
    if (side > 0) driven = outerJoint;
    const outer = body(
      side > 0 ? "left_outer_knuckle" : "right_outer_knuckle",
      fromXyzRpy([0, side * fb.knuckle_pivot[0], fb.knuckle_pivot[1]], [0, 0, 0]),
    );
    outer.joint = outerJoint;
    outer.mass = 0.03;
    const tip: Vec3 = [0, side * link[1], link[2]];
    outer.geoms.push({ kind: "capsule", from: [0, 0, 0], to: tip, radius: 0.006, role: "finger" });
    const finger = body(side > 0 ? "left_finger" : "right_finger", fromXyzRpy(tip, [0, 0, 0]));
    finger.joint = rev(side > 0 ? names.left.finger : names.right.finger, -side, true);
    finger.mass = 0.05;
    // At the open end (q = lower) the pad's inner face is at half the open jaw width and its
    // centre at the TCP depth.
    const padY = side * (g.width_at_lower / 2 + padThick / 2) - side * fb.finger_pivot[0];
    const padZ = tcpDepth - fb.finger_pivot[1];
    finger.geoms.push({
      kind: "box",
      pos: [0, padY, padZ / 2],
      halfSize: [padWidth / 2, padThick / 2, padZ / 2],
      role: "finger",
    });
    finger.geoms.push({
      kind: "box",
      pos: [0, padY, padZ],
      halfSize: [padWidth / 2, padThick / 2, padLen / 2],
      role: "pad",
    });
    outer.children.push(finger);
    hand.children.push(outer);
    const inner = body(
      side > 0 ? "left_inner_knuckle" : "right_inner_knuckle",
      fromXyzRpy([0, side * fb.inner_pivot[0], fb.inner_pivot[1]], [0, 0, 0]),
    );
    inner.joint = rev(side > 0 ? names.left.inner : names.right.inner, side, true);
    inner.mass = 0.02;
    inner.geoms.push({
      kind: "capsule",
      from: [0, 0, 0],
      to: [0, side * link[1], link[2]],
      radius: 0.005,
      role: "visual",
    });
    hand.children.push(inner);
  }
  return driven!;
}

function body(name: string, origin: Transform): BodySpec {
  return { name, origin, geoms: [], sites: [], cameras: [], children: [] };
}

function segment(from: Vec3, to: Vec3, radius: number): Geom {
  const len = Math.hypot(to[0] - from[0], to[1] - from[1], to[2] - from[2]);
  return len < 1e-6
    ? { kind: "sphere", pos: from, radius, role: "link" }
    : { kind: "capsule", from, to, radius, role: "link" };
}

/** Link thickness scaled to the arm's size (Panda ≈ 5.5 cm, WidowX AI ≈ 3 cm). */
function linkRadius(emb: Embodiment): number {
  const c = serialChain(emb);
  let length = 0;
  for (const t of [...c.jointOrigins, c.flange]) length += Math.hypot(t[3]!, t[7]!, t[11]!);
  return Math.min(0.055, Math.max(0.025, 0.04 * length));
}

export function translationOf(t: Transform): Vec3 {
  return [t[3]!, t[7]!, t[11]!];
}

function normalize(v: Vec3): Vec3 {
  const l = Math.hypot(...v);
  return [v[0] / l, v[1] / l, v[2] / l];
}

function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
