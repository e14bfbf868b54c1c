/**
 * The latest observation: one image per camera and the joint state, each with its validity.
 * Bad or stale input makes the observation invalid until good input replaces it; it is never
 * silently reused. Pure: time comes in as arguments (the node's ROS clock).
 */
import { Subject } from "rxjs";
import { BlmError, fail, ok, stripCode, type ErrorCode, type Result } from "../errors.ts";
import type { RawImage } from "../../models/runtime/image.ts";
import type { JointSample } from "./joints.ts";

export interface Observation {
  readonly images: Readonly<Record<string, RawImage>>;
  readonly joints: JointSample;
  /** Stamp of the joint state the observation carries (s): chunks are timed from it. */
  readonly stampSec: number;
  /** Oldest image stamp (s). */
  readonly imageStampSec: number;
}

export interface Problem {
  code: ErrorCode;
  message: string;
  /** The camera or "joints". */
  source: string;
}

export interface StoreOptions {
  imageTimeoutSec: number;
  jointTimeoutSec: number;
  /** Whether images and joints are required for validity (the controller alone needs only joints). */
  requireImages?: boolean;
  requireJoints?: boolean;
}

interface Slot<T> {
  value: T | null;
  stampSec: number;
  error: BlmError | null;
  /** Count of valid and invalid messages. */
  good: number;
  bad: number;
}

const emptySlot = <T>(): Slot<T> => ({
  value: null,
  stampSec: -Infinity,
  error: null,
  good: 0,
  bad: 0,
});

export class ObservationStore {
  private readonly cams = new Map<string, Slot<RawImage>>();
  private joints: Slot<JointSample> = emptySlot();
  /** Each newly raised problem, once per change of a source's error (for logging and diagnostics). */
  readonly problems$ = new Subject<Problem>();
  /** A valid joint sample arrived. */
  readonly joints$ = new Subject<JointSample>();
  lastProblem: Problem | null = null;

  constructor(
    readonly cameras: readonly string[],
    readonly opts: StoreOptions,
  ) {
    for (const c of cameras) this.cams.set(c, emptySlot());
  }

  putImage(camera: string, r: Result<RawImage>, stampSec: number): void {
    const s = this.cams.get(camera);
    if (!s) return;
    if (r.ok) {
      s.value = r.value;
      s.stampSec = stampSec;
      s.error = null;
      s.good++;
    } else {
      s.value = null;
      s.bad++;
      this.raise(s, r.error, camera);
    }
  }

  putJoints(r: Result<JointSample>): void {
    const s = this.joints;
    if (r.ok) {
      s.value = r.value;
      s.stampSec = r.value.stampSec;
      s.error = null;
      s.good++;
      this.joints$.next(r.value);
    } else {
      // A bad reading invalidates the last good one: never act on a state we know is wrong.
      s.value = null;
      s.bad++;
      this.raise(s, r.error, "joints");
    }
  }

  /** The first problem that makes the observation invalid now, or null. Allocates only when invalid. */
  check(nowSec: number): Problem | null {
    if (this.opts.requireImages !== false) {
      for (const [camera, s] of this.cams) {
        if (s.error) return { code: s.error.code, message: stripCode(s.error), source: camera };
        if (!s.value)
          return {
            code: "E_STALE_IMAGE",
            message: `camera ${camera}: no image received yet`,
            source: camera,
          };
        const age = nowSec - s.stampSec;
        if (!(age <= this.opts.imageTimeoutSec))
          return {
            code: "E_STALE_IMAGE",
            message: `camera ${camera}: last image is ${age.toFixed(3)} s old (image_timeout_s ${this.opts.imageTimeoutSec})`,
            source: camera,
          };
      }
    }
    if (this.opts.requireJoints !== false) {
      const s = this.joints;
      if (s.error) return { code: s.error.code, message: stripCode(s.error), source: "joints" };
      if (!s.value)
        return {
          code: "E_STALE_JOINT_STATE",
          message: "no joint state received yet",
          source: "joints",
        };
      const age = nowSec - s.stampSec;
      if (!(age <= this.opts.jointTimeoutSec))
        return {
          code: "E_STALE_JOINT_STATE",
          message: `joint state is ${age.toFixed(3)} s old (joint_state_timeout_s ${this.opts.jointTimeoutSec})`,
          source: "joints",
        };
    }
    return null;
  }

  /** The latest observation when every required input is valid and fresh. */
  snapshot(nowSec: number): Result<Observation> {
    const p = this.check(nowSec);
    if (p) {
      this.note(p);
      return fail(p.code, p.message, { source: p.source });
    }
    const images: Record<string, RawImage> = {};
    let imageStampSec = Infinity;
    for (const [camera, s] of this.cams) {
      if (s.value) images[camera] = s.value;
      imageStampSec = Math.min(imageStampSec, s.stampSec);
    }
    let joints = this.joints.value;
    if (!joints) {
      if (this.opts.requireJoints !== false)
        return fail("E_STALE_JOINT_STATE", "no joint state received yet");
      // An images-only store (the brain alone): no joint vector, timed by the images.
      joints = { q: new Float64Array(0), qd: undefined, gripper: NaN, stampSec: imageStampSec };
    }
    return ok({ images, joints, stampSec: joints.stampSec, imageStampSec });
  }

  /** The latest valid joint sample, if any (not checked for staleness). */
  get latestJoints(): JointSample | null {
    return this.joints.value;
  }

  counts(): Record<string, { good: number; bad: number }> {
    const out: Record<string, { good: number; bad: number }> = {};
    for (const [c, s] of this.cams) out[c] = { good: s.good, bad: s.bad };
    out.joints = { good: this.joints.good, bad: this.joints.bad };
    return out;
  }

  /** Records a staleness problem found by check() so that it is reported once. */
  note(p: Problem): void {
    const last = this.lastProblem;
    if (last && last.code === p.code && last.source === p.source) return;
    this.lastProblem = p;
    this.problems$.next(p);
  }

  private raise<T>(s: Slot<T>, e: BlmError, source: string): void {
    const changed = !s.error || s.error.code !== e.code;
    s.error = e;
    if (changed) {
      const p = { code: e.code, message: stripCode(e), source };
      this.lastProblem = p;
      this.problems$.next(p);
    }
  }
}

export { stripCode };
