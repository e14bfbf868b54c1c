/**
 * The eval's success table in the shape of BLM1's physical-space table: one row per task, one
 * column per robot, cells = success %, a final row with each robot's average over the tasks, and
 * the overall average over the robots. Pure: built from the results, rendered as JSON and
 * markdown.
 */
import { EMBODIMENT_NAMES } from "../../../embodiments/schema.ts";
import type { EvalConfig, EvalResults } from "./results.ts";
import { formatInterval, round2, wilsonInterval, type Interval } from "./stats.ts";

/** BLM1's rows (ManiSkill v1 tasks), in the paper's order. */
export const TASK_NAMES = [
  "PickCube",
  "PushCube",
  "StackCube",
  "PullCube",
  "PlaceSphere",
  "LiftPegUpright",
] as const;

/** BLM1's published closed-loop success per robot (ManiSkill; a 7B backbone): a reference. */
export const BLM1_REFERENCE = {
  source: "BLM1 (arXiv 2510.24161), published per-robot averages, ManiSkill, 7B backbone",
  robot_average: { panda: 84.67, xarm6: 80.33, xarm7: 74.67, widowx_ai: 63.67 },
  overall_average: 75.83,
} as const;

export interface Cell {
  successes: number;
  episodes: number;
  /** Percent, two decimals. */
  success_pct: number;
  /** Mean sim seconds to success over the successful episodes; null when none. */
  mean_time_to_success_s: number | null;
}

export interface SuccessTable {
  /** The model, and the ablation if any. */
  title: string;
  model: string;
  ablation: EvalConfig["ablation"];
  timeout_s: number;
  /** The agent's params file when not launch/params/sim.yaml. */
  params_file: string | null;
  tasks: string[];
  robots: string[];
  /** cells[task][robot]; null where no episode ran. */
  cells: Record<string, Record<string, Cell | null>>;
  /** Mean of the robot's task cells (those that ran), percent. */
  robot_average: Record<string, number | null>;
  /** Mean of the robot averages, percent. */
  overall_average: number | null;
  episodes: number;
  successes: number;
  /**
   * The 95 % Wilson interval of the pooled success rate (successes / episodes, which equals the
   * overall average when every cell ran the same number of episodes); null without episodes.
   */
  overall_ci95: Interval | null;
  seeds: { first: number; last: number } | null;
  reference: typeof BLM1_REFERENCE;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function buildTable(
  results: EvalResults,
  tasks: readonly string[] = TASK_NAMES,
  robots: readonly string[] = EMBODIMENT_NAMES,
): SuccessTable {
  const cells: SuccessTable["cells"] = {};
  for (const task of tasks) {
    cells[task] = {};
    for (const robot of robots) {
      const eps = results.episodes.filter((e) => e.task === task && e.embodiment === robot);
      const wins = eps.filter((e) => e.outcome === "success");
      const t = mean(wins.flatMap((e) => e.time_to_success_s ?? []));
      cells[task]![robot] = eps.length
        ? {
            successes: wins.length,
            episodes: eps.length,
            success_pct: round2((100 * wins.length) / eps.length),
            mean_time_to_success_s: t === null ? null : round2(t),
          }
        : null;
    }
  }
  const robotAverage: SuccessTable["robot_average"] = {};
  for (const robot of robots) {
    const m = mean(tasks.flatMap((t) => cells[t]![robot]?.success_pct ?? []));
    robotAverage[robot] = m === null ? null : round2(m);
  }
  const overall = mean(robots.flatMap((r) => robotAverage[r] ?? []));
  const seeds = results.episodes.map((e) => e.seed);
  const successes = results.episodes.filter((e) => e.outcome === "success").length;
  return {
    title: tableTitle(results.config),
    model: results.config.model,
    ablation: results.config.ablation,
    timeout_s: results.config.timeout_s,
    params_file: results.config.params_file,
    tasks: [...tasks],
    robots: [...robots],
    cells,
    robot_average: robotAverage,
    overall_average: overall === null ? null : round2(overall),
    episodes: results.episodes.length,
    successes,
    overall_ci95: seeds.length ? wilsonInterval(successes, seeds.length) : null,
    seeds: seeds.length ? { first: Math.min(...seeds), last: Math.max(...seeds) } : null,
    reference: BLM1_REFERENCE,
  };
}

const pct = (x: number | null) => (x === null ? "—" : x.toFixed(2));

function tableTitle(t: Pick<EvalConfig, "model" | "ablation">): string {
  return t.ablation === "blank-cameras" ? `${t.model}, ablation: blank cameras` : t.model;
}

const ci = (t: SuccessTable) =>
  t.overall_ci95
    ? ` (${t.successes} of ${t.episodes} episodes; 95 % interval ${formatInterval(t.overall_ci95)}, Wilson)`
    : "";

export function renderMarkdown(t: SuccessTable): string {
  const lines = [`# Closed-loop success (%): ${t.title}`, ""];
  if (t.ablation === "blank-cameras")
    lines.push(
      "**Ablation**: the same episodes with every camera image black (the sim's `blank_cameras`);",
      "compare with the main table: what the model gets from its images.",
      "",
    );
  const seeds = t.seeds ? `seeds ${t.seeds.first}–${t.seeds.last}` : "no episodes yet";
  lines.push(
    `${t.episodes} episodes through /blm/execute (${seeds}), each timing out after ${t.timeout_s} s of sim time; cells: success % (successes/episodes).`,
    "",
  );
  if (t.params_file)
    lines.push(`Agent params: \`${t.params_file}\` (not launch/params/sim.yaml).`, "");
  lines.push(`| Task | ${t.robots.join(" | ")} |`, `|---|${t.robots.map(() => "---:").join("|")}|`);
  for (const task of t.tasks) {
    const row = t.robots.map((r) => {
      const c = t.cells[task]![r];
      return c ? `${pct(c.success_pct)} (${c.successes}/${c.episodes})` : "—";
    });
    lines.push(`| ${task} | ${row.join(" | ")} |`);
  }
  lines.push(
    `| **Average** | ${t.robots.map((r) => `**${pct(t.robot_average[r] ?? null)}**`).join(" | ")} |`,
    "",
    `Overall average: **${pct(t.overall_average)}%**${ci(t)}.`,
    "",
    `Reference: ${t.reference.source}: ${Object.entries(t.reference.robot_average)
      .map(([r, v]) => `${r} ${v.toFixed(2)}`)
      .join(", ")}; average ${t.reference.overall_average.toFixed(2)}.`,
    "",
  );
  return lines.join("\n");
}
