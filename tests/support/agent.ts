/**
 * Starting the agent (bin/blm-agent.js) and the test driver (agent-driver.ts) for the agent's
 * integration tests. Each describe block uses its own ROS namespace, so blocks in parallel test
 * files share the run's domain without hearing each other.
 */
import { Peer } from "./processes.ts";

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
}

export class Driver {
  readonly peer: Peer;
  constructor(cfg: DriverConfig) {
    const full = {
      cameras: ["front", "wrist"],
      width: 64,
      height: 48,
      imageHz: 15,
      jointHz: 100,
      ...cfg,
    };
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
}

/** The agent's ROS arguments for one test namespace. */
export function agentArgs(ns: string, embodiment: string, extra: string[] = []): string[] {
  return [
    "--ros-args",
    "-r",
    `__ns:=${ns}`,
    "-p",
    `embodiment:=${embodiment}`,
    "-p",
    "trajectory_topic:=arm_controller/joint_trajectory",
    ...extra,
  ];
}

export const TRAJECTORY_TOPIC = "arm_controller/joint_trajectory";
