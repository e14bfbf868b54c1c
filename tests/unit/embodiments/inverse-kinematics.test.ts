import { describe, expect, it } from "vitest";
import { rotationFromVector } from "../../../embodiments/control/index.ts";
import { forwardKinematics, solveIk, type Pose } from "../../../embodiments/kinematics/index.ts";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { EMBODIMENT_NAMES, type Embodiment } from "../../../embodiments/schema.ts";
import { unwrap } from "../../../lib/errors.ts";
import { randomQ, rng } from "../../support/embodiments/random.ts";

const load = (name: string) => unwrap(loadEmbodiment(name));
const SAMPLES = 2000;

function poseError(a: Pose, b: Pose): { position: number; rotation: number } {
  const position = Math.hypot(
    a.position[0]! - b.position[0]!,
    a.position[1]! - b.position[1]!,
    a.position[2]! - b.position[2]!,
  );
  // angle of Ra·Rbᵀ from its trace
  let tr = 0;
  for (let r = 0; r < 3; r++)
    for (let k = 0; k < 3; k++) tr += a.rotation[3 * r + k]! * b.rotation[3 * r + k]!;
  return { position, rotation: Math.acos(Math.max(-1, Math.min(1, (tr - 1) / 2))) };
}

function withinLimits(emb: Embodiment, q: Float64Array): boolean {
  return emb.joints.every(
    (j, i) => q[i]! >= j.position.lower - 1e-12 && q[i]! <= j.position.upper + 1e-12,
  );
}

/** Fraction of random reachable poses recovered within 1 mm / 1 mrad, seeds from `seedFor`. */
function recoveryRate(
  emb: Embodiment,
  seedFor: (q: Float64Array, next: () => number) => Float64Array,
): number {
  const next = rng(2024);
  let recovered = 0;
  for (let k = 0; k < SAMPLES; k++) {
    const q = randomQ(emb, next);
    const target = forwardKinematics(emb, q);
    const r = solveIk(emb, target, seedFor(q, next));
    if (!r.ok) continue;
    expect(withinLimits(emb, r.value)).toBe(true);
    const e = poseError(forwardKinematics(emb, r.value), target);
    if (e.position <= 1e-3 && e.rotation <= 1e-3) recovered++;
  }
  return recovered / SAMPLES;
}

describe("solveIk", () => {
  it.each(EMBODIMENT_NAMES)(
    `%s recovers ≥ 99%% of ${SAMPLES} random poses from a nearby seed (±0.3 rad)`,
    (name) => {
      const emb = load(name);
      const rate = recoveryRate(emb, (q, next) =>
        Float64Array.from(q, (v, i) => {
          const { lower, upper } = emb.joints[i]!.position;
          return Math.min(upper, Math.max(lower, v + (next() - 0.5) * 0.6));
        }),
      );
      console.info(`IK ${name} nearby seed: ${(rate * 100).toFixed(2)}%`);
      expect(rate).toBeGreaterThanOrEqual(0.99);
    },
  );

  it.each(EMBODIMENT_NAMES)(
    `%s recovers ≥ 99%% of ${SAMPLES} random poses from the home configuration`,
    (name) => {
      const emb = load(name);
      const rate = recoveryRate(emb, () => Float64Array.from(emb.home));
      console.info(`IK ${name} home seed: ${(rate * 100).toFixed(2)}%`);
      expect(rate).toBeGreaterThanOrEqual(0.99);
    },
  );

  it("fails with E_IK and the residual for an unreachable target", () => {
    const emb = load("panda");
    const target = forwardKinematics(emb, emb.home);
    target.position[0] = 3;
    const r = solveIk(emb, target, emb.home, { restarts: 2 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("E_IK");
    expect(r.error.message).toMatch(/best residual \d+\.\d+ mm/);
    expect(r.error.detail?.positionResidual).toBeGreaterThan(1);
  });

  it("rejects a non-finite target or a seed of the wrong length", () => {
    const emb = load("xarm6");
    const target = forwardKinematics(emb, emb.home);
    target.rotation[4] = Number.NaN;
    const bad = solveIk(emb, target, emb.home);
    expect(bad.ok || bad.error.code).toBe("E_IK");
    const short = solveIk(emb, forwardKinematics(emb, emb.home), [0, 0, 0]);
    expect(short.ok || short.error.message).toContain("seed has 3 values");
  });

  it("returns the seed's own solution when the target is the seed's pose", () => {
    const emb = load("xarm7");
    const r = unwrap(solveIk(emb, forwardKinematics(emb, emb.home), emb.home));
    r.forEach((v, i) => expect(v).toBeCloseTo(emb.home[i]!, 9));
  });
});

describe("a bounded step near a wrist singularity", () => {
  // xArm6 with joint 5 near zero: joints 4 and 6 turn about nearly one axis, and a small turn of
  // the hand about the lost axis asks them to swing in opposite directions
  const xarm6 = load("xarm6");
  const q0 = Float64Array.from(xarm6.home);
  q0[4] = 0.01;
  const start = forwardKinematics(xarm6, q0);
  const turn = rotationFromVector(0, 0, 0.06, new Float64Array(9));
  const rotation = new Float64Array(9);
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 3; c++)
      for (let k = 0; k < 3; k++)
        rotation[3 * r + c] = rotation[3 * r + c]! + turn[3 * r + k]! * start.rotation[3 * k + c]!;
  const target: Pose = {
    position: Float64Array.from(start.position, (x, i) => (i === 0 ? x + 0.005 : x)),
    rotation,
  };
  const base = { restarts: 0, centering: 0, positionTolerance: 2e-4, orientationTolerance: 2e-3 };
  const moved = (q: ArrayLike<number>) => Math.max(...q0.map((x, i) => Math.abs(q[i]! - x)));

  it("unbounded, the solution swings the wrist", () => {
    expect(moved(unwrap(solveIk(xarm6, target, q0, base)))).toBeGreaterThan(0.4);
  });

  it("bounded, every joint stays within maxDeviation of the seed and the TCP keeps its place", () => {
    const r = solveIk(xarm6, target, q0, { ...base, maxDeviation: 0.1, orientationWeight: 0.1 });
    expect(r.ok).toBe(false); // the turn cannot be met within the bound
    if (r.ok) return;
    const d = r.error.detail as { best: number[]; positionResidual: number };
    expect(moved(d.best)).toBeLessThanOrEqual(0.1 + 1e-12);
    expect(d.positionResidual).toBeLessThan(0.001);
    // weighted equally, the bounded solve gives up position for orientation instead
    const even = solveIk(xarm6, target, q0, { ...base, maxDeviation: 0.1 });
    expect(
      !even.ok && (even.error.detail as { positionResidual: number }).positionResidual,
    ).toBeGreaterThan(0.005);
  });
});
