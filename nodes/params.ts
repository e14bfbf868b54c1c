import { z } from "zod";
import { CHUNK_REPAIR_DEFAULTS } from "../embodiments/control/executor.ts";
import { EMBODIMENT_NAMES } from "../embodiments/schema.ts";
import { ExecutionProviderSchema } from "../models/runtime/session.ts";

/**
 * The agent's ROS parameters: one zod schema, the single source for the parameter
 * declarations (descriptions with units, ranges, read-only flags), for validation of values
 * from the command line or a YAML params file, for the launch-file checks and for the
 * README's parameter table. `.describe()` text is the ROS descriptor's description.
 */
/** The default model folder, relative to the repository: the agent's, the demo's and the eval's. */
export const DEFAULT_MODEL = "models/blm-tiny";

export const AgentParamsSchema = z.object({
  embodiment: z
    .enum(EMBODIMENT_NAMES)
    .describe("Robot: panda | xarm6 | xarm7 | widowx_ai (read-only)"),
  joint_prefix: z
    .string()
    .default("")
    .describe(
      "Joint-name prefix where the driver uses another (Panda: panda_, fer_, fr3_); empty = definition's default (read-only)",
    ),
  model: z
    .string()
    .min(1)
    .default(DEFAULT_MODEL)
    .describe("Model folder with manifest.json (read-only)"),
  execution_provider: ExecutionProviderSchema.default("auto").describe(
    "ONNX execution provider: auto (CUDA when it loads, else CPU) | cuda | webgpu | cpu (read-only)",
  ),
  intra_op_threads: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe("onnxruntime intra-op threads per session"),
  cameras: z
    .array(z.string().regex(/^[a-z][a-z0-9_]*$/))
    .min(1)
    .default(["front", "wrist"])
    .describe("Camera names; each subscribes /camera/<name>/image_raw[/compressed]"),
  image_transport: z
    .enum(["raw", "compressed"])
    .default("raw")
    .describe("raw (sensor_msgs/Image) | compressed (jpeg/png)"),
  control_rate_hz: z
    .number()
    .min(0)
    .max(1000)
    .default(0)
    .describe("Trajectory stream rate, Hz; 0 = the embodiment's default"),
  chunk_rate_hz: z
    .number()
    .min(0.1)
    .max(100)
    .default(10)
    .describe("Action-chunk sampling rate, Hz"),
  intent_period_s: z.number().min(0.05).max(600).default(2).describe("Intent refresh period, s"),
  denoise_steps: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(4)
    .describe("Flow-matching integration steps per chunk"),
  noise_scale: z
    .number()
    .min(0)
    .max(1)
    .default(1)
    .describe(
      "Scale of the sampler's initial noise: 1 = the trained distribution, 0 = deterministic chunks",
    ),
  trajectory_topic: z
    .string()
    .default("")
    .describe("Arm JointTrajectory topic; empty = the embodiment's driver default"),
  use_sim_time: z.boolean().default(false).describe("Use /clock (simulation time)"),
  joint_state_timeout_s: z
    .number()
    .min(0.01)
    .max(10)
    .default(0.2)
    .describe("Joint state older than this is stale, s"),
  image_timeout_s: z
    .number()
    .min(0.05)
    .max(10)
    .default(1)
    .describe("Camera image older than this is stale, s"),
  instruction_max_bytes: z
    .number()
    .int()
    .min(16)
    .max(65536)
    .default(512)
    .describe("Longest accepted instruction, bytes (UTF-8)"),
  velocity_scale: z
    .number()
    .min(0)
    .max(1)
    .default(1)
    .describe("Global velocity scale applied to every limit, 0..1"),
  table_lift_max_m: z
    .number()
    .min(0)
    .max(0.1)
    .default(CHUNK_REPAIR_DEFAULTS.maxTableLiftM)
    .describe(
      "Chunk points whose TCP dips up to this far below the table plane + margin are lifted back above it (local IK); deeper dips reject the chunk; 0 = reject every dip, m",
    ),
  chunk_max_slowdown: z
    .number()
    .min(1)
    .max(10)
    .default(CHUNK_REPAIR_DEFAULTS.maxTimeScale)
    .describe(
      "Largest slow-down of a chunk's timing to bring its velocity, acceleration and jerk within the limits; a chunk needing more is rejected, ×",
    ),
  chunk_blend: z
    .enum(["receding", "ensemble"])
    .default("receding")
    .describe(
      "receding (each new chunk takes over from the previous one) | ensemble (temporal ensembling: the weighted mean of every chunk covering the time)",
    ),
  chunk_ensemble_decay: z
    .number()
    .min(-20)
    .max(20)
    .default(0)
    .describe(
      "ensemble weights exp(-decay * chunk age): > 0 favours newer chunks, < 0 older ones, 0 is a plain mean, 1/s",
    ),
  dry_run: z.boolean().default(false).describe("Compute and publish chunks, command nothing"),
  success_topic: z
    .string()
    .default("")
    .describe("std_msgs/Bool success flag watched by /blm/execute; empty = none"),
  execute_timeout_s: z
    .number()
    .min(0.1)
    .max(3600)
    .default(20)
    .describe("Default /blm/execute timeout, s"),
  autostart: z
    .boolean()
    .default(false)
    .describe(
      "Activate on start-up (otherwise an operator activates: blm/change_state, or an Execute goal)",
    ),
  trajectory_stamp: z
    .enum(["now", "zero"])
    .default("now")
    .describe(
      "JointTrajectory header.stamp: now (the node's ROS time) | zero (the controller starts it on receipt)",
    ),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(0)
    .describe("Seed of the policy's noise"),
});

export type AgentParams = z.infer<typeof AgentParamsSchema>;
export type AgentParamsInput = z.input<typeof AgentParamsSchema>;
export const AGENT_PARAMETER_NAMES = Object.keys(AgentParamsSchema.shape) as Array<
  keyof AgentParams
>;
