/** Rate and latency meters for /diagnostics and AgentState (time passed in, no clocks here). */

/** Events per second over a sliding window. */
export class RateMeter {
  private readonly times: Float64Array;
  private head = 0;
  private count = 0;

  constructor(
    readonly windowSec = 2,
    capacity = 2048,
  ) {
    this.times = new Float64Array(capacity);
  }

  mark(tSec: number): void {
    this.times[this.head] = tSec;
    this.head = (this.head + 1) % this.times.length;
    if (this.count < this.times.length) this.count++;
  }

  /** Events per second in (now − window, now]. */
  rate(nowSec: number): number {
    let n = 0;
    let oldest = Infinity;
    for (let i = 0; i < this.count; i++) {
      const t = this.times[(this.head - 1 - i + this.times.length) % this.times.length]!;
      if (nowSec - t >= this.windowSec) break;
      n++;
      oldest = t;
    }
    if (n < 2) return 0;
    const newest = this.times[(this.head - 1 + this.times.length) % this.times.length]!;
    return (n - 1) / Math.max(newest - oldest, 1e-9);
  }

  get total(): number {
    return this.count;
  }
}

/** Last value, and p50/p99 over the last `capacity` samples (seconds). */
export class LatencyStat {
  private readonly xs: Float64Array;
  private head = 0;
  private n = 0;
  last = NaN;

  constructor(capacity = 256) {
    this.xs = new Float64Array(capacity);
  }

  add(x: number): void {
    if (!Number.isFinite(x)) return;
    this.last = x;
    this.xs[this.head] = x;
    this.head = (this.head + 1) % this.xs.length;
    if (this.n < this.xs.length) this.n++;
  }

  percentile(p: number): number {
    if (this.n === 0) return NaN;
    const s = Array.from(this.xs.subarray(0, this.n)).sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  }

  get count(): number {
    return this.n;
  }
}
