import type { Embodiment } from "../schema.ts";
import type { Transform } from "../kinematics/transform.ts";
import {
  buildTree,
  translationOf,
  type BodySpec,
  type Geom,
  type JointSpec,
  type Vec3,
} from "./tree.ts";
import { num } from "./urdf.ts";

/**
 * MJCF for MuJoCo: the same tree as the URDF, position actuators on every arm joint and on
 * the gripper joint (ctrlrange = joint limits, forcerange = effort limits), mimic joints as
 * equality constraints, box finger pads with grasping friction, a `wrist` camera and a `tcp`
 * site on the hand. The arm bodies carry gravity compensation, as the real drivers do.
 *
 * Collision groups: robot geoms (class <name>) have contype 2 / conaffinity 1, so they touch
 * the scene's default (1/1) geoms but never each other.
 */
export function toMjcf(emb: Embodiment): string {
  const tree = buildTree(emb);
  const out: string[] = [];
  const equalities: string[] = [];
  out.push(
    `<!-- Generated from embodiments/${emb.name}/embodiment.yaml by embodiments/description; do not edit. -->`,
  );
  out.push(`<mujoco model="${emb.name}">`);
  out.push(`  <compiler angle="radian" autolimits="true"/>`);
  out.push(`  <option integrator="implicitfast" cone="elliptic" impratio="10"/>`);
  // A named class, applied as childclass on the base, so a scene that includes this file
  // keeps MuJoCo's defaults for its own geoms.
  out.push(`  <default>`);
  out.push(`    <default class="${emb.name}">`);
  out.push(`      <geom contype="2" conaffinity="1" density="1000" rgba="0.85 0.85 0.85 1"/>`);
  out.push(`      <default class="${emb.name}_pad">`);
  out.push(
    `        <geom friction="1.5 0.01 0.0002" condim="4" solref="0.004 1" solimp="0.95 0.99 0.001" rgba="0.2 0.2 0.2 1"/>`,
  );
  out.push(`      </default>`);
  out.push(`    </default>`);
  out.push(`  </default>`);
  out.push(`  <worldbody>`);
  const visit = (b: BodySpec, origin: Transform, depth: number) => {
    const pad = "  ".repeat(depth);
    const childclass = depth === 2 ? ` childclass="${emb.name}"` : "";
    out.push(`${pad}<body name="${b.name}" ${pose(origin)}${childclass} gravcomp="1">`);
    if (b.mass !== undefined) {
      out.push(
        `${pad}  <inertial pos="0 0 0" mass="${num(b.mass)}" diaginertia="2e-5 2e-5 2e-5"/>`,
      );
    }
    if (b.joint) {
      out.push(`${pad}  ${jointTag(b.joint)}`);
      if (b.joint.mimic) {
        equalities.push(
          `    <joint joint1="${b.joint.name}" joint2="${b.joint.mimic.joint}" polycoef="${num(b.joint.mimic.offset)} ${num(b.joint.mimic.multiplier)} 0 0 0" solref="0.005 1"/>`,
        );
      }
    }
    for (const g of b.geoms) out.push(`${pad}  ${geomTag(g, emb.name)}`);
    for (const s of b.sites)
      out.push(`${pad}  <site name="${s.name}" pos="${fmt(s.pos)}" size="0.005" rgba="1 0 0 1"/>`);
    for (const c of b.cameras) {
      out.push(
        `${pad}  <camera name="${c.name}" pos="${fmt(c.pos)}" xyaxes="${fmt(c.xAxis)} ${fmt(c.yAxis)}" fovy="${num(c.fovy)}"/>`,
      );
    }
    for (const c of b.children) visit(c, c.origin, depth + 1);
    out.push(`${pad}</body>`);
  };
  visit(tree.root, tree.rootOrigin, 2);
  out.push(`  </worldbody>`);
  if (equalities.length) out.push(`  <equality>`, ...equalities, `  </equality>`);
  out.push(`  <actuator>`);
  for (const j of tree.actuated) out.push(`    ${actuatorTag(j)}`);
  out.push(`  </actuator>`);
  out.push(`</mujoco>`);
  return `${out.join("\n")}\n`;
}

