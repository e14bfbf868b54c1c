import { fail, ok, type ErrorCode, type Result } from "../../lib/errors.ts";
import type { Embodiment } from "../schema.ts";
import { jointLimits, type JointLimits } from "./limits.ts";
import { checkChunk } from "./safety.ts";
import { DelayEstimator, Scheduler, type BlendMode } from "./scheduler.ts";
import { Streamer, type Drive } from "./streamer.ts";
import type { TrackingGains } from "./profile.ts";
import type { CheckResult, Chunk, ControlOutput, Mode } from "./types.ts";
import { rampInScale, Watchdog, type Stage } from "./watchdog.ts";

export interface ExecutorOptions {
  /** Tick rate (Hz); the definition's driver.control_rate_hz by default. */
  controlRateHz?: number;
  /** Points per emitted trajectory, one control period apart. */
  points?: number;
  blend?: BlendMode;
  /** Temporal-ensembling weight decay (1/s), ensemble mode only. */
  ensembleDecayPerSec?: number;
  /** Bounds of a new chunk's blend window (s); within them the window is the measured inference delay. */
  blendMinSec?: number;
  blendMaxSec?: number;
  /** Chunks kept at once. */
  capacity?: number;
  maxHorizon?: number;
  /** Planned motion keeps this far from the position limits (rad). */
  positionMarginRad?: number;
  /** Clipped chunk targets land this far inside the limits (rad). */
  clipMarginRad?: number;
  /** Chunk targets further outside the limits than this are rejected (rad). */
  rejectBeyondRad?: number;
  /** Largest slow-down applied to a chunk to respect the dynamic limits; beyond, rejected. */
  maxTimeScale?: number;
  /** Deepest TCP dip below the table plane + margin lifted rather than rejected (m); 0 = reject every dip. */
  maxTableLiftM?: number;
  /** Chunks older than this are stale (s). Default: ¾ of each chunk's own duration. */
  staleAfterSec?: number;
  futureToleranceSec?: number;
  jointStateTimeoutSec?: number;
  /** Infinity disables the observation monitor (for callers that have none). */
  observationTimeoutSec?: number;
  /** Ramp-in after activation (s). */
  rampInSec?: number;
  /** Global velocity scale, 0..1 (DESIGN decision 16). */
  velocityScale?: number;
  /** Compute everything, command nothing. */
  dryRun?: boolean;
  /** Control periods the acceleration takes at least to reach its limit. */
  smoothingTicks?: number;
  /** Forward-kinematics workspace and table check on each chunk. */
  checkWorkspace?: boolean;
  /** Inference-delay estimator: samples skipped at start, and median window. */
  delayWarmup?: number;
  delayWindow?: number;
  /** Velocity (rad/s) and acceleration (rad/s²) below which a deceleration counts as stopped. */
  restVelocity?: number;
  restAcceleration?: number;
  gains?: TrackingGains;
}

export interface SubmitInfo {
  /** This chunk's inference delay: arrival − observation stamp (s). */
  delaySec: number;
  /** Slow-down applied (1 = none). */
  timeScale: number;
  /** Window over which it takes over from what was executing (s). */
  blendSec: number;
  /** Repairs made (clips, time-scaling), each with its code and message. */
  repairs: CheckResult[];
}

const JOINT_LIMIT_TOLERANCE = 0.05;

/**
 * The chunk-repair bounds the executor uses unless told otherwise. A 3× slow-down keeps a
 * 0.8 s chunk under 2.5 s (a learned policy's chunks are rougher than the demonstrations it
 * copies: blm-tiny's WidowX chunks need 2–3× for its 3.14 rad/s² limit); beyond, the chunk is
 * not a motion the arm should try.
 */
export const CHUNK_REPAIR_DEFAULTS = {
  clipMarginRad: 0.01,
  rejectBeyondRad: 0.1,
  maxTimeScale: 3,
  maxTableLiftM: 0.05,
} as const;

/**
 * The chunk executor: takes checked joint-space chunks and the measured state, and at each
 * control tick produces a short trajectory that never violates a limit and is continuous
 * with the previous one. Pure TypeScript: time comes in as arguments, nothing is published.
 * The tick path does not allocate.
 */
