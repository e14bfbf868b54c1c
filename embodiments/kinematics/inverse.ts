import { mulberry32 } from "../../lib/random.ts";
import { fail, ok, type Result } from "../../lib/errors.ts";
import type { Embodiment } from "../schema.ts";
import { serialChain, type SerialChain } from "./chain.ts";
import { forwardChain, transformFromPose, type Pose } from "./forward.ts";
import type { Transform } from "./transform.ts";

export interface IkOptions {
  /** Iterations per attempt (the seed, then each restart). */
  maxIterations?: number;
  /** m */
  positionTolerance?: number;
  /** rad */
  orientationTolerance?: number;
  /** Initial Levenberg–Marquardt damping λ (adapted during the solve). */
  damping?: number;
  /** Attempts from perturbed seeds after the first one fails. */
  restarts?: number;
  /**
   * Gain of the pull towards mid-range in the null space of redundant arms. 0 keeps the posture
   * the seed has: a caller that solves a path point by point from the previous solution (a chunk
   * of poses) would otherwise drift the elbow a little at every step.
   */
  centering?: number;
  /**
   * Largest distance (rad) of any joint from the seed: the solution stays within it (and within the
   * limits). A caller that needs the next point of a motion, not any solution, bounds the step, and
   * near a wrist singularity gets the nearest pose within reach of that step instead of a swing.
   */
  maxDeviation?: number;
  /**
   * m per rad: how much an orientation error counts against a position error in each step and in
   * the cost. Only matters where both cannot be met (a bounded step, a limit): below 1 the solver
   * gives up orientation first.
   */
  orientationWeight?: number;
}

const DEFAULTS = {
  maxIterations: 100,
  positionTolerance: 1e-4,
  orientationTolerance: 1e-4,
  damping: 0.05,
  restarts: 30,
  centering: 0.05,
  maxDeviation: Infinity,
  orientationWeight: 1,
} as const;

/** Largest single joint step; keeps a step taken near a singularity from flinging the arm. */
const MAX_STEP = 0.4;

/**
 * Damped least squares (Levenberg–Marquardt) on the geometric Jacobian of the TCP. Joints
 * are clamped to their limits after each step, redundant arms drift towards the middle of
 * their ranges in the null space, and a failed attempt restarts from a perturbed seed
 * (deterministic, so a given target and seed always give the same answer).
 */
export function solveIk(
  emb: Embodiment,
  target: Pose,
  seed: ArrayLike<number>,
  opts: IkOptions = {},
): Result<Float64Array> {
  const o = { ...DEFAULTS, ...definedOnly(opts) };
  const n = emb.joints.length;
  if (seed.length !== n)
    return fail("E_IK", `${emb.name}: seed has ${seed.length} values, expected ${n}`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(seed[i]!)) return fail("E_IK", `${emb.name}: seed[${i}] is not finite`);
  }
  if (!isFinitePose(target)) return fail("E_IK", `${emb.name}: target pose is not finite`);

  const ws = workspace(emb);
  transformFromPose(target, ws.target);
  for (let i = 0; i < n; i++) {
    const { lower, upper } = emb.joints[i]!.position;
    ws.lo[i] = Math.max(lower, seed[i]! - o.maxDeviation);
    ws.hi[i] = Math.min(upper, seed[i]! + o.maxDeviation);
  }
  const rng = mulberry32(0x5eed);
  let bestPos = Infinity,
    bestRot = Infinity;
  const best = new Float64Array(n);

  for (let attempt = 0; attempt <= o.restarts; attempt++) {
    for (let i = 0; i < n; i++) {
      const { lower, upper } = emb.joints[i]!.position;
      let v = seed[i]!;
      // First restarts stay near the seed (nearby solutions keep the arm's posture);
      // later ones sample the whole range to escape local minima and limit traps.
      if (attempt > 0 && attempt <= o.restarts / 2) v += (rng() - 0.5) * 0.6 * attempt;
      else if (attempt > 0) v = lower + rng() * (upper - lower);
      ws.q[i] = Math.min(ws.hi[i]!, Math.max(ws.lo[i]!, v));
    }
    const converged = iterate(emb, ws, o);
    if (ws.posErr + o.orientationWeight * ws.rotErr < bestPos + o.orientationWeight * bestRot) {
      bestPos = ws.posErr;
      bestRot = ws.rotErr;
      best.set(ws.q);
    }
    if (converged) return ok(Float64Array.from(ws.q));
  }
  return fail(
    "E_IK",
    `${emb.name}: no solution within ${o.positionTolerance * 1000} mm / ${o.orientationTolerance * 1000} mrad; ` +
      `best residual ${(bestPos * 1000).toFixed(2)} mm, ${(bestRot * 1000).toFixed(2)} mrad after ${o.restarts + 1} attempts`,
    { positionResidual: bestPos, orientationResidual: bestRot, best: Array.from(best) },
  );
}

