/**
 * A model trained with the arm's measured motion (`stage2 train --state-motion`) names the state
 * slots and scale of the joint velocities in its manifest (state.velocity): the sampler feeds them,
 * refuses a state without them or with non-finite ones, and a bad velocity map fails at load.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../lib/errors.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import {
  addStateVelocity,
  editManifest,
  CPU_SESSION,
  fixtureIntent,
  XARM6_STATE,
  maxAbsDiff,
  memoryLogger,
  MODEL_DIR,
  scratchModel,
  type RawManifest,
} from "./support.ts";

const cpu = CPU_SESSION;
const quiet = () => memoryLogger().log;
const intent = fixtureIntent;

describe("a model whose state carries the joint velocities", () => {
  let dir: string;
  let moving: BlmModel;
  let plain: BlmModel;
  beforeAll(async () => {
    dir = await scratchModel();
    await editManifest(dir, (m) => addStateVelocity(m, "xarm6", 0.5));
    moving = unwrap(await BlmModel.load(dir, { session: cpu, logger: quiet() }));
    plain = unwrap(await BlmModel.load(MODEL_DIR, { session: cpu, logger: quiet() }));
  });
  afterAll(async () => {
    await Promise.all([moving?.dispose(), plain?.dispose()]);
    await rm(dir, { recursive: true, force: true });
  });

  const chunk = async (model: BlmModel, velocity?: ArrayLike<number>) => {
    const s = unwrap(model.createSampler("xarm6", { seed: 3 }));
    return s.sample({ state: XARM6_STATE, velocity, intent: intent() });
  };

  it("reads them: at rest it equals the positions-only model, moving it plans differently", async () => {
    const base = unwrap(await chunk(plain)).positions;
    const still = unwrap(await chunk(moving, new Float64Array(6))).positions;
    const going = unwrap(await chunk(moving, [0.4, -0.3, 0.2, 0, 0.1, 0.5])).positions;
    expect(maxAbsDiff(still, base)).toBe(0);
    expect(maxAbsDiff(going, base)).toBeGreaterThan(1e-4);
  });

  it("puts each velocity times its scale in its slot and leaves the positions as they were", () => {
    const codec = unwrap(moving.createSampler("xarm6")).codec;
    expect(codec.needsVelocity).toBe(true);
    const withVel = new Float32Array(64);
    const without = new Float32Array(64);
    unwrap(codec.normalizeState(XARM6_STATE, withVel, [0.4, -0.3, 0.2, 0, 0.1, 0.5]));
    unwrap(unwrap(plain.createSampler("xarm6")).codec.normalizeState(XARM6_STATE, without));
    expect(Array.from(withVel.subarray(8, 14))).toEqual(
      [0.2, -0.15, 0.1, 0, 0.05, 0.25].map((x) => Math.fround(x)),
    );
    withVel.fill(0, 8, 14);
    expect(Array.from(withVel)).toEqual(Array.from(without));
  });

  it("refuses a state without velocities, with too few, or with a non-finite one (E_MODEL_INPUT)", async () => {
    const none = await chunk(moving);
    expect(none.ok || none.error.message).toMatch(
      /xarm6: the model needs the arm joints' velocities/,
    );
    const short = await chunk(moving, [0, 0, 0]);
    expect(short.ok || short.error.message).toMatch(/3 joint velocities, expected 6/);
    const nan = await chunk(moving, [0, 0, NaN, 0, 0, 0]);
    expect(nan.ok || nan.error.code).toBe("E_MODEL_INPUT");
    if (!nan.ok) expect(nan.error.message).toContain("velocity of joint3 is NaN");
  });

  it("a positions-only model ignores velocities it is given", async () => {
    expect(unwrap(plain.createSampler("xarm6")).codec.needsVelocity).toBe(false);
    const base = unwrap(await chunk(plain)).positions;
    const given = unwrap(await chunk(plain, [1, 1, 1, 1, 1, 1])).positions;
    expect(maxAbsDiff(given, base)).toBe(0);
  });
});

describe("a bad velocity map fails at load with E_MODEL_CORRUPT", () => {
  const cases: Array<[string, (m: RawManifest) => void, RegExp]> = [
    [
      "one index per arm joint",
      (m) => m.embodiments.panda.state.velocity.indices.pop(),
      /panda\.state\.velocity\.indices: needs 7 indices/,
    ],
    [
      "a scale per index",
      (m) => m.embodiments.panda.state.velocity.scale.pop(),
      /panda\.state\.velocity\.scale: needs 7 entries/,
    ],
    [
      "no slot shared with a position",
      (m) => (m.embodiments.panda.state.velocity.indices[0] = m.embodiments.panda.state.indices[3]),
      /overlap the position or TCP indices/,
    ],
    [
      "inside state_dim",
      (m) => (m.embodiments.panda.state.velocity.indices[6] = 64),
      /index beyond state_dim 64/,
    ],
    [
      "a positive scale",
      (m) => (m.embodiments.panda.state.velocity.scale[2] = 0),
      /panda\.state\.velocity\.scale/,
    ],
  ];
  for (const [name, edit, message] of cases)
    it(name, async () => {
      const d = await scratchModel();
      await editManifest(d, (m) => {
        addStateVelocity(m, "panda");
        edit(m);
      });
      const r = await BlmModel.load(d, { session: cpu, logger: quiet() });
      expect(r.ok || r.error.code).toBe("E_MODEL_CORRUPT");
      if (!r.ok) expect(r.error.message).toMatch(message);
      await rm(d, { recursive: true, force: true });
    });
});