export class ChunkExecutor {
  readonly emb: Embodiment;
  readonly limits: JointLimits;
  readonly periodSec: number;
  private readonly o: Required<
    Omit<ExecutorOptions, "staleAfterSec" | "gains" | "controlRateHz">
  > & { staleAfterSec: number | undefined };
  private readonly streamer: Streamer;
  private readonly scheduler: Scheduler;
  private readonly delay: DelayEstimator;
  private readonly watchdog: Watchdog;
  private readonly out: ControlOutput;

  private active = false;
  private dryRun: boolean;
  private globalScale: number;
  private rampStartSec = 0;
  private pendingReactivate = false;
  private readonly measured: Float64Array;
  private readonly hold: Float64Array;
  private lastJointSec = -Infinity;
  private lastObsSec = -Infinity;
  private lastTickSec = NaN;
  private gripperCmd = NaN;
  private lastStage: Stage = "run";

  constructor(emb: Embodiment, opts: ExecutorOptions = {}) {
    this.emb = emb;
    this.limits = jointLimits(emb);
    const rate = opts.controlRateHz ?? emb.driver.control_rate_hz;
    this.periodSec = 1 / rate;
    this.o = {
      points: opts.points ?? 4,
      blend: opts.blend ?? "receding",
      ensembleDecayPerSec: opts.ensembleDecayPerSec ?? 0,
      blendMinSec: opts.blendMinSec ?? 0.05,
      blendMaxSec: opts.blendMaxSec ?? 0.3,
      capacity: opts.capacity ?? 12,
      maxHorizon: opts.maxHorizon ?? 64,
      positionMarginRad: opts.positionMarginRad ?? 0.002,
      clipMarginRad: opts.clipMarginRad ?? CHUNK_REPAIR_DEFAULTS.clipMarginRad,
      rejectBeyondRad: opts.rejectBeyondRad ?? CHUNK_REPAIR_DEFAULTS.rejectBeyondRad,
      maxTimeScale: opts.maxTimeScale ?? CHUNK_REPAIR_DEFAULTS.maxTimeScale,
      maxTableLiftM: opts.maxTableLiftM ?? CHUNK_REPAIR_DEFAULTS.maxTableLiftM,
      staleAfterSec: opts.staleAfterSec,
      futureToleranceSec: opts.futureToleranceSec ?? 0.05,
      jointStateTimeoutSec: opts.jointStateTimeoutSec ?? Math.max(0.1, 5 * this.periodSec),
      observationTimeoutSec: opts.observationTimeoutSec ?? 0.5,
      rampInSec: opts.rampInSec ?? 1,
      velocityScale: opts.velocityScale ?? 1,
      dryRun: opts.dryRun ?? false,
      smoothingTicks: opts.smoothingTicks ?? 2,
      checkWorkspace: opts.checkWorkspace ?? true,
      delayWarmup: opts.delayWarmup ?? 3,
      delayWindow: opts.delayWindow ?? 15,
      restVelocity: opts.restVelocity ?? 1e-3,
      restAcceleration: opts.restAcceleration ?? 1e-2,
    };
    this.dryRun = this.o.dryRun;
    this.globalScale = clamp01(this.o.velocityScale);
    const n = this.limits.n;
    this.streamer = new Streamer(this.limits, {
      periodSec: this.periodSec,
      points: this.o.points,
      positionMarginRad: this.o.positionMarginRad,
      smoothingTicks: this.o.smoothingTicks,
      gains: opts.gains,
    });
    this.scheduler = new Scheduler(n, {
      mode: this.o.blend,
      capacity: this.o.capacity,
      maxHorizon: this.o.maxHorizon,
      ensembleDecayPerSec: this.o.ensembleDecayPerSec,
    });
    this.delay = new DelayEstimator(this.o.delayWarmup, this.o.delayWindow);
    this.watchdog = new Watchdog({
      jointStateTimeoutSec: this.o.jointStateTimeoutSec,
      observationTimeoutSec: this.o.observationTimeoutSec,
    });
    this.measured = new Float64Array(n);
    this.hold = new Float64Array(n);
    const s = this.streamer;
    this.out = {
      stampSec: 0,
      mode: "idle",
      stage: "idle",
      command: false,
      nJoints: n,
      nPoints: 0,
      timeFromStart: s.times,
      positions: s.p,
      velocities: s.v,
      accelerations: s.a,
      startPositions: s.startP,
      startVelocities: s.startV,
      startAccelerations: s.startA,
      gripper: NaN,
      velocityScale: 0,
      inferenceDelaySec: NaN,
      active: { code: null, message: "" },
      lastError: { code: null, message: "" },
    };
  }

