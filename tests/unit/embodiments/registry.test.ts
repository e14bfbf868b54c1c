import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { definitionPath, loadEmbodiment, parseEmbodiment } from "../../../embodiments/registry.ts";
import { EMBODIMENT_NAMES, type Embodiment } from "../../../embodiments/schema.ts";
import { JSON_SCHEMA_PATH, renderJsonSchema } from "../../../embodiments/write-json-schema.ts";
import { unwrap } from "../../../lib/errors.ts";

type RawDefinition = { joints: Record<string, unknown>[]; driver: Record<string, unknown> };
const rawDefinition = (name: string) =>
  parseYaml(readFileSync(definitionPath(name), "utf8")) as RawDefinition;

describe("loadEmbodiment", () => {
  it.each(EMBODIMENT_NAMES)("loads and validates %s", (name) => {
    const r = loadEmbodiment(name);
    expect(r.ok, r.ok ? "" : r.error.message).toBe(true);
    const emb = unwrap(r);
    expect(emb.name).toBe(name);
    expect(emb.sources.length).toBeGreaterThanOrEqual(3);
    expect(emb.model.action_space).toBe("absolute_joint");
  });

  it("puts every arm in the same padded layout: joints at 0..n-1, gripper at 7", () => {
    for (const name of EMBODIMENT_NAMES) {
      const emb = unwrap(loadEmbodiment(name));
      const n = emb.joints.length;
      const expected = [...Array.from({ length: n }, (_, i) => i), 7];
      expect(emb.model.state_indices).toEqual(expected);
      expect(emb.model.action_indices).toEqual(expected);
      expect([emb.model.state_dim, emb.model.action_dim]).toEqual([64, 32]);
    }
  });

  it("uses the official drivers' joint names and controller topics", () => {
    const names = (e: Embodiment) => [...e.joints.map((j) => j.name), e.gripper.joint];
    const panda = unwrap(loadEmbodiment("panda"));
    expect(names(panda)).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((i) => `panda_joint${i}`).concat("panda_finger_joint1"),
    );
    expect(panda.driver.trajectory_topic).toBe("/panda_arm_controller/joint_trajectory");
    expect(names(unwrap(loadEmbodiment("xarm6")))).toEqual([
      "joint1",
      "joint2",
      "joint3",
      "joint4",
      "joint5",
      "joint6",
      "drive_joint",
    ]);
    expect(unwrap(loadEmbodiment("xarm7")).driver.trajectory_topic).toBe(
      "/xarm7_traj_controller/joint_trajectory",
    );
    const wx = unwrap(loadEmbodiment("widowx_ai"));
    expect(names(wx)).toEqual([
      "joint_0",
      "joint_1",
      "joint_2",
      "joint_3",
      "joint_4",
      "joint_5",
      "left_carriage_joint",
    ]);
    expect(wx.gripper.interface).toBe("parallel_gripper");
  });

  it("rejects an unknown name and lists the known ones", () => {
    const r = loadEmbodiment("ur5");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("E_UNKNOWN_EMBODIMENT");
    for (const name of EMBODIMENT_NAMES) expect(r.error.message).toContain(name);
  });

  it("renames Panda's arm and gripper joints and namespaces for the fr3_ prefix", () => {
    const fr3 = unwrap(loadEmbodiment("panda", { prefix: "fr3_" }));
    expect(fr3.joints.map((j) => j.name)).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((i) => `fr3_joint${i}`),
    );
    expect(fr3.gripper.joint).toBe("fr3_finger_joint1");
    expect(fr3.gripper.mimic_joints).toEqual(["fr3_finger_joint2"]);
    expect(fr3.driver.trajectory_topic).toBe("/fr3_arm_controller/joint_trajectory");
    expect(fr3.gripper.command).toBe("/fr3_gripper/gripper_action");
    expect(unwrap(loadEmbodiment("panda", { prefix: "fer_" })).joints[0]!.name).toBe("fer_joint1");
  });

  it("rejects a prefix the definition does not list", () => {
    const r = loadEmbodiment("panda", { prefix: "ur_" });
    expect(r.ok || r.error.code).toBe("E_CONFIG");
    expect(loadEmbodiment("xarm6", { prefix: "left_" }).ok).toBe(false);
  });
});

describe("parseEmbodiment", () => {
  const errorOf = (data: unknown) => {
    const r = parseEmbodiment(data, "test.yaml");
    if (r.ok) throw new Error("expected a validation error");
    expect(r.error.code).toBe("E_EMBODIMENT_DEFINITION");
    return r.error.message;
  };

  it("names the field of inverted limits", () => {
    const d = rawDefinition("xarm6");
    d.joints[2]!.position = { lower: 1, upper: -1 };
    expect(errorOf(d)).toContain("joints.2.position: lower must be below upper");
  });

  it("names the fields that no longer match when a joint is missing", () => {
    const d = rawDefinition("panda");
    d.joints.splice(3, 1);
    const msg = errorOf(d);
    expect(msg).toContain("kinematics.dh: needs 6 rows");
    expect(msg).toContain("home: needs 6 values");
  });

  it("names a negative control rate", () => {
    const d = rawDefinition("widowx_ai");
    d.driver.control_rate_hz = -100;
    expect(errorOf(d)).toMatch(/driver\.control_rate_hz: /);
  });

  it("names a joint without a velocity limit", () => {
    const d = rawDefinition("panda");
    delete d.joints[4]!.velocity;
    expect(errorOf(d)).toMatch(/joints\.4\.velocity: /);
  });
});

describe("embodiment.schema.json", () => {
  it("is up to date with the zod schema (npx tsx embodiments/write-json-schema.ts)", async () => {
    expect(readFileSync(JSON_SCHEMA_PATH, "utf8")).toBe(await renderJsonSchema());
  });
});
