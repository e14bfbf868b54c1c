import type { Embodiment } from "../schema.ts";
import { toRpy, type Transform } from "../kinematics/transform.ts";
import { buildTree, translationOf, type BodySpec, type Geom, type Vec3 } from "./tree.ts";

/**
 * URDF of the arm and gripper: a `world` link, the base placed at the definition's base
 * pose, one link per joint with cylinders/spheres/boxes for collision, the gripper with its
 * mimic joints, and `flange`, `hand` and `tcp` frames. URDF has no capsule, so link segments
 * are cylinders.
 */
export function toUrdf(emb: Embodiment): string {
  const tree = buildTree(emb);
  const out: string[] = [];
  out.push(`<?xml version="1.0"?>`);
  out.push(
    `<!-- Generated from embodiments/${emb.name}/embodiment.yaml by embodiments/description; do not edit. -->`,
  );
  out.push(`<robot name="${emb.name}">`);
  out.push(`  <link name="world"/>`);
  out.push(joint("world_joint", "fixed", "world", tree.root.name, tree.rootOrigin));
  const visit = (b: BodySpec, parent: string | null) => {
    if (parent !== null) {
      const j = b.joint;
      out.push(
        j
          ? joint(j.name, j.type, parent, b.name, b.origin, j)
          : joint(`${b.name}_joint`, "fixed", parent, b.name, b.origin),
      );
    }
    out.push(link(b));
    for (const c of b.children) visit(c, b.name);
  };
  visit(tree.root, null);
  out.push(`</robot>`);
  return `${out.join("\n")}\n`;
}

function joint(
  name: string,
  type: string,
  parent: string,
  child: string,
  origin: Transform,
  spec?: {
    axis: Vec3;
    lower: number;
    upper: number;
    effort: number;
    velocity: number;
    mimic?: { joint: string; multiplier: number; offset: number };
  },
): string {
  const lines = [
    `  <joint name="${name}" type="${type}">`,
    `    <parent link="${parent}"/>`,
    `    <child link="${child}"/>`,
    `    ${originTag(origin)}`,
  ];
  if (spec) {
    lines.push(`    <axis xyz="${fmt(spec.axis)}"/>`);
    lines.push(
      `    <limit lower="${num(spec.lower)}" upper="${num(spec.upper)}" effort="${num(spec.effort)}" velocity="${num(spec.velocity)}"/>`,
    );
    if (spec.mimic) {
      lines.push(
        `    <mimic joint="${spec.mimic.joint}" multiplier="${num(spec.mimic.multiplier)}" offset="${num(spec.mimic.offset)}"/>`,
      );
    }
  }
  lines.push(`  </joint>`);
  return lines.join("\n");
}

function link(b: BodySpec): string {
  const parts = b.geoms.filter((g) => g.role !== "visual").map(collision);
  const inertial =
    b.mass !== undefined
      ? [
          `    <inertial>`,
          `      <mass value="${num(b.mass)}"/>`,
          `      <inertia ixx="1e-5" ixy="0" ixz="0" iyy="1e-5" iyz="0" izz="1e-5"/>`,
          `    </inertial>`,
        ]
      : [];
  if (parts.length === 0 && inertial.length === 0) return `  <link name="${b.name}"/>`;
  return [`  <link name="${b.name}">`, ...inertial, ...parts, `  </link>`].join("\n");
}

function collision(g: Geom): string {
  let origin: string, geometry: string;
  if (g.kind === "sphere") {
    origin = `<origin xyz="${fmt(g.pos)}" rpy="0 0 0"/>`;
    geometry = `<sphere radius="${num(g.radius)}"/>`;
  } else if (g.kind === "box") {
    origin = `<origin xyz="${fmt(g.pos)}" rpy="0 0 0"/>`;
    geometry = `<box size="${fmt(g.halfSize.map((h) => 2 * h) as Vec3)}"/>`;
  } else {
    const d: Vec3 = [g.to[0] - g.from[0], g.to[1] - g.from[1], g.to[2] - g.from[2]];
    const len = Math.hypot(...d);
    const mid: Vec3 = [
      (g.from[0] + g.to[0]) / 2,
      (g.from[1] + g.to[1]) / 2,
      (g.from[2] + g.to[2]) / 2,
    ];
    // Cylinder z along the segment: pitch then yaw.
    const pitch = Math.acos(Math.max(-1, Math.min(1, d[2] / len)));
    const yaw = Math.atan2(d[1], d[0]);
    origin = `<origin xyz="${fmt(mid)}" rpy="0 ${num(pitch)} ${num(yaw)}"/>`;
    geometry = `<cylinder radius="${num(g.radius)}" length="${num(len)}"/>`;
  }
  return `    <collision>\n      ${origin}\n      <geometry>${geometry}</geometry>\n    </collision>`;
}

function originTag(t: Transform): string {
  return `<origin xyz="${fmt(translationOf(t))}" rpy="${fmt(toRpy(t))}"/>`;
}

function fmt(v: readonly number[]): string {
  return v.map(num).join(" ");
}

/** Full double precision, with signed zeros and float noise folded to 0. */
export function num(x: number): string {
  return Math.abs(x) < 1e-15 ? "0" : String(x);
}
