/**
 * Starting the agent (bin/blm-agent.js) and the test driver (agent-driver.ts) for the agent's
 * integration tests. Each describe block uses its own ROS namespace, so blocks in parallel test
 * files share the run's domain without hearing each other.
 */
import path from "node:path";
import { Peer, REPO_ROOT } from "./processes.ts";

export interface DriverStats {
  t: number;
  intents: number;
  intentInstructions: string[];
  chunks: number;
  chunkNamesOk: boolean;
  chunksSince: number;
  trajectories: number;
  trajectoriesSince: number;
  namesOk: boolean;
  orderOk: boolean;
  limitsOk: boolean;
  finiteOk: boolean;
  violations: string[];
  maxMove: number;
  states: number;
  modes: string[];
  errorCodes: string[];
  lastState: {
    mode: string;
    code: string;
    message: string;
    control_rate_hz: number;
    chunk_rate_hz: number;
    intent_rate_hz: number;
    provider: string;
    instruction: string;
  } | null;
  diagnostics: number;
  diagnosticNames: string[];
  diagValues: Record<string, string>;
  framesPublished: number;
  /** Goals received by the driver's gripper action server (with `gripperServer`). */
  gripperGoals: Array<{ t: number; position: number; effort: number; names?: string[] }>;
  q: number[];
}

let counter = 0;
export function uniqueNamespace(tag: string): string {
  return `/t${process.pid}_${tag}_${counter++}`;
}

export function startAgent(args: string[]): Peer {
  return new Peer(process.execPath, ["bin/blm-agent.js", ...args], {
    ...process.env,
    BLM_LOG_LEVEL: process.env.BLM_LOG_LEVEL ?? "warn",
  });
}

export async function agentReady(p: Peer, timeoutMs = 60_000): Promise<void> {
  await p.nextLine((l) => l.includes("ready (node"), timeoutMs);
}

export interface DriverConfig {
  embodiment: string;
  ns: string;
  trajectoryTopic: string;
  cameras?: string[];
  width?: number;
  height?: number;
  imageHz?: number;
  jointHz?: number;
  /** Publish sensor_msgs/CompressedImage (first camera jpeg, the next png) for image_transport compressed. */
  compressed?: boolean;
  /**
   * Serve the gripper's action server (gripper_command, parallel_gripper) and record its goals.
   * Off by default: every goal costs both processes CPU (rclnodejs actions), which tests that
   * count rates on two loaded cores can do without; the agent skips goals while no server is up.
   */
  gripperServer?: boolean;
}

/** In-flight chunks (sampled before a fault arrived) may carry a stamp up to this much later. */
export const GRACE_S = 0.25;

export class Driver {
  readonly peer: Peer;
  readonly cameras: readonly string[];
  constructor(cfg: DriverConfig) {
    const full = {
      cameras: ["front", "wrist"],
      width: 64,
      height: 48,
      imageHz: 15,
      jointHz: 100,
      ...cfg,
    };
    this.cameras = full.cameras;
    this.peer = new Peer(
      process.execPath,
      ["--import", "tsx", "tests/support/agent-driver.ts", JSON.stringify(full)],
      process.env,
      { stdin: true },
    );
  }

  async ready(timeoutMs = 60_000): Promise<void> {
    await this.peer.nextLine((l) => l.includes('"event":"ready"'), timeoutMs);
  }

  /** Sends a command and returns the first reply event of the given kind. */
  async cmd<T = Record<string, unknown>>(
    c: Record<string, unknown>,
    reply = "ok",
    timeoutMs = 15_000,
  ): Promise<T> {
    this.peer.send(JSON.stringify(c));
    const line = await this.peer.nextLine((l) => l.includes(`"event":"${reply}"`), timeoutMs);
    return JSON.parse(line) as T;
  }

  stats(since?: number): Promise<DriverStats> {
    return this.cmd<DriverStats>({ cmd: "stats", since }, "stats");
  }

