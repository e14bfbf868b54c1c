import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertActions } from "../../../embodiments/control/action-space.ts";
import { jointLimits } from "../../../embodiments/control/limits.ts";
import { checkChunk } from "../../../embodiments/control/safety.ts";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import type { Embodiment } from "../../../embodiments/schema.ts";
import { unwrap } from "../../../lib/errors.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import type { Intent } from "../../../models/runtime/sampler.ts";
import { f32, loadFixture, memoryLogger, MODEL_DIR } from "./support.ts";

/**
 * DESIGN decision 15: the test model's chunks are something the executor accepts, and they move
 * the arm. For every arm, from home, from random states near home and from random states across
 * the model's statistics range, at 1, 4 and 10 Euler steps, a sampled chunk (the real runtime on
 * the committed test-tiny graphs) starts within safety.max_jump of the state, changes by at most
 * half the velocity limit per step, stays inside the position limits, moves at least one joint
 * by 0.02 rad over its horizon, and passes the executor's checkChunk without rejection (with the
 * executor's default options, but at most 2× time-scaling where the executor allows 3×, and no table lift).
 */
const ARMS = ["panda", "xarm6", "xarm7", "widowx_ai"] as const;
const STEPS = [1, 4, 10] as const;
const MIN_MOVE = 0.02; // rad, some joint over the horizon: the chunk is not a hold

/** xoshiro-free tiny LCG: the test's states only need to be fixed, not good random numbers. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function gripperRange(e: Embodiment): [number, number] {
  const g = e.gripper;
  return e.model.gripper_value === "width"
    ? [Math.min(g.width_at_lower, g.width_at_upper), Math.max(g.width_at_lower, g.width_at_upper)]
    : [g.position.lower, g.position.upper];
}

interface StateCase {
  label: string;
  state: Float32Array;
  /** The TCP stays well inside the workspace box here (home and near it); random wide states may start outside it. */
  workspace: boolean;
}

/** Home, 3 random states within ±0.2 rad of home, 2 random states across the model's statistics range. */
function states(e: Embodiment, model: BlmModel, seed: number): StateCase[] {
  const rnd = lcg(seed);
  const n = e.joints.length;
  const [g0, g1] = gripperRange(e);
  const stats = model.manifest.embodiments[e.name]!.state.normalization;
  if (stats.mode !== "min_max") throw new Error("test-tiny's statistics are min/max");
  const out: StateCase[] = [];
  const make = (label: string, workspace: boolean, q: (j: number) => number) => {
    const s = new Float32Array(n + 1);
    for (let j = 0; j < n; j++) {
      const lim = e.joints[j]!.position;
      s[j] = Math.min(lim.upper, Math.max(lim.lower, q(j)));
    }
    s[n] = g0 + (g1 - g0) * (0.1 + 0.8 * rnd());
    out.push({ label, state: s, workspace });
  };
  make("home", true, (j) => e.home[j]!);
  for (let i = 0; i < 3; i++) make(`near home ${i}`, true, (j) => e.home[j]! + 0.4 * (rnd() - 0.5));
  for (let i = 0; i < 2; i++)
    make(`random ${i}`, false, (j) => {
      const lo = stats.min[j]!,
        hi = stats.max[j]!;
      return lo + (hi - lo) * (0.05 + 0.9 * rnd());
    });
  return out;
}

