/**
 * Small shared pieces of the rclnodejs layer: the per-process context every component gets,
 * the in-process bus that composes them, time conversion, QoS profiles and status reporting
 * (/blm/state and /diagnostics). No model or control math.
 */
import rclnodejs from "rclnodejs";
import { Subject } from "rxjs";
import type { Logger } from "../lib/log.ts";
import type { ErrorCode } from "../lib/errors.ts";
import type { Embodiment } from "../embodiments/schema.ts";
import type { Chunk } from "../embodiments/control/index.ts";
import type { Intent } from "../models/runtime/index.ts";
import { AgentLifecycle } from "../lib/agent/lifecycle.ts";
import type { AgentParams } from "./params.ts";

/** Topic and action names, relative so that a namespace applies (`--ros-args -r __ns:=/left`). */
export const TOPICS = {
  instruction: "blm/instruction",
  estop: "blm/estop",
  intent: "blm/intent",
  chunk: "blm/action_chunk",
  state: "blm/state",
  execute: "blm/execute",
  changeState: "blm/change_state",
  getState: "blm/get_state",
  diagnostics: "diagnostics",
} as const;

export const cameraTopic = (name: string, transport: "raw" | "compressed") =>
  transport === "raw" ? `camera/${name}/image_raw` : `camera/${name}/image_raw/compressed`;

/** A topic from a definition (absolute by convention) made relative at the root, so a namespace applies. */
export const relative = (topic: string) => topic.replace(/^\/+/, "");

export interface IntentEvent {
  intent: Intent;
  instruction: string;
  modelId: string;
  stampSec: number;
  sourceStampSec: number;
  latencySec: number;
}

export interface ChunkEvent {
  chunk: Chunk;
  latencySec: number;
  steps: number;
}

/** What composed components hand each other in-process (split processes bridge these to topics). */
export class AgentBus {
  /** A validated instruction was received: new text, or the same text again (a restart). */
  readonly instruction$ = new Subject<string>();
  readonly intent$ = new Subject<IntentEvent>();
  readonly chunk$ = new Subject<ChunkEvent>();
  /** Every error a component raises (logged once by it), newest last: the source of AgentState's last error. */
  readonly errors$ = new Subject<{ code: ErrorCode; message: string; source: string }>();
}

export interface AgentContext {
  readonly node: rclnodejs.Node;
  readonly params: AgentParams;
  readonly emb: Embodiment;
  readonly log: Logger;
  readonly bus: AgentBus;
  readonly lifecycle: AgentLifecycle;
  /** True when all four components share this process (they talk through the bus, not topics). */
  readonly composed: boolean;
  /** The node's clock (ROS time; /clock with use_sim_time), seconds. */
  now(): number;
}

export function createContext(
  node: rclnodejs.Node,
  params: AgentParams,
  emb: Embodiment,
  log: Logger,
  composed: boolean,
): AgentContext {
  const clock = node.getClock();
  return {
    node,
    params,
    emb,
    log,
    bus: new AgentBus(),
    lifecycle: new AgentLifecycle(),
    composed,
    now: () => Number(clock.now().nanoseconds) / 1e9,
  };
}

export function toSec(t: { sec: number; nanosec: number } | undefined | null): number {
  return t ? t.sec + t.nanosec * 1e-9 : NaN;
}

export function toStamp(sec: number): { sec: number; nanosec: number } {
  if (!(sec > 0)) return { sec: 0, nanosec: 0 };
  let s = Math.floor(sec);
  let ns = Math.round((sec - s) * 1e9);
  if (ns >= 1e9) {
    s += 1;
    ns -= 1e9;
  }
  return { sec: s, nanosec: ns };
}

export function toDuration(sec: number): { sec: number; nanosec: number } {
  return toStamp(sec);
}

const Q = rclnodejs.QoS;
export function qosReliable(depth = 10, latched = false): rclnodejs.QoS {
  return new Q(
    Q.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST,
    depth,
    Q.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_RELIABLE,
    latched
      ? Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL
      : Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_VOLATILE,
  );
}

/** Sensor-data QoS (best effort, keep last) with a small depth: only the newest frame matters. */
export function qosSensor(depth = 2): rclnodejs.QoS {
  return new Q(
    Q.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST,
    depth,
    Q.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT,
    Q.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_VOLATILE,
  );
}

/** One component's report, merged into AgentState and one DiagnosticStatus. */
export interface ComponentStatus {
  name: string;
  /** 0 OK, 1 WARN, 2 ERROR (diagnostic_msgs/DiagnosticStatus). */
  level: 0 | 1 | 2;
  message: string;
  /** The condition limiting this component now, if any. */
  problem: { code: ErrorCode; message: string } | null;
  /** Most recent error (sticky). */
  lastError: { code: ErrorCode; message: string } | null;
  values: Record<string, string | number>;
}

export interface StatusSource {
  status(nowSec: number): ComponentStatus;
}

export const fmt = (x: number, digits = 4) =>
  Number.isFinite(x) ? Number(x.toFixed(digits)) : "nan";
