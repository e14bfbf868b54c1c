import { describe, expect, it } from "vitest";
import { toMjcf, toUrdf } from "../../../embodiments/description/index.ts";
import { serialChain } from "../../../embodiments/kinematics/chain.ts";
import {
  forwardKinematics,
  jointFrames,
  solveIk,
  type Pose,
} from "../../../embodiments/kinematics/index.ts";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { EMBODIMENT_NAMES, type Embodiment } from "../../../embodiments/schema.ts";
import { unwrap } from "../../../lib/errors.ts";
import { pythonModuleMissing, runPythonCheck } from "../../support/embodiments/python.ts";
import { randomQ, rng } from "../../support/embodiments/random.ts";

const load = (name: string) => unwrap(loadEmbodiment(name));
const FK_SAMPLES = 300;

const matrix = (p: Pose) => {
  const r = p.rotation,
    x = p.position;
  return [
    r[0],
    r[1],
    r[2],
    x[0],
    r[3],
    r[4],
    r[5],
    x[1],
    r[6],
    r[7],
    r[8],
    x[2],
    0,
    0,
    0,
    1,
  ] as number[];
};

function fkCases(emb: Embodiment) {
  const next = rng(7);
  const samples = Array.from({ length: FK_SAMPLES }, () => {
    const q = randomQ(emb, next);
    return {
      q: Array.from(q),
      tcp: matrix(forwardKinematics(emb, q)),
      frames: jointFrames(emb, q).map(matrix),
    };
  });
  return { arm_joints: emb.joints.map((j) => j.name), gripper_joint: emb.gripper.joint, samples };
}

/** A top-down pick of a 4 cm cube below the home TCP: joint targets from our IK. */
function pickPlan(emb: Embodiment) {
  const home = forwardKinematics(emb, emb.home);
  const down: Pose = {
    position: Float64Array.from(home.position),
    rotation: home.rotation.map(Math.round),
  };
  // Straight down in 1 cm steps, each solved from the previous one, so the fingers descend
  // vertically instead of sweeping along a joint-space line.
  let seed: ArrayLike<number> = emb.home;
  const at = (z: number) => {
    const p = {
      position: Float64Array.of(home.position[0]!, home.position[1]!, z),
      rotation: down.rotation,
    };
    const q = unwrap(solveIk(emb, p, seed));
    seed = q;
    return Array.from(q);
  };
  const descent = Array.from({ length: 11 }, (_, i) => at(0.13 - 0.01 * i));
  const g = emb.gripper;
  const open = g.width_at_lower > g.width_at_upper ? g.position.lower : g.position.upper;
  const closed = open === g.position.lower ? g.position.upper : g.position.lower;
  return { descent, open, closed, cube: [home.position[0], home.position[1], 0.02] };
}

describe("toUrdf", () => {
  it.each(EMBODIMENT_NAMES)(
    "%s: every joint with its limits, the gripper's mimics and a tcp frame",
    (name) => {
      const emb = load(name);
      const urdf = toUrdf(emb);
      for (const j of emb.joints) {
        expect(urdf).toContain(`<joint name="${j.name}" type="revolute">`);
        expect(urdf).toContain(
          `<limit lower="${j.position.lower}" upper="${j.position.upper}" effort="${j.effort}" velocity="${j.velocity}"/>`,
        );
      }
      expect(urdf).toContain(`<joint name="${emb.gripper.joint}"`);
      for (const m of emb.gripper.mimic_joints) {
        expect(urdf).toMatch(
          new RegExp(`<joint name="${m}"[^]*?<mimic joint="${emb.gripper.joint}"`),
        );
      }
      expect(urdf).toContain(`<link name="tcp"/>`);
      expect(urdf).toContain(`upper="${emb.gripper.position.upper}"`);
    },
  );

  it("follows the Panda prefix", () => {
    const urdf = toUrdf(unwrap(loadEmbodiment("panda", { prefix: "fr3_" })));
    expect(urdf).toContain(`<joint name="fr3_joint7"`);
    expect(urdf).toContain(`<mimic joint="fr3_finger_joint1"`);
    expect(urdf).not.toContain("panda_joint");
  });
});

describe("toMjcf", () => {
  it.each(EMBODIMENT_NAMES)(
    "%s: position actuators on every joint and the gripper, ctrlrange = limits",
    (name) => {
      const emb = load(name);
      const mjcf = toMjcf(emb);
      for (const j of [
        ...emb.joints.map((x) => ({ name: x.name, ...x.position })),
        { name: emb.gripper.joint, ...emb.gripper.position },
      ]) {
        expect(mjcf).toMatch(
          new RegExp(
            `<position name="${j.name}" joint="${j.name}" [^>]*ctrlrange="${j.lower} ${j.upper}"`,
          ),
        );
      }
      expect(mjcf).toContain(`<site name="tcp"`);
      expect(mjcf).toContain(`<camera name="wrist"`);
      expect(mjcf.match(new RegExp(` class="${name}_pad"/>`, "g"))).toHaveLength(2);
    },
  );

  it("places the tcp site where our FK puts the TCP relative to the flange", () => {
    for (const name of EMBODIMENT_NAMES) {
      const emb = load(name);
      const t = serialChain(emb).tcp;
      const distance = Math.hypot(t[3]!, t[7]!, t[11]!);
      expect(toMjcf(emb)).toMatch(new RegExp(`<site name="tcp" pos="0 0 ${distance}`));
    }
  });
});

const noPinocchio = pythonModuleMissing("pinocchio");
describe.skipIf(noPinocchio !== undefined)(
  `pinocchio on the generated URDF${noPinocchio ? ` (skipped: ${noPinocchio})` : ""}`,
  () => {
    it.each(EMBODIMENT_NAMES)(
      `%s: joint frames and TCP match our FK at ${FK_SAMPLES} random q within 1e-6`,
      (name) => {
        const emb = load(name);
        const r = runPythonCheck("check_pinocchio.py", {
          "robot.urdf": toUrdf(emb),
          "cases.json": JSON.stringify(fkCases(emb)),
        });
        expect(r.samples).toBe(FK_SAMPLES);
        expect(r.max_position_error).toBeLessThan(1e-6);
        expect(r.max_rotation_error).toBeLessThan(1e-6);
      },
    );
  },
);

const noMujoco = pythonModuleMissing("mujoco");
describe.skipIf(noMujoco !== undefined)(
  `MuJoCo on the generated MJCF${noMujoco ? ` (skipped: ${noMujoco})` : ""}`,
  () => {
    it.each(EMBODIMENT_NAMES)(
      `%s: loads, site tcp matches our FK at ${FK_SAMPLES} random q, and lifts a 4 cm cube through its actuators`,
      (name) => {
        const emb = load(name);
        const cases = { ...fkCases(emb), pick: pickPlan(emb) };
        const r = runPythonCheck("check_mujoco.py", {
          "robot.xml": toMjcf(emb),
          "cases.json": JSON.stringify(cases),
        });
        expect(r.max_position_error).toBeLessThan(1e-6);
        expect(r.max_rotation_error).toBeLessThan(1e-6);
        expect(r.cameras).toContain("wrist");
        expect(r.nu).toBe(emb.joints.length + 1);
        const pick = r.pick as Record<string, number>;
        console.info(`MJCF ${name} pick: ${JSON.stringify(pick)}`);
        expect(pick.max_tracking_error).toBeLessThan(0.05);
        expect(pick.cube_z_before_lift).toBeGreaterThan(0.018); // grasped upright, not knocked over
        expect(pick.cube_z_after_lift).toBeGreaterThan(0.08);
      },
    );
  },
);
