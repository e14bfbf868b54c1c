import type { Chunk } from "./types.ts";

/**
 * Inference delay (arrival time − observation stamp) as the median of the last `window`
 * samples, skipping the first `warmup` ones: the first runs of a model pay for graph
 * compilation and caches and would skew any mean for minutes.
 */
export class DelayEstimator {
  private readonly buf: Float64Array;
  private readonly sorted: Float64Array;
  private seen = 0;
  private count = 0;
  private next = 0;

  constructor(
    readonly warmup = 3,
    readonly window = 15,
  ) {
    this.buf = new Float64Array(window);
    this.sorted = new Float64Array(window);
  }

  add(delaySec: number): void {
    if (!Number.isFinite(delaySec) || delaySec < 0) return;
    this.seen++;
    if (this.seen <= this.warmup) return;
    this.buf[this.next] = delaySec;
    this.next = (this.next + 1) % this.window;
    if (this.count < this.window) this.count++;
  }

  /** Median of the retained samples; NaN while none are retained yet. */
  estimate(): number {
    const c = this.count;
    if (c === 0) return NaN;
    const s = this.sorted.subarray(0, c);
    s.set(this.buf.subarray(0, c));
    s.sort();
    return c % 2 ? s[(c - 1) >> 1]! : 0.5 * (s[c / 2 - 1]! + s[c / 2]!);
  }

  reset(): void {
    this.seen = this.count = this.next = 0;
  }
}

export type BlendMode = "receding" | "ensemble";

export interface SchedulerOptions {
  /**
   * receding: each new chunk replaces the previous one (blended in over its blend window).
   * ensemble: temporal ensembling, a weighted mean of every chunk that covers the time, with
   * weights exp(−decay · (newest stamp − stamp)); a new chunk still enters through its blend.
   */
  mode: BlendMode;
  /** Chunks kept at once. */
  capacity: number;
  maxHorizon: number;
  /** 1/s; > 0 favours newer chunks, < 0 older ones (ACT's choice), 0 is a plain mean. */
  ensembleDecayPerSec: number;
}

/** 6x⁵ − 15x⁴ + 10x³: zero first and second derivative at both ends, so blends keep the reference C². */
export function smoothstep(x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return x * x * x * (x * (6 * x - 15) + 10);
}

interface Slot {
  stampSec: number;
  dt: number;
  horizon: number;
  /** Time of the first and last points. */
  t0: number;
  tLast: number;
  /** When the chunk started to take over (its arrival) and over how long. */
  entrySec: number;
  blendSec: number;
  positions: Float64Array;
  /** Hermite tangents (rad/s) per point. */
  tangents: Float64Array;
  gripper: Float64Array;
}

/**
 * Holds accepted chunks and evaluates the joint reference at any time. Chunks nest: the
 * reference is r_j(t) = β_j(t)·M_j(t) + (1 − β_j(t))·r_{j−1}(t), where β_j rises smoothly
 * from 0 at chunk j's arrival to 1 one blend window later and M_j is chunk j (receding) or
 * the ensemble up to j. A late chunk therefore never pulls the reference back: its points
 * already in the past are never sampled, and it takes over from what was being executed with
 * position and velocity continuous. Before any chunk, the reference is a base position (the
 * hold the executor was in). Slots are preallocated; evaluate() does not allocate.
 */
export class Scheduler {
  private readonly slots: Slot[];
  /** Slot indices in arrival order. */
  private readonly order: Int32Array;
  private count = 0;
  private readonly base: Float64Array;
  private baseGripper = 0;
  private readonly tmp: Float64Array;
  private readonly acc: Float64Array;
  /** Stamp of the last accepted chunk (survives clear(): order is about the stream, not the queue). */
  lastStampSec = -Infinity;

  constructor(
    readonly n: number,
    readonly opts: SchedulerOptions,
  ) {
    this.slots = Array.from({ length: opts.capacity }, () => ({
      stampSec: 0,
      dt: 0,
      horizon: 0,
      t0: 0,
      tLast: 0,
      entrySec: 0,
      blendSec: 0,
      positions: new Float64Array(opts.maxHorizon * n),
      tangents: new Float64Array(opts.maxHorizon * n),
      gripper: new Float64Array(opts.maxHorizon),
    }));
    this.order = new Int32Array(opts.capacity);
    this.base = new Float64Array(n);
    this.tmp = new Float64Array(n);
    this.acc = new Float64Array(n);
  }

  get size(): number {
    return this.count;
  }

  /** Time of the newest chunk's last point; −Infinity when empty. */
  endSec(): number {
    return this.count ? this.slots[this.order[this.count - 1]!]!.tLast : -Infinity;
  }

  clear(): void {
    this.count = 0;
  }

  /**
   * Adds a checked chunk arriving at `nowSec`, taking over within `blendSec`. `base` and
   * `baseGripper` are where the reference starts from when the queue is empty (the hold).
   */
  add(
    chunk: Chunk,
    nowSec: number,
    blendSec: number,
    base: ArrayLike<number>,
    baseGripper: number,
  ): void {
    const n = this.n;
    if (this.count === 0) {
      for (let j = 0; j < n; j++) this.base[j] = base[j]!;
      this.baseGripper = baseGripper;
    } else if (this.count === this.opts.capacity) {
      // Full: the oldest goes. Freeze the reference where it stands now as the new base so
      // dropping it cannot move the reference's position.
      this.baseGripper = this.evaluate(nowSec, this.base, 0);
      this.removeAt(0);
    }
    const idx = this.freeSlot();
    const s = this.slots[idx]!;
    const H = chunk.horizon,
      dt = chunk.dt;
    s.stampSec = chunk.stampSec;
    s.dt = dt;
    s.horizon = H;
    s.t0 = chunk.stampSec + dt;
    s.tLast = chunk.stampSec + H * dt;
    s.entrySec = nowSec;
    s.blendSec = Math.max(1e-6, blendSec);
    s.positions.set(chunk.positions);
    s.gripper.set(chunk.gripper);
    const q = chunk.positions,
      m = s.tangents;
    if (chunk.velocities) {
      m.set(chunk.velocities);
    } else {
      // Catmull–Rom tangents: smooth through the points without needing velocities.
      for (let k = 0; k < H; k++) {
        const a = k === 0 ? 0 : k - 1,
          b = k === H - 1 ? H - 1 : k + 1;
        const span = (b - a) * dt;
        for (let j = 0; j < n; j++) m[k * n + j] = (q[b * n + j]! - q[a * n + j]!) / span;
      }
    }
    this.order[this.count++] = idx;
    this.lastStampSec = chunk.stampSec;
  }

