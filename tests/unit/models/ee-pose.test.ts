/**
 * An ee_pose model (`stage2 train --action-space ee_pose`) reads the measured TCP pose in its state
 * (manifest state.tcp) and returns TCP poses + the jaw per action row: the sampler feeds the pose,
 * refuses a state without it, names the columns, and a manifest that mixes the layouts fails at load.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../lib/errors.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import { POSE9_NAMES } from "../../../models/runtime/manifest.ts";
import {
  editManifest,
  CPU_SESSION,
  fixtureIntent,
  XARM6_STATE,
  makeEePose,
  maxAbsDiff,
  memoryLogger,
  scratchModel,
  type RawManifest,
} from "./support.ts";

const quiet = () => memoryLogger().log;
// a pose above the table, gripper pointing down: position, then the rotation's x and y columns
const TCP = [-0.3, 0.05, 0.2, 1, 0, 0, 0, -1, 0];

describe("a model whose actions are TCP poses", () => {
  let dir: string;
  let model: BlmModel;
  beforeAll(async () => {
    dir = await scratchModel();
    await editManifest(dir, (m) => makeEePose(m, "xarm6"));
    model = unwrap(await BlmModel.load(dir, { session: CPU_SESSION, logger: quiet() }));
  });
  afterAll(async () => {
    await model?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const chunk = async (tcp?: ArrayLike<number>) =>
    unwrap(model.createSampler("xarm6", { seed: 3 })).sample({
      state: XARM6_STATE,
      tcp,
      intent: fixtureIntent(),
    });

  it("returns rows of the TCP pose then the jaw, inside the pose statistics", async () => {
    const c = unwrap(await chunk(TCP));
    expect(c.names).toEqual([...POSE9_NAMES, "drive_joint"]);
    expect(c.dims).toBe(10);
    expect(c.positions.length).toBe(16 * 10);
    for (let k = 0; k < 16; k++) {
      const z = c.positions[k * 10 + 2]!;
      expect(z).toBeGreaterThanOrEqual(-0.1 - 1e-6);
      expect(z).toBeLessThanOrEqual(0.6 + 1e-6);
    }
  });

  it("reads the TCP pose: normalized into slots 16..24, and another pose gives another chunk", async () => {
    const codec = unwrap(model.createSampler("xarm6")).codec;
    expect(codec.needsTcp).toBe(true);
    const out = new Float32Array(64);
    unwrap(codec.normalizeState(XARM6_STATE, out, undefined, TCP));
    // min/max: 2 (x - lo) / (hi - lo) - 1 with lo -0.8, hi 0.2 for x; -0.1, 0.6 for z
    expect(out[16]).toBeCloseTo(2 * (0.5 / 1) - 1, 6);
    expect(out[18]).toBeCloseTo(2 * (0.3 / 0.7) - 1, 6);
    const a = unwrap(await chunk(TCP)).positions;
    const b = unwrap(await chunk([-0.4, 0.1, 0.1, 1, 0, 0, 0, -1, 0])).positions;
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-4);
  });

  it("refuses a state without the TCP pose, with too few values or a non-finite one (E_MODEL_INPUT)", async () => {
    const none = await chunk();
    expect(none.ok || none.error.code).toBe("E_MODEL_INPUT");
    expect(none.ok || none.error.message).toMatch(
      /xarm6: the model needs the TCP pose \(9 values\)/,
    );
    const short = await chunk([0, 0, 0]);
    expect(short.ok || short.error.message).toMatch(/needs the TCP pose \(9 values\), got 3/);
    const nan = await chunk([...TCP.slice(0, 4), NaN, ...TCP.slice(5)]);
    expect(nan.ok || nan.error.message).toContain("TCP pose tcp_r10 is NaN");
  });

  it("takes a committed prefix in pose units (real-time chunking)", async () => {
    const s = unwrap(model.createSampler("xarm6", { seed: 3 }));
    const prefix = Float32Array.from([...TCP, 0.05, ...TCP, 0.05]);
    const c = unwrap(
      await s.sample({
        state: XARM6_STATE,
        tcp: TCP,
        intent: fixtureIntent(),
        prefix: { actions: prefix, length: 2 },
      }),
    );
    expect(maxAbsDiff(c.positions.subarray(0, 20), prefix)).toBeLessThan(1e-5);
  });
});

describe("a manifest that mixes the joint and pose layouts fails at load with E_MODEL_CORRUPT", () => {
  const cases: Array<[string, (m: RawManifest) => void, RegExp]> = [
    [
      "ee_pose without the state's TCP pose",
      (m) => {
        makeEePose(m, "panda");
        delete m.embodiments.panda.state.tcp;
      },
      /panda\.state\.tcp: an ee_pose model needs state\.tcp/,
    ],
    [
      "ee_pose with joint-sized action rows",
      (m) => {
        const joints = structuredClone(m.embodiments.panda.action);
        makeEePose(m, "panda");
        m.embodiments.panda.action = joints;
      },
      /panda\.action\.indices: needs 10 indices \(TCP pose \+ gripper\)/,
    ],
    [
      "a TCP pose in a joint model's state",
      (m) => {
        makeEePose(m, "panda");
        m.embodiments.panda.action_space = "absolute_joint";
      },
      /state\.tcp is read by ee_pose models only/,
    ],
    [
      "a TCP slot shared with a joint",
      (m) => {
        makeEePose(m, "panda");
        m.embodiments.panda.state.tcp.indices[0] = 3;
      },
      /panda\.state\.tcp\.indices: overlap the position indices/,
    ],
    [
      "TCP statistics per value",
      (m) => {
        makeEePose(m, "panda");
        m.embodiments.panda.state.tcp.normalization.max.pop();
      },
      /panda\.state\.tcp\.normalization: statistics need 9 entries/,
    ],
  ];
  for (const [name, edit, message] of cases)
    it(name, async () => {
      const d = await scratchModel();
      await editManifest(d, edit);
      const r = await BlmModel.load(d, { session: CPU_SESSION, logger: quiet() });
      expect(r.ok || r.error.code).toBe("E_MODEL_CORRUPT");
      if (!r.ok) expect(r.error.message).toMatch(message);
      await rm(d, { recursive: true, force: true });
    });
});
