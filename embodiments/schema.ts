import { z } from "zod";

/**
 * The embodiment definition: everything robot-specific, as data (embodiments/<name>/embodiment.yaml),
 * validated here. Units are REP-103: radians, metres, seconds.
 */

const finite = () => z.number().finite();
const positive = () => z.number().finite().positive();

export const RangeSchema = z
  .object({ lower: finite(), upper: finite() })
  .refine((r) => r.lower < r.upper, { message: "lower must be below upper (inverted limits)" });

export const JointSchema = z.object({
  name: z.string().min(1),
  position: RangeSchema.describe("rad (revolute) or m (prismatic)"),
  velocity: positive().describe("rad/s"),
  acceleration: positive().describe("rad/s^2"),
  jerk: positive().optional().describe("rad/s^3, where published"),
  effort: positive().optional().describe("N·m"),
});

/** One row of a Denavit–Hartenberg table. theta is the joint variable plus theta_offset. */
export const DhRowSchema = z.object({
  a: finite().describe("m"),
  d: finite().describe("m"),
  alpha: finite().describe("rad"),
  theta_offset: finite().default(0).describe("rad"),
});

/** A fixed transform (xyz in m, rpy in rad, URDF convention). */
export const OriginSchema = z.object({
  xyz: z.tuple([finite(), finite(), finite()]),
  rpy: z.tuple([finite(), finite(), finite()]).default([0, 0, 0]),
});

export const KinematicsSchema = z.object({
  convention: z.enum(["modified_dh", "standard_dh"]),
  dh: z.array(DhRowSchema).min(1).describe("one row per arm joint, base to flange"),
  /** Fixed transform from the last joint frame to the flange (e.g. Panda's d=0.107). */
  flange: OriginSchema,
  /** Flange to tool centre point (between the fingertips). */
  tcp: OriginSchema,
  base: OriginSchema.describe("robot base in the world (the sim's table frame)"),
});

/**
 * Simplified finger geometry for the generated URDF/MJCF, in the hand frame: origin at the
 * flange, axes as the TCP frame (z = approach, y = the direction the fingers open along).
 */
export const GripperGeometrySchema = z.object({
  /** Distance along the approach axis from the flange to the finger roots (the palm face). */
  palm_depth: positive().describe("m"),
  /** Finger pad box: length along the approach axis, thickness across the jaw, width. */
  pad_size: z.tuple([positive(), positive(), positive()]).describe("m"),
  /**
   * Parallel four-bar fingers driven by a revolute joint (xArm gripper). Points are (y, z)
   * in the hand frame: the driving knuckle's pivot, the finger's pivot on that knuckle at
   * zero, and the passive inner knuckle's pivot. Absent: fingers slide along y and the
   * gripper joint is one finger's travel from the closed position.
   */
  four_bar: z
    .object({
      knuckle_pivot: z.tuple([finite(), finite()]),
      finger_pivot: z.tuple([finite(), finite()]),
      inner_pivot: z.tuple([finite(), finite()]),
    })
    .optional(),
});

export const GripperSchema = z.object({
  joint: z.string().min(1),
  mimic_joints: z.array(z.string().min(1)).default([]),
  position: RangeSchema.describe(
    "joint units (m for prismatic fingers, rad for xArm's drive_joint)",
  ),
  velocity: positive(),
  /** Jaw opening (m, total between fingers) at the position range's lower and upper ends. */
  width_at_lower: z.number().finite().nonnegative(),
  width_at_upper: z.number().finite().nonnegative(),
  interface: z.enum(["trajectory", "gripper_command", "parallel_gripper"]),
  /** Topic (trajectory) or action name (gripper_command / parallel_gripper). */
  command: z.string().min(1),
  max_effort: positive().describe("N"),
  geometry: GripperGeometrySchema.optional().describe("only used to generate URDF/MJCF"),
});

export const ActionSpaceSchema = z.enum(["absolute_joint", "delta_joint", "ee_delta", "ee_pose"]);

