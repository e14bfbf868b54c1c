/**
 * The closed-loop benchmark: for each embodiment, one bringup of launch/sim.launch.xml (the sim
 * and the agent over ROS, through the project's launch interpreter), then for each (task, seed)
 * an episode through /sim/reset and the agent's /blm/execute. Writes, after every episode,
 * results.json (resumable), table.json and table.md in the shape of BLM1's table, an MCAP per
 * episode, and success.png.
 *
 *   npm run eval -- [--model DIR] [--seeds 10] [--seed-start 100000] [--embodiments panda,xarm6]
 *     [--tasks PickCube,...] [--out DIR] [--resume] [--ablation blank-cameras] [--timeout 20]
 *     [--real-time-factor 1.0] [--params-file FILE]
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import rclnodejs from "rclnodejs";
import { REPO_ROOT } from "../launch/packages.ts";
import { SimClient } from "./lib/episode.ts";
import { SimGraph } from "./lib/graph.ts";
import { foreignNodes, graphBusyMessage } from "./lib/graph-guard.ts";
import { Recorder } from "./lib/recorder.ts";
import {
  EVAL_USAGE,
  episodeWallLimitMs,
  parseEvalArgs,
  planEpisodes,
  type EvalOptions,
} from "./lib/eval/cli.ts";
import { plotSuccess, readResults, writeResults } from "./lib/eval/files.ts";
import {
  configMismatch,
  pendingEpisodes,
  withEpisode,
  type EpisodeId,
  type EvalConfig,
  type EvalResults,
} from "./lib/eval/results.ts";

const say = (line: string) => console.log(`eval: ${line}`);
/** Consecutive failed bringups after which an embodiment's remaining episodes are left pending. */
const MAX_BRINGUP_FAILURES = 3;
const READY_TIMEOUT_MS = 180_000;

let opts: EvalOptions;
try {
  opts = parseEvalArgs(process.argv.slice(2), REPO_ROOT, process.env.INIT_CWD ?? process.cwd());
} catch (e) {
  console.error(`${(e as Error).message}\n${EVAL_USAGE}`);
  process.exit(2);
}

const config: EvalConfig = {
  model: path.basename(opts.model),
  ablation: opts.ablation,
  timeout_s: opts.timeoutSec,
  real_time_factor: opts.realTimeFactor,
  params_file: opts.paramsFile,
};
const previous = readResults(opts.out);
if (previous && !opts.resume) {
  console.error(
    `${path.relative(process.cwd(), opts.out)}/results.json exists: --resume to continue it, or another --out`,
  );
  process.exit(2);
}
const mismatch = previous && configMismatch(previous.config, config);
if (mismatch) {
  console.error(`cannot resume ${opts.out}: made with other settings (${mismatch})`);
  process.exit(2);
}
// Checked once here, not found out as bringups that die one after another (a bad params file).
for (const embodiment of opts.embodiments) {
  const problem = SimGraph.check(
    launchArgs({ embodiment, task: opts.tasks[0]!, seed: opts.seedStart }),
  );
  if (problem) {
    console.error(`eval: the launch refuses ${embodiment}'s graph:\n${problem}`);
    process.exit(2);
  }
}
let results: EvalResults = previous ?? { config, episodes: [] };
mkdirSync(opts.out, { recursive: true });
writeResults(opts.out, results);

const plan = planEpisodes(opts);
const pending = pendingEpisodes(plan, results);
const wallLimitMs = episodeWallLimitMs(opts);
say(
  `${opts.ablation ? `[ablation: ${opts.ablation}] ` : ""}model ${path.relative(process.cwd(), opts.model) || opts.model}: ` +
    `${plan.length} episodes (${opts.embodiments.length} embodiments × ${opts.tasks.length} tasks × ${opts.seeds} seeds from ${opts.seedStart}), ` +
    `${plan.length - pending.length} already in ${path.relative(process.cwd(), opts.out)}; ` +
    `timeout ${opts.timeoutSec} s sim, real-time factor ${opts.realTimeFactor}, wall bound ${wallLimitMs / 1000} s per episode`,
);

let rosClient: SimClient | null = null;
/** ROS comes up only when there is an episode to run (a finished --resume needs none). */
async function client(): Promise<SimClient> {
  if (!rosClient) {
    await rclnodejs.init();
    const node = rclnodejs.createNode(`blm_eval_${process.pid}`);
    rclnodejs.spin(node);
    const others = await foreignNodes(node);
    if (others.length) {
      console.error(`eval: ${graphBusyMessage(others)}`);
      process.exit(2);
    }
    rosClient = new SimClient(node);
  }
  return rosClient;
}

let graph: SimGraph | null = null;
let recorder: Recorder | null = null;
let interrupted: (reason: string) => void = () => {};
const interruption = new Promise<string>((resolve) => (interrupted = resolve));
let stopping = false;
process.on("SIGINT", () => {
  if (stopping) process.exit(130); // a second ^C: no more waiting for a clean stop
  stopping = true;
  interrupted("interrupted (SIGINT)");
});

