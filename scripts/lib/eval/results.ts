/**
 * The eval's results file (`<out>/results.json`): its configuration and one record per episode,
 * rewritten after every episode so that an interrupted eval resumes where it stopped
 * (DESIGN decision 12). Pure: no ROS, no files.
 */
import { z } from "zod";

export const OUTCOMES = ["success", "timeout", "error"] as const;
export const ABLATIONS = ["blank-cameras"] as const;
export type Ablation = (typeof ABLATIONS)[number];

export const EpisodeRecordSchema = z.object({
  embodiment: z.string(),
  task: z.string(),
  seed: z.number().int(),
  /** success: the sim's success flag during the goal; timeout: none within it; error: no proper run. */
  outcome: z.enum(OUTCOMES),
  /** Sim seconds from the goal's start to success; null unless it succeeded. */
  time_to_success_s: z.number().nullable(),
  /** Sim seconds the goal ran. */
  sim_elapsed_s: z.number(),
  wall_s: z.number(),
  /** The sim's own success flag at the end (last /sim/task_status), a cross-check. */
  sim_success: z.boolean().nullable(),
  chunks_executed: z.number().int(),
  instruction: z.string(),
  message: z.string(),
  /** The episode's MCAP, relative to the results folder. */
  mcap: z.string().nullable(),
});
export type EpisodeRecord = z.infer<typeof EpisodeRecordSchema>;

export const EvalConfigSchema = z.object({
  /** The model folder's name (models/<name>). */
  model: z.string(),
  ablation: z.enum(ABLATIONS).nullable(),
  timeout_s: z.number(),
  real_time_factor: z.number(),
  /** The agent's params file when not launch/params/sim.yaml (results from before it: null). */
  params_file: z.string().nullable().default(null),
});
export type EvalConfig = z.infer<typeof EvalConfigSchema>;

export const EvalResultsSchema = z.object({
  config: EvalConfigSchema,
  episodes: z.array(EpisodeRecordSchema),
});
export type EvalResults = z.infer<typeof EvalResultsSchema>;

export interface EpisodeId {
  embodiment: string;
  task: string;
  seed: number;
}

export const episodeKey = (e: EpisodeId) => `${e.embodiment}/${e.task}/${e.seed}`;

/** Parses a results file; throws with the file's problem. */
export function parseResults(text: string): EvalResults {
  const r = EvalResultsSchema.safeParse(JSON.parse(text));
  if (!r.success)
    throw new Error(
      `not an eval results file: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

/**
 * Why results made under `had` cannot be continued under `want` (their numbers would not be
 * comparable), or null when they can.
 */
export function configMismatch(had: EvalConfig, want: EvalConfig): string | null {
  const diffs = (Object.keys(want) as (keyof EvalConfig)[])
    .filter((k) => had[k] !== want[k])
    .map((k) => `${k} ${JSON.stringify(had[k])} there, ${JSON.stringify(want[k])} now`);
  return diffs.length ? diffs.join(", ") : null;
}

/**
 * The planned episodes still to run: those without a record. An `error` record is run again
 * (the episode did not run properly: the graph died or overran), a success or timeout is kept.
 */
export function pendingEpisodes(plan: readonly EpisodeId[], results: EvalResults): EpisodeId[] {
  const done = new Set(
    results.episodes.filter((e) => e.outcome !== "error").map((e) => episodeKey(e)),
  );
  return plan.filter((e) => !done.has(episodeKey(e)));
}

/** The results with `rec` in place of any earlier record of the same episode. */
export function withEpisode(results: EvalResults, rec: EpisodeRecord): EvalResults {
  const key = episodeKey(rec);
  return {
    ...results,
    episodes: [...results.episodes.filter((e) => episodeKey(e) !== key), rec],
  };
}