/** How this arm's state and action occupy the model's shared padded vectors. */
export const ModelMapSchema = z.object({
  state_dim: z.number().int().positive().max(64),
  action_dim: z.number().int().positive().max(32),
  /** Index in the padded state vector of each arm joint, then the gripper. */
  state_indices: z.array(z.number().int().nonnegative().max(63)),
  /** Index in the padded action vector of each arm joint, then the gripper. */
  action_indices: z.array(z.number().int().nonnegative().max(31)),
  action_space: ActionSpaceSchema,
  /** What the gripper slot holds: jaw width in m (blm-tiny) or the gripper joint's position. */
  gripper_value: z.enum(["width", "joint_position"]).default("width"),
});

export const SafetySchema = z.object({
  /** TCP must stay in this box (world frame, m). */
  workspace: z.object({
    min: z.tuple([finite(), finite(), finite()]),
    max: z.tuple([finite(), finite(), finite()]),
  }),
  /** Height of the table plane (world z, m) the TCP must stay above, with margin. */
  table_z: finite(),
  table_margin: z.number().finite().nonnegative(),
  /** Largest allowed distance (per joint, rad) between a chunk's first target and the measured state. */
  max_jump: positive(),
});

export const EmbodimentSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/),
    description: z.string().min(1),
    sources: z.array(z.string().min(1)).min(1).describe("where every number comes from"),
    joints: z.array(JointSchema).min(1),
    kinematics: KinematicsSchema,
    home: z.array(finite()),
    gripper: GripperSchema,
    driver: z.object({
      trajectory_topic: z.string().startsWith("/"),
      joint_states_topic: z.string().startsWith("/").default("/joint_states"),
      control_rate_hz: positive().max(2000),
      goal_time_s: z.number().finite().nonnegative().default(0),
    }),
    /** Joint-name prefixes the official drivers use (e.g. panda_, fer_, fr3_); the first is the default. */
    joint_prefixes: z.array(z.string()).default([]),
    model: ModelMapSchema,
    safety: SafetySchema,
  })
  .superRefine((e, ctx) => {
    const n = e.joints.length;
    const names = new Set(e.joints.map((j) => j.name));
    if (names.size !== n)
      ctx.addIssue({ code: "custom", path: ["joints"], message: "joint names must be unique" });
    if (e.kinematics.dh.length !== n)
      ctx.addIssue({
        code: "custom",
        path: ["kinematics", "dh"],
        message: `needs ${n} rows, one per joint`,
      });
    if (e.home.length !== n)
      ctx.addIssue({ code: "custom", path: ["home"], message: `needs ${n} values` });
    e.home.forEach((q, i) => {
      const j = e.joints[i];
      if (j && (q < j.position.lower || q > j.position.upper))
        ctx.addIssue({
          code: "custom",
          path: ["home", i],
          message: `home of ${j.name} is outside its limits`,
        });
    });
    if (e.model.state_indices.length !== n + 1)
      ctx.addIssue({
        code: "custom",
        path: ["model", "state_indices"],
        message: `needs ${n + 1} indices (joints + gripper)`,
      });
    if (e.model.action_indices.length !== n + 1)
      ctx.addIssue({
        code: "custom",
        path: ["model", "action_indices"],
        message: `needs ${n + 1} indices (joints + gripper)`,
      });
    if (e.model.state_indices.some((i) => i >= e.model.state_dim))
      ctx.addIssue({
        code: "custom",
        path: ["model", "state_indices"],
        message: "index beyond state_dim",
      });
    if (e.model.action_indices.some((i) => i >= e.model.action_dim))
      ctx.addIssue({
        code: "custom",
        path: ["model", "action_indices"],
        message: "index beyond action_dim",
      });
  });

export type Embodiment = z.infer<typeof EmbodimentSchema>;
export type Joint = z.infer<typeof JointSchema>;
export type Gripper = z.infer<typeof GripperSchema>;
export type ActionSpace = z.infer<typeof ActionSpaceSchema>;

export const EMBODIMENT_NAMES = ["panda", "xarm6", "xarm7", "widowx_ai"] as const;
export type EmbodimentName = (typeof EMBODIMENT_NAMES)[number];
