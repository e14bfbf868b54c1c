import { describe, expect, it } from "vitest";
import {
  flangePose,
  forwardKinematics,
  jointFrames,
  type Pose,
} from "../../../embodiments/kinematics/index.ts";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { EMBODIMENT_NAMES } from "../../../embodiments/schema.ts";
import { unwrap } from "../../../lib/errors.ts";
import { PUBLISHED_CHAINS, publishedFk } from "../../support/embodiments/published-chains.ts";
import { randomQ, rng } from "../../support/embodiments/random.ts";

const load = (name: string) => unwrap(loadEmbodiment(name));
const BASE_X = -0.615;
const DOWN = [1, 0, 0, 0, -1, 0, 0, 0, -1]; // x forward, z down: "roll 180°"

function expectPose(p: Pose, xyz: number[], rotation: number[] | undefined, tol = 1e-9) {
  p.position.forEach((v, i) => expect(v).toBeCloseTo(xyz[i]!, -Math.log10(tol)));
  rotation?.forEach((v, i) => expect(p.rotation[i]).toBeCloseTo(v, -Math.log10(tol)));
}

describe("forwardKinematics at the zero configuration (published reference poses)", () => {
  it("Panda: flange at (0.088, 0, 0.926) from the base, pointing down (Franka DH table)", () => {
    // x: a4 + a5 + a7 = 0.0825 − 0.0825 + 0.088; z: d1 + d3 + d5 − d_flange = 0.333 + 0.316 + 0.384 − 0.107.
    const panda = load("panda");
    expectPose(flangePose(panda, new Float64Array(7)), [BASE_X + 0.088, 0, 0.926], DOWN);
    // TCP 0.1034 further along the (downward) flange z, hand turned −π/4 about it.
    const c = Math.SQRT1_2;
    expectPose(
      forwardKinematics(panda, new Float64Array(7)),
      [BASE_X + 0.088, 0, 0.926 - 0.1034],
      [c, c, 0, c, -c, 0, 0, 0, -1],
    );
  });

  it("xArm6: flange at (207, 0, 112) mm, roll 180° (UFACTORY's zero position)", () => {
    // UFACTORY's a2 = 289.48866 and T2 offset −1.3849179 are rounded: z comes out 2 µm high.
    const xarm6 = load("xarm6");
    expectPose(flangePose(xarm6, new Float64Array(6)), [BASE_X + 0.207, 0, 0.112], DOWN, 1e-5);
    expectPose(
      forwardKinematics(xarm6, new Float64Array(6)),
      [BASE_X + 0.207, 0, 0.112 - 0.172],
      DOWN,
      1e-5,
    );
  });

  it("xArm7: flange at (206, 0, 120.5) mm, roll 180° (UFACTORY's zero position)", () => {
    // x: a3 + a4 + a6 = 52.5 + 77.5 + 76; z: d1 + d3 − d5 − d7 = 267 + 293 − 342.5 − 97.
    expectPose(
      flangePose(load("xarm7"), new Float64Array(7)),
      [BASE_X + 0.206, 0, 0.1205],
      DOWN,
      1e-6,
    );
  });

  it("WidowX AI: flange at link_6 (0.0977, 0, 0.1635), TCP 0.15606 ahead (trossen_arm_description)", () => {
    // URDF origins: x 0.02 − 0.264 + 0.245 + 0.06775 + 0.02895, z 0.05725 + 0.04625 + 0.06 + 0.0455 − 0.0455.
    const wx = load("widowx_ai");
    expectPose(
      flangePose(wx, new Float64Array(6)),
      [BASE_X + 0.0977, 0, 0.1635],
      [1, 0, 0, 0, 1, 0, 0, 0, 1],
      1e-6,
    );
    expectPose(
      forwardKinematics(wx, new Float64Array(6)),
      [BASE_X + 0.0977 + 0.15606, 0, 0.1635],
      [0, 0, 1, 0, 1, 0, -1, 0, 0],
      1e-6,
    );
  });
});

describe("forwardKinematics against the manufacturers' URDF joint origins", () => {
  it.each(EMBODIMENT_NAMES)("%s agrees at 500 random configurations", (name) => {
    const emb = load(name);
    const chain = PUBLISHED_CHAINS[name]!;
    const next = rng(11);
    let worstPos = 0,
      worstRot = 0;
    for (let k = 0; k < 500; k++) {
      const q = randomQ(emb, next);
      const ours = forwardKinematics(emb, q);
      const ref = publishedFk(chain, q, [BASE_X, 0, 0]).tcp;
      for (let r = 0; r < 3; r++) {
        worstPos = Math.max(worstPos, Math.abs(ours.position[r]! - ref[r]![3]!));
        for (let c = 0; c < 3; c++)
          worstRot = Math.max(worstRot, Math.abs(ours.rotation[3 * r + c]! - ref[r]![c]!));
      }
    }
    // The xArm URDFs round π/2 to 1.5708 (3.7e-6 rad off), hence micrometres, not nanometres.
    expect(worstPos).toBeLessThan(1e-5);
    expect(worstRot).toBeLessThan(2e-5);
  });
});

describe("home configurations", () => {
  it.each(EMBODIMENT_NAMES)(
    "%s: TCP points down, above the table, in front of the base, inside the workspace",
    (name) => {
      const emb = load(name);
      const tcp = forwardKinematics(emb, emb.home);
      expect(tcp.rotation[8]).toBeLessThan(-0.99); // approach axis within 8° of straight down
      expect(tcp.position[2]).toBeGreaterThan(0.12);
      expect(tcp.position[2]).toBeLessThan(0.25);
      expect(tcp.position[0]! - BASE_X).toBeGreaterThan(0.25);
      expect(Math.abs(tcp.position[1]!)).toBeLessThan(1e-9);
      const { min, max } = emb.safety.workspace;
      for (let i = 0; i < 3; i++) {
        expect(tcp.position[i]).toBeGreaterThan(min[i]!);
        expect(tcp.position[i]).toBeLessThan(max[i]!);
      }
    },
  );
});

describe("jointFrames", () => {
  it("returns one frame per joint, the first on the base's vertical axis", () => {
    for (const name of EMBODIMENT_NAMES) {
      const emb = load(name);
      const frames = jointFrames(emb, emb.home);
      expect(frames).toHaveLength(emb.joints.length);
      expect(frames[0]!.rotation[8]).toBeCloseTo(1, 12);
      expect(frames[0]!.position[0]).toBeCloseTo(BASE_X, 12);
    }
  });
});
