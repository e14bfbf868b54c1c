/**
 * The main job: the simulation demo. Brings up the MuJoCo sim and the agent from
 * launch/sim.launch.xml (through the project's launch interpreter), resets the task,
 * sends the task's instruction through /blm/execute, prints progress and the outcome, and
 * writes a GIF of the front camera and an MCAP of the episode.
 *
 *   npm run demo -- [--embodiment panda] [--task PickCube] [--seed 0] [--timeout 20] [--model DIR]
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import rclnodejs from "rclnodejs";
import { encodeGif, type RgbFrame } from "./demo/gif.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    embodiment: { type: "string", default: "panda" },
    task: { type: "string", default: "PickCube" },
    seed: { type: "string", default: "0" },
    timeout: { type: "string", default: "20" },
    model: { type: "string", default: path.join(ROOT, "models/test-tiny") },
    out: { type: "string", default: "" },
  },
});
const seed = Number(args.seed);
const timeoutSec = Number(args.timeout);
const outDir = path.resolve(
  args.out || path.join(ROOT, "out/demo", `${args.embodiment}-${args.task}-${seed}`),
);
mkdirSync(outDir, { recursive: true });

const say = (line: string) => console.log(`demo: ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function describeModel(dir: string): string {
  if (path.basename(dir) === "test-tiny")
    return (
      "models/test-tiny: the seeded test model (untrained on demonstrations). It drives the arm " +
      "smoothly through the real pipeline but is not expected to solve the task; the trained " +
      "blm-tiny model does not exist yet."
    );
  return dir;
}

// 1. The graph: sim + agent, from the same launch file a robot user would use.
const launchLog = createWriteStream(path.join(outDir, "launch.log"));
const launch = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "launch/run.ts",
    "launch/sim.launch.xml",
    `embodiment:=${args.embodiment}`,
    `task:=${args.task}`,
    `seed:=${seed}`,
    `model:=${path.resolve(args.model)}`,
  ],
  { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: false },
);
launch.stdout.pipe(launchLog);
launch.stderr.pipe(launchLog);
let launchExited = false;
launch.on("exit", (code) => {
  launchExited = true;
  if (!finished)
    say(`the launched graph exited early (code ${code}); see ${path.join(outDir, "launch.log")}`);
});
let finished = false;
let recorderProcess: ReturnType<typeof spawn> | null = null;

async function shutdown(code: number): Promise<never> {
  finished = true;
  if (recorderProcess && recorderProcess.exitCode === null) recorderProcess.kill("SIGINT");
  if (!launchExited) {
    launch.kill("SIGINT");
    const deadline = Date.now() + 15_000;
    while (!launchExited && Date.now() < deadline) await sleep(100);
    if (!launchExited) launch.kill("SIGKILL");
  }
  try {
    rclnodejs.shutdown();
  } catch {
    // already down
  }
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(130));

say(`${args.embodiment} · ${args.task} · seed ${seed}`);
say(`model: ${describeModel(path.resolve(args.model))}`);
say(
  `starting the sim and the agent (launch/sim.launch.xml; log: ${path.relative(ROOT, outDir)}/launch.log)`,
);

await rclnodejs.init();
const node = rclnodejs.createNode("blm_demo");
rclnodejs.spin(node);

// 2. What the demo watches: task status, and the front camera for the GIF.
let status: rclnodejs.blm_msgs.msg.TaskStatus | null = null;
node.createSubscription(
  "blm_msgs/msg/TaskStatus",
  "/sim/task_status",
  (m: rclnodejs.blm_msgs.msg.TaskStatus) => {
    status = m;
  },
);
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

// 3. Reset the task through the sim's service, as any client would.
const reset = node.createClient("blm_msgs/srv/SimReset", "/sim/reset");
if (!(await reset.waitForService(180_000))) {
  say("the sim's /sim/reset service did not come up within 180 s");
  await shutdown(1);
}
const resetReply = await reset.sendRequestAsync(
  { task: args.task, seed, embodiment: args.embodiment },
  { timeout: 60_000 },
);
if (!resetReply.success) {
  say(`reset failed: ${resetReply.message}`);
  await shutdown(1);
}
const instruction = resetReply.instruction;
say(`task reset; instruction: "${instruction}"`);

// The episode's MCAP: a recorder process (rclpy, ROS 2 CDR) subscribed like any other client.
const mcapPath = path.join(outDir, "episode.mcap");
const recorder = spawn(
  process.env.BLM_PYTHON ?? "python3",
  [
    "-m",
    "blm_sim.record",
    "--embodiment",
    args.embodiment,
    "--out",
    mcapPath,
    "--instruction",
    instruction,
    "--task",
    args.task,
    "--seed",
    String(seed),
  ],
  {
    cwd: ROOT,
    env: {
      ...process.env,
      PYTHONPATH: [path.join(ROOT, "sim"), process.env.PYTHONPATH].filter(Boolean).join(":"),
    },
    stdio: ["pipe", "pipe", "pipe"],
  },
);
recorderProcess = recorder;
let recorderOutput = "";
recorder.stdout.on("data", (d: Buffer) => (recorderOutput += d.toString()));
recorder.stderr.on("data", (d: Buffer) => (recorderOutput += d.toString()));
const recorderExited = new Promise<void>((resolve) => recorder.on("exit", () => resolve()));
for (let i = 0; i < 300 && !recorderOutput.includes("recording"); i++) await sleep(100);

// 4. Execute the instruction through the agent's action server.
const execute = new rclnodejs.ActionClient(node, "blm_msgs/action/Execute", "/blm/execute");
if (!(await execute.waitForServer(120_000))) {
  say("the agent's /blm/execute action server did not come up within 120 s");
  await shutdown(1);
}
recording = true;
let lastPrint = -Infinity;
const goal = await execute.sendGoal({ instruction, timeout: timeoutSec }, (fb) => {
  if (fb.elapsed - lastPrint < 1 && lastPrint >= 0) return;
  lastPrint = fb.elapsed;
  const s = status as rclnodejs.blm_msgs.msg.TaskStatus | null;
  const criteria = s
    ? s.criterion_names.map((n, i) => `${n} ${Number(s.criterion_values[i]).toFixed(3)}`).join(", ")
    : "";
  say(
    `[${fb.elapsed.toFixed(1).padStart(5)} s] ${fb.phase.padEnd(9)} chunks ${String(fb.chunks_executed).padStart(4)}  ${criteria}`,
  );
});
if (!goal.isAccepted()) {
  say("the agent rejected the goal");
  await shutdown(1);
}
// rclnodejs resolves getResult() with the result message itself.
const result = (await goal.getResult()) as unknown as rclnodejs.blm_msgs.action.Execute_Result;
recording = false;

// 5. Outcome and artefacts.
const finalStatus = status as rclnodejs.blm_msgs.msg.TaskStatus | null;
say(
  `outcome: ${result.success ? "SUCCESS" : "no success"} (${result.message}) after ${result.elapsed.toFixed(1)} s, ` +
    `${result.chunks_executed} chunks executed; sim reports success=${finalStatus?.success ?? "unknown"}`,
);
recorder.stdin.end("end\n");
await Promise.race([recorderExited, sleep(15_000)]);
const wrote = /wrote (\S+)/.exec(recorderOutput);
say(
  wrote
    ? `wrote ${path.relative(process.cwd(), wrote[1]!)}`
    : `no MCAP written: ${recorderOutput.trim().split("\n").pop()}`,
);
if (frames.length > 0) {
  const gifPath = path.join(outDir, "episode.gif");
  writeFileSync(gifPath, encodeGif(frames, FRAME_PERIOD_SEC * 1000));
  say(
    `wrote ${path.relative(process.cwd(), gifPath)} (${frames.length} frames of the front camera)`,
  );
} else {
  say("no camera frames arrived; no GIF written");
}
await shutdown(0);
