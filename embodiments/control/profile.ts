/**
 * One joint as a triple integrator with constant jerk over each control period: position is
 * then a cubic in time, which the joint_trajectory_controller's quintic (p, v, a) spline
 * reproduces exactly, so what we check here is what the robot is asked to do.
 *
 * Safety is an invariant, not a hope: a step is taken only if, from the state it leads to,
 * braking as hard as the limits allow still stops inside the position bounds and never
 * exceeds the velocity limit. Braking itself keeps that invariant (it follows the same
 * braking curve), so some admissible step always exists. All functions are scalar and
 * allocation-free; the streamer calls them per joint per step.
 */

/**
 * Displacement in the + direction still to come when braking as hard as allowed from
 * velocity v and acceleration a (jerk −J until the acceleration reaches −A, then −A).
 * Zero when the joint is not, and will not be, moving in +.
 */
export function brakeDistance(v: number, a: number, A: number, J: number): number {
  if (a < -A) a = -A;
  const disc = a * a + 2 * J * v;
  if (disc < 0) return 0; // moving in − and braking keeps it so
  const tb = (a + Math.sqrt(disc)) / J; // when v falls through 0 under jerk −J
  if (tb <= 0) return 0;
  const t1 = (a + A) / J; // when the acceleration reaches −A
  if (tb <= t1) return Math.max(0, v * tb + (a * tb * tb) / 2 - (J * tb * tb * tb) / 6);
  const v1 = v + a * t1 - (J * t1 * t1) / 2;
  const p1 = v * t1 + (a * t1 * t1) / 2 - (J * t1 * t1 * t1) / 6;
  return Math.max(0, p1 + (v1 * v1) / (2 * A));
}

/** Highest velocity reached while braking: a positive acceleration still adds a²/2J. */
export function brakePeakVelocity(v: number, a: number, J: number): number {
  return a > 0 ? v + (a * a) / (2 * J) : v;
}

/** Largest position along p + v t + a t²/2 + u t³/6 for t in [0, h]. */
export function stepMaxPosition(p: number, v: number, a: number, u: number, h: number): number {
  const p1 = p + v * h + (a * h * h) / 2 + (u * h * h * h) / 6;
  let m = p > p1 ? p : p1;
  // Interior extrema sit where the velocity v + a t + u t²/2 crosses zero.
  if (u === 0) {
    if (a !== 0) m = interior(m, p, v, a, u, h, -v / a);
  } else {
    const disc = a * a - 2 * u * v;
    if (disc >= 0) {
      const s = Math.sqrt(disc);
      m = interior(m, p, v, a, u, h, (-a + s) / u);
      m = interior(m, p, v, a, u, h, (-a - s) / u);
    }
  }
  return m;
}

function interior(
  m: number,
  p: number,
  v: number,
  a: number,
  u: number,
  h: number,
  t: number,
): number {
  if (!(t > 0 && t < h)) return m;
  const x = p + v * t + (a * t * t) / 2 + (u * t * t * t) / 6;
  return x > m ? x : m;
}

/** Largest velocity along v + a t + u t²/2 for t in [0, h]. */
export function stepMaxVelocity(v: number, a: number, u: number, h: number): number {
  const v1 = v + a * h + (u * h * h) / 2;
  let m = v > v1 ? v : v1;
  if (u < 0) {
    const t = -a / u;
    if (t > 0 && t < h) {
      const x = v - (a * a) / (2 * u);
      if (x > m) m = x;
    }
  }
  return m;
}

/** Whether jerk u for one step keeps the + side safe: position ≤ hi and velocity ≤ vmax, now and while braking after. */
export function upperSafe(
  p: number,
  v: number,
  a: number,
  u: number,
  h: number,
  hi: number,
  vmax: number,
  A: number,
  J: number,
): boolean {
  const a1 = a + u * h;
  const v1 = v + a * h + (u * h * h) / 2;
  const p1 = p + v * h + (a * h * h) / 2 + (u * h * h * h) / 6;
  if (stepMaxVelocity(v, a, u, h) > vmax) return false;
  if (brakePeakVelocity(v1, a1, J) > vmax) return false;
  if (stepMaxPosition(p, v, a, u, h) > hi) return false;
  return p1 + brakeDistance(v1, a1, A, J) <= hi;
}

/** The − side, by mirroring the + side. */
export function lowerSafe(
  p: number,
  v: number,
  a: number,
  u: number,
  h: number,
  lo: number,
  vmax: number,
  A: number,
  J: number,
): boolean {
  return upperSafe(-p, -v, -a, -u, h, -lo, vmax, A, J);
}

const BISECTIONS = 48;

