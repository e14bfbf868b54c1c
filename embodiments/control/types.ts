import type { ErrorCode } from "../../lib/errors.ts";

/**
 * An action chunk in executable joint space (DESIGN decision 3): absolute arm joint targets
 * plus gripper joint targets, in embodiment units. Point k is the target for
 * `stampSec + (k + 1) * dt`: a model's first action is where to be one step after the
 * observation it saw, as in ManiSkill's pd_joint_pos and joint_trajectory_controller's
 * time_from_start.
 */
export interface Chunk {
  /** Time of the observation the chunk was computed from (s, the node's clock). */
  stampSec: number;
  /** Step between points (s). */
  dt: number;
  horizon: number;
  /** horizon × nJoints, row-major (rad). */
  positions: Float64Array;
  /** Optional horizon × nJoints (rad/s); when absent, tangents come from the positions. */
  velocities?: Float64Array | undefined;
  /** horizon gripper joint targets (joint units). */
  gripper: Float64Array;
}

/**
 * Result of one safety check (STYLE.md 5): never thrown. `ok` with a null code is clean;
 * `ok` with a code means the input was repaired (clipped, time-scaled) and says how;
 * not `ok` means rejected.
 */
export interface CheckResult {
  ok: boolean;
  code: ErrorCode | null;
  message: string;
  /** Time scale (≥ 1) the chunk needs to respect the dynamic limits, where one applies. */
  scale?: number;
}

export const PASS: CheckResult = Object.freeze({
  ok: true,
  code: null,
  message: "",
}) as CheckResult;

export function reject(code: ErrorCode, message: string): CheckResult {
  return { ok: false, code, message };
}

export function repaired(code: ErrorCode, message: string, scale?: number): CheckResult {
  return scale === undefined ? { ok: true, code, message } : { ok: true, code, message, scale };
}

/** What the executor is doing this tick. */
export type Mode =
  "idle" | "ramp_in" | "tracking" | "decelerating" | "holding" | "estopped" | "dry_run";

export interface ErrorState {
  code: ErrorCode | null;
  message: string;
}

/**
 * One control tick's output. Preallocated and reused by the executor: valid until the next
 * tick; copy what you keep.
 *
 * The trajectory starts at `stampSec` in the state `start*` (what the previous tick's
 * trajectory commands at this instant, so the joint_trajectory_controller's "state before
 * the trajectory" matches) and has `nPoints` points at `timeFromStart[k]` after it. Between
 * points the jerk is constant, so the controller's quintic (p, v, a) interpolation — and its
 * cubic one when accelerations are dropped — reproduces exactly what was checked.
 */
export interface ControlOutput {
  stampSec: number;
  mode: Mode;
  /** The underlying stage when mode is dry_run (otherwise equal to mode). */
  stage: Mode;
  /** False when nothing must be sent to the robot (idle, dry run). */
  command: boolean;
  nJoints: number;
  nPoints: number;
  /** s, strictly increasing, > 0. */
  timeFromStart: Float64Array;
  /** nPoints × nJoints row-major. */
  positions: Float64Array;
  velocities: Float64Array;
  accelerations: Float64Array;
  startPositions: Float64Array;
  startVelocities: Float64Array;
  startAccelerations: Float64Array;
  /** Gripper joint target (joint units). */
  gripper: number;
  /** The velocity scale in force (global scale × ramp-in × watchdog), 0..1. */
  velocityScale: number;
  /** Robust estimate of chunk inference delay (s), NaN until measured. */
  inferenceDelaySec: number;
  /** The condition limiting motion this tick (null code when none). */
  active: ErrorState;
  /** The most recent error of any kind (sticky until a newer one). */
  lastError: ErrorState;
}
