/**
 * A robot stand-in for the agent's integration tests, run as its own process:
 *   node --import tsx tests/support/agent-driver.ts '<json config>'
 * It publishes camera images and joint states for one embodiment, moves a simple kinematic arm
 * along the last JointTrajectory received (linear between points, from where the arm is), and
 * checks what the agent publishes. Commands come as JSON lines on stdin; replies and events go
 * to stdout as JSON lines (see `handle`). Input faults are injected with {"cmd":"set",...}.
 * With `compressed`, cameras publish sensor_msgs/CompressedImage instead (image_transport
 * compressed): the first camera jpeg, the next png, alternating. The gripper is served through
 * the definition's interface: a trajectory topic, or, with `gripperServer`, a GripperCommand /
 * ParallelGripperCommand action server that records every goal.
 */
import { createInterface } from "node:readline";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import rclnodejs from "rclnodejs";
import { loadEmbodiment } from "../../embodiments/registry.ts";
import { unwrap } from "../../lib/errors.ts";

interface Config {
  embodiment: string;
  ns: string;
  trajectoryTopic: string;
  cameras: string[];
  width: number;
  height: number;
  imageHz: number;
  jointHz: number;
  compressed?: boolean;
  gripperServer?: boolean;
}
const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;
const emb = unwrap(loadEmbodiment(cfg.embodiment));
const names = emb.joints.map((j) => j.name);
const n = names.length;
const lower = emb.joints.map((j) => j.position.lower);
const upper = emb.joints.map((j) => j.position.upper);
const vmax = emb.joints.map((j) => j.velocity);
const home = emb.home.slice();
const q = home.slice();
/** The arm as the last joint state reported it, for the velocity a driver would report. */
const qReported = home.slice();
let gripper = emb.gripper.position.upper;

const out = (o: Record<string, unknown>): void =>
  void process.stdout.write(JSON.stringify(o) + "\n");

await rclnodejs.init();
const node = rclnodejs.createNode(`blm_test_driver_${process.pid}`, cfg.ns);
const clock = node.getClock();
const now = () => Number(clock.now().nanoseconds) / 1e9;
const Q = rclnodejs.QoS;
const reliable = (depth = 10, latched = false) =>
  new Q(
    Q.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST,
    depth,
    Q.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_RELIABLE,
    latched
      ? Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL
      : Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_VOLATILE,
  );
const stamp = (t: number) => ({
  sec: Math.floor(t),
  nanosec: Math.round((t - Math.floor(t)) * 1e9) % 1e9,
});
const secOf = (s: { sec: number; nanosec: number }) => s.sec + s.nanosec * 1e-9;

// ---- faults ---------------------------------------------------------------------------------
type CamMode =
  | "ok"
  | "bgr8"
  | "mono8"
  | "bad_encoding"
  | "wrong_step"
  | "empty"
  | "stop"
  /** compressed only: the format's magic bytes, then garbage */
  | "corrupt";
/** Modes the configured transport cannot produce. */
const UNSUPPORTED: readonly CamMode[] = cfg.compressed
  ? ["bgr8", "mono8", "wrong_step"]
  : ["corrupt"];
/** `velocity`: good joint states that also report the arm joints' velocities (the others report none). */
type JointMode = "ok" | "velocity" | "nan" | "missing" | "stop" | "out_of_limit";
const camMode: Record<string, CamMode> = Object.fromEntries(
  cfg.cameras.map((c) => [c, "ok" as CamMode]),
);
let jointMode: JointMode = "ok";

// ---- what the agent publishes -----------------------------------------------------------------
interface GripperGoal {
  t: number;
  position: number;
  /** GripperCommand's max_effort, or ParallelGripperCommand's effort[0]. */
  effort: number;
  /** ParallelGripperCommand's joint names. */
  names?: string[];
}
const stats = {
  intents: 0,
  intentInstructions: [] as string[],
  chunks: 0,
  chunkSourceStamps: [] as number[],
  chunkNamesOk: true,
  trajectories: 0,
  trajectoryTimes: [] as number[],
  namesOk: true,
  orderOk: true,
  limitsOk: true,
  finiteOk: true,
  violations: [] as string[],
  maxMove: 0,
  states: 0,
  modes: [] as string[],
  errorCodes: [] as string[],
  lastState: null as null | Record<string, unknown>,
  diagnostics: 0,
  diagnosticNames: [] as string[],
  /** Latest diagnostic values, keyed "<status name>/<key>". */
  diagValues: {} as Record<string, string>,
  framesPublished: 0,
  /** Goals received by the gripper action server (the latest 500). */
  gripperGoals: [] as GripperGoal[],
};
/** Header stamps of the trajectories received (s): the controller's tick times. */
const trajectoryStamps: number[] = [];
const pushUnique = (xs: string[], x: string) => {
  if (x && !xs.includes(x)) xs.push(x);
};