  /** The jerk limit the output respects per joint (≤ the published one). */
  get planningJerk(): Float64Array {
    return this.streamer.jerk;
  }

  /** The tracking gains in use (1/s). */
  get gains(): TrackingGains {
    return this.streamer.gains;
  }

  get isActive(): boolean {
    return this.active;
  }

  /**
   * Starts commanding from the measured state: at rest there, with the allowed speed ramping
   * in from zero. `gripper` is the measured gripper position; without it no gripper target is
   * given until the first chunk.
   */
  activate(measured: ArrayLike<number>, nowSec: number, gripper?: number): Result<void> {
    const v = this.validateJoints(measured);
    if (!v.ok) return v;
    if (!Number.isFinite(nowSec))
      return fail("E_CONFIG", `activation time ${nowSec} is not finite`);
    const n = this.limits.n;
    for (let j = 0; j < n; j++) this.measured[j] = measured[j]!;
    this.streamer.reset(measured, nowSec);
    this.hold.set(this.streamer.startP);
    this.scheduler.clear();
    this.delay.reset();
    this.watchdog.reset();
    this.rampStartSec = nowSec;
    this.lastJointSec = nowSec;
    this.lastObsSec = nowSec;
    this.lastTickSec = nowSec;
    this.pendingReactivate = false;
    this.gripperCmd =
      gripper !== undefined && Number.isFinite(gripper) ? this.clampGripper(gripper) : NaN;
    this.active = true;
    return ok(undefined);
  }

  deactivate(): void {
    this.active = false;
    this.scheduler.clear();
  }

  setDryRun(on: boolean): void {
    this.dryRun = on;
  }

  /** Global velocity scale 0..1; lowering it while moving decelerates within the limits. */
  setVelocityScale(scale: number): void {
    this.globalScale = clamp01(scale);
  }

  updateJointState(
    q: ArrayLike<number>,
    qd: ArrayLike<number> | undefined,
    stampSec: number,
  ): Result<void> {
    const v = this.validateJoints(q);
    if (!v.ok) return v;
    if (qd !== undefined) {
      if (qd.length !== this.limits.n)
        return this.error(
          fail("E_JOINT_MISSING", `joint velocities: expected ${this.limits.n}, got ${qd.length}`),
        );
      for (let j = 0; j < qd.length; j++)
        if (!Number.isFinite(qd[j]!))
          return this.error(
            fail("E_JOINT_NONFINITE", `${this.limits.names[j]} velocity is ${qd[j]}`),
          );
    }
    if (!Number.isFinite(stampSec))
      return this.error(fail("E_JOINT_MISSING", `joint state stamp ${stampSec} is not a time`));
    if (stampSec < this.lastJointSec) return ok(undefined); // reordered delivery: keep the newer one
    for (let j = 0; j < this.limits.n; j++) this.measured[j] = q[j]!;
    this.lastJointSec = stampSec;
    return ok(undefined);
  }

  noteObservation(stampSec: number): void {
    if (Number.isFinite(stampSec) && stampSec > this.lastObsSec) this.lastObsSec = stampSec;
  }

  /** Latches an emergency stop: the next tick holds the commanded position, and every tick after, until clearEstop(). */
  estop(): void {
    this.watchdog.estop();
    this.scheduler.clear();
    this.pendingReactivate = false;
    this.setLastError("E_ESTOP", "estop: holding until cleared");
  }

  /** Unlatches the estop; the next tick re-activates from the latest measured state, ramping in. */
  clearEstop(): void {
    if (!this.watchdog.estopped) return;
    this.watchdog.clearEstop();
    this.pendingReactivate = true;
  }

  get estopped(): boolean {
    return this.watchdog.estopped;
  }

  /** Robust inference-delay estimate (s), NaN until enough chunks arrived. */
  inferenceDelaySec(): number {
    return this.delay.estimate();
  }

  /**
   * The joint target the executor is following at time t (the blended chunk reference, or the
   * hold). Delta action spaces accumulate from this, not from the noisy measurement.
   */
  targetAt(tSec: number, out: Float64Array = new Float64Array(this.limits.n)): Float64Array {
    if (this.scheduler.size === 0) out.set(this.hold);
    else this.scheduler.evaluate(tSec, out, 0);
    return out;
  }

