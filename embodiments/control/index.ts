export {
  CHUNK_REPAIR_DEFAULTS,
  ChunkExecutor,
  type ExecutorOptions,
  type SubmitInfo,
} from "./executor.ts";
export {
  ActionConverter,
  convertActions,
  actionWidth,
  gripperJointPosition,
  gripperWidth,
  rotationFromVector,
  poseFrom9,
  pose9,
  EE_POSE_SLACK,
  EE_POSE_ROW_STEP,
  type ConvertOptions,
  type GripperEncoding,
} from "./action-space.ts";
export { jointLimits, planningJerk, type JointLimits } from "./limits.ts";
export {
  checkChunk,
  checkShape,
  checkFinite,
  checkStamps,
  clipPositions,
  clipGripper,
  dynamicScale,
  checkJump,
  checkWorkspace,
  checkTrajectory,
  chunkPositionAt,
  type ChunkCheck,
  type ChunkCheckContext,
  type StampContext,
} from "./safety.ts";
export {
  Scheduler,
  DelayEstimator,
  smoothstep,
  type BlendMode,
  type SchedulerOptions,
} from "./scheduler.ts";
export { Streamer, type Drive, type StreamerOptions } from "./streamer.ts";
export {
  Watchdog,
  mostConservative,
  rampInScale,
  type Stage,
  type WatchdogOptions,
  type WatchdogInputs,
} from "./watchdog.ts";
export {
  brakeDistance,
  brakePeakVelocity,
  chooseJerk,
  desiredJerk,
  defaultGains,
  type TrackingGains,
} from "./profile.ts";
export type { Chunk, CheckResult, ControlOutput, ErrorState, Mode } from "./types.ts";
