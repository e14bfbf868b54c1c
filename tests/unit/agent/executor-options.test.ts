import { describe, expect, it } from "vitest";
import { ChunkExecutor, smoothstep } from "../../../embodiments/control/index.ts";
import { executorOptions } from "../../../nodes/executor-options.ts";
import { AgentParamsSchema, type AgentParamsInput } from "../../../nodes/params.ts";
import { EMBODIMENTS, chunkFrom, home } from "../control/fixtures.ts";

const emb = EMBODIMENTS[0]!;
const q0 = home(emb);

/** Joint 0 ramps smoothly from home to home + `offset` over 1–1.8 s. */
const ramp = (offset: number) => (t: number, out: Float64Array) => {
  out.set(q0);
  out[0] = q0[0]! + offset * smoothstep((t - 1) / 0.8);
};

/** Joint 0's reference at 1.6 s after chunk A (stamp 1.0, +0.05 rad) and chunk B (stamp 1.1, +0.1 rad). */
function referenceAfterTwoChunks(overrides: Omit<AgentParamsInput, "embodiment">): number {
  const params = AgentParamsSchema.parse({ embodiment: emb.name, ...overrides });
  const ex = new ChunkExecutor(emb, { ...executorOptions(params, emb, false), rampInSec: 0 });
  ex.activate(q0, 1);
  for (const [stamp, offset] of [
    [1.0, 0.05],
    [1.1, 0.1],
  ] as const) {
    const r = ex.submitChunk(chunkFrom(emb, stamp, 0.05, 16, ramp(offset)), stamp);
    expect(r.ok ? "" : r.error.message).toBe("");
  }
  return ex.targetAt(1.6)[0]! - q0[0]!;
}

describe("the agent's chunk_blend and chunk_ensemble_decay parameters reach the executor", () => {
  const s = smoothstep(0.75);
  it("receding (the default) follows the newest chunk", () => {
    expect(referenceAfterTwoChunks({})).toBeCloseTo(0.1 * s, 9);
  });
  it("ensemble with decay 0 follows the plain mean of the chunks covering the time", () => {
    expect(referenceAfterTwoChunks({ chunk_blend: "ensemble" })).toBeCloseTo(0.075 * s, 9);
  });
  it("a positive decay weighs the newer chunk by exp(decay × age difference)", () => {
    const w = Math.exp(-20 * 0.1);
    expect(
      referenceAfterTwoChunks({ chunk_blend: "ensemble", chunk_ensemble_decay: 20 }),
    ).toBeCloseTo(((0.05 * w + 0.1) / (1 + w)) * s, 9);
  });
  it("rejects an unknown blend mode and an out-of-range decay", () => {
    expect(
      AgentParamsSchema.safeParse({ embodiment: "panda", chunk_blend: "average" }).success,
    ).toBe(false);
    expect(
      AgentParamsSchema.safeParse({ embodiment: "panda", chunk_ensemble_decay: 50 }).success,
    ).toBe(false);
  });
  it("maps the safety parameters one to one", () => {
    const params = AgentParamsSchema.parse({
      embodiment: emb.name,
      table_lift_max_m: 0.02,
      chunk_max_slowdown: 4,
      velocity_scale: 0.5,
      image_timeout_s: 2,
    });
    expect(executorOptions(params, emb, true)).toMatchObject({
      maxTableLiftM: 0.02,
      maxTimeScale: 4,
      velocityScale: 0.5,
      observationTimeoutSec: 2,
      controlRateHz: emb.driver.control_rate_hz,
    });
    expect(executorOptions(params, emb, false).observationTimeoutSec).toBe(Infinity);
  });
});
