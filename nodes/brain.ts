/**
 * The brain: on a new instruction and then every intent_period_s, runs backbone + intent bridge
 * (BlmModel.encode, in the runtime's worker thread, never on the control path) on the latest
 * valid observation and publishes blm_msgs/Intent: the denoiser's context, which for a goal-intent
 * model is the goal's first intent followed by the latest (IntentContext). An invalid observation
 * produces no intent.
 */
import type rclnodejs from "rclnodejs";
import { IntentContext, type BlmModel } from "../models/runtime/index.ts";
import { validateInstruction, type Problem } from "../lib/observation/index.ts";
import { stripCode } from "../lib/observation/store.ts";
import { LatencyStat, RateMeter } from "../lib/agent/meters.ts";
import type { ErrorCode } from "../lib/errors.ts";
import type { Observer } from "./observer.ts";
import {
  TOPICS,
  fmt,
  qosReliable,
  toStamp,
  type AgentContext,
  type ComponentStatus,
  type StatusSource,
} from "./ros.ts";

export function modelId(model: BlmModel): string {
  return `${model.manifest.name}@${model.manifest.graphs.intent_bridge.sha256.slice(0, 12)}`;
}

/** Subscribes blm/instruction (reliable, transient-local: a late agent gets the last one) and validates it. */
export function subscribeInstruction(
  ctx: AgentContext,
  onValid: (text: string) => void,
  onError: (code: ErrorCode, message: string) => void,
): rclnodejs.Subscription {
  return ctx.node.createSubscription(
    "std_msgs/msg/String",
    TOPICS.instruction,
    { qos: qosReliable(1, true) },
    (msg: rclnodejs.std_msgs.msg.String) => {
      const r = validateInstruction(msg.data, ctx.params.instruction_max_bytes);
      if (r.ok) onValid(r.value);
      else onError(r.error.code, stripCode(r.error));
    },
  );
}

export class Brain implements StatusSource {
  private instruction = "";
  private busy = false;
  private pending = false;
  private readonly publisher: rclnodejs.Publisher<"blm_msgs/msg/Intent">;
  private readonly timer: rclnodejs.Timer;
  private readonly rate = new RateMeter(30);
  private readonly latency = new LatencyStat();
  private problem: { code: ErrorCode; message: string } | null = null;
  private lastError: { code: ErrorCode; message: string } | null = null;
  private readonly id: string;
  private generation = 0;
  private disposed = false;
  private readonly context: IntentContext;

  constructor(
    private readonly ctx: AgentContext,
    private readonly model: BlmModel,
    private readonly observer: Observer,
  ) {
    const { node, params } = ctx;
    this.id = modelId(model);
    this.context = new IntentContext(model.manifest.intent);
    this.publisher = node.createPublisher("blm_msgs/msg/Intent", TOPICS.intent, {
      qos: qosReliable(5),
    });
    subscribeInstruction(
      ctx,
      (text) => this.setInstruction(text),
      (code, message) => this.fail(code, message),
    );
    this.timer = node.createTimer(BigInt(Math.round(params.intent_period_s * 1e9)), () =>
      this.refresh(),
    );
  }

  /**
   * An instruction preempts the current one at once: its intent is dropped and a new one computed.
   * The same text again restarts too: each Execute goal publishes its instruction, and a new goal
   * is a new episode (another scene after a reset), which the old intent does not describe.
   */
  setInstruction(text: string): void {
    this.instruction = text;
    this.generation++;
    this.context.restart();
    this.ctx.log.info({ instruction: text }, "new instruction");
    this.ctx.bus.instruction$.next(text);
    this.refresh();
  }

  get currentInstruction(): string {
    return this.instruction;
  }

  private refresh(): void {
    if (!this.instruction) return;
    if (this.busy) {
      this.pending = true;
      return;
    }
    void this.encode();
  }

  private async encode(): Promise<void> {
    const now = this.ctx.now();
    const obs = this.observer.store.snapshot(now);
    if (!obs.ok) {
      this.problem = { code: obs.error.code, message: `no intent: ${stripCode(obs.error)}` };
      return;
    }
    const generation = this.generation;
    const instruction = this.instruction;
    this.busy = true;
    const t0 = performance.now();
    try {
      const r = await this.model.encode({ images: obs.value.images, instruction });
      // Disposed while inferring (shutdown): the node's publishers are gone.
      if (this.disposed) return;
      const latencySec = (performance.now() - t0) / 1000;
      if (!r.ok) {
        this.fail(r.error.code, stripCode(r.error));
        return;
      }
      if (generation !== this.generation) return; // preempted by a newer instruction while encoding
      const stampSec = this.ctx.now();
      this.problem = null;
      this.rate.mark(stampSec);
      this.latency.add(latencySec);
      const it = this.context.next(r.value);
      this.publisher.publish({
        header: { stamp: toStamp(stampSec), frame_id: "" },
        model_id: this.id,
        instruction,
        tokens: it.tokens,
        shape: [it.count, it.dim],
        source_stamp: toStamp(obs.value.imageStampSec),
        inference_latency: latencySec,
      } as unknown as rclnodejs.blm_msgs.msg.Intent);
      this.ctx.bus.intent$.next({
        intent: it,
        instruction,
        modelId: this.id,
        stampSec,
        sourceStampSec: obs.value.imageStampSec,
        latencySec,
      });
    } finally {
      this.busy = false;
      if (this.pending) {
        this.pending = false;
        this.refresh();
      }
    }
  }

  private fail(code: ErrorCode, message: string): void {
    this.lastError = { code, message };
    this.ctx.log.error({ code }, message);
    this.ctx.bus.errors$.next({ code, message, source: "brain" });
  }

  status(nowSec: number): ComponentStatus {
    const p = this.problem ?? null;
    return {
      name: "brain",
      level: p ? 1 : 0,
      message: p
        ? `${p.code}: ${p.message}`
        : this.instruction
          ? "encoding"
          : "waiting for an instruction",
      problem: p,
      lastError: this.lastError,
      values: {
        intent_rate_hz: fmt(this.rate.rate(nowSec), 3),
        intent_latency_s: fmt(this.latency.last),
        intent_latency_p99_s: fmt(this.latency.percentile(99)),
        intents: this.rate.total,
        instruction: this.instruction,
        provider: Object.values(this.model.providers).join(",") || "none",
        model_id: this.id,
      },
    };
  }

  get intentRateHz(): (now: number) => number {
    return (now) => this.rate.rate(now);
  }

  get intentLatency(): number {
    return this.latency.last;
  }

  dispose(): void {
    this.disposed = true;
    this.timer.cancel();
  }
}

export type { Problem };
