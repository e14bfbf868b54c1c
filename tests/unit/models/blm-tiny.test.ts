import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertActions, pose9 } from "../../../embodiments/control/action-space.ts";
import { CHUNK_REPAIR_DEFAULTS } from "../../../embodiments/control/executor.ts";
import { jointLimits } from "../../../embodiments/control/limits.ts";
import { checkChunk } from "../../../embodiments/control/safety.ts";
import { forwardKinematics } from "../../../embodiments/kinematics/index.ts";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { unwrap } from "../../../lib/errors.ts";
import { DEFAULT_MODEL } from "../../../nodes/params.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import { decode, f32, memoryLogger } from "./support.ts";

/**
 * The committed blm-tiny model through the real runtime, on frames of held-out expert
 * demonstrations (fixtures/episodes.json, written by `python -m blm_tiny.stage2 fixtures`):
 * - the Qwen backbone + bridge on the raw camera frames give PyTorch's intent, and the sampler
 *   with the fixture's noise gives PyTorch's chunk (parity of the whole trained model);
 * - what the executor's checkChunk makes of each chunk (accepted, or the limit it would break: then
 *   the agent holds, DESIGN's safety rules) and how far the chunks are from the expert's, against
 *   standing still, are measured and printed, not asserted: they grade the model, which the
 *   closed-loop eval (`npm run eval`) reports; this file guards the runtime's fidelity to it.
 */
const DIR = resolve(import.meta.dirname, "../../../models/blm-tiny");
const INTENT_TOL = 1e-3; // relative to the intent's largest magnitude
const CHUNK_TOL = 2e-3; // rad or m: 4 Euler steps amplify the intent's float differences a little

type Enc = Parameters<typeof decode>[0];
interface Case {
  embodiment: string;
  instruction: string;
  steps: number;
  front: Enc;
  wrist: Enc;
  state: Enc;
  /** The arm joints' reported velocities, for a model whose manifest has state.velocity. */
  velocity?: Enc;
  intent: Enc;
  noise: Enc;
  chunk: Enc;
  expert_chunk: Enc;
}

const cases = (
  JSON.parse(readFileSync(join(DIR, "fixtures", "episodes.json"), "utf8")) as { cases: Case[] }
).cases;

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => {
    const p = join(dir, f);
    return sum + (statSync(p).isDirectory() ? folderBytes(p) : statSync(p).size);
  }, 0);
}

const image = (e: Enc) => ({
  width: e.shape[1]!,
  height: e.shape[0]!,
  encoding: "rgb8" as const,
  data: decode(e) as Uint8Array,
});

describe("blm-tiny, the default model", () => {
  let model: BlmModel;
  const quality = { accepted: 0, rejected: [] as string[], errModel: 0, errHold: 0 };

  beforeAll(async () => {
    model = unwrap(
      await BlmModel.load(DIR, {
        session: { execution_provider: "cpu" },
        logger: memoryLogger().log,
      }),
    );
  });
  afterAll(async () => {
    await model?.dispose();
    console.log("blm-tiny on held-out frames (checkChunk; sum |chunk - expert| rad)", quality);
  });

  it("is the agent's default, small enough to commit, with a Qwen2.5-VL backbone", () => {
    expect(resolve(DEFAULT_MODEL)).toBe(DIR);
    expect(folderBytes(DIR)).toBeLessThanOrEqual(25 * 1024 * 1024);
    expect(model.manifest.backbone.kind).toBe("qwen2_5_vl");
    expect(Object.keys(model.manifest.embodiments).sort()).toEqual(
      ["panda", "widowx_ai", "xarm6", "xarm7"].sort(),
    );
    expect(new Set(cases.map((c) => c.embodiment)).size).toBe(4);
  });

  it.each(cases.map((c, i) => [`${c.embodiment} #${i}`, c] as const))(
    "%s: PyTorch's intent and chunk from real frames, within the limits' clip range",
    async (_label, c) => {
      const e = unwrap(loadEmbodiment(c.embodiment));
      const n = e.joints.length;
      const intent = unwrap(
        await model.encode({
          images: { front: image(c.front), wrist: image(c.wrist) },
          instruction: c.instruction,
        }),
      );
      const want = f32(c.intent);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      let err = 0;
      for (let i = 0; i < want.length; i++)
        err = Math.max(err, Math.abs(intent.tokens[i]! - want[i]!));
      expect(err / scale).toBeLessThanOrEqual(INTENT_TOL);

      const state = f32(c.state);
      const sampler = unwrap(model.createSampler(c.embodiment, { seed: 1 }));
      const measured = Float64Array.from(state.subarray(0, n));
      const chunk = unwrap(
        await sampler.sample({
          state,
          velocity: c.velocity && f32(c.velocity),
          tcp: sampler.codec.needsTcp ? pose9(forwardKinematics(e, measured)) : undefined,
          intent,
          steps: c.steps,
          noise: f32(c.noise),
        }),
      );
      const ref = f32(c.chunk);
      for (let i = 0; i < ref.length; i++)
        expect(Math.abs(chunk.positions[i]! - ref[i]!)).toBeLessThanOrEqual(CHUNK_TOL);

      const limits = jointLimits(e);
      // joint space, as the policy node converts it (an ee_pose model's rows through the IK)
      const conv = unwrap(
        convertActions(e, chunk.positions, measured, {
          stampSec: 100,
          dt: chunk.dt,
          horizon: chunk.horizon,
          space: sampler.codec.model.action_space,
        }),
      );
      const r = checkChunk(conv, {
        emb: e,
        limits,
        maxHorizon: 64,
        measured,
        ...CHUNK_REPAIR_DEFAULTS,
        nowSec: 100,
        lastStampSec: -Infinity,
        staleAfterSec: 0.75 * chunk.horizon * chunk.dt,
        futureToleranceSec: 0.05,
        skipWorkspace: false,
      });
      if (r.result.ok) quality.accepted++;
      else quality.rejected.push(`${c.embodiment}: ${r.result.code} ${r.result.message}`);
      // the runtime clips normalized actions (joint models) and the IK clamps to the limits (ee_pose)
      for (let k = 0; k < chunk.horizon; k++)
        for (let j = 0; j < n; j++) {
          const q = conv.positions[k * n + j]!;
          expect(q).toBeGreaterThanOrEqual(limits.lower[j]!);
          expect(q).toBeLessThanOrEqual(limits.upper[j]!);
        }

      const expert = f32(c.expert_chunk);
      const d = n + 1;
      for (let k = 0; k < chunk.horizon; k++)
        for (let j = 0; j < n; j++) {
          quality.errModel += Math.abs(conv.positions[k * n + j]! - expert[k * d + j]!);
          quality.errHold += Math.abs(state[j]! - expert[k * d + j]!);
        }
    },
  );
});
