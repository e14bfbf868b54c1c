/**
 * The policy: at chunk_rate_hz, samples an action chunk (BlmModel's flow-matching sampler, in
 * the runtime's worker thread) from the latest valid intent and the latest valid observation,
 * converts it to executable joint space (embodiments/control ActionConverter) and publishes
 * blm_msgs/ActionChunk. Never samples from an invalid observation, a stale intent, or an intent
 * for another instruction or model.
 */
import type rclnodejs from "rclnodejs";
import { contextTokens, type BlmModel, type FlowMatchingSampler } from "../models/runtime/index.ts";
import { ActionConverter, gripperWidth, pose9 } from "../embodiments/control/index.ts";
import { forwardKinematics } from "../embodiments/kinematics/index.ts";
import { stripCode } from "../lib/observation/store.ts";
import { validateInstruction } from "../lib/observation/index.ts";
import { LatencyStat, RateMeter } from "../lib/agent/meters.ts";
import { unwrap, type ErrorCode } from "../lib/errors.ts";
import type { Observer } from "./observer.ts";
import { modelId, subscribeInstruction } from "./brain.ts";
import {
  TOPICS,
  fmt,
  qosReliable,
  toSec,
  toStamp,
  type AgentContext,
  type ComponentStatus,
  type IntentEvent,
  type StatusSource,
} from "./ros.ts";

export class Policy implements StatusSource {
  private readonly sampler: FlowMatchingSampler;
  private readonly converter: ActionConverter;
  private readonly publisher: rclnodejs.Publisher<"blm_msgs/msg/ActionChunk">;
  private readonly timer: rclnodejs.Timer;
  private readonly rate = new RateMeter(3);
  private readonly latency = new LatencyStat();
  private readonly state: Float64Array;
  private readonly id: string;
  private intent: IntentEvent | null = null;
  private instruction = "";
  private busy = false;
  private problem: { code: ErrorCode; message: string } | null = null;
  private lastError: { code: ErrorCode; message: string } | null = null;
  private reanchor = true;
  private disposed = false;

  constructor(
    private readonly ctx: AgentContext,
    private readonly model: BlmModel,
    private readonly observer: Observer,
  ) {
    const { node, params, emb, bus } = ctx;
    this.id = modelId(model);
    this.sampler = unwrap(
      model.createSampler(emb.name, {
        seed: params.seed,
        steps: params.denoise_steps,
        noiseScale: params.noise_scale,
      }),
    );
    // The model's action space, not the definition's default: an ee_pose model's rows are TCP poses.
    this.converter = new ActionConverter(emb, { space: this.sampler.codec.model.action_space });
    this.state = new Float64Array(emb.joints.length + 1);
    this.publisher = node.createPublisher("blm_msgs/msg/ActionChunk", TOPICS.chunk, {
      qos: qosReliable(5),
    });
    if (ctx.composed) {
      bus.instruction$.subscribe((t) => this.setInstruction(t));
      bus.intent$.subscribe((e) => this.setIntent(e));
    } else {
      subscribeInstruction(
        ctx,
        (t) => this.setInstruction(t),
        (code, message) => this.fail(code, message),
      );
      node.createSubscription(
        "blm_msgs/msg/Intent",
        TOPICS.intent,
        { qos: qosReliable(5) },
        (msg: rclnodejs.blm_msgs.msg.Intent) => this.onIntentMsg(msg),
      );
    }
    this.timer = node.createTimer(
      BigInt(Math.round(1e9 / params.chunk_rate_hz)),
      () => void this.step(),
    );
  }

  setInstruction(text: string): void {
    this.instruction = text;
    // The old intent belongs to the old instruction, or to the previous goal's scene when the text
    // repeats: drop it, and start the next chunk afresh.
    this.intent = null;
    this.reanchor = true;
  }

  setIntent(e: IntentEvent): void {
    if (e.modelId !== this.id) {
      this.fail("E_MODEL_MISMATCH", `intent from model ${e.modelId}, this policy runs ${this.id}`);
      return;
    }
    const { tokens, count, dim } = e.intent;
    if (
      count * dim !== tokens.length ||
      tokens.length !== contextTokens(this.model.manifest) * this.model.manifest.intent.dim
    ) {
      this.fail("E_MODEL_INPUT", `intent of shape ${count}x${dim} does not fit the model`);
      return;
    }
    if (this.instruction && e.instruction !== this.instruction) return; // an intent for an older instruction
    if (!this.instruction) this.instruction = e.instruction;
    this.intent = e;
  }

  private onIntentMsg(msg: rclnodejs.blm_msgs.msg.Intent): void {
    const tokens = Float32Array.from(msg.tokens as ArrayLike<number>);
    const shape = Array.from(msg.shape as ArrayLike<number>);
    if (shape.length !== 2 || !tokens.every(Number.isFinite)) {
      this.fail("E_MODEL_INPUT", "intent message has a bad shape or non-finite tokens");
      return;
    }
    const v = validateInstruction(msg.instruction, this.ctx.params.instruction_max_bytes);
    if (!v.ok) return;
    this.setIntent({
      intent: { tokens, count: shape[0]!, dim: shape[1]! },
      instruction: v.value,
      modelId: msg.model_id,
      stampSec: toSec(msg.header.stamp),
      sourceStampSec: toSec(msg.source_stamp),
      latencySec: msg.inference_latency,
    });
  }