// The kinematic arm follows the latest trajectory linearly from where it was when it arrived.
let traj: { t0: number; from: number[]; times: number[]; points: number[][] } | null = null;

node.createSubscription(
  "trajectory_msgs/msg/JointTrajectory",
  cfg.trajectoryTopic,
  { qos: reliable(10) },
  (m: rclnodejs.trajectory_msgs.msg.JointTrajectory) => {
    const t = now();
    stats.trajectories++;
    stats.trajectoryTimes.push(t);
    if (stats.trajectoryTimes.length > 5000) stats.trajectoryTimes.shift();
    if (m.joint_names.join(",") !== names.join(",")) {
      stats.namesOk = false;
      pushUnique(stats.violations, `names ${m.joint_names.join(",")}`);
    }
    let prev = 0;
    for (const p of m.points) {
      const tf = secOf(p.time_from_start);
      if (!(tf > prev)) {
        stats.orderOk = false;
        pushUnique(stats.violations, `time_from_start ${tf} after ${prev}`);
      }
      prev = tf;
      for (let j = 0; j < n; j++) {
        const x = p.positions[j]!;
        const v = p.velocities[j] ?? 0;
        if (!Number.isFinite(x) || !Number.isFinite(v)) stats.finiteOk = false;
        if (x < lower[j]! - 1e-9 || x > upper[j]! + 1e-9 || Math.abs(v) > vmax[j]! * (1 + 1e-6)) {
          stats.limitsOk = false;
          pushUnique(stats.violations, `${names[j]} p=${x} v=${v}`);
        }
      }
    }
    const st = secOf(m.header.stamp);
    trajectoryStamps.push(st);
    if (trajectoryStamps.length > 20000) trajectoryStamps.shift();
    traj = {
      t0: st > 0 ? st : t,
      from: q.slice(),
      times: m.points.map((p) => secOf(p.time_from_start)),
      points: m.points.map((p) => Array.from(p.positions as ArrayLike<number>)),
    };
  },
);

function integrate(t: number): void {
  if (!traj || !traj.points.length) return;
  const tau = t - traj.t0;
  let k = traj.times.findIndex((x) => x >= tau);
  if (k < 0) k = traj.times.length - 1;
  const t1 = traj.times[k]!;
  const t0 = k === 0 ? 0 : traj.times[k - 1]!;
  const a = k === 0 ? traj.from : traj.points[k - 1]!;
  const b = traj.points[k]!;
  const s = tau >= t1 ? 1 : Math.max(0, (tau - t0) / Math.max(t1 - t0, 1e-9));
  for (let j = 0; j < n; j++) {
    q[j] = a[j]! + s * (b[j]! - a[j]!);
    stats.maxMove = Math.max(stats.maxMove, Math.abs(q[j]! - home[j]!));
  }
}