/**
 * The admissible jerk closest to `uDes`: within ±J, keeping |a| ≤ A at the end of the step,
 * and safe on both sides. Both safety predicates are monotone in u (a larger jerk moves the
 * whole future up), so the safe set is an interval found by bisection. When no jerk is safe
 * on a side (possible only by rounding, or when bounds were relaxed around the current
 * state), the hardest braking towards that side's interior is chosen.
 */
export function chooseJerk(
  p: number,
  v: number,
  a: number,
  h: number,
  uDes: number,
  lo: number,
  hi: number,
  vmax: number,
  A: number,
  J: number,
): number {
  const uMin = Math.max(-J, (-A - a) / h);
  const uMax = Math.min(J, (A - a) / h);
  if (!(uMin <= uMax)) return Math.abs(uMin) < Math.abs(uMax) ? uMin : uMax;
  let u = uDes < uMin ? uMin : uDes > uMax ? uMax : uDes;
  if (!(u === u)) u = 0 < uMin ? uMin : 0 > uMax ? uMax : 0; // NaN desire: keep coasting
  if (!upperSafe(p, v, a, u, h, hi, vmax, A, J)) {
    if (!upperSafe(p, v, a, uMin, h, hi, vmax, A, J)) return uMin;
    let okU = uMin,
      badU = u;
    for (let i = 0; i < BISECTIONS; i++) {
      const mid = 0.5 * (okU + badU);
      if (upperSafe(p, v, a, mid, h, hi, vmax, A, J)) okU = mid;
      else badU = mid;
    }
    return okU;
  }
  if (!lowerSafe(p, v, a, u, h, lo, vmax, A, J)) {
    if (!lowerSafe(p, v, a, uMax, h, lo, vmax, A, J)) return uMax;
    let okU = uMax,
      badU = u;
    for (let i = 0; i < BISECTIONS; i++) {
      const mid = 0.5 * (okU + badU);
      if (lowerSafe(p, v, a, mid, h, lo, vmax, A, J)) okU = mid;
      else badU = mid;
    }
    return okU;
  }
  return u;
}

/** Gains of the tracking law, in 1/s. */
export interface TrackingGains {
  /** Position error → velocity. */
  kp: number;
  /** Velocity error → acceleration. */
  kv: number;
}

/**
 * Gains for a control period h. The velocity loop is kept well inside the discrete stability
 * region (kv·h ≤ 0.3) and within what the jerk can follow (kv ≤ 1.4·J/A: a faster loop asks
 * for acceleration changes the jerk limit cannot make, lags, and overshoots — xArm's
 * 500 rad/s³ does that at 150 Hz), and the position loop four times slower, which makes the
 * cascade critically damped (ζ = ½·√(kv/kp) = 1).
 */
export function defaultGains(h: number, minJerkOverAcceleration = Infinity): TrackingGains {
  const kv = Math.min(60, 0.3 / h, 1.4 * minJerkOverAcceleration);
  return { kp: kv / 4, kv };
}

/**
 * The jerk the tracking law asks for, before any limit: a cascade position → velocity →
 * acceleration with feed-forward of the reference's velocity and acceleration. The square
 * roots are braking curves: the velocity demand never exceeds what can be cancelled at half
 * the acceleration limit before reaching the target, and the acceleration demand never
 * exceeds what the jerk can bring back to zero before reaching the demanded velocity, so
 * step-like references are approached without overshoot. `stop` ignores the position and
 * asks for zero velocity (the watchdog's deceleration).
 */
export function desiredJerk(
  p: number,
  v: number,
  a: number,
  r: number,
  rv: number,
  ra: number,
  vLimit: number,
  A: number,
  J: number,
  h: number,
  gains: TrackingGains,
  stop: boolean,
): number {
  let vDes: number;
  if (stop) {
    vDes = 0;
    ra = 0;
  } else {
    const e = r - p;
    const ae = Math.abs(e);
    const mag = Math.min(gains.kp * ae, Math.sqrt(A * ae));
    vDes = rv + (e >= 0 ? mag : -mag);
  }
  // At the speed limit the reference's acceleration is not ours to follow: feeding it
  // forward would push the velocity past the (scaled) limit.
  if (vDes > vLimit) {
    vDes = vLimit;
    ra = 0;
  } else if (vDes < -vLimit) {
    vDes = -vLimit;
    ra = 0;
  }
  const ev = vDes - v;
  const aev = Math.abs(ev);
  const fb = Math.min(gains.kv * aev, Math.sqrt(J * aev));
  let aDes = (stop || Math.abs(v) > vLimit ? 0 : ra) + (ev >= 0 ? fb : -fb);
  if (aDes > A) aDes = A;
  else if (aDes < -A) aDes = -A;
  return (aDes - a) / h;
}
