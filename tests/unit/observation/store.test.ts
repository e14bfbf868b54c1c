import { describe, expect, it } from "vitest";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { fail, ok, unwrap } from "../../../lib/errors.ts";
import {
  JointStateMatcher,
  ObservationStore,
  checkImage,
  type Problem,
} from "../../../lib/observation/index.ts";

const emb = unwrap(loadEmbodiment("xarm6"));
const names = emb.joints.map((j) => j.name);
const good = () =>
  checkImage("front", { width: 2, height: 2, encoding: "rgb8", step: 6, data: new Uint8Array(12) });
const joints = (t: number) =>
  new JointStateMatcher(emb).match({ name: names, position: emb.home }, t);

function store() {
  const s = new ObservationStore(["front", "wrist"], {
    imageTimeoutSec: 0.5,
    jointTimeoutSec: 0.2,
  });
  const problems: Problem[] = [];
  s.problems$.subscribe((p) => problems.push(p));
  return { s, problems };
}

describe("ObservationStore", () => {
  it("is valid once every camera and the joints are fresh", () => {
    const { s } = store();
    expect(s.snapshot(1).ok).toBe(false);
    s.putImage("front", good(), 1);
    s.putImage("wrist", good(), 1);
    s.putJoints(joints(1));
    const r = s.snapshot(1.1);
    expect(r.ok).toBe(true);
    if (r.ok) expect(Object.keys(r.value.images).sort()).toEqual(["front", "wrist"]);
  });
  it("a bad image invalidates the camera until a good one arrives, and is reported once", () => {
    const { s, problems } = store();
    s.putImage("front", good(), 1);
    s.putImage("wrist", good(), 1);
    s.putJoints(joints(1));
    const bad = checkImage("wrist", {
      width: 2,
      height: 2,
      encoding: "rgb8",
      step: 5,
      data: new Uint8Array(12),
    });
    s.putImage("wrist", bad, 1.05);
    s.putImage("wrist", bad, 1.1);
    const r = s.snapshot(1.1);
    expect(!r.ok && r.error.code).toBe("E_IMAGE_SIZE");
    expect(problems.filter((p) => p.code === "E_IMAGE_SIZE")).toHaveLength(1);
    s.putImage("wrist", good(), 1.15);
    expect(s.snapshot(1.15).ok).toBe(true);
  });
  it("a camera that stops publishing goes stale", () => {
    const { s } = store();
    s.putImage("front", good(), 1);
    s.putImage("wrist", good(), 1);
    s.putJoints(joints(1.9));
    const r = s.snapshot(2);
    expect(!r.ok && r.error.code).toBe("E_STALE_IMAGE");
    expect(!r.ok && r.error.message).toContain("camera front");
  });
  it("joint states that stop arriving go stale; a bad reading drops the last good one", () => {
    const { s } = store();
    s.putImage("front", good(), 2);
    s.putImage("wrist", good(), 2);
    s.putJoints(joints(1));
    expect(!s.snapshot(2).ok && s.check(2)?.code).toBe("E_STALE_JOINT_STATE");
    s.putJoints(joints(2));
    expect(s.snapshot(2).ok).toBe(true);
    s.putJoints(fail("E_JOINT_NONFINITE", "joint joint2 position is NaN"));
    expect(s.check(2)?.code).toBe("E_JOINT_NONFINITE");
    expect(s.latestJoints).toBeNull();
  });
  it("a controller-only store needs only the joints", () => {
    const s = new ObservationStore([], {
      imageTimeoutSec: 0.5,
      jointTimeoutSec: 0.2,
      requireImages: false,
    });
    s.putJoints(joints(1));
    expect(s.check(1.1)).toBeNull();
    expect(s.putImage("front", ok(unwrap(good())), 1)).toBeUndefined();
  });
});
