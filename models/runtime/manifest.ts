import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { fail, ok, type Result } from "../../lib/errors.ts";
import { QwenBackboneSchema } from "./qwen/schema.ts";

/**
 * The model folder's manifest.json: what each graph takes and returns, how to prepare its inputs
 * and how to read its outputs. Written by models/tools (Python), parsed here, then checked against
 * the graphs themselves when they load (graph.ts).
 */

const finite = () => z.number().finite();
const posInt = () => z.number().int().positive();

export const DTypeSchema = z.enum(["float32", "int64", "int32", "uint8", "bool", "float16"]);
export type DType = z.infer<typeof DTypeSchema>;

/** A dimension: a static size or a symbolic name (e.g. "batch"). */
export const DimSchema = z.union([z.number().int().nonnegative(), z.string().min(1)]);
export type Dim = z.infer<typeof DimSchema>;

export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: DTypeSchema,
  shape: z.array(DimSchema),
});
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

export const GraphSpecSchema = z.object({
  file: z
    .string()
    .min(1)
    .refine(
      (f) => !f.includes("..") && !f.startsWith("/"),
      "must be a file inside the model folder",
    ),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits"),
  inputs: z.array(TensorSpecSchema).min(1),
  outputs: z.array(TensorSpecSchema).min(1),
});
export type GraphSpec = z.infer<typeof GraphSpecSchema>;

export const NormalizationSchema = z.discriminatedUnion("mode", [
  z.object({
    mode: z
      .literal("min_max")
      .describe(
        "x_norm = 2 (x - min) / (max - min) - 1; actions are clipped to [-1, 1] before denormalizing",
      ),
    min: z.array(finite()).min(1),
    max: z.array(finite()).min(1),
  }),
  z.object({
    mode: z.literal("mean_std").describe("x_norm = (x - mean) / std"),
    mean: z.array(finite()).min(1),
    std: z.array(z.number().finite().positive()).min(1),
  }),
]);
export type Normalization = z.infer<typeof NormalizationSchema>;

const VectorMapSchema = z.object({
  /** Index in the padded model vector of each dimension (arm joints in order, then the gripper). */
  indices: z.array(z.number().int().nonnegative()).min(1),
  /** Statistics in embodiment units (rad, m), one entry per index. */
  normalization: NormalizationSchema,
});

/**
 * The arm joints' measured velocities in the state (a model trained with them; absent: positions
 * only). Velocities are centred on zero, so a scale alone maps rad/s to normalized units.
 */
const StateVelocitySchema = z.object({
  /** Index in the padded state vector of each arm joint's velocity, in `joint_names` order. */
  indices: z.array(z.number().int().nonnegative()).min(1),
  /** Normalized units per rad/s, one per index. */
  scale: z.array(z.number().finite().positive()).min(1),
});

/**
 * A TCP pose as nine numbers (ee_pose models): the position (m, world frame), then the rotation
 * matrix's first and second columns (a continuous representation; the third is their cross product).
 */
export const POSE9_NAMES = [
  "tcp_x",
  "tcp_y",
  "tcp_z",
  "tcp_r00",
  "tcp_r10",
  "tcp_r20",
  "tcp_r01",
  "tcp_r11",
  "tcp_r21",
] as const;

export const EmbodimentModelSchema = z.object({
  /** Index of this embodiment's weights in the per-embodiment encoders/decoders. */
  id: z.number().int().nonnegative(),
  /** Arm joint names, in the order of `indices` (the gripper comes last, named in `gripper`). */
  joint_names: z.array(z.string().min(1)).min(1),
  gripper: z.object({
    /** The gripper joint (the last entry of every vector). */
    name: z.string().min(1),
    /** `width`: jaw opening in m (DESIGN decision 3); `joint_position`: gripper joint units (m or rad). */
    value: z.enum(["width", "joint_position"]),
  }),
  /** ee_pose: each action row is the TCP pose (POSE9_NAMES) then the gripper; the runtime solves the IK. */
  action_space: z.enum(["absolute_joint", "delta_joint", "ee_delta", "ee_pose"]),
  state: VectorMapSchema.extend({
    velocity: StateVelocitySchema.optional(),
    /** The measured joints' TCP pose (forward kinematics), POSE9_NAMES order: required by ee_pose. */
    tcp: VectorMapSchema.optional(),
  }),
  action: VectorMapSchema,
});
export type EmbodimentModel = z.infer<typeof EmbodimentModelSchema>;