interface Workspace {
  readonly chain: SerialChain;
  readonly q: Float64Array;
  /** Bounds of this solve: the joint limits, narrowed to seed ± maxDeviation. */
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly qPrev: Float64Array;
  readonly dq: Float64Array;
  readonly frames: Transform[];
  readonly flange: Transform;
  readonly tcp: Transform;
  readonly scratch: Transform;
  readonly target: Transform;
  readonly e: Float64Array; // 6: position error, then orientation error (world frame)
  readonly J: Float64Array; // 6×n row-major
  readonly A: Float64Array; // 6×6
  readonly y: Float64Array; // 6
  readonly g: Float64Array; // n
  posErr: number;
  rotErr: number;
}

const workspaces = new WeakMap<Embodiment, Workspace>();

function workspace(emb: Embodiment): Workspace {
  let ws = workspaces.get(emb);
  if (!ws) {
    const n = emb.joints.length;
    ws = {
      chain: serialChain(emb),
      q: new Float64Array(n),
      lo: new Float64Array(n),
      hi: new Float64Array(n),
      qPrev: new Float64Array(n),
      dq: new Float64Array(n),
      frames: Array.from({ length: n }, () => new Float64Array(12)),
      flange: new Float64Array(12),
      tcp: new Float64Array(12),
      scratch: new Float64Array(12),
      target: new Float64Array(12),
      e: new Float64Array(6),
      J: new Float64Array(6 * n),
      A: new Float64Array(36),
      y: new Float64Array(6),
      g: new Float64Array(n),
      posErr: Infinity,
      rotErr: Infinity,
    };
    workspaces.set(emb, ws);
  }
  return ws;
}

/** One attempt from ws.q; leaves the best iterate in ws.q and its residuals in ws.posErr/rotErr. */
function iterate(emb: Embodiment, ws: Workspace, o: Required<IkOptions>): boolean {
  const n = emb.joints.length;
  let lambda = o.damping;
  let prevCost = Infinity;
  let stalled = 0;
  for (let it = 0; it < o.maxIterations; it++) {
    evaluate(ws);
    const cost = ws.posErr + o.orientationWeight * ws.rotErr;
    if (ws.posErr <= o.positionTolerance && ws.rotErr <= o.orientationTolerance) return true;
    if (cost > prevCost) {
      // Rejected step: back to the previous iterate with more damping.
      ws.q.set(ws.qPrev);
      lambda = Math.min(lambda * 4, 10);
      evaluate(ws);
    } else {
      stalled = cost > prevCost * 0.999 ? stalled + 1 : 0;
      prevCost = cost;
      lambda = Math.max(lambda * 0.5, 1e-6);
    }
    if (stalled >= 8) break;
    ws.qPrev.set(ws.q);
    jacobian(ws, n);
    if (o.orientationWeight !== 1) weightOrientation(ws, n, o.orientationWeight);
    step(emb, ws, n, lambda, o.centering);
    for (let i = 0; i < n; i++) {
      ws.q[i] = Math.min(ws.hi[i]!, Math.max(ws.lo[i]!, ws.q[i]! + ws.dq[i]!));
    }
  }
  evaluate(ws);
  if (ws.posErr + o.orientationWeight * ws.rotErr > prevCost) {
    ws.q.set(ws.qPrev);
    evaluate(ws);
  }
  return ws.posErr <= o.positionTolerance && ws.rotErr <= o.orientationTolerance;
}

