/**
 * `npm run eval` options and the episode plan (pure, but for checking that --params-file exists).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { EMBODIMENT_NAMES } from "../../../embodiments/schema.ts";
import { DEFAULT_MODEL } from "../../../nodes/params.ts";
import { ABLATIONS, type Ablation, type EpisodeId } from "./results.ts";
import { TASK_NAMES } from "./table.ts";

export const EVAL_USAGE = `usage: npm run eval -- [--model DIR] [--seeds N] [--seed-start S]
    [--embodiments panda,xarm6,...] [--tasks PickCube,...] [--out DIR] [--resume]
    [--ablation blank-cameras] [--timeout SEC] [--real-time-factor X]
    [--params-file FILE]   the agent's params file in place of launch/params/sim.yaml`;

/** Training demonstrations use seeds 0..999; eval seeds start far above them. */
export const EVAL_SEED_START = 100_000;

export interface EvalOptions {
  /** Absolute model folder. */
  model: string;
  seeds: number;
  seedStart: number;
  embodiments: string[];
  tasks: string[];
  /** Absolute results folder (with the ablation's suffix). */
  out: string;
  resume: boolean;
  ablation: Ablation | null;
  /** Each goal's timeout, sim seconds (DESIGN decision 8: 20). */
  timeoutSec: number;
  /** The sim's pacing: sim seconds per wall second; 0 = as fast as it can. */
  realTimeFactor: number;
  /** Absolute agent params file in place of launch/params/sim.yaml, or null for that one. */
  paramsFile: string | null;
}

/** Comma-separated or repeated list values, each checked against `known`. */
function list(values: string[] | undefined, known: readonly string[], what: string): string[] {
  if (!values?.length) return [...known];
  const items = values.flatMap((v) => v.split(",")).filter(Boolean);
  const bad = items.filter((x) => !known.includes(x));
  if (bad.length) throw new Error(`unknown ${what} ${bad.join(", ")}; known: ${known.join(", ")}`);
  return known.filter((k) => items.includes(k));
}

function number(text: string, what: string, check: (x: number) => boolean): number {
  const x = Number(text);
  if (text.trim() === "" || !Number.isFinite(x) || !check(x))
    throw new Error(`--${what} ${JSON.stringify(text)} is not valid`);
  return x;
}

/** Parses the command line (paths relative to `cwd`); throws with a message on a bad option. */
export function parseEvalArgs(argv: string[], root: string, cwd: string): EvalOptions {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      model: { type: "string", default: path.join(root, DEFAULT_MODEL) },
      seeds: { type: "string", default: "10" },
      "seed-start": { type: "string", default: String(EVAL_SEED_START) },
      embodiments: { type: "string", multiple: true },
      tasks: { type: "string", multiple: true },
      out: { type: "string" },
      resume: { type: "boolean", default: false },
      ablation: { type: "string" },
      timeout: { type: "string", default: "20" },
      "real-time-factor": { type: "string", default: "1.0" },
      "params-file": { type: "string" },
    },
    strict: true,
  });
  if (a.ablation !== undefined && !(ABLATIONS as readonly string[]).includes(a.ablation))
    throw new Error(`unknown ablation ${a.ablation}; known: ${ABLATIONS.join(", ")}`);
  const ablation = (a.ablation as Ablation | undefined) ?? null;
  const model = path.resolve(cwd, a.model);
  const paramsFile = a["params-file"] === undefined ? null : path.resolve(cwd, a["params-file"]);
  // A path typo is named as the option's, before any results folder is read or launch resolved.
  if (paramsFile !== null && !existsSync(paramsFile))
    throw new Error(`--params-file ${paramsFile}: no such file`);
  const base = a.out ? path.resolve(cwd, a.out) : path.join(root, "out/eval", path.basename(model));
  return {
    model,
    seeds: number(a.seeds, "seeds", (x) => Number.isInteger(x) && x >= 1),
    seedStart: number(a["seed-start"], "seed-start", (x) => Number.isInteger(x) && x >= 0),
    embodiments: list(a.embodiments, EMBODIMENT_NAMES, "embodiment"),
    tasks: list(a.tasks, TASK_NAMES, "task"),
    out: ablation ? `${base}-${ablation}` : base,
    resume: a.resume,
    ablation,
    timeoutSec: number(a.timeout, "timeout", (x) => x > 0),
    realTimeFactor: number(a["real-time-factor"], "real-time-factor", (x) => x >= 0 && x <= 100),
    paramsFile,
  };
}

/** Every (embodiment, task, seed), embodiment-major: one bringup per embodiment. */
export function planEpisodes(o: EvalOptions): EpisodeId[] {
  return o.embodiments.flatMap((embodiment) =>
    o.tasks.flatMap((task) =>
      Array.from({ length: o.seeds }, (_, i) => ({ embodiment, task, seed: o.seedStart + i })),
    ),
  );
}

/**
 * An episode's wall-time bound, ms: three times its sim timeout at the requested pace or real
 * time, whichever is slower (a loaded machine's sim slips behind), plus a minute for the reset
 * and the recorder.
 */
export function episodeWallLimitMs(o: Pick<EvalOptions, "timeoutSec" | "realTimeFactor">): number {
  const pace = o.realTimeFactor > 0 ? Math.min(o.realTimeFactor, 1) : 1;
  return Math.round(60_000 + (3 * 1000 * o.timeoutSec) / pace);
}
