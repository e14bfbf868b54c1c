import { describe, expect, it } from "vitest";
import {
  ActionConverter,
  convertActions,
  gripperJointPosition,
  gripperWidth,
} from "../../../embodiments/control/index.ts";
import { forwardKinematics } from "../../../embodiments/kinematics/index.ts";
import { EMBODIMENTS, home } from "./fixtures.ts";

describe("action-space conversion", () => {
  const emb = EMBODIMENTS[0]!; // panda
  const n = emb.joints.length;

  it("absolute joint actions become the chunk's positions, gripper width mapped to the finger joint", () => {
    const rows = new Float64Array(2 * (n + 1));
    rows.set([...home(emb), 0.08], 0);
    rows.set([...home(emb), 0.0], n + 1);
    const r = convertActions(emb, rows, home(emb), {
      stampSec: 1,
      dt: 0.05,
      horizon: 2,
      space: "absolute_joint",
      gripper: "width",
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Array.from(r.value.positions.subarray(0, n))).toEqual(emb.home);
    expect(r.value.gripper[0]).toBeCloseTo(0.04, 12); // 8 cm jaw: each finger 4 cm
    expect(r.value.gripper[1]).toBeCloseTo(0, 12);
  });

  it("maps xArm's inverted gripper (drive_joint closes as it rises) for width and open/close", () => {
    const xarm = EMBODIMENTS.find((e) => e.name === "xarm6")!;
    expect(gripperJointPosition(xarm, xarm.gripper.width_at_lower, "width")).toBeCloseTo(
      xarm.gripper.position.lower,
      12,
    );
    expect(gripperJointPosition(xarm, 0, "width")).toBeCloseTo(xarm.gripper.position.upper, 12);
    expect(gripperJointPosition(xarm, 1, "open_close")).toBe(xarm.gripper.position.lower); // open
    expect(gripperJointPosition(xarm, 0, "open_close")).toBe(xarm.gripper.position.upper); // closed
    expect(gripperJointPosition(xarm, 5, "width")).toBe(xarm.gripper.position.lower); // clamped
    expect(gripperWidth(xarm, gripperJointPosition(xarm, 0.03, "width"))).toBeCloseTo(0.03, 12);
  });

  it("joint deltas accumulate from the previously commanded target, not from the measured state", () => {
    const conv = new ActionConverter(emb, { space: "delta_joint", gripper: "width" });
    conv.reset(home(emb));
    const d = new Float64Array(4 * (n + 1));
    for (let k = 0; k < 4; k++) d[k * (n + 1)] = 0.01;
    const a = conv.convert(d, 1, 0.05, 4);
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    expect(a.value.positions[3 * n]).toBeCloseTo(emb.home[0]! + 0.04, 12);
    // The next observation (at 1.1 s) sees the arm lagging, but the anchor is the target the
    // last chunk commanded for 1.1 s: point 1 (due at 1 + 2·0.05).
    const b = conv.convert(d, 1.1, 0.05, 4);
    expect(b.ok).toBe(true);
    if (!b.ok) return;
    expect(b.value.positions[0]).toBeCloseTo(emb.home[0]! + 0.02 + 0.01, 12);
  });

  it("end-effector deltas go through IK: FK of each row's joints reaches the accumulated pose", () => {
    const q0 = home(emb);
    const p0 = forwardKinematics(emb, q0).position;
    const rows = new Float64Array(3 * 7);
    for (let k = 0; k < 3; k++) rows.set([0.01, 0, -0.005, 0, 0, 0.02, 0.04], k * 7);
    const r = convertActions(emb, rows, q0, {
      stampSec: 0,
      dt: 0.05,
      horizon: 3,
      space: "ee_delta",
      gripper: "width",
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const p = forwardKinematics(emb, r.value.positions.subarray(2 * n, 3 * n)).position;
    expect(p[0]).toBeCloseTo(p0[0]! + 0.03, 3);
    expect(p[2]).toBeCloseTo(p0[2]! - 0.015, 3);
  });

  it("rejects wrong lengths and non-finite actions with typed errors", () => {
    const bad = convertActions(emb, new Float64Array(5), home(emb), {
      stampSec: 0,
      dt: 0.05,
      horizon: 1,
    });
    expect(!bad.ok && bad.error.code).toBe("E_CHUNK_SHAPE");
    const rows = new Float64Array(n + 1).fill(0);
    rows[2] = NaN;
    const nan = convertActions(emb, rows, home(emb), { stampSec: 0, dt: 0.05, horizon: 1 });
    expect(!nan.ok && nan.error.code).toBe("E_CHUNK_NONFINITE");
  });
});