/** Errors at which the actuator saturates at its effort limit (rad for the arm, m or rad for the gripper). */
const SATURATION = { arm: 0.05, gripperSlide: 0.005, gripperHinge: 0.05 } as const;

function actuatorTag(j: JointSpec): string {
  const saturation =
    j.group === "arm"
      ? SATURATION.arm
      : j.type === "prismatic"
        ? SATURATION.gripperSlide
        : SATURATION.gripperHinge;
  const kp = j.effort / saturation;
  // Arm: near-critical damping for the joint's effective inertia (armature-dominated here),
  // small enough that the lag at full speed stays a few hundredths of a radian. Gripper:
  // damping that caps the saturated closing speed at the rated velocity, so fingers close
  // on an object as gently as the real ones instead of slamming into it.
  const kv = j.group === "arm" ? 2 * Math.sqrt(kp * armature(j)) : j.effort / j.velocity;
  return (
    `<position name="${j.name}" joint="${j.name}" kp="${num(kp)}" kv="${num(kv)}" ` +
    `ctrlrange="${num(j.lower)} ${num(j.upper)}" forcerange="${num(-j.effort)} ${num(j.effort)}"/>`
  );
}

/** Reflected rotor inertia: big joints have big gearboxes; gives the PD loop a stable plant. */
function armature(j: JointSpec): number {
  if (j.group === "gripper") return j.type === "prismatic" ? 0.05 : 0.002;
  return j.effort >= 40 ? 0.3 : j.effort >= 15 ? 0.1 : 0.05;
}

function jointTag(j: JointSpec): string {
  const type = j.type === "revolute" ? "hinge" : "slide";
  const damping = j.group === "arm" ? 1 : 0.1;
  return `<joint name="${j.name}" type="${type}" axis="${fmt(j.axis)}" range="${num(j.lower)} ${num(j.upper)}" armature="${num(armature(j))}" damping="${damping}" actuatorfrcrange="${num(-j.effort)} ${num(j.effort)}"/>`;
}

function geomTag(g: Geom, robot: string): string {
  const extra =
    g.role === "pad"
      ? ` class="${robot}_pad"`
      : g.role === "visual"
        ? ` contype="0" conaffinity="0" mass="0"`
        : "";
  switch (g.kind) {
    case "sphere":
      return `<geom type="sphere" pos="${fmt(g.pos)}" size="${num(g.radius)}"${extra}/>`;
    case "box":
      return `<geom type="box" pos="${fmt(g.pos)}" size="${fmt(g.halfSize)}"${extra}/>`;
    case "capsule":
      return `<geom type="capsule" fromto="${fmt(g.from)} ${fmt(g.to)}" size="${num(g.radius)}"${extra}/>`;
  }
}

function pose(t: Transform): string {
  return `pos="${fmt(translationOf(t))}" quat="${fmt(quaternion(t))}"`;
}

/** (w, x, y, z) of a rotation matrix (Shepperd's method). */
export function quaternion(t: Transform): [number, number, number, number] {
  const m00 = t[0]!,
    m01 = t[1]!,
    m02 = t[2]!,
    m10 = t[4]!,
    m11 = t[5]!,
    m12 = t[6]!,
    m20 = t[8]!,
    m21 = t[9]!,
    m22 = t[10]!;
  const tr = m00 + m11 + m22;
  let w: number, x: number, y: number, z: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    w = s / 4;
    x = (m21 - m12) / s;
    y = (m02 - m20) / s;
    z = (m10 - m01) / s;
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    w = (m21 - m12) / s;
    x = s / 4;
    y = (m01 + m10) / s;
    z = (m02 + m20) / s;
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    w = (m02 - m20) / s;
    x = (m01 + m10) / s;
    y = s / 4;
    z = (m12 + m21) / s;
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    w = (m10 - m01) / s;
    x = (m02 + m20) / s;
    y = (m12 + m21) / s;
    z = s / 4;
  }
  return [w, x, y, z];
}

function fmt(v: readonly number[]): string {
  return v.map(num).join(" ");
}

export type { Vec3 };