node.createSubscription(
  "blm_msgs/msg/Intent",
  "blm/intent",
  { qos: reliable(10) },
  (m: rclnodejs.blm_msgs.msg.Intent) => {
    stats.intents++;
    pushUnique(stats.intentInstructions, m.instruction);
  },
);
node.createSubscription(
  "blm_msgs/msg/ActionChunk",
  "blm/action_chunk",
  { qos: reliable(10) },
  (m: rclnodejs.blm_msgs.msg.ActionChunk) => {
    stats.chunks++;
    stats.chunkSourceStamps.push(secOf(m.source_stamp));
    if (stats.chunkSourceStamps.length > 2000) stats.chunkSourceStamps.shift();
    if (m.joint_names.join(",") !== names.join(",")) stats.chunkNamesOk = false;
  },
);
node.createSubscription(
  "blm_msgs/msg/AgentState",
  "blm/state",
  { qos: reliable(10) },
  (m: rclnodejs.blm_msgs.msg.AgentState) => {
    stats.states++;
    pushUnique(stats.modes, m.mode_name);
    pushUnique(stats.errorCodes, m.error_code);
    stats.lastState = {
      mode: m.mode_name,
      code: m.error_code,
      message: m.error_message,
      control_rate_hz: m.control_rate_hz,
      chunk_rate_hz: m.chunk_rate_hz,
      intent_rate_hz: m.intent_rate_hz,
      provider: m.execution_provider,
      instruction: m.instruction,
    };
  },
);
node.createSubscription(
  "diagnostic_msgs/msg/DiagnosticArray",
  "diagnostics",
  { qos: reliable(10) },
  (m: rclnodejs.diagnostic_msgs.msg.DiagnosticArray) => {
    stats.diagnostics++;
    for (const s of m.status) {
      pushUnique(stats.diagnosticNames, s.name);
      for (const kv of s.values) stats.diagValues[`${s.name}/${kv.key}`] = kv.value;
    }
  },
);

// ---- inputs ---------------------------------------------------------------------------------
const sensorQos = new Q(
  Q.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST,
  2,
  Q.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT,
  Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_VOLATILE,
);
const jointPub = node.createPublisher("sensor_msgs/msg/JointState", "joint_states", {
  qos: sensorQos,
});
const camPubs = cfg.cameras.map((c, i) => ({
  name: c,
  format: (i % 2 === 0 ? "jpeg" : "png") as "jpeg" | "png",
  pub: cfg.compressed
    ? node.createPublisher("sensor_msgs/msg/CompressedImage", `camera/${c}/image_raw/compressed`, {
        qos: sensorQos,
      })
    : node.createPublisher("sensor_msgs/msg/Image", `camera/${c}/image_raw`, { qos: sensorQos }),
}));
const W = cfg.width,
  H = cfg.height;
let frame = 0;
function image(mode: CamMode, t: number, k = frame) {
  const enc =
    mode === "bad_encoding"
      ? "yuv422_yuy2_x"
      : mode === "bgr8"
        ? "bgr8"
        : mode === "mono8"
          ? "mono8"
          : "rgb8";
  const ch = enc === "mono8" ? 1 : 3;
  const step = mode === "wrong_step" ? W * ch - 1 : W * ch;
  const data = mode === "empty" ? new Uint8Array(0) : new Uint8Array(W * ch * H);
  for (let i = 0; i < data.length; i += 97) data[i] = (i + k * 13) & 0xff;
  return {
    header: { stamp: stamp(t), frame_id: "camera" },
    height: mode === "empty" ? 0 : H,
    width: mode === "empty" ? 0 : W,
    encoding: enc,
    is_bigendian: 0,
    step,
    data,
  };
}
/**
 * jpeg-js spends tens of milliseconds per encode (it rebuilds its tables every call), enough to
 * starve this process's timers at camera rate: a few frames are encoded once, then cycled.
 */