export const TokenizerSchema = z.discriminatedUnion("kind", [
  z.object({
    /** [bos] + (UTF-8 bytes + byte_offset) + [eos], truncated and padded to max_length. */
    kind: z.literal("bytes"),
    max_length: posInt(),
    vocab_size: posInt(),
    pad_id: z.number().int().nonnegative(),
    bos_id: z.number().int().nonnegative(),
    eos_id: z.number().int().nonnegative(),
    byte_offset: z.number().int().nonnegative(),
  }),
  z.object({
    /** A Hugging Face tokenizer.json in the model folder (Qwen2.5-VL); its own issue implements it. */
    kind: z.literal("tokenizer_json"),
    file: z.string().min(1),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    max_length: posInt(),
    pad_id: z.number().int().nonnegative(),
    chat_template: z.string().optional(),
  }),
]);
export type TokenizerSpec = z.infer<typeof TokenizerSchema>;

export const ImageSpecSchema = z.object({
  height: posInt().describe("px after resize"),
  width: posInt().describe("px after resize"),
  resize: z.enum(["bilinear", "nearest"]),
  /** Multiplies the 0..255 pixel values before mean/std (1/255 usually). */
  rescale: z.number().finite().positive(),
  mean: z.tuple([finite(), finite(), finite()]),
  std: z.tuple([
    z.number().finite().positive(),
    z.number().finite().positive(),
    z.number().finite().positive(),
  ]),
  channel_order: z.enum(["rgb", "bgr"]),
});
export type ImageSpec = z.infer<typeof ImageSpecSchema>;

/** The three graphs every model folder has, and the tensors the runtime feeds and reads by name. */
export const GRAPH_TENSORS = {
  backbone: {
    inputs: ["pixel_values", "input_ids", "attention_mask"],
    outputs: ["hidden_states", "hidden_mask"],
  },
  intent_bridge: { inputs: ["hidden_states", "hidden_mask"], outputs: ["intent"] },
  denoiser: {
    inputs: ["noisy_actions", "flow_time", "state", "embodiment_id", "intent"],
    outputs: ["velocity"],
  },
} as const;
export type GraphName = keyof typeof GRAPH_TENSORS;
export const GRAPH_NAMES = Object.keys(GRAPH_TENSORS) as GraphName[];

