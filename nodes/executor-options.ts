/**
 * The controller's ChunkExecutor options from the agent's parameters: one pure mapping, so
 * that what an operator sets in a params file is what the executor enforces (and a test can
 * say so without a ROS graph).
 */
import type { ExecutorOptions } from "../embodiments/control/index.ts";
import type { Embodiment } from "../embodiments/schema.ts";
import type { AgentParams } from "./params.ts";

/** `watchesCameras`: the controller is composed with the policy and sees the images' ages. */
export function executorOptions(
  params: AgentParams,
  emb: Embodiment,
  watchesCameras: boolean,
): ExecutorOptions {
  return {
    controlRateHz: params.control_rate_hz > 0 ? params.control_rate_hz : emb.driver.control_rate_hz,
    jointStateTimeoutSec: params.joint_state_timeout_s,
    // Composed, the controller sees the whole observation; alone, only the joints (the
    // policy stops producing chunks on a bad camera, and the starved queue brings the arm to rest).
    observationTimeoutSec: watchesCameras ? Math.max(0.5, params.image_timeout_s) : Infinity,
    velocityScale: params.velocity_scale,
    maxTableLiftM: params.table_lift_max_m,
    maxTimeScale: params.chunk_max_slowdown,
    blend: params.chunk_blend,
    ensembleDecayPerSec: params.chunk_ensemble_decay,
    dryRun: params.dry_run,
  };
}