/** Scales the orientation rows of the Jacobian and the error, so a step trades them at that rate. */
function weightOrientation(ws: Workspace, n: number, w: number): void {
  for (let r = 3; r < 6; r++) {
    ws.e[r] = ws.e[r]! * w;
    for (let k = 0; k < n; k++) ws.J[r * n + k] = ws.J[r * n + k]! * w;
  }
}

/** FK at ws.q and the pose error (target − current) into ws.e. */
function evaluate(ws: Workspace): void {
  forwardChain(ws.chain, ws.q, ws.frames, ws.flange, ws.tcp, ws.scratch);
  const t = ws.target,
    c = ws.tcp,
    e = ws.e;
  e[0] = t[3]! - c[3]!;
  e[1] = t[7]! - c[7]!;
  e[2] = t[11]! - c[11]!;
  rotationError(t, c, e);
  ws.posErr = Math.hypot(e[0], e[1], e[2]);
  ws.rotErr = Math.hypot(e[3]!, e[4]!, e[5]!);
}

/** Rotation vector of R_t·R_cᵀ (world frame) into e[3..5]. */
function rotationError(t: Transform, c: Transform, e: Float64Array): void {
  const m00 = productEntry(t, c, 0, 0),
    m11 = productEntry(t, c, 1, 1),
    m22 = productEntry(t, c, 2, 2);
  const vx = productEntry(t, c, 2, 1) - productEntry(t, c, 1, 2),
    vy = productEntry(t, c, 0, 2) - productEntry(t, c, 2, 0),
    vz = productEntry(t, c, 1, 0) - productEntry(t, c, 0, 1);
  const cos = Math.max(-1, Math.min(1, (m00 + m11 + m22 - 1) / 2));
  const sin2 = Math.hypot(vx, vy, vz); // 2·sin θ
  const theta = Math.atan2(sin2 / 2, cos);
  if (sin2 > 1e-7) {
    const k = theta / sin2;
    e[3] = vx * k;
    e[4] = vy * k;
    e[5] = vz * k;
  } else if (cos > 0) {
    e[3] = vx / 2;
    e[4] = vy / 2;
    e[5] = vz / 2;
  } else {
    // θ ≈ π: the axis comes from the symmetric part; its sign is arbitrary at exactly π.
    const ax = Math.sqrt(Math.max(0, (m00 + 1) / 2));
    const ay =
      Math.sqrt(Math.max(0, (m11 + 1) / 2)) *
      (productEntry(t, c, 0, 1) + productEntry(t, c, 1, 0) >= 0 ? 1 : -1);
    const az =
      Math.sqrt(Math.max(0, (m22 + 1) / 2)) *
      (productEntry(t, c, 0, 2) + productEntry(t, c, 2, 0) >= 0 ? 1 : -1);
    e[3] = Math.PI * ax;
    e[4] = Math.PI * ay;
    e[5] = Math.PI * az;
  }
}

/** Entry (r, k) of R_t·R_cᵀ. */
function productEntry(t: Transform, c: Transform, r: number, k: number): number {
  return t[4 * r]! * c[4 * k]! + t[4 * r + 1]! * c[4 * k + 1]! + t[4 * r + 2]! * c[4 * k + 2]!;
}