export const ManifestSchema = z
  .object({
    format: z.literal("blm-model/1"),
    name: z.string().min(1),
    description: z.string().default(""),
    created_by: z.string().optional(),
    /** The tools' size config, kept for provenance; the runtime reads the typed fields below. */
    config: z.record(z.string(), z.unknown()).optional(),
    graphs: z.object({
      /** The stand-in backbone; a qwen2_5_vl backbone names its three graphs in backbone.qwen2_5_vl. */
      backbone: GraphSpecSchema.optional(),
      intent_bridge: GraphSpecSchema,
      denoiser: GraphSpecSchema,
    }),
    backbone: z.object({
      /** `standin`: the small test backbone; `qwen2_5_vl`: the real export (its own issue). */
      kind: z.enum(["standin", "qwen2_5_vl"]),
      layer_k: z
        .number()
        .int()
        .nonnegative()
        .describe("hidden states after this many layers feed the intent bridge"),
      hidden_dim: posInt(),
      cameras: z
        .array(z.string().min(1))
        .min(1)
        .describe("camera names, in the order of pixel_values' camera axis"),
      /** The exported Qwen2.5-VL graphs and their preprocessing (kind qwen2_5_vl; runtime/qwen/). */
      qwen2_5_vl: QwenBackboneSchema.optional(),
    }),
    image: ImageSpecSchema,
    tokenizer: TokenizerSchema,
    intent: z.object({
      /** The intent bridge's output tokens for one frame (a set of camera images). */
      tokens: posInt(),
      dim: posInt(),
      /**
       * Whose intents the denoiser's context holds, in order: the current frames' only, or the
       * goal's first frames' (encoded once per goal) followed by the current ones. The denoiser
       * then takes tokens × frames.length tokens.
       */
      frames: z
        .union([
          z.tuple([z.literal("current")]),
          z.tuple([z.literal("goal"), z.literal("current")]),
        ])
        .default(["current"]),
    }),
    policy: z.object({
      horizon: posInt(),
      action_dim: posInt().max(32),
      state_dim: posInt().max(64),
      action_dt: z
        .number()
        .finite()
        .positive()
        .describe("s between consecutive actions of a chunk"),
      flow_matching: z.object({
        /** x_t = (1 - t) noise + t action, t from 0 (noise) to 1 (data); the graph predicts action - noise. */
        path: z.literal("linear"),
        solver: z.literal("euler"),
        default_steps: posInt().max(100),
        time_scale: z.number().finite().positive().optional(),
      }),
    }),
    embodiments: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), EmbodimentModelSchema),
  })
  .superRefine((m, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    if (m.backbone.kind === "standin" && !m.graphs.backbone)
      issue(["graphs", "backbone"], "the standin backbone needs its graph");
    if (m.backbone.kind === "qwen2_5_vl" && !m.backbone.qwen2_5_vl)
      issue(
        ["backbone", "qwen2_5_vl"],
        "kind qwen2_5_vl needs the qwen2_5_vl section (qwen_export writes it)",
      );
    for (const [name, e] of Object.entries(m.embodiments)) {
      const joints = e.joint_names.length + 1;
      const ee = e.action_space === "ee_pose";
      if (ee !== (e.state.tcp !== undefined))
        issue(
          ["embodiments", name, "state", "tcp"],
          ee ? "an ee_pose model needs state.tcp" : "state.tcp is read by ee_pose models only",
        );
      const vectors = [
        { key: "state", v: e.state, n: joints, what: "joints + gripper" },
        {
          key: "action",
          v: e.action,
          n: ee ? POSE9_NAMES.length + 1 : joints,
          what: ee ? "TCP pose + gripper" : "joints + gripper",
        },
        ...(e.state.tcp
          ? [{ key: "state.tcp", v: e.state.tcp, n: POSE9_NAMES.length, what: "TCP pose" }]
          : []),
      ];
      for (const { key, v, n, what } of vectors) {
        const limit = key === "action" ? m.policy.action_dim : m.policy.state_dim;
        const at = ["embodiments", name, ...key.split(".")];
        if (v.indices.length !== n) issue([...at, "indices"], `needs ${n} indices (${what})`);
        if (new Set(v.indices).size !== v.indices.length)
          issue([...at, "indices"], "indices repeat");
        if (v.indices.some((i) => i >= limit))
          issue(
            [...at, "indices"],
            `index beyond ${key === "action" ? "action" : "state"}_dim ${limit}`,
          );
        const norm = v.normalization;
        const lens =
          norm.mode === "min_max"
            ? [norm.min.length, norm.max.length]
            : [norm.mean.length, norm.std.length];
        if (lens.some((l) => l !== v.indices.length))
          issue([...at, "normalization"], `statistics need ${v.indices.length} entries`);
        if (norm.mode === "min_max" && norm.min.some((lo, i) => !(lo < (norm.max[i] ?? -Infinity))))
          issue([...at, "normalization"], "min must be below max");
      }
      const tcp = e.state.tcp;
      if (tcp && tcp.indices.some((i) => e.state.indices.includes(i)))
        issue(["embodiments", name, "state", "tcp", "indices"], "overlap the position indices");
      const vel = e.state.velocity;
      if (vel) {
        const path = ["embodiments", name, "state", "velocity"];
        const joints = e.joint_names.length;
        if (vel.indices.length !== joints)
          issue([...path, "indices"], `needs ${joints} indices (one per arm joint)`);
        if (vel.scale.length !== vel.indices.length)
          issue([...path, "scale"], `needs ${vel.indices.length} entries`);
        const taken = new Set([...e.state.indices, ...(e.state.tcp?.indices ?? [])]);
        if (
          new Set(vel.indices).size !== vel.indices.length ||
          vel.indices.some((i) => taken.has(i))
        )
          issue([...path, "indices"], "indices repeat or overlap the position or TCP indices");
        if (vel.indices.some((i) => i >= m.policy.state_dim))
          issue([...path, "indices"], `index beyond state_dim ${m.policy.state_dim}`);
      }
    }
    // The intent input's token axis, where the graph states it, fits the context intent.frames makes.
    const intentInput = m.graphs.denoiser.inputs?.find((x) => x.name === "intent");
    const tokensAxis = intentInput?.shape[1];
    const wanted = m.intent.tokens * m.intent.frames.length;
    if (typeof tokensAxis === "number" && tokensAxis !== wanted)
      issue(
        ["intent", "frames"],
        `the denoiser's intent input takes ${tokensAxis} tokens; ${m.intent.frames.join(" + ")} of ${m.intent.tokens} make ${wanted}`,
      );
    const ids = Object.values(m.embodiments).map((e) => e.id);
    if (new Set(ids).size !== ids.length) issue(["embodiments"], "embodiment ids repeat");
  });
export type Manifest = z.infer<typeof ManifestSchema>;

/** The denoiser's intent length in tokens: the bridge's once per frame of its context. */
export function contextTokens(m: Pick<Manifest, "intent">): number {
  return m.intent.tokens * m.intent.frames.length;
}

function formatZodError(e: z.ZodError): string {
  return e.issues
    .slice(0, 5)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/** Parses a manifest object (already read from JSON). */
export function parseManifest(raw: unknown, source = "manifest.json"): Result<Manifest> {
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success)
    return fail(
      "E_MODEL_CORRUPT",
      `${source} is not a valid model manifest: ${formatZodError(parsed.error)}`,
      {
        file: source,
      },
    );
  return ok(parsed.data);
}

/** Reads and validates `<dir>/manifest.json`. */
export async function loadManifest(dir: string): Promise<Result<Manifest>> {
  const file = join(dir, "manifest.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    return fail("E_MODEL_MISSING", `cannot read ${file}: ${(e as Error).message}`, { file });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail("E_MODEL_CORRUPT", `${file} is not JSON: ${(e as Error).message}`, { file });
  }
  return parseManifest(raw, file);
}