/** Launch arguments of sim.launch.xml; its real_time_factor is a double and must look like one. */
function launchArgs(first: EpisodeId): Record<string, string | number> {
  const rtf = opts.realTimeFactor;
  return {
    embodiment: first.embodiment,
    task: first.task,
    seed: first.seed,
    model: opts.model,
    real_time_factor: Number.isInteger(rtf) ? rtf.toFixed(1) : String(rtf),
    blank_cameras: opts.ablation === "blank-cameras" ? "true" : "false",
    ...(opts.paramsFile ? { params_file: opts.paramsFile } : {}),
  };
}

/** A running, ready graph (and its recorder) for this episode's embodiment, or null after repeated failures. */
async function ensureGraph(ep: EpisodeId): Promise<SimGraph | null> {
  await client(); // first: it refuses to run beside another sim graph, before this one comes up
  if (recorder && !recorder.alive) recorder = null;
  recorder ??= await Recorder.start(ep.embodiment);
  if (graph?.running) return graph;
  for (let attempt = 1; attempt <= MAX_BRINGUP_FAILURES && !stopping; attempt++) {
    const log = path.join(opts.out, "logs", `${ep.embodiment}.launch.log`);
    say(
      `starting the sim and the agent for ${ep.embodiment} (log: ${path.relative(process.cwd(), log)})`,
    );
    const g = SimGraph.start(launchArgs(ep), log);
    const problem = await Promise.race([
      (await client()).waitReady(READY_TIMEOUT_MS),
      g.exited.then((code) => `the graph exited during start-up (code ${code})`),
      interruption,
    ]);
    if (!problem && g.running) return (graph = g);
    say(`bringup attempt ${attempt} failed: ${problem}`);
    await g.stop();
  }
  return null;
}

async function stopGraph(): Promise<void> {
  const [g, r] = [graph, recorder];
  graph = recorder = null;
  await Promise.all([g?.stop(), r?.close()]);
}

let done = 0;
let skipped = 0;
const t0 = Date.now();
for (const embodiment of opts.embodiments) {
  const mine = pending.filter((e) => e.embodiment === embodiment);
  for (const ep of mine) {
    if (stopping) break;
    let report = null;
    // A graph that died or hung gets restarted and the episode one more try; failing again, it is
    // recorded as an error (which --resume runs again).
    for (let attempt = 1; attempt <= 2 && !stopping; attempt++) {
      const g = await ensureGraph(ep);
      if (!g) break;
      const file = path.join(opts.out, "episodes", ep.embodiment, ep.task, `seed-${ep.seed}.mcap`);
      const c = await client();
      report = await c.runEpisode(
        { ...ep, timeoutSec: opts.timeoutSec, mcap: { recorder: recorder!, file }, wallLimitMs },
        {
          abort: Promise.race([
            g.exited.then((code) => `the graph exited (code ${code})`),
            interruption,
          ]),
        },
      );
      if (!report.restartGraph) break;
      if (!stopping)
        say(`${ep.embodiment} ${ep.task} seed ${ep.seed}: ${report.message}; restarting the graph`);
      await stopGraph();
    }
    if (stopping) break;
    if (!report) {
      skipped += mine.length - mine.indexOf(ep);
      say(
        `giving up on ${embodiment}: the graph does not come up; its remaining episodes stay pending`,
      );
      break;
    }
    results = withEpisode(results, {
      ...ep,
      outcome: report.outcome,
      time_to_success_s: report.outcome === "success" ? round3(report.simElapsedSec) : null,
      sim_elapsed_s: round3(report.simElapsedSec),
      wall_s: round3(report.wallSec),
      sim_success: report.simSuccess,
      chunks_executed: report.chunksExecuted,
      instruction: report.instruction,
      message: report.message,
      mcap: report.mcap ? path.relative(opts.out, report.mcap) : null,
    });
    writeResults(opts.out, results);
    done++;
    const what =
      report.outcome === "success"
        ? `SUCCESS in ${report.simElapsedSec.toFixed(1)} s`
        : `${report.outcome} (${report.message})`;
    say(
      `[${done}/${pending.length}] ${ep.embodiment} ${ep.task} seed ${ep.seed}: ${what}; ` +
        `sim ${report.simElapsedSec.toFixed(1)} s, wall ${report.wallSec.toFixed(1)} s`,
    );
  }
  await stopGraph();
  if (stopping) break;
}

const table = writeResults(opts.out, results);
const plotProblem =
  done || !existsSync(path.join(opts.out, "success.png")) ? plotSuccess(opts.out) : null;
if (plotProblem) say(`no success.png: ${plotProblem}`);
if (rosClient) rclnodejs.shutdown();
const avg = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(2)}%`);
say(
  `${stopping ? "interrupted; " : ""}${done} episodes run in ${((Date.now() - t0) / 60_000).toFixed(1)} min` +
    (skipped ? `, ${skipped} left pending (--resume runs them)` : ""),
);
say(
  `${opts.ablation ? `[ablation: ${opts.ablation}] ` : ""}overall average ${avg(table.overall_average)} over ${table.episodes} episodes ` +
    `(${table.robots.map((r) => `${r} ${avg(table.robot_average[r] ?? null)}`).join(", ")}); ` +
    `${path.relative(process.cwd(), opts.out)}/table.md`,
);
process.exit(stopping ? 130 : skipped ? 1 : 0);

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