  /**
   * Drops what can no longer influence the reference at or after nowSec: everything older
   * than the newest chunk that has fully taken over, except, in ensemble mode, chunks that
   * still cover some future time.
   */
  prune(nowSec: number): void {
    let complete = -1;
    for (let i = this.count - 1; i >= 0; i--) {
      const s = this.slots[this.order[i]!]!;
      if (nowSec >= s.entrySec + s.blendSec) {
        complete = i;
        break;
      }
    }
    if (complete <= 0) return;
    for (let i = complete - 1; i >= 0; i--) {
      const s = this.slots[this.order[i]!]!;
      if (this.opts.mode === "receding" || nowSec > s.tLast) this.removeAt(i);
    }
  }

  /**
   * Writes the reference joint positions at time t into out[offset..offset+n) and returns the
   * gripper reference.
   */
  evaluate(t: number, out: Float64Array, offset: number): number {
    const n = this.n;
    let start = -1;
    for (let i = this.count - 1; i >= 0; i--) {
      const s = this.slots[this.order[i]!]!;
      if (t >= s.entrySec + s.blendSec) {
        start = i;
        break;
      }
    }
    let g: number;
    if (start < 0) {
      for (let j = 0; j < n; j++) out[offset + j] = this.base[j]!;
      g = this.baseGripper;
    } else {
      g = this.layer(start, t, out, offset);
    }
    for (let i = start + 1; i < this.count; i++) {
      const s = this.slots[this.order[i]!]!;
      const beta = smoothstep((t - s.entrySec) / s.blendSec);
      if (beta <= 0) continue;
      const gi = this.layer(i, t, this.acc, 0);
      for (let j = 0; j < n; j++)
        out[offset + j] = beta * this.acc[j]! + (1 - beta) * out[offset + j]!;
      g = beta * gi + (1 - beta) * g;
    }
    return g;
  }

  /** M_i(t): chunk i alone, or the ensemble of chunks 0..i. */
  private layer(i: number, t: number, out: Float64Array, offset: number): number {
    const n = this.n;
    const newest = this.slots[this.order[i]!]!;
    if (this.opts.mode === "receding") return this.sample(newest, t, out, offset);
    let wSum = 0,
      g = 0;
    for (let j = 0; j < n; j++) out[offset + j] = 0;
    for (let c = 0; c <= i; c++) {
      const s = this.slots[this.order[c]!]!;
      let w = Math.exp(-this.opts.ensembleDecayPerSec * (newest.stampSec - s.stampSec));
      // Older chunks fade out over their last step instead of dropping out at their end.
      if (c < i) w *= 1 - smoothstep((t - (s.tLast - s.dt)) / s.dt);
      if (!(w > 0)) continue;
      const gc = this.sample(s, t, this.tmp, 0);
      for (let j = 0; j < n; j++) out[offset + j] = out[offset + j]! + w * this.tmp[j]!;
      g += w * gc;
      wSum += w;
    }
    // The newest chunk always has a positive weight, so wSum > 0.
    for (let j = 0; j < n; j++) out[offset + j] = out[offset + j]! / wSum;
    return g / wSum;
  }

  /** Cubic Hermite through a chunk's points; held at the first and last point outside them. */
  private sample(s: Slot, t: number, out: Float64Array, offset: number): number {
    const n = this.n,
      H = s.horizon,
      q = s.positions,
      m = s.tangents;
    const x = (t - s.t0) / s.dt;
    if (!(x > 0)) {
      for (let j = 0; j < n; j++) out[offset + j] = q[j]!;
      return s.gripper[0]!;
    }
    if (x >= H - 1) {
      for (let j = 0; j < n; j++) out[offset + j] = q[(H - 1) * n + j]!;
      return s.gripper[H - 1]!;
    }
    const k = Math.floor(x),
      u = x - k,
      u2 = u * u,
      u3 = u2 * u;
    const h00 = 2 * u3 - 3 * u2 + 1,
      h10 = (u3 - 2 * u2 + u) * s.dt,
      h01 = -2 * u3 + 3 * u2,
      h11 = (u3 - u2) * s.dt;
    const a = k * n,
      b = (k + 1) * n;
    for (let j = 0; j < n; j++)
      out[offset + j] = h00 * q[a + j]! + h10 * m[a + j]! + h01 * q[b + j]! + h11 * m[b + j]!;
    return (1 - u) * s.gripper[k]! + u * s.gripper[k + 1]!;
  }

  private freeSlot(): number {
    for (let idx = 0; idx < this.slots.length; idx++) {
      let used = false;
      for (let i = 0; i < this.count; i++) if (this.order[i] === idx) used = true;
      if (!used) return idx;
    }
    throw new Error("scheduler: no free slot"); // unreachable: add() frees one when full
  }

  private removeAt(i: number): void {
    for (let k = i; k < this.count - 1; k++) this.order[k] = this.order[k + 1]!;
    this.count--;
  }
}