  submitChunk(chunk: Chunk, nowSec: number): Result<SubmitInfo> {
    if (!this.active) return this.error(fail("E_CONFIG", "executor is not active; chunk ignored"));
    if (this.watchdog.estopped)
      return this.error(fail("E_ESTOP", "estopped; chunk ignored until the estop is cleared"));
    const delaySec = nowSec - chunk.stampSec;
    const chunkSec = chunk.horizon * chunk.dt;
    const staleAfterSec = this.o.staleAfterSec ?? (Number.isFinite(chunkSec) ? 0.75 * chunkSec : 0);
    const res = checkChunk(chunk, {
      emb: this.emb,
      limits: this.limits,
      maxHorizon: this.o.maxHorizon,
      measured: this.measured,
      nowSec,
      lastStampSec: this.scheduler.lastStampSec,
      staleAfterSec,
      futureToleranceSec: this.o.futureToleranceSec,
      clipMarginRad: this.o.clipMarginRad,
      rejectBeyondRad: this.o.rejectBeyondRad,
      maxTimeScale: this.o.maxTimeScale,
      maxTableLiftM: this.o.maxTableLiftM,
      skipWorkspace: !this.o.checkWorkspace,
    });
    // Every chunk that is in order measures the delay, stale ones included: they are the
    // evidence that inference is slow.
    if (res.result.code !== "E_CHUNK_ORDER" && res.result.code !== "E_CHUNK_SHAPE")
      this.delay.add(delaySec);
    if (!res.chunk) {
      const r = res.result;
      return this.error(fail(r.code ?? "E_CHUNK_LIMIT", r.message));
    }
    const est = this.delay.estimate();
    const d = Number.isFinite(est) ? est : delaySec;
    const remaining = res.chunk.stampSec + res.chunk.horizon * res.chunk.dt - nowSec;
    const blendSec = Math.min(
      Math.max(d, this.o.blendMinSec),
      this.o.blendMaxSec,
      Math.max(this.periodSec, 0.5 * remaining),
    );
    const baseGripper = Number.isFinite(this.gripperCmd) ? this.gripperCmd : res.chunk.gripper[0]!;
    this.scheduler.add(res.chunk, nowSec, blendSec, this.hold, baseGripper);
    for (const r of res.repairs) this.setLastError(r.code!, r.message);
    return ok({ delaySec, timeScale: res.chunk.dt / chunk.dt, blendSec, repairs: res.repairs });
  }

