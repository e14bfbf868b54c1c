import type { EpisodeRecord } from "../../../scripts/lib/eval/results.ts";

/** A crafted episode record. */
export function episode(
  embodiment: string,
  task: string,
  seed: number,
  outcome: EpisodeRecord["outcome"],
  t = 5,
): EpisodeRecord {
  return {
    embodiment,
    task,
    seed,
    outcome,
    time_to_success_s: outcome === "success" ? t : null,
    sim_elapsed_s: outcome === "success" ? t : 20,
    wall_s: 21,
    sim_success: outcome === "success",
    chunks_executed: 100,
    instruction: "pick up the cube",
    message: outcome,
    mcap: `episodes/${embodiment}/${task}/seed-${seed}.mcap`,
  };
}
