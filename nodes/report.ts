/**
 * Publishes blm_msgs/AgentState (10 Hz) and diagnostic_msgs/DiagnosticArray (1 Hz, one status
 * per component) for the components in this process. The state's error is the condition
 * limiting the agent now (inputs first: they are the root cause), else the most recent error.
 */
import type rclnodejs from "rclnodejs";
import type { ErrorCode } from "../lib/errors.ts";
import type { Brain } from "./brain.ts";
import type { Controller } from "./controller.ts";
import type { Observer } from "./observer.ts";
import type { Policy } from "./policy.ts";
import { TOPICS, qosReliable, toStamp, type AgentContext, type StatusSource } from "./ros.ts";

export interface Components {
  observer: Observer;
  brain?: Brain;
  policy?: Policy;
  controller?: Controller;
  provider: string;
}

export class Reporter {
  private readonly statePub: rclnodejs.Publisher<"blm_msgs/msg/AgentState">;
  private readonly diagPub: rclnodejs.Publisher<"diagnostic_msgs/msg/DiagnosticArray">;
  private readonly timers: rclnodejs.Timer[] = [];
  private lastError: { code: ErrorCode; message: string } | null = null;

  constructor(
    private readonly ctx: AgentContext,
    private readonly c: Components,
    private readonly role: string,
  ) {
    const { node } = ctx;
    this.statePub = node.createPublisher("blm_msgs/msg/AgentState", TOPICS.state, {
      qos: qosReliable(10),
    });
    this.diagPub = node.createPublisher("diagnostic_msgs/msg/DiagnosticArray", TOPICS.diagnostics, {
      qos: qosReliable(10),
    });
    ctx.bus.errors$.subscribe((e) => (this.lastError = { code: e.code, message: e.message }));
    this.timers.push(node.createTimer(100_000_000n, () => this.publishState()));
    this.timers.push(node.createTimer(1_000_000_000n, () => this.publishDiagnostics()));
  }

  private sources(): StatusSource[] {
    const { observer, brain, policy, controller } = this.c;
    return [observer, brain, policy, controller].filter((x): x is NonNullable<typeof x> => !!x);
  }

  publishState(): void {
    const now = this.ctx.now();
    const statuses = this.sources().map((s) => s.status(now));
    const current = statuses.find((s) => s.problem)?.problem ?? null;
    const err = current ?? this.lastError;
    const { controller, brain, policy } = this.c;
    const lifecycle = this.ctx.lifecycle.state;
    this.statePub.publish({
      header: { stamp: toStamp(now), frame_id: "" },
      mode: controller ? controller.mode : lifecycle === "unconfigured" ? 0 : 1,
      mode_name: controller
        ? controller.modeName
        : lifecycle === "unconfigured"
          ? "unconfigured"
          : "inactive",
      error_code: err?.code ?? "",
      error_message: err?.message ?? "",
      control_rate_hz: controller ? controller.controlRate(now) : 0,
      chunk_rate_hz: policy ? policy.chunkRate(now) : 0,
      intent_rate_hz: brain ? brain.intentRateHz(now) : 0,
      intent_latency: brain ? nz(brain.intentLatency) : 0,
      chunk_latency: policy ? nz(policy.chunkLatency) : 0,
      observation_to_command_latency: controller ? nz(controller.observationToCommand) : 0,
      execution_provider: this.c.provider,
      instruction: brain?.currentInstruction ?? "",
    } as unknown as rclnodejs.blm_msgs.msg.AgentState);
  }

  publishDiagnostics(): void {
    const now = this.ctx.now();
    const ns = this.ctx.node.namespace();
    const prefix = `${ns === "/" ? "" : ns}/${this.ctx.node.name()}`;
    const status = this.sources().map((s) => {
      const st = s.status(now);
      const values = Object.entries(st.values).map(([key, value]) => ({
        key,
        value: String(value),
      }));
      values.push({ key: "provider", value: this.c.provider });
      values.push({
        key: "last_error",
        value: st.lastError ? `${st.lastError.code}: ${st.lastError.message}` : "",
      });
      return {
        level: st.level,
        name: `${prefix}: ${st.name}`,
        message: st.message,
        hardware_id: this.ctx.emb.name,
        values,
      };
    });
    this.diagPub.publish({
      header: { stamp: toStamp(now), frame_id: "" },
      status,
    } as unknown as rclnodejs.diagnostic_msgs.msg.DiagnosticArray);
  }

  dispose(): void {
    for (const t of this.timers) t.cancel();
  }

  get role_(): string {
    return this.role;
  }
}

const nz = (x: number) => (Number.isFinite(x) ? x : 0);