/** Geometric Jacobian of the TCP: column i = [z_i × (p_tcp − p_i); z_i]. */
function jacobian(ws: Workspace, n: number): void {
  const px = ws.tcp[3]!,
    py = ws.tcp[7]!,
    pz = ws.tcp[11]!;
  for (let i = 0; i < n; i++) {
    const f = ws.frames[i]!;
    const zx = f[2]!,
      zy = f[6]!,
      zz = f[10]!;
    const dx = px - f[3]!,
      dy = py - f[7]!,
      dz = pz - f[11]!;
    ws.J[i] = zy * dz - zz * dy;
    ws.J[n + i] = zz * dx - zx * dz;
    ws.J[2 * n + i] = zx * dy - zy * dx;
    ws.J[3 * n + i] = zx;
    ws.J[4 * n + i] = zy;
    ws.J[5 * n + i] = zz;
  }
}

/** dq = Jᵀ(JJᵀ + λ²I)⁻¹ e, plus the null-space joint-centring term for redundant arms. */
function step(emb: Embodiment, ws: Workspace, n: number, lambda: number, centering: number): void {
  const { J, A, y, dq, g } = ws;
  for (let r = 0; r < 6; r++) {
    for (let c = r; c < 6; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += J[r * n + k]! * J[c * n + k]!;
      A[r * 6 + c] = A[c * 6 + r] = s;
    }
    A[r * 6 + r] = A[r * 6 + r]! + lambda * lambda;
  }
  cholesky6(A);
  y.set(ws.e);
  choleskySolve6(A, y);
  for (let k = 0; k < n; k++) {
    let s = 0;
    for (let r = 0; r < 6; r++) s += J[r * n + k]! * y[r]!;
    dq[k] = s;
  }
  if (n > 6 && centering > 0) {
    // g pulls each joint towards mid-range; (I − J⁺J)g removes the part that would move the TCP.
    for (let k = 0; k < n; k++) {
      const { lower, upper } = emb.joints[k]!.position;
      const range = upper - lower;
      g[k] = ((-centering * (ws.q[k]! - (lower + upper) / 2)) / (range * range)) * 4;
    }
    for (let r = 0; r < 6; r++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += J[r * n + k]! * g[k]!;
      y[r] = s;
    }
    choleskySolve6(A, y);
    for (let k = 0; k < n; k++) {
      let s = 0;
      for (let r = 0; r < 6; r++) s += J[r * n + k]! * y[r]!;
      dq[k] = dq[k]! + g[k]! - s;
    }
  }
  let largest = 0;
  for (let k = 0; k < n; k++) largest = Math.max(largest, Math.abs(dq[k]!));
  if (largest > MAX_STEP) for (let k = 0; k < n; k++) dq[k] = (dq[k]! * MAX_STEP) / largest;
}

/** In-place Cholesky of a symmetric positive-definite 6×6 (lower triangle holds L). */
function cholesky6(A: Float64Array): void {
  for (let j = 0; j < 6; j++) {
    let d = A[j * 6 + j]!;
    for (let k = 0; k < j; k++) d -= A[j * 6 + k]! * A[j * 6 + k]!;
    const l = Math.sqrt(Math.max(d, 1e-300));
    A[j * 6 + j] = l;
    for (let i = j + 1; i < 6; i++) {
      let s = A[i * 6 + j]!;
      for (let k = 0; k < j; k++) s -= A[i * 6 + k]! * A[j * 6 + k]!;
      A[i * 6 + j] = s / l;
    }
  }
}

function choleskySolve6(L: Float64Array, b: Float64Array): void {
  for (let i = 0; i < 6; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * 6 + k]! * b[k]!;
    b[i] = s / L[i * 6 + i]!;
  }
  for (let i = 5; i >= 0; i--) {
    let s = b[i]!;
    for (let k = i + 1; k < 6; k++) s -= L[k * 6 + i]! * b[k]!;
    b[i] = s / L[i * 6 + i]!;
  }
}

function isFinitePose(p: Pose): boolean {
  if (p.position.length !== 3 || p.rotation.length !== 9) return false;
  for (const v of p.position) if (!Number.isFinite(v)) return false;
  for (const v of p.rotation) if (!Number.isFinite(v)) return false;
  return true;
}

function definedOnly(opts: IkOptions): Partial<Required<IkOptions>> {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
}
