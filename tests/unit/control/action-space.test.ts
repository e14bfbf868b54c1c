import { describe, expect, it } from "vitest";
import {
  ActionConverter,
  convertActions,
  gripperJointPosition,
  gripperWidth,
  EE_POSE_ROW_STEP,
  pose9,
  poseFrom9,
  rotationFromVector,
} from "../../../embodiments/control/index.ts";
import { unwrap } from "../../../lib/errors.ts";
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

  describe("ee_pose: each row a TCP pose the IK reaches from the previous row's joints", () => {
    const xarm6 = EMBODIMENTS.find((e) => e.name === "xarm6")!;
    const m = xarm6.joints.length;
    const H = 8;
    // a joint path from home: its TCP poses are rows the arm can reach exactly
    const path = (e: typeof xarm6) =>
      Array.from({ length: H }, (_, k) =>
        Float64Array.from(home(e), (q, j) => q + 0.02 * (k + 1) * Math.cos(j)),
      );
    const rows = (e: typeof xarm6, qs: Float64Array[], jaw = 0.05) => {
      const out = new Float64Array(qs.length * 10);
      qs.forEach((q, k) => {
        out.set(pose9(forwardKinematics(e, q)), k * 10);
        out[k * 10 + 9] = jaw;
      });
      return out;
    };
    const convert = (e: typeof xarm6, actions: Float64Array, horizon = H) =>
      convertActions(e, actions, home(e), {
        stampSec: 0,
        dt: 0.05,
        horizon,
        space: "ee_pose",
        gripper: "width",
      });

    for (const name of ["xarm6", "panda"]) {
      it(`${name}: the chunk's TCP follows the rows to a tenth of a millimetre, the joints stay on the path`, () => {
        const e = EMBODIMENTS.find((x) => x.name === name)!;
        const k = e.joints.length;
        const qs = path(e);
        const r = convert(e, rows(e, qs));
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        for (let i = 0; i < H; i++) {
          const q = r.value.positions.subarray(i * k, (i + 1) * k);
          const got = pose9(forwardKinematics(e, q));
          const want = pose9(forwardKinematics(e, qs[i]!));
          for (let c = 0; c < 3; c++) expect(Math.abs(got[c]! - want[c]!)).toBeLessThan(2.5e-4);
          // seeded from the previous row: no jump to another posture (the redundant Panda included)
          for (let j = 0; j < k; j++) expect(Math.abs(q[j]! - qs[i]![j]!)).toBeLessThan(0.05);
        }
        expect(r.value.gripper[0]).toBeCloseTo(gripperJointPosition(e, 0.05, "width"), 12);
      });
    }

    it("keeps a redundant arm's posture: out and back along a line, the Panda returns to its joints", () => {
      const panda = EMBODIMENTS.find((e) => e.name === "panda")!;
      // a posture far from mid-range (joint 6 near its upper end), where a pull to the middle shows
      const q0 = Float64Array.from([0.3, 0.6, -0.4, -2.2, 0.3, 3.2, 1.2]);
      const start = forwardKinematics(panda, q0);
      const poses = new Float64Array(16 * 10);
      for (let k = 0; k < 16; k++) {
        const p = { position: Float64Array.from(start.position), rotation: start.rotation };
        p.position[0]! += 0.06 * Math.sin((Math.PI * (k + 1)) / 16); // 6 cm out, back at row 15
        poses.set(pose9(p), k * 10);
        poses[k * 10 + 9] = 0.05;
      }
      const r = convertActions(panda, poses, q0, {
        stampSec: 0,
        dt: 0.05,
        horizon: 16,
        space: "ee_pose",
        gripper: "width",
      });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const last = r.value.positions.subarray(15 * 7, 16 * 7);
      for (let j = 0; j < 7; j++) expect(Math.abs(last[j]! - q0[j]!)).toBeLessThan(0.01);
    });

    it("solves each chunk from the measured joints, not from a chunk that never ran", () => {
      const panda = EMBODIMENTS.find((e) => e.name === "panda")!;
      const conv = new ActionConverter(panda, { space: "ee_pose", gripper: "width" });
      conv.reset(home(panda));
      const hold = (q: ArrayLike<number>) => {
        const rows = new Float64Array(4 * 10);
        for (let k = 0; k < 4; k++) rows.set([...pose9(forwardKinematics(panda, q)), 0.05], k * 10);
        return rows;
      };
      // a chunk converted (and, say, rejected by the controller) at another posture, 0.3 rad away
      const phantom = Float64Array.from(home(panda), (q, j) => (j === 2 ? q + 0.3 : q));
      conv.reset(phantom);
      expect(conv.convert(hold(phantom), 1, 0.05, 4).ok).toBe(true);
      // the arm is still at home: the next chunk, holding its TCP, keeps home's joints
      const next = conv.convert(hold(home(panda)), 1.1, 0.05, 4, home(panda));
      expect(next.ok).toBe(true);
      if (!next.ok) return;
      for (let j = 0; j < 7; j++)
        expect(Math.abs(next.value.positions[3 * 7 + j]! - panda.home[j]!)).toBeLessThan(1e-6);
      // seeded from the phantom instead, it cannot get there (E_IK) or keeps part of that posture
      conv.reset(phantom);
      expect(conv.convert(hold(phantom), 1.2, 0.05, 4).ok).toBe(true);
      const fromPhantom = conv.convert(hold(home(panda)), 1.3, 0.05, 4);
      const off = fromPhantom.ok
        ? Math.max(
            ...panda.home.map((q, j) => Math.abs(fromPhantom.value.positions[3 * 7 + j]! - q)),
          )
        : Infinity;
      expect(off).toBeGreaterThan(0.02);
    });

    it("moves no joint more than EE_POSE_ROW_STEP per row: at a singular wrist the hand lags, the wrist does not swing", () => {
      const q0 = Float64Array.from(xarm6.home);
      q0[4] = 0.01; // joints 4 and 6 nearly aligned
      const start = forwardKinematics(xarm6, q0);
      const rows = new Float64Array(H * 10);
      for (let k = 0; k < H; k++) {
        const turn = rotationFromVector(0, 0, (0.06 * (k + 1)) / H, new Float64Array(9));
        const rotation = new Float64Array(9);
        for (let r = 0; r < 3; r++)
          for (let c = 0; c < 3; c++)
            for (let i = 0; i < 3; i++)
              rotation[3 * r + c] =
                rotation[3 * r + c]! + turn[3 * r + i]! * start.rotation[3 * i + c]!;
        rows.set([...pose9({ position: start.position, rotation }), 0.05], k * 10);
      }
      const r = convertActions(xarm6, rows, q0, {
        stampSec: 0,
        dt: 0.05,
        horizon: H,
        space: "ee_pose",
        gripper: "width",
      });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      let prev: ArrayLike<number> = q0;
      for (let k = 0; k < H; k++) {
        const q = r.value.positions.subarray(k * m, (k + 1) * m);
        for (let j = 0; j < m; j++)
          expect(Math.abs(q[j]! - prev[j]!)).toBeLessThanOrEqual(EE_POSE_ROW_STEP + 1e-9);
        const tcp = forwardKinematics(xarm6, q).position;
        expect(Math.hypot(...[0, 1, 2].map((c) => tcp[c]! - start.position[c]!))).toBeLessThan(
          0.002,
        );
        prev = q;
      }
    });

    it("orthonormalizes rotation columns that are slightly off, as a model's output is", () => {
      const a = rows(xarm6, path(xarm6));
      for (let k = 0; k < H; k++) {
        a[k * 10 + 3]! *= 1.03;
        a[k * 10 + 7]! += 0.02;
      }
      const r = convert(xarm6, a);
      expect(r.ok).toBe(true);
      const p = unwrap(poseFrom9(a, 0));
      const R = p.rotation;
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          let d = 0;
          for (let c = 0; c < 3; c++) d += R[3 * c + i]! * R[3 * c + j]!;
          expect(d).toBeCloseTo(i === j ? 1 : 0, 12);
        }
    });

    it("fails the chunk (E_IK) on a row out of reach or a degenerate rotation, never a jump", () => {
      const far = rows(xarm6, path(xarm6));
      far[3 * 10] = 2.5; // row 3 two metres away
      const r = convert(xarm6, far);
      expect(r.ok || r.error.code).toBe("E_IK");
      expect(r.ok || r.error.message).toMatch(/^E_IK: row 3: xarm6: no solution/);
      const flat = rows(xarm6, path(xarm6));
      flat.fill(0, 3, 9); // row 0 without a rotation
      const z = convert(xarm6, flat);
      expect(z.ok || z.error.message).toMatch(/^E_IK: row 0: TCP rotation.s first column is zero/);
      const short = convert(xarm6, new Float64Array(H * (m + 1)));
      expect(short.ok || short.error.code).toBe("E_CHUNK_SHAPE");
    });
  });
});
