/**
 * The main job: the simulation demo. Brings up the MuJoCo sim and the agent from
 * launch/sim.launch.xml (through the project's launch interpreter), resets the task,
 * sends the task's instruction through /blm/execute, prints progress and the outcome, and
 * writes a GIF of the front camera and an MCAP of the episode.
 *
 *   npm run demo -- [--embodiment panda] [--task PickCube] [--seed 0] [--timeout 20] [--model DIR]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import rclnodejs from "rclnodejs";
import { REPO_ROOT } from "../launch/packages.ts";
import { DEFAULT_MODEL } from "../nodes/params.ts";
import { encodeGif, type RgbFrame } from "./demo/gif.ts";
import { SimClient } from "./lib/episode.ts";
import { SimGraph } from "./lib/graph.ts";
import { foreignNodes, graphBusyMessage } from "./lib/graph-guard.ts";
import { Recorder } from "./lib/recorder.ts";

const { values: args } = parseArgs({
  options: {
    embodiment: { type: "string", default: "panda" },
    task: { type: "string", default: "PickCube" },
    seed: { type: "string", default: "0" },
    timeout: { type: "string", default: "20" },
    model: { type: "string", default: path.join(REPO_ROOT, DEFAULT_MODEL) },
    out: { type: "string", default: "" },
  },
});
const seed = Number(args.seed);
const timeoutSec = Number(args.timeout);
const model = path.resolve(args.model);
const outDir = path.resolve(
  args.out || path.join(REPO_ROOT, "out/demo", `${args.embodiment}-${args.task}-${seed}`),
);
mkdirSync(outDir, { recursive: true });

const say = (line: string) => console.log(`demo: ${line}`);

function describeModel(dir: string): string {
  const m = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
    name?: string;
    description?: string;
  };
  return `${path.relative(REPO_ROOT, dir) || dir}: ${m.description ?? m.name ?? "(no description)"}`;
}

say(`${args.embodiment} · ${args.task} · seed ${seed}`);
say(`model: ${describeModel(model)}`);
await rclnodejs.init();
const node = rclnodejs.createNode("blm_demo");
rclnodejs.spin(node);
// Before anything comes up: another sim graph on this domain would mix its topics with ours.
const others = await foreignNodes(node);
if (others.length) {
  console.error(`demo: ${graphBusyMessage(others)}`);
  rclnodejs.shutdown();
  process.exit(2);
}
// 1. The graph: sim + agent, from the same launch file a robot user would use.
const launchLog = path.join(outDir, "launch.log");
say(
  `starting the sim and the agent (launch/sim.launch.xml; log: ${path.relative(REPO_ROOT, launchLog)})`,
);
const graph = SimGraph.start(
  { embodiment: args.embodiment, task: args.task, seed, model },
  launchLog,
);
let finished = false;
void graph.exited.then((code) => {
  if (!finished) say(`the launched graph exited early (code ${code}); see ${launchLog}`);
});

let recorder: Recorder | null = null;

async function shutdown(code: number): Promise<never> {
  finished = true;
  await Promise.all([graph.stop(), recorder?.close()]);
  try {
    rclnodejs.shutdown();
  } catch {
    // already down
  }
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(130));

const client = new SimClient(node);

// 2. The front camera, for the GIF, while the goal runs.
const frames: RgbFrame[] = [];
let recording = false;
let lastFrameSec = -Infinity;
const FRAME_PERIOD_SEC = 0.2;
const MAX_FRAMES = 200;
node.createSubscription(
  "sensor_msgs/msg/Image",
  "/camera/front/image_raw",
  { qos: rclnodejs.QoS.profileSensorData },
  (m: rclnodejs.sensor_msgs.msg.Image) => {
    const t = m.header.stamp.sec + m.header.stamp.nanosec * 1e-9;
    if (
      !recording ||
      m.encoding !== "rgb8" ||
      t - lastFrameSec < FRAME_PERIOD_SEC ||
      frames.length >= MAX_FRAMES
    )
      return;
    lastFrameSec = t;
    const rgb = new Uint8Array(m.width * m.height * 3);
    const data = m.data as unknown as Uint8Array;
    for (let y = 0; y < m.height; y++)
      rgb.set(data.subarray(y * m.step, y * m.step + m.width * 3), y * m.width * 3);
    frames.push({ width: m.width, height: m.height, rgb });
  },
);

recorder = await Recorder.start(args.embodiment);
const notReady = await Promise.race([
  client.waitReady(180_000),
  graph.exited.then((code) => `the graph exited during start-up (code ${code})`),
]);
if (notReady) {
  say(notReady);
  await shutdown(1);
}

// 3. The episode: reset over /sim/reset, an MCAP, the instruction through /blm/execute.
let lastPrint = -Infinity;
const report = await client.runEpisode(
  {
    embodiment: args.embodiment,
    task: args.task,
    seed,
    timeoutSec,
    mcap: { recorder, file: path.join(outDir, "episode.mcap") },
    wallLimitMs: 120_000 + 3000 * timeoutSec,
  },
  {
    abort: graph.exited.then((code) => `the graph exited (code ${code})`),
    onStart: (instruction) => {
      recording = true;
      say(`task reset; instruction: "${instruction}"`);
    },
    onFeedback: (fb, s) => {
      if (fb.elapsed - lastPrint < 1 && lastPrint >= 0) return;
      lastPrint = fb.elapsed;
      const criteria = s
        ? s.criterion_names
            .map((n, i) => `${n} ${Number(s.criterion_values[i]).toFixed(3)}`)
            .join(", ")
        : "";
      say(
        `[${fb.elapsed.toFixed(1).padStart(5)} s] ${fb.phase.padEnd(9)} chunks ${String(fb.chunks_executed).padStart(4)}  ${criteria}`,
      );
    },
  },
);
recording = false;

// 4. Outcome and artefacts.
say(
  `outcome: ${report.outcome === "success" ? "SUCCESS" : "no success"} (${report.message}) after ${report.simElapsedSec.toFixed(1)} s, ` +
    `${report.chunksExecuted} chunks executed; sim reports success=${report.simSuccess ?? "unknown"}`,
);
if (report.mcap) say(`wrote ${path.relative(process.cwd(), report.mcap)}`);
if (frames.length > 0) {
  const gifPath = path.join(outDir, "episode.gif");
  writeFileSync(gifPath, encodeGif(frames, FRAME_PERIOD_SEC * 1000));
  say(
    `wrote ${path.relative(process.cwd(), gifPath)} (${frames.length} frames of the front camera)`,
  );
} else {
  say("no camera frames arrived; no GIF written");
}
await shutdown(report.outcome === "error" ? 1 : 0);
