/**
 * The eval's results file and resuming (DESIGN decision 12), and its command line.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  episodeWallLimitMs,
  EVAL_SEED_START,
  parseEvalArgs,
  planEpisodes,
} from "../../../scripts/lib/eval/cli.ts";
import {
  configMismatch,
  parseResults,
  pendingEpisodes,
  withEpisode,
  type EvalResults,
} from "../../../scripts/lib/eval/results.ts";
import { episode } from "./support.ts";
import { DEFAULT_MODEL } from "../../../nodes/params.ts";

const config = {
  model: "test-tiny",
  ablation: null,
  timeout_s: 20,
  real_time_factor: 1,
  params_file: null,
};
const ROOT = "/repo";

describe("resume", () => {
  const plan = [100_000, 100_001, 100_002].map((seed) => ({
    embodiment: "panda",
    task: "PickCube",
    seed,
  }));

  it("skips recorded successes and timeouts, runs errors and unrecorded episodes again", () => {
    const results: EvalResults = {
      config,
      episodes: [
        episode("panda", "PickCube", 100_000, "success"),
        episode("panda", "PickCube", 100_001, "error"),
        episode("xarm6", "PickCube", 100_002, "timeout"),
      ],
    };
    expect(pendingEpisodes(plan, results).map((e) => e.seed)).toEqual([100_001, 100_002]);
    expect(pendingEpisodes(plan, { config, episodes: [] })).toEqual(plan);
  });

  it("replaces an episode's earlier record instead of adding a second", () => {
    let r: EvalResults = { config, episodes: [episode("panda", "PickCube", 100_001, "error")] };
    r = withEpisode(r, episode("panda", "PickCube", 100_000, "timeout"));
    r = withEpisode(r, episode("panda", "PickCube", 100_001, "success"));
    expect(r.episodes.map((e) => [e.seed, e.outcome])).toEqual([
      [100_000, "timeout"],
      [100_001, "success"],
    ]);
    expect(pendingEpisodes(plan, r).map((e) => e.seed)).toEqual([100_002]);
  });

  it("reads back what it writes, and refuses files that are not results", () => {
    const r: EvalResults = {
      config,
      episodes: [episode("xarm7", "StackCube", 100_004, "success")],
    };
    expect(parseResults(JSON.stringify(r))).toEqual(r);
    expect(() => parseResults(JSON.stringify({ config, episodes: [{ seed: 1 }] }))).toThrow(
      /not an eval results file: episodes\.0\.embodiment/,
    );
  });

  it("does not continue results made with another model, ablation, timeout or pace", () => {
    expect(configMismatch(config, { ...config })).toBeNull();
    expect(configMismatch(config, { ...config, ablation: "blank-cameras" })).toBe(
      'ablation null there, "blank-cameras" now',
    );
    expect(configMismatch(config, { ...config, params_file: "/p/try.yaml" })).toBe(
      'params_file null there, "/p/try.yaml" now',
    );
    expect(configMismatch(config, { ...config, model: "blm-tiny", timeout_s: 5 })).toBe(
      'model "test-tiny" there, "blm-tiny" now, timeout_s 20 there, 5 now',
    );
  });
});

describe("npm run eval options", () => {
  it("defaults: the default model, 10 seeds from 100000, every robot and task, 20 s, real time", () => {
    const o = parseEvalArgs([], ROOT, "/somewhere");
    expect(o).toMatchObject({
      model: path.join("/repo", DEFAULT_MODEL),
      seeds: 10,
      seedStart: EVAL_SEED_START,
      embodiments: ["panda", "xarm6", "xarm7", "widowx_ai"],
      tasks: ["PickCube", "PushCube", "StackCube", "PullCube", "PlaceSphere", "LiftPegUpright"],
      out: `/repo/out/eval/${path.basename(DEFAULT_MODEL)}`,
      resume: false,
      ablation: null,
      timeoutSec: 20,
      realTimeFactor: 1,
      paramsFile: null,
    });
    // Training demonstrations use seeds 0..999.
    expect(EVAL_SEED_START).toBeGreaterThan(999);
    expect(planEpisodes(o)).toHaveLength(4 * 6 * 10);
  });

  it("takes lists comma-separated or repeated, in the table's order, and paths from the caller's folder", () => {
    const o = parseEvalArgs(
      [
        ...["--embodiments", "xarm7,panda", "--tasks", "PushCube", "--tasks", "PickCube"],
        ...["--model", "models/blm-tiny", "--out", "res", "--seeds", "2", "--seed-start", "7"],
      ],
      ROOT,
      "/here",
    );
    expect(o.embodiments).toEqual(["panda", "xarm7"]);
    expect(o.tasks).toEqual(["PickCube", "PushCube"]);
    expect(o.model).toBe(path.resolve("/here/models/blm-tiny"));
    expect(o.out).toBe("/here/res");
    expect(planEpisodes(o).map((e) => `${e.embodiment} ${e.task} ${e.seed}`)).toEqual([
      "panda PickCube 7",
      "panda PickCube 8",
      "panda PushCube 7",
      "panda PushCube 8",
      "xarm7 PickCube 7",
      "xarm7 PickCube 8",
      "xarm7 PushCube 7",
      "xarm7 PushCube 8",
    ]);
  });

  it("takes the agent's params file from the caller's folder and refuses one that is not there", () => {
    expect(parseEvalArgs([], ROOT, "/").paramsFile).toBeNull();
    const here = path.dirname(new URL(import.meta.url).pathname);
    expect(parseEvalArgs(["--params-file", "support.ts"], ROOT, here).paramsFile).toBe(
      path.join(here, "support.ts"),
    );
    expect(() => parseEvalArgs(["--params-file", "nope.yaml"], ROOT, "/x")).toThrow(
      "--params-file /x/nope.yaml: no such file",
    );
  });

  it("reads results from before the params file as made with launch/params/sim.yaml", () => {
    const { params_file: _, ...old } = config;
    expect(
      parseResults(JSON.stringify({ config: old, episodes: [] })).config.params_file,
    ).toBeNull();
  });

  it("puts the blank-camera ablation beside the main results", () => {
    expect(parseEvalArgs(["--ablation", "blank-cameras"], ROOT, "/").out).toBe(
      `/repo/out/eval/${path.basename(DEFAULT_MODEL)}-blank-cameras`,
    );
    expect(parseEvalArgs(["--ablation", "blank-cameras", "--out", "/r/x"], ROOT, "/").out).toBe(
      "/r/x-blank-cameras",
    );
  });

  it("refuses unknown names and bad numbers", () => {
    expect(() => parseEvalArgs(["--embodiments", "ur5"], ROOT, "/")).toThrow(
      /unknown embodiment ur5; known: panda, xarm6, xarm7, widowx_ai/,
    );
    expect(() => parseEvalArgs(["--tasks", "OpenDrawer"], ROOT, "/")).toThrow(/unknown task/);
    expect(() => parseEvalArgs(["--ablation", "no-joints"], ROOT, "/")).toThrow(/unknown ablation/);
    expect(() => parseEvalArgs(["--seeds", "0"], ROOT, "/")).toThrow(/--seeds "0"/);
    expect(() => parseEvalArgs(["--timeout", "x"], ROOT, "/")).toThrow(/--timeout "x"/);
    expect(() => parseEvalArgs(["--frobnicate"], ROOT, "/")).toThrow();
  });

  it("bounds an episode's wall time by its sim timeout at real time or slower, plus a minute", () => {
    expect(episodeWallLimitMs({ timeoutSec: 20, realTimeFactor: 1 })).toBe(120_000);
    expect(episodeWallLimitMs({ timeoutSec: 20, realTimeFactor: 4 })).toBe(120_000);
    expect(episodeWallLimitMs({ timeoutSec: 20, realTimeFactor: 0.5 })).toBe(180_000);
    expect(episodeWallLimitMs({ timeoutSec: 20, realTimeFactor: 0 })).toBe(120_000);
  });
});