const ENCODED_FRAMES = 8;
const encoded: Record<"jpeg" | "png", Uint8Array[]> = { jpeg: [], png: [] };
for (const format of cfg.compressed ? new Set(camPubs.map((c) => c.format)) : []) {
  for (let k = 0; k < ENCODED_FRAMES; k++) {
    const rgb = image("ok", 0, k).data;
    const rgba = new Uint8Array(W * H * 4);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      rgba.set(rgb.subarray(i, i + 3), j);
      rgba[j + 3] = 255;
    }
    if (format === "jpeg")
      encoded.jpeg.push(jpeg.encode({ data: Buffer.from(rgba), width: W, height: H }, 85).data);
    else {
      const png = new PNG({ width: W, height: H });
      png.data.set(rgba);
      encoded.png.push(PNG.sync.write(png));
    }
  }
}
function compressedImage(mode: CamMode, t: number, format: "jpeg" | "png") {
  let data = Uint8Array.from(encoded[format][frame % ENCODED_FRAMES]!);
  if (mode === "corrupt") for (let i = 20; i < data.length; i++) data[i] = (i * 31 + frame) & 0xff;
  else if (mode === "empty") data = new Uint8Array(0);
  else if (mode === "bad_encoding") data = Uint8Array.of(0x42, 0x4d, 0x36, 0, 0, 0, 0, 0, 0, 0);
  return {
    header: { stamp: stamp(t), frame_id: "camera" },
    format: mode === "bad_encoding" ? "bmp" : format,
    data,
  };
}
node.createTimer(BigInt(Math.round(1e9 / cfg.imageHz)), () => {
  const t = now();
  frame++;
  for (const { name, format, pub } of camPubs) {
    const m = camMode[name]!;
    if (m === "stop") continue;
    pub.publish((cfg.compressed ? compressedImage(m, t, format) : image(m, t)) as never);
    stats.framesPublished++;
  }
});
node.createTimer(BigInt(Math.round(1e9 / cfg.jointHz)), () => {
  const t = now();
  integrate(t);
  if (jointMode === "stop") return;
  const nm = [...names, emb.gripper.joint];
  const pos = [...q, gripper];
  const vel = q.map((x, j) => (x - qReported[j]!) * cfg.jointHz);
  qReported.splice(0, n, ...q);
  if (jointMode === "nan") pos[1] = NaN;
  if (jointMode === "out_of_limit") pos[0] = upper[0]! + 0.5;
  if (jointMode === "missing") {
    nm.splice(2, 1);
    pos.splice(2, 1);
  }
  jointPub.publish({
    header: { stamp: stamp(t), frame_id: "" },
    name: nm,
    position: pos,
    velocity: jointMode === "velocity" ? [...vel, 0] : [],
    effort: [],
  } as never);
});
const gripperName = emb.gripper.command.replace(/^\//, "");
/** The kinematic gripper jumps to each commanded position. */
const moveGripper = (p: number | undefined) => {
  if (p !== undefined && Number.isFinite(p)) gripper = p;
};
if (emb.gripper.interface === "trajectory")
  node.createSubscription(
    "trajectory_msgs/msg/JointTrajectory",
    gripperName,
    { qos: reliable(10) },
    (m: rclnodejs.trajectory_msgs.msg.JointTrajectory) =>
      moveGripper(m.points.at(-1)?.positions[0]),
  );
else if (cfg.gripperServer) {
  const record = (g: GripperGoal) => {
    stats.gripperGoals.push(g);
    if (stats.gripperGoals.length > 500) stats.gripperGoals.shift();
    moveGripper(g.position);
  };
  if (emb.gripper.interface === "gripper_command")
    new rclnodejs.ActionServer(
      node,
      "control_msgs/action/GripperCommand",
      gripperName,
      (h: rclnodejs.ServerGoalHandle<"control_msgs/action/GripperCommand">) => {
        const { position, max_effort } = h.request.command;
        record({ t: now(), position, effort: max_effort });
        h.succeed();
        return { position: gripper, effort: 0, stalled: false, reached_goal: true } as never;
      },
    );
  else
    new rclnodejs.ActionServer(
      node,
      "control_msgs/action/ParallelGripperCommand",
      gripperName,
      (h: rclnodejs.ServerGoalHandle<"control_msgs/action/ParallelGripperCommand">) => {
        const c = h.request.command;
        record({
          t: now(),
          position: c.position[0] ?? NaN,
          effort: c.effort[0] ?? NaN,
          names: [...c.name],
        });
        h.succeed();
        return {
          state: {
            header: { stamp: stamp(now()), frame_id: "" },
            name: [emb.gripper.joint],
            position: [gripper],
            velocity: [],
            effort: [],
          },
          stalled: false,
          reached_goal: true,
        } as never;
      },
    );
}

const instructionPub = node.createPublisher("std_msgs/msg/String", "blm/instruction", {
  qos: reliable(1, true),
});
const estopPub = node.createPublisher("std_msgs/msg/Bool", "blm/estop", { qos: reliable(10) });
const successPub = node.createPublisher("std_msgs/msg/Bool", "sim/success", { qos: reliable(10) });
const lifecycle = node.createClient("lifecycle_msgs/srv/ChangeState", "blm/change_state");
const lifecycleState = node.createClient("lifecycle_msgs/srv/GetState", "blm/get_state");
const execute = new rclnodejs.ActionClient(node, "blm_msgs/action/Execute", "blm/execute");
let goal: rclnodejs.ClientGoalHandle<"blm_msgs/action/Execute"> | null = null;

async function handle(c: Record<string, unknown>): Promise<void> {
  const t = now();
  switch (c.cmd) {
    case "instruction":
      instructionPub.publish({ data: String(c.text) });
      return out({ event: "ok", cmd: c.cmd, t });
    case "estop":
      estopPub.publish({ data: Boolean(c.value) });
      return out({ event: "ok", cmd: c.cmd, t });
    case "success":
      successPub.publish({ data: Boolean(c.value) });
      return out({ event: "ok", cmd: c.cmd, t });
    case "set":
      for (const m of Object.values((c.camera ?? {}) as Record<string, CamMode>))
        if (UNSUPPORTED.includes(m))
          throw new Error(`camera mode ${m} needs ${cfg.compressed ? "raw" : "compressed"} images`);
      if (c.camera) Object.assign(camMode, c.camera);
      if (c.joints) jointMode = c.joints as JointMode;
      return out({ event: "ok", cmd: c.cmd, t });
    case "lifecycle": {
      if (!(await lifecycle.waitForService(5000)))
        return out({ event: "lifecycle", success: false, reason: "no service" });
      try {
        const r = await lifecycle.sendRequestAsync(
          { transition: { id: Number(c.id), label: "" } } as never,
          { timeout: 5000 },
        );
        return out({ event: "lifecycle", success: (r as { success: boolean }).success, t });
      } catch (e) {
        // A response lost while DDS matches the reply reader leaves the transition's outcome
        // unknown: report the state it left, so the caller can tell done from retry.
        const s = await lifecycleState
          .sendRequestAsync({} as never, { timeout: 5000 })
          .catch(() => undefined);
        const label = (s as { current_state?: { label?: string } } | undefined)?.current_state
          ?.label;
        return out({
          event: "lifecycle",
          success: false,
          reason: (e as Error).message,
          state: label,
          t,
        });
      }
    }
    case "execute": {
      await execute.waitForServer(5000);
      goal = await execute.sendGoal({
        instruction: String(c.instruction),
        timeout: Number(c.timeout ?? 0),
      } as never);
      out({ event: "goal", accepted: goal.isAccepted(), t });
      if (goal.isAccepted()) {
        const g = goal;
        void g
          .getResult()
          .then((r) => out({ event: "result", status: g.status, result: r, t: now() }));
      }
      return;
    }
    case "cancel":
      if (goal) await goal.cancelGoal();
      return out({ event: "ok", cmd: c.cmd, t });
    case "reset":
      Object.assign(stats, {
        intents: 0,
        chunks: 0,
        trajectories: 0,
        states: 0,
        diagnostics: 0,
        maxMove: 0,
        violations: [],
        errorCodes: [],
        modes: [],
        chunkSourceStamps: [],
        trajectoryTimes: [],
        intentInstructions: [],
        gripperGoals: [],
      });
      for (let j = 0; j < n; j++) home[j] = q[j]!;
      return out({ event: "reset", t });
    case "stamps":
      return out({ event: "stamps", stamps: trajectoryStamps.splice(0) });
    case "stats": {
      const since = Number(c.since ?? -Infinity);
      return out({
        event: "stats",
        t,
        ...stats,
        chunkSourceStamps: undefined,
        trajectoryTimes: undefined,
        chunksSince: stats.chunkSourceStamps.filter((s) => s > since).length,
        trajectoriesSince: stats.trajectoryTimes.filter((s) => s > since).length,
        q: q.slice(),
      });
    }
    default:
      return out({ event: "error", message: `unknown command ${String(c.cmd)}` });
  }
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  handle(JSON.parse(line) as Record<string, unknown>).catch((e: Error) => {
    process.stderr.write(`agent-driver: ${e.message}\n`);
    out({ event: "error", message: e.message });
  });
});
node.spin();
out({ event: "ready", t: now() });
process.on("SIGINT", () => {
  node.destroy();
  rclnodejs.shutdown();
  process.exit(0);
});
