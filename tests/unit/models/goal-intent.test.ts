/**
 * A goal-intent model (`stage2 train --intent-frame goal`) reads the goal's first intent followed by
 * the current one: the manifest says so (intent.frames), IntentContext composes the context the
 * brain publishes, and the sampler runs the exported graph on it as PyTorch does.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../lib/errors.ts";
import { contextTokens, parseManifest } from "../../../models/runtime/manifest.ts";
import { IntentContext } from "../../../models/runtime/intent-context.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import type { Intent } from "../../../models/runtime/sampler.ts";
import { scratchDir, VENV_PYTHON } from "../../support/embodiments/python.ts";
import {
  CPU_SESSION,
  editManifest,
  maxAbsDiff,
  memoryLogger,
  MODEL_DIR,
  scratchModel,
} from "./support.ts";

const intentOf = (values: number[], count: number, dim: number): Intent => ({
  tokens: Float32Array.from(values),
  count,
  dim,
});

describe("IntentContext", () => {
  const a = intentOf([1, 2, 3, 4], 2, 2);
  const b = intentOf([5, 6, 7, 8], 2, 2);
  const c = intentOf([9, 10, 11, 12], 2, 2);

  it("passes a single-intent model's intent through as it is", () => {
    const ctx = new IntentContext({ tokens: 2, dim: 2, frames: ["current"] });
    expect(ctx.next(a)).toBe(a);
    expect(ctx.next(b)).toBe(b);
  });

  it("keeps each goal's first intent ahead of the latest until the next goal", () => {
    const ctx = new IntentContext({ tokens: 2, dim: 2, frames: ["goal", "current"] });
    const first = ctx.next(a);
    expect([first.count, first.dim]).toEqual([4, 2]);
    expect(Array.from(first.tokens)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(Array.from(ctx.next(b).tokens)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    ctx.restart();
    expect(Array.from(ctx.next(c).tokens)).toEqual([9, 10, 11, 12, 9, 10, 11, 12]);
    expect(Array.from(ctx.next(b).tokens)).toEqual([9, 10, 11, 12, 5, 6, 7, 8]);
  });
});

describe("intent.frames in the manifest", () => {
  const raw = () => JSON.parse(readFileSync(join(MODEL_DIR, "manifest.json"), "utf8"));

  it("defaults to the current intent only, and a goal model's context is twice the bridge's tokens", () => {
    const plain = unwrap(parseManifest(raw()));
    expect(plain.intent.frames).toEqual(["current"]);
    expect(contextTokens(plain)).toBe(plain.intent.tokens);
    const m = raw();
    m.intent.frames = ["goal", "current"];
    const input = m.graphs.denoiser.inputs.find((x: { name: string }) => x.name === "intent");
    input.shape[1] = 2 * plain.intent.tokens;
    expect(contextTokens(unwrap(parseManifest(m)))).toBe(2 * plain.intent.tokens);
  });

  it("refuses any other order or frame by name", () => {
    for (const frames of [["current", "goal"], ["goal"], ["current", "current"], ["first"], []]) {
      const m = raw();
      m.intent.frames = frames;
      const r = parseManifest(m);
      expect(r.ok || r.error.code).toBe("E_MODEL_CORRUPT");
      if (!r.ok) expect(r.error.message).toMatch(/intent\.frames/);
    }
  });
});

describe("a goal-intent model", () => {
  let dir: string;
  let model: BlmModel;
  let ref: {
    goal: number[];
    current: number[];
    tokens: number;
    dim: number;
    noise: number[];
    state: number[];
    chunk: number[];
  };
  beforeAll(async () => {
    dir = scratchDir("blm-goal-model");
    const script = new URL("../../support/models/goal_intent_model.py", import.meta.url).pathname;
    const out = execFileSync(VENV_PYTHON, [script, dir], { encoding: "utf8" });
    ref = JSON.parse(out.trim().split("\n").pop()!);
    model = unwrap(
      await BlmModel.load(dir, {
        session: CPU_SESSION,
        logger: memoryLogger().log,
        graphs: ["denoiser"],
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await model?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const sample = (intent: Intent) =>
    unwrap(model.createSampler("xarm6", { steps: 1 })).sample({
      state: ref.state,
      intent,
      noise: Float32Array.from(ref.noise),
    });

  it("samples PyTorch's chunk from the context IntentContext composes", async () => {
    expect(model.manifest.intent.frames).toEqual(["goal", "current"]);
    const ctx = new IntentContext(model.manifest.intent);
    ctx.next(intentOf(ref.goal, ref.tokens, ref.dim));
    const context = ctx.next(intentOf(ref.current, ref.tokens, ref.dim));
    const chunk = unwrap(await sample(context));
    expect(maxAbsDiff(chunk.positions, ref.chunk)).toBeLessThan(1e-4);
  });

  it("reads the goal's half: another goal with the same current intent moves the chunk", async () => {
    const ctx = new IntentContext(model.manifest.intent);
    ctx.next(intentOf(ref.current, ref.tokens, ref.dim)); // the current frames as the goal's too
    const other = unwrap(await sample(ctx.next(intentOf(ref.current, ref.tokens, ref.dim))));
    expect(maxAbsDiff(other.positions, ref.chunk)).toBeGreaterThan(1e-4);
  });

  it("refuses the bridge's intent alone (E_MODEL_INPUT), naming the sizes", async () => {
    const r = await sample(intentOf(ref.current, ref.tokens, ref.dim));
    expect(r.ok || r.error.code).toBe("E_MODEL_INPUT");
    if (!r.ok) expect(r.error.message).toMatch(/the model takes 128/);
  });

  it("a manifest whose intent.frames its denoiser does not take is refused at load, naming both", async () => {
    const bad = await scratchModel();
    await editManifest(bad, (m) => (m.intent.frames = ["goal", "current"]));
    const loaded = await BlmModel.load(bad, { session: CPU_SESSION, logger: memoryLogger().log });
    await rm(bad, { recursive: true, force: true });
    expect(loaded.ok || loaded.error.code).toBe("E_MODEL_CORRUPT");
    if (!loaded.ok)
      expect(loaded.error.message).toMatch(
        /intent\.frames: the denoiser's intent input takes 8 tokens; goal \+ current of 8 make 16/,
      );
  });
});