  /** Polls stats until `pred` holds; throws with the last stats after the timeout. */
  async until(
    pred: (s: DriverStats) => boolean,
    timeoutMs: number,
    since?: number,
  ): Promise<DriverStats> {
    const deadline = Date.now() + timeoutMs;
    let s = await this.stats(since);
    while (!pred(s)) {
      if (Date.now() > deadline)
        throw new Error(
          `condition not met within ${timeoutMs} ms; last stats: ${JSON.stringify(s)}`,
        );
      await new Promise((r) => setTimeout(r, 200));
      s = await this.stats(since);
    }
    return s;
  }

  async sleep(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
  }

  /** Activates the agent (lifecycle transition 3), retrying while discovery settles and a fresh joint state arrives. */
  async activate(): Promise<void> {
    for (let i = 0; i < 40; i++) {
      const r = await this.cmd<{ success: boolean; state?: string }>(
        { cmd: "lifecycle", id: 3 },
        "lifecycle",
      );
      if (r.success || r.state === "active") return;
      await this.sleep(250);
    }
    throw new Error("could not activate");
  }

  /** Sends a blm/execute goal; resolves with whether it was accepted. */
  async execute(instruction: string, timeout: number): Promise<boolean> {
    const g = await this.cmd<{ accepted: boolean }>(
      { cmd: "execute", instruction, timeout },
      "goal",
    );
    return g.accepted;
  }

  /** Restores good input everywhere and waits until chunks flow again. */
  async healthy(): Promise<void> {
    await this.cmd({
      cmd: "set",
      camera: Object.fromEntries(this.cameras.map((c) => [c, "ok"])),
      joints: "ok",
    });
    const t = (await this.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
    await this.until((s) => s.chunksSince > 2, 15_000, t);
  }

  /**
   * Injects a fault and waits for its error code; `after` counts what arrived from `graceSec`
   * after the fault on (a chunk there would be built from the bad data).
   */
  async fault(set: Record<string, unknown>, code: string, graceSec = GRACE_S) {
    const t = (await this.cmd<{ t: number }>({ cmd: "set", ...set })).t;
    const s = await this.until((x) => x.errorCodes.includes(code), 8000);
    await this.sleep(1000);
    const after = await this.stats(t + graceSec);
    return { s, after };
  }
}

/**
 * The test model (DESIGN decision 15): its chunks are built to be accepted by the executor and to
 * move the arm, which the agent tests assert; the default model is graded by the eval instead.
 */
export const TEST_MODEL = path.join(REPO_ROOT, "models/test-tiny");

/** The agent's ROS arguments for one test namespace. */
export function agentArgs(ns: string, embodiment: string, extra: string[] = []): string[] {
  return [
    "--ros-args",
    "-r",
    `__ns:=${ns}`,
    "-p",
    `embodiment:=${embodiment}`,
    "-p",
    `model:=${TEST_MODEL}`,
    "-p",
    "trajectory_topic:=arm_controller/joint_trajectory",
    ...extra,
  ];
}

export const TRAJECTORY_TOPIC = "arm_controller/joint_trajectory";

/** An agent and a driver for one embodiment in a namespace of their own, both ready. */
export async function startPair(
  embodiment: string,
  extra: string[] = [],
  driver: Partial<DriverConfig> = {},
): Promise<{ agent: Peer; driver: Driver; ns: string }> {
  const ns = uniqueNamespace(embodiment);
  const agent = startAgent(agentArgs(ns, embodiment, extra));
  const d = new Driver({ embodiment, ns, trajectoryTopic: TRAJECTORY_TOPIC, ...driver });
  try {
    await Promise.all([agentReady(agent), d.ready()]);
  } catch (e) {
    await Promise.all([agent.stop(), d.peer.stop()]);
    throw e;
  }
  return { agent, driver: d, ns };
}

/** startPair, then activation and an instruction; resolves once chunks and trajectories flow. */
export async function startDriving(
  embodiment: string,
  extra: string[] = [],
  driver: Partial<DriverConfig> = {},
  instruction = "push the cube to the goal",
): Promise<{ agent: Peer; driver: Driver; ns: string }> {
  const pair = await startPair(embodiment, extra, driver);
  const d = pair.driver;
  await d.activate();
  await d.cmd({ cmd: "instruction", text: instruction });
  await d.until((s) => s.trajectories > 10 && s.chunks > 2, 20_000);
  return pair;
}
