import { describe, expect, it } from "vitest";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { unwrap } from "../../../lib/errors.ts";
import { JointStateMatcher } from "../../../lib/observation/index.ts";

const emb = unwrap(loadEmbodiment("panda"));
const names = emb.joints.map((j) => j.name);

describe("JointStateMatcher", () => {
  it("matches joints by name whatever the order, and reads the gripper", () => {
    const m = new JointStateMatcher(emb);
    const order = [emb.gripper.joint, ...names].reverse();
    const pos = order.map((n) => (n === emb.gripper.joint ? 0.02 : emb.home[names.indexOf(n)]!));
    const r = m.match({ name: order, position: pos }, 5);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(Array.from(r.value.q)).toEqual(emb.home);
      expect(r.value.gripper).toBeCloseTo(0.02);
      expect(r.value.stampSec).toBe(5);
    }
  });
  it("names each missing joint", () => {
    const m = new JointStateMatcher(emb);
    const r = m.match({ name: names.slice(0, 5), position: emb.home.slice(0, 5) }, 1);
    expect(!r.ok && r.error.code).toBe("E_JOINT_MISSING");
    expect(!r.ok && r.error.message).toContain("panda_joint6, panda_joint7");
  });
  it("rejects a position list shorter than the names", () => {
    const r = new JointStateMatcher(emb).match({ name: names, position: emb.home.slice(0, 6) }, 1);
    expect(!r.ok && r.error.code).toBe("E_JOINT_MISSING");
  });
  it("names a NaN or infinite joint", () => {
    const pos = emb.home.slice();
    pos[3] = NaN;
    const r = new JointStateMatcher(emb).match({ name: names, position: pos }, 1);
    expect(!r.ok && r.error.code).toBe("E_JOINT_NONFINITE");
    expect(!r.ok && r.error.message).toContain("panda_joint4");
    pos[3] = Infinity;
    expect(new JointStateMatcher(emb).match({ name: names, position: pos }, 1).ok).toBe(false);
  });
  it("names a joint outside its limits", () => {
    const pos = emb.home.slice();
    pos[0] = 3.5;
    const r = new JointStateMatcher(emb).match({ name: names, position: pos }, 1);
    expect(!r.ok && r.error.code).toBe("E_JOINT_OUT_OF_LIMIT");
    expect(!r.ok && r.error.message).toContain("panda_joint1");
  });
  it("rejects non-finite velocities", () => {
    const vel = names.map(() => 0);
    vel[2] = NaN;
    const r = new JointStateMatcher(emb).match(
      { name: names, position: emb.home, velocity: vel },
      1,
    );
    expect(!r.ok && r.error.code).toBe("E_JOINT_NONFINITE");
  });
  it("keeps the last gripper reading when a message lacks it", () => {
    const m = new JointStateMatcher(emb);
    m.match({ name: [...names, emb.gripper.joint], position: [...emb.home, 0.03] }, 1);
    const r = m.match({ name: names, position: emb.home }, 2);
    expect(r.ok && r.value.gripper).toBeCloseTo(0.03);
  });
});