  private async step(): Promise<void> {
    if (this.busy) return;
    const now = this.ctx.now();
    const p = this.ctx.params;
    if (!this.intent) {
      this.problem = this.instruction
        ? { code: "E_STALE_INTENT", message: "waiting for the intent of the current instruction" }
        : null;
      return;
    }
    const intentAge = now - this.intent.stampSec;
    const maxAge = 3 * p.intent_period_s + 1;
    if (!(intentAge <= maxAge)) {
      this.problem = {
        code: "E_STALE_INTENT",
        message: `intent is ${intentAge.toFixed(2)} s old (limit ${maxAge} s)`,
      };
      return;
    }
    const obs = this.observer.store.snapshot(now);
    if (!obs.ok) {
      this.problem = { code: obs.error.code, message: `no chunk: ${stripCode(obs.error)}` };
      return;
    }
    const { joints } = obs.value;
    if (this.sampler.codec.needsVelocity && !joints.qd) {
      // A velocity-reading model given zeros would plan as if the arm stood still.
      this.problem = {
        code: "E_JOINT_MISSING",
        message:
          "no chunk: the model reads the arm joints' velocities and the joint state carries none (JointState.velocity empty)",
      };
      return;
    }
    const emb = this.ctx.emb;
    const n = emb.joints.length;
    this.state.set(joints.q);
    const g = emb.gripper;
    this.state[n] = Number.isFinite(joints.gripper)
      ? gripperWidth(emb, joints.gripper)
      : Math.max(g.width_at_lower, g.width_at_upper);
    if (this.reanchor) {
      this.converter.reset(joints.q);
      this.reanchor = false;
    }
    const intent = this.intent;
    this.busy = true;
    const t0 = performance.now();
    try {
      const r = await this.sampler.sample({
        state: this.state,
        velocity: joints.qd,
        tcp: this.sampler.codec.needsTcp ? pose9(forwardKinematics(emb, joints.q)) : undefined,
        intent: intent.intent,
      });
      // Disposed while inferring (shutdown): the node's publishers are gone.
      if (this.disposed) return;
      const latencySec = (performance.now() - t0) / 1000;
      if (!r.ok) {
        this.noChunk(r.error.code, stripCode(r.error));
        return;
      }
      if (this.intent !== intent) return; // preempted while sampling
      const a = r.value;
      const c = this.converter.convert(a.positions, obs.value.stampSec, a.dt, a.horizon, joints.q);
      if (!c.ok) {
        this.noChunk(c.error.code, stripCode(c.error));
        return;
      }
      const chunk = c.value;
      const stampSec = this.ctx.now();
      this.problem = null;
      this.rate.mark(stampSec);
      this.latency.add(latencySec);
      this.publisher.publish({
        header: { stamp: toStamp(stampSec), frame_id: "" },
        embodiment: emb.name,
        joint_names: emb.joints.map((j) => j.name),
        gripper_joint: emb.gripper.joint,
        horizon: chunk.horizon,
        dt: chunk.dt,
        positions: chunk.positions,
        velocities: new Float64Array(0),
        gripper: chunk.gripper,
        source_stamp: toStamp(chunk.stampSec),
        inference_latency: latencySec,
        denoise_steps: a.steps,
      } as unknown as rclnodejs.blm_msgs.msg.ActionChunk);
      this.ctx.bus.chunk$.next({ chunk, latencySec, steps: a.steps });
    } finally {
      this.busy = false;
    }
  }

  /** A chunk that could not be built: the agent's state says why until one is (not an older wait). */
  private noChunk(code: ErrorCode, message: string): void {
    this.problem = { code, message: `no chunk: ${message}` };
    this.fail(code, message);
  }

  private fail(code: ErrorCode, message: string): void {
    this.lastError = { code, message };
    this.ctx.log.error({ code }, message);
    this.ctx.bus.errors$.next({ code, message, source: "policy" });
  }

  chunkRate(now: number): number {
    return this.rate.rate(now);
  }

  get chunkLatency(): number {
    return this.latency.last;
  }

  status(nowSec: number): ComponentStatus {
    const p = this.problem;
    return {
      name: "policy",
      level: p ? 1 : 0,
      message: p ? `${p.code}: ${p.message}` : this.intent ? "sampling" : "waiting for an intent",
      problem: p,
      lastError: this.lastError,
      values: {
        chunk_rate_hz: fmt(this.rate.rate(nowSec), 3),
        chunk_latency_s: fmt(this.latency.last),
        chunk_latency_p99_s: fmt(this.latency.percentile(99)),
        chunks: this.rate.total,
        denoise_steps: this.ctx.params.denoise_steps,
        provider: this.model.providers.denoiser ?? "none",
      },
    };
  }

  dispose(): void {
    this.disposed = true;
    this.timer.cancel();
  }
}
