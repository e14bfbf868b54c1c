import type { ErrorCode } from "../../lib/errors.ts";

/**
 * The staged watchdog. Monitors do not move the arm themselves: each yields a stage (or a
 * velocity scale) and the executor obeys the most conservative one (STYLE.md 5).
 *
 *   run ──fault──▶ decelerate ──at rest──▶ hold ──fault gone──▶ run
 *    any ──estop()──▶ estop ──clearEstop()──▶ (executor re-activates from the measured state)
 *
 * Faults: no joint state for jointStateTimeoutSec, no observation for
 * observationTimeoutSec, or the chunk queue starved (the newest chunk's last point is past).
 * Decelerating brakes within the acceleration and jerk limits to zero velocity; holding then
 * keeps the position where the arm came to rest. An estop latches until cleared explicitly.
 */
export type Stage = "run" | "decelerate" | "hold" | "estop";

const SEVERITY: Record<Stage, number> = { run: 0, decelerate: 1, hold: 2, estop: 3 };

/** The more conservative of two stages. */
export function mostConservative(a: Stage, b: Stage): Stage {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}

export interface WatchdogOptions {
  /** s without a joint state before decelerating. */
  jointStateTimeoutSec: number;
  /** s without an observation before decelerating (Infinity disables). */
  observationTimeoutSec: number;
}

export interface WatchdogInputs {
  nowSec: number;
  lastJointStateSec: number;
  lastObservationSec: number;
  /** The newest chunk has ended and nothing replaced it. */
  starved: boolean;
  /** The commanded motion is at rest (decelerate → hold). */
  atRest: boolean;
}

export class Watchdog {
  stage: Stage = "run";
  code: ErrorCode | null = null;
  message = "";
  private latched = false;

  constructor(readonly opts: WatchdogOptions) {}

  get estopped(): boolean {
    return this.latched;
  }

  estop(): void {
    this.latched = true;
    this.stage = "estop";
    this.code = "E_ESTOP";
    this.message = "estop: holding until cleared";
  }

  /** Unlatches; the caller decides how motion resumes (ramp-in from the measured state). */
  clearEstop(): void {
    this.latched = false;
    this.stage = "hold";
    this.code = null;
    this.message = "";
  }

  reset(): void {
    this.latched = false;
    this.stage = "run";
    this.code = null;
    this.message = "";
  }

  /** Advances the stage machine for this tick and returns the stage. */
  update(x: WatchdogInputs): Stage {
    if (this.latched) return (this.stage = "estop");
    const jointAge = x.nowSec - x.lastJointStateSec;
    const obsAge = x.nowSec - x.lastObservationSec;
    let fault = true;
    if (!(jointAge <= this.opts.jointStateTimeoutSec)) {
      this.code = "E_STALE_JOINT_STATE";
      this.message = `no joint state for ${jointAge.toFixed(3)} s (limit ${this.opts.jointStateTimeoutSec} s)`;
    } else if (!(obsAge <= this.opts.observationTimeoutSec)) {
      this.code = "E_STALE_IMAGE";
      this.message = `no valid observation for ${obsAge.toFixed(3)} s (limit ${this.opts.observationTimeoutSec} s)`;
    } else if (x.starved) {
      this.code = "E_CHUNK_STALE";
      this.message = "chunk queue starved: the last chunk has ended";
    } else {
      fault = false;
    }
    if (!fault) {
      this.code = null;
      this.message = "";
      return (this.stage = "run");
    }
    if (this.stage === "run") this.stage = "decelerate";
    if (this.stage === "decelerate" && x.atRest) this.stage = "hold";
    return this.stage;
  }
}

/**
 * Velocity scale of the ramp-in after activation (DESIGN decision 16): rises from 0 to 1
 * over durationSec with zero slope at both ends, so the allowed speed grows gently from the
 * measured state instead of the arm lunging at the first chunk's target.
 */
export function rampInScale(nowSec: number, startSec: number, durationSec: number): number {
  if (!(durationSec > 0)) return 1;
  const x = (nowSec - startSec) / durationSec;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return x * x * (3 - 2 * x);
}