  /** One control tick. The returned object is reused: valid until the next tick. */
  tick(nowSec: number): ControlOutput {
    const out = this.out;
    out.stampSec = nowSec;
    out.inferenceDelaySec = this.delay.estimate();
    if (!this.active || !Number.isFinite(nowSec)) {
      out.mode = out.stage = "idle";
      out.command = false;
      out.nPoints = 0;
      out.velocityScale = 0;
      return out;
    }
    const s = this.streamer;
    const n = this.limits.n;
    s.advance(nowSec);
    if (this.pendingReactivate) {
      this.pendingReactivate = false;
      s.reset(this.measured, nowSec);
      this.hold.set(s.startP);
      this.scheduler.clear();
      this.watchdog.reset();
      this.rampStartSec = nowSec;
    }
    // The reference is sampled from one period back (for its derivatives): keep what that needs.
    this.scheduler.prune(nowSec - this.periodSec);
    const starved = this.scheduler.size > 0 && nowSec > this.scheduler.endSec();
    const stage = this.watchdog.update({
      nowSec,
      lastJointStateSec: this.lastJointSec,
      lastObservationSec: this.lastObsSec,
      starved,
      atRest: s.atRest(this.o.restVelocity, this.o.restAcceleration),
    });
    if (stage === "hold" && this.lastStage !== "hold") {
      // Came to rest after a fault: forget the chunks (new ones are checked against where
      // the arm is now) and hold here.
      this.scheduler.clear();
      this.hold.set(s.startP);
    }
    const ramp = rampInScale(nowSec, this.rampStartSec, this.o.rampInSec);
    const scale = Math.min(this.globalScale, ramp);
    let mode: Mode;
    let check: CheckResult | null = null;
    if (stage === "estop") {
      if (this.lastStage !== "estop") this.hold.set(s.startP);
      s.holdFromStart(nowSec);
      mode = "estopped";
    } else {
      let drive: Drive;
      const ref = s.ref;
      if (stage === "decelerate") {
        drive = "stop";
        mode = "decelerating";
      } else if (stage === "hold" || this.scheduler.size === 0) {
        drive = "hold";
        ref.set(this.hold);
        mode = ramp < 1 ? "ramp_in" : "holding";
      } else {
        drive = "track";
        const { lower, upper } = this.limits;
        const m = this.o.positionMarginRad;
        let gRef = NaN;
        for (let i = 0; i <= s.k + 1; i++) {
          const g = this.scheduler.evaluate(nowSec + (i - 1) * this.periodSec, ref, i * n);
          if (i === 2) gRef = g;
          for (let j = 0; j < n; j++) {
            const x = ref[i * n + j]!,
              lo = lower[j]! + m,
              hi = upper[j]! - m;
            ref[i * n + j] = x < lo ? lo : x > hi ? hi : x;
          }
        }
        this.stepGripper(gRef, nowSec, scale);
        mode = ramp < 1 ? "ramp_in" : "tracking";
      }
      check = s.plan(drive, scale);
      if (!check.ok) {
        this.hold.set(s.startP);
        this.scheduler.clear();
        this.setLastError(check.code ?? "E_CHUNK_LIMIT", check.message);
      }
    }
    this.lastStage = stage;
    this.lastTickSec = nowSec;
    out.stage = mode;
    out.mode = this.dryRun && mode !== "estopped" ? "dry_run" : mode;
    out.command = !this.dryRun;
    out.nPoints = s.k;
    out.gripper = this.gripperCmd;
    out.velocityScale = stage === "run" ? scale : 0;
    if (check && !check.ok) {
      out.active.code = check.code;
      out.active.message = check.message;
    } else {
      out.active.code = this.watchdog.code;
      out.active.message = this.watchdog.message;
      if (this.watchdog.code && this.watchdog.code !== out.lastError.code)
        this.setLastError(this.watchdog.code, this.watchdog.message);
    }
    return out;
  }

  private stepGripper(gRef: number, nowSec: number, scale: number): void {
    if (!Number.isFinite(gRef)) return;
    const target = this.clampGripper(gRef);
    if (!Number.isFinite(this.gripperCmd)) {
      this.gripperCmd = target;
      return;
    }
    const dt = Number.isFinite(this.lastTickSec)
      ? Math.max(0, nowSec - this.lastTickSec)
      : this.periodSec;
    const step = this.emb.gripper.velocity * Math.max(scale, 0) * dt;
    const d = target - this.gripperCmd;
    this.gripperCmd += d > step ? step : d < -step ? -step : d;
  }

  private clampGripper(g: number): number {
    const { lower, upper } = this.emb.gripper.position;
    return g < lower ? lower : g > upper ? upper : g;
  }

  private validateJoints(q: ArrayLike<number>): Result<void> {
    const n = this.limits.n;
    if (!q || q.length !== n)
      return this.error(
        fail(
          "E_JOINT_MISSING",
          `joint positions: expected ${n} (${this.limits.names.join(", ")}), got ${q?.length}`,
        ),
      );
    for (let j = 0; j < n; j++) {
      const x = q[j]!;
      if (!Number.isFinite(x))
        return this.error(fail("E_JOINT_NONFINITE", `${this.limits.names[j]} position is ${x}`));
      if (
        x < this.limits.lower[j]! - JOINT_LIMIT_TOLERANCE ||
        x > this.limits.upper[j]! + JOINT_LIMIT_TOLERANCE
      )
        return this.error(
          fail(
            "E_JOINT_OUT_OF_LIMIT",
            `${this.limits.names[j]} at ${x} rad is outside [${this.limits.lower[j]}, ${this.limits.upper[j]}]`,
          ),
        );
    }
    return ok(undefined);
  }

  private error<T>(r: Result<T>): Result<T> {
    if (!r.ok) this.setLastError(r.error.code, r.error.message.slice(r.error.code.length + 2));
    return r;
  }

  private setLastError(code: ErrorCode, message: string): void {
    this.out.lastError.code = code;
    this.out.lastError.message = message;
  }
}

function clamp01(x: number): number {
  return x > 0 ? (x < 1 ? x : 1) : 0;
}