describe("test-tiny chunks are smooth, inside the limits, accepted by the executor and not a hold", () => {
  let model: BlmModel;
  let brain: BlmModel;
  const intents: [string, Intent][] = [];
  const observed: Record<
    string,
    { maxStepFraction: number; maxJump: number; minMove: number; maxScale: number }
  > = {};

  beforeAll(async () => {
    const { log } = memoryLogger();
    model = unwrap(
      await BlmModel.load(MODEL_DIR, {
        graphs: ["denoiser"],
        session: { execution_provider: "cpu" },
        logger: log,
      }),
    );
    brain = unwrap(
      await BlmModel.load(MODEL_DIR, {
        graphs: ["backbone", "intent_bridge"],
        session: { execution_provider: "cpu" },
        logger: log,
      }),
    );
    const fx = loadFixture();
    intents.push(["fixture", { tokens: f32(fx.encode.intent!), count: 8, dim: 64 }]);
    // a second intent from the real brain on other images and another instruction
    const rnd = lcg(99);
    const img = (w: number, h: number) => {
      const data = new Uint8Array(w * h * 3);
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(256 * rnd());
      return { width: w, height: h, encoding: "rgb8" as const, data };
    };
    intents.push([
      "brain",
      unwrap(
        await brain.encode({
          images: { front: img(64, 48), wrist: img(32, 32) },
          instruction: "push the green block to the left",
        }),
      ),
    ]);
  });
  afterAll(async () => {
    await model?.dispose();
    await brain?.dispose();
    console.log(
      "observed per arm (step change / (v·dt), jump rad, min move rad, executor time scale)",
      observed,
    );
  });

  it.each(ARMS)("%s", async (name) => {
    const e = unwrap(loadEmbodiment(name));
    const limits = jointLimits(e);
    const n = e.joints.length;
    const [g0, g1] = gripperRange(e);
    const dt = model.manifest.policy.action_dt;
    const obs = { maxStepFraction: 0, maxJump: 0, minMove: Infinity, maxScale: 1 };
    let seed = 1;
    for (const sc of states(e, model, 7 + ARMS.indexOf(name))) {
      for (const [iname, intent] of intents) {
        for (const steps of STEPS) {
          const sampler = unwrap(model.createSampler(name, { seed: seed++ }));
          const c = unwrap(await sampler.sample({ state: sc.state, intent, steps }));
          const where = `${name} ${sc.label} intent ${iname} steps ${steps}`;
          const H = c.horizon,
            d = c.dims;
          expect(d).toBe(n + 1);
          const q = (k: number, j: number) => c.positions[k * d + j]!;
          let move = 0;
          for (let j = 0; j < n; j++) {
            const jump = Math.abs(q(0, j) - sc.state[j]!);
            obs.maxJump = Math.max(obs.maxJump, jump);
            expect(jump, `${where}: first point of ${e.joints[j]!.name}`).toBeLessThanOrEqual(
              e.safety.max_jump,
            );
            const vmax = 0.5 * limits.velocity[j]! * dt;
            for (let k = 0; k < H; k++) {
              expect(q(k, j), `${where}: ${e.joints[j]!.name} at ${k}`).toBeGreaterThanOrEqual(
                limits.lower[j]!,
              );
              expect(q(k, j), `${where}: ${e.joints[j]!.name} at ${k}`).toBeLessThanOrEqual(
                limits.upper[j]!,
              );
              if (k > 0) {
                const step = Math.abs(q(k, j) - q(k - 1, j));
                obs.maxStepFraction = Math.max(
                  obs.maxStepFraction,
                  step / (limits.velocity[j]! * dt),
                );
                expect(step, `${where}: ${e.joints[j]!.name} step ${k}`).toBeLessThanOrEqual(vmax);
              }
            }
            move = Math.max(move, Math.abs(q(H - 1, j) - sc.state[j]!));
          }
          for (let k = 0; k < H; k++) {
            expect(q(k, n)).toBeGreaterThanOrEqual(g0);
            expect(q(k, n)).toBeLessThanOrEqual(g1);
          }
          obs.minMove = Math.min(obs.minMove, move);
          expect(move, `${where}: largest joint motion over the horizon`).toBeGreaterThanOrEqual(
            MIN_MOVE,
          );

          // the executor's own whole-chunk check (the policy node hands it exactly this)
          const stampSec = 100;
          const chunk = unwrap(
            convertActions(e, c.positions, sc.state.subarray(0, n), {
              stampSec,
              dt: c.dt,
              horizon: H,
            }),
          );
          const r = checkChunk(chunk, {
            emb: e,
            limits,
            maxHorizon: 64,
            measured: Float64Array.from(sc.state.subarray(0, n)),
            clipMarginRad: 0.01,
            rejectBeyondRad: 0.1,
            maxTimeScale: 2,
            nowSec: stampSec,
            lastStampSec: -Infinity,
            staleAfterSec: 0.75 * H * dt,
            futureToleranceSec: 0.05,
            skipWorkspace: !sc.workspace,
          });
          expect(r.result.ok, `${where}: checkChunk ${r.result.code} ${r.result.message}`).toBe(
            true,
          );
          for (const rep of r.repairs)
            if (rep.scale) obs.maxScale = Math.max(obs.maxScale, rep.scale);
        }
      }
    }
    observed[name] = obs;
  });
});
