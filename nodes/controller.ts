/**
 * The controller: ticks the pure ChunkExecutor at control rate on the node's clock and
 * publishes what it returns: trajectory_msgs/JointTrajectory (reliable) on the embodiment's
 * topic and the gripper command through the definition's interface. It owns the agent's
 * lifecycle (blm/change_state, blm/get_state with lifecycle_msgs types), the estop
 * (blm/estop, std_msgs/Bool: true stops at once and latches; a false AND a new activation
 * resume) and the blm/execute action.
 */
import rclnodejs from "rclnodejs";
import {
  ChunkExecutor,
  type Chunk,
  type ControlOutput,
  type Mode,
} from "../embodiments/control/index.ts";
import { LatencyStat, RateMeter } from "../lib/agent/meters.ts";
import { GoalTracker, outcomeMessage } from "../lib/agent/execute.ts";
import { STATE_IDS, TRANSITION_IDS } from "../lib/agent/lifecycle.ts";
import { validateInstruction } from "../lib/observation/index.ts";
import { stripCode } from "../lib/observation/store.ts";
import { fail, ok, type ErrorCode, type Result } from "../lib/errors.ts";
import { executorOptions } from "./executor-options.ts";
import type { Observer } from "./observer.ts";
import {
  TOPICS,
  fmt,
  qosReliable,
  relative,
  toDuration,
  toSec,
  toStamp,
  type AgentContext,
  type ComponentStatus,
  type StatusSource,
} from "./ros.ts";

/** blm_msgs/AgentState mode constants by executor mode. */
export const MODE_IDS: Record<Mode | "unconfigured" | "inactive", number> = {
  unconfigured: 0,
  inactive: 1,
  idle: 1,
  ramp_in: 2,
  tracking: 3,
  decelerating: 4,
  holding: 5,
  estopped: 6,
  dry_run: 7,
};

const GOAL_ACCEPT = 2 as unknown as rclnodejs.GoalResponse;
const GOAL_REJECT = 1 as unknown as rclnodejs.GoalResponse;
const CANCEL_ACCEPT = 2 as unknown as rclnodejs.CancelResponse;

type GripperSink = (position: number, nowSec: number) => void;

export class Controller implements StatusSource {
  readonly executor: ChunkExecutor;
  private readonly trajPub: rclnodejs.Publisher<"trajectory_msgs/msg/JointTrajectory">;
  private readonly instructionPub: rclnodejs.Publisher<"std_msgs/msg/String">;
  private readonly timer: rclnodejs.Timer;
  private readonly jointNames: string[];
  private readonly gripper: GripperSink | null;
  readonly trajectoryTopic: string;
  private readonly tickRate = new RateMeter(2, 4096);
  private readonly obsToCmd = new LatencyStat();
  private pendingStampSec = NaN;
  private stoppingSinceSec = NaN;
  private lastOut: ControlOutput | null = null;
  private problem: { code: ErrorCode; message: string } | null = null;
  private lastError: { code: ErrorCode; message: string } | null = null;
  private chunksAccepted = 0;
  /** Chunks observed before this (sim) time belong to an earlier goal. */
  private goalStartSec = -Infinity;
  private goal: {
    tracker: GoalTracker;
    handle: rclnodejs.ServerGoalHandle<"blm_msgs/action/Execute">;
  } | null = null;
  private successFlag = false;

  constructor(
    private readonly ctx: AgentContext,
    private readonly observer: Observer,
  ) {
    const { node, params, emb, bus, lifecycle } = ctx;
    this.executor = new ChunkExecutor(emb, executorOptions(params, emb, observer.opts.cameras));
    this.jointNames = emb.joints.map((j) => j.name);
    this.trajectoryTopic = params.trajectory_topic || emb.driver.trajectory_topic;
    this.trajPub = node.createPublisher(
      "trajectory_msgs/msg/JointTrajectory",
      this.trajectoryTopic,
      {
        qos: qosReliable(1),
      },
    );
    this.instructionPub = node.createPublisher("std_msgs/msg/String", TOPICS.instruction, {
      qos: qosReliable(1, true),
    });
    this.gripper = this.createGripperSink();

    observer.store.joints$.subscribe((s) => {
      const r = this.executor.updateJointState(s.q, s.qd, s.stampSec);
      if (!r.ok) this.fail(r.error.code, stripCode(r.error));
    });
    if (ctx.composed) bus.chunk$.subscribe((e) => this.submit(e.chunk));
    else
      node.createSubscription(
        "blm_msgs/msg/ActionChunk",
        TOPICS.chunk,
        { qos: qosReliable(5) },
        (msg: rclnodejs.blm_msgs.msg.ActionChunk) => this.onChunkMsg(msg),
      );
    node.createSubscription(
      "std_msgs/msg/Bool",
      TOPICS.estop,
      { qos: qosReliable(10) },
      (msg: rclnodejs.std_msgs.msg.Bool) => this.estop(msg.data),
    );
    if (params.success_topic)
      node.createSubscription(
        "std_msgs/msg/Bool",
        params.success_topic,
        { qos: qosReliable(10) },
        (msg: rclnodejs.std_msgs.msg.Bool) => {
          this.successFlag = msg.data;
          if (msg.data) this.goal?.tracker.reportSuccess(true);
        },
      );
    lifecycle.onChange((_from, to) => {
      if (to !== "active" && this.executor.isActive && !this.executor.estopped) this.beginStop();
    });
    this.createLifecycleServices();
    this.createExecuteServer();
    this.timer = node.createTimer(BigInt(Math.round(this.executor.periodSec * 1e9)), () =>
      this.tick(),
    );
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Activates from the latest measured joint state (fresh and valid), ramping in. */
  activate(): Result<void> {
    const { lifecycle } = this.ctx;
    if (lifecycle.estopLatched)
      return this.refuse(
        fail("E_ESTOP", "estop latched: publish false on blm/estop, then activate"),
      );
    const now = this.ctx.now();
    const js = this.observer.store.latestJoints;
    const p = this.observer.store.check(now);
    if (!js || (p && p.source === "joints"))
      return this.refuse(
        fail(
          p?.code ?? "E_STALE_JOINT_STATE",
          `cannot activate: ${p?.message ?? "no joint state"}`,
        ),
      );
    const r = lifecycle.apply("activate");
    if (!r.ok) return this.refuse(r);
    if (this.executor.estopped) this.executor.clearEstop();
    const a = this.executor.activate(js.q, now, js.gripper);
    if (!a.ok) {
      lifecycle.apply("deactivate");
      return this.refuse(a);
    }
    this.stoppingSinceSec = NaN;
    this.executor.setVelocityScale(this.ctx.params.velocity_scale);
    this.ctx.log.info("activated");
    return ok(undefined);
  }

  deactivate(): Result<void> {
    const r = this.ctx.lifecycle.apply("deactivate");
    if (!r.ok) return r;
    this.ctx.log.info("deactivated: stopping");
    return ok(undefined);
  }

  /** Safe stop: the velocity scale goes to 0 (a deceleration within the limits), then commanding ends. */
  private beginStop(): void {
    this.stoppingSinceSec = this.ctx.now();
    this.executor.setVelocityScale(0);
  }

  estop(raised: boolean): void {
    if (raised) {
      if (!this.ctx.lifecycle.estopLatched) {
        this.ctx.log.warn("estop raised: holding, latched");
        this.fail(
          "E_ESTOP",
          "estop raised: holding until a false on blm/estop and a new activation",
        );
      }
      this.executor.estop();
      this.ctx.lifecycle.estop(true);
      this.stoppingSinceSec = NaN;
      this.goal?.tracker.abort("E_ESTOP", "estop raised");
    } else if (this.ctx.lifecycle.estopLatched) {
      this.ctx.lifecycle.estop(false);
      this.ctx.log.info("estop released: activate again to resume");
    }
  }

  private refuse<T>(r: Result<T>): Result<T> {
    if (!r.ok) this.fail(r.error.code, stripCode(r.error));
    return r;
  }

  private createLifecycleServices(): void {
    const { node, lifecycle } = this.ctx;
    node.createService(
      "lifecycle_msgs/srv/ChangeState",
      TOPICS.changeState,
      (
        req: rclnodejs.lifecycle_msgs.srv.ChangeState_Request,
        res: rclnodejs.ServiceResponse<"lifecycle_msgs/srv/ChangeState">,
      ) => {
        const t = TRANSITION_IDS[req.transition.id];
        let r: Result<unknown>;
        if (t === "activate") r = this.activate();
        else if (t === "deactivate") r = this.deactivate();
        else if (t) r = lifecycle.apply(t);
        else r = fail("E_CONFIG", `unsupported transition id ${req.transition.id}`);
        res.send({ success: r.ok } as rclnodejs.lifecycle_msgs.srv.ChangeState_Response);
      },
    );
    node.createService(
      "lifecycle_msgs/srv/GetState",
      TOPICS.getState,
      (_req: unknown, res: rclnodejs.ServiceResponse<"lifecycle_msgs/srv/GetState">) => {
        const s = lifecycle.state;
        res.send({
          current_state: { id: STATE_IDS[s], label: s },
        } as rclnodejs.lifecycle_msgs.srv.GetState_Response);
      },
    );
  }

  // ---- chunks and ticks ---------------------------------------------------------------------

  private onChunkMsg(msg: rclnodejs.blm_msgs.msg.ActionChunk): void {
    const n = this.jointNames.length;
    const names = msg.joint_names;
    if (names.length !== n || names.some((x, i) => x !== this.jointNames[i])) {
      this.fail(
        "E_CHUNK_SHAPE",
        `chunk joints [${names.join(", ")}] are not [${this.jointNames.join(", ")}]`,
      );
      return;
    }
    const chunk: Chunk = {
      stampSec: toSec(msg.source_stamp),
      dt: msg.dt,
      horizon: msg.horizon,
      positions: Float64Array.from(msg.positions as ArrayLike<number>),
      velocities: msg.velocities.length
        ? Float64Array.from(msg.velocities as ArrayLike<number>)
        : undefined,
      gripper: Float64Array.from(msg.gripper as ArrayLike<number>),
    };
    this.submit(chunk);
  }

  submit(chunk: Chunk): void {
    if (this.ctx.lifecycle.state !== "active" || !Number.isNaN(this.stoppingSinceSec)) return;
    // Sampled for the previous goal (its intent, its scene) and arriving after the new one began:
    // a leftover, never executed.
    if (chunk.stampSec < this.goalStartSec) return;
    const r = this.executor.submitChunk(chunk, this.ctx.now());
    if (!r.ok) {
      this.fail(r.error.code, stripCode(r.error));
      return;
    }
    this.chunksAccepted++;
    if (Number.isNaN(this.pendingStampSec)) this.pendingStampSec = chunk.stampSec;
  }

  private tick(): void {
    const now = this.ctx.now();
    if (!(now > 0)) return; // sim time before the first /clock
    this.tickRate.mark(now);
    const ex = this.executor;
    if (this.observer.opts.cameras && ex.isActive) {
      const js = this.observer.store.latestJoints;
      if (js && this.observer.store.check(now) === null) ex.noteObservation(js.stampSec);
    }
    const out = ex.tick(now);
    this.lastOut = out;
    this.problem = out.active.code ? { code: out.active.code, message: out.active.message } : null;
    if (out.command && out.nPoints > 0) {
      this.publishTrajectory(out);
      if (Number.isFinite(out.gripper) && this.gripper) this.gripper(out.gripper, now);
      if (
        !Number.isNaN(this.pendingStampSec) &&
        (out.mode === "tracking" || out.mode === "ramp_in")
      ) {
        this.obsToCmd.add(now - this.pendingStampSec);
        this.pendingStampSec = NaN;
      }
    }
    if (!Number.isNaN(this.stoppingSinceSec)) {
      if (atRest(out) || now - this.stoppingSinceSec > 3) {
        ex.deactivate();
        this.stoppingSinceSec = NaN;
        this.ctx.log.info("stopped");
      }
    }
    this.pollGoal(now);
  }

  private publishTrajectory(out: ControlOutput): void {
    const n = out.nJoints;
    const points = new Array(out.nPoints);
    for (let k = 0; k < out.nPoints; k++) {
      points[k] = {
        positions: out.positions.slice(k * n, (k + 1) * n),
        velocities: out.velocities.slice(k * n, (k + 1) * n),
        accelerations: out.accelerations.slice(k * n, (k + 1) * n),
        effort: [],
        time_from_start: toDuration(out.timeFromStart[k]!),
      };
    }
    this.trajPub.publish({
      header: {
        stamp:
          this.ctx.params.trajectory_stamp === "zero"
            ? { sec: 0, nanosec: 0 }
            : toStamp(out.stampSec),
        frame_id: "",
      },
      joint_names: this.jointNames,
      points,
    } as unknown as rclnodejs.trajectory_msgs.msg.JointTrajectory);
  }

  private createGripperSink(): GripperSink | null {
    const { node, emb, params } = this.ctx;
    const g = emb.gripper;
    const topic = g.command;
    const range = g.position.upper - g.position.lower;
    let lastSent = NaN;
    let lastSec = -Infinity;
    const due = (pos: number, now: number) =>
      (Number.isNaN(lastSent) || Math.abs(pos - lastSent) > 0.01 * range) && now - lastSec >= 0.1;
    if (params.dry_run) return null;
    if (g.interface === "trajectory") {
      const pub = node.createPublisher("trajectory_msgs/msg/JointTrajectory", topic, {
        qos: qosReliable(1),
      });
      return (pos, now) => {
        if (!due(pos, now)) return;
        const t = Number.isNaN(lastSent)
          ? 0.1
          : Math.max(0.05, Math.abs(pos - lastSent) / g.velocity);
        lastSent = pos;
        lastSec = now;
        pub.publish({
          header: { stamp: { sec: 0, nanosec: 0 }, frame_id: "" },
          joint_names: [g.joint],
          points: [
            {
              positions: [pos],
              velocities: [],
              accelerations: [],
              effort: [],
              time_from_start: toDuration(t),
            },
          ],
        } as unknown as rclnodejs.trajectory_msgs.msg.JointTrajectory);
      };
    }
    const type =
      g.interface === "gripper_command"
        ? "control_msgs/action/GripperCommand"
        : "control_msgs/action/ParallelGripperCommand";
    const client = new rclnodejs.ActionClient(
      node,
      type as "control_msgs/action/GripperCommand",
      relative(topic),
    );
    let warned = false;
    return (pos, now) => {
      if (!due(pos, now)) return;
      if (!client.isActionServerAvailable()) {
        if (!warned)
          this.ctx.log.warn(
            { action: topic },
            "gripper action server not available; gripper commands skipped",
          );
        warned = true;
        return;
      }
      lastSent = pos;
      lastSec = now;
      const goal =
        g.interface === "gripper_command"
          ? { command: { position: pos, max_effort: g.max_effort } }
          : {
              command: {
                header: { stamp: { sec: 0, nanosec: 0 }, frame_id: "" },
                name: [g.joint],
                position: [pos],
                velocity: [],
                effort: [g.max_effort],
              },
            };
      client
        .sendGoal(goal as never)
        .catch((e: Error) => this.ctx.log.warn({ err: e.message }, "gripper goal failed"));
    };
  }

  // ---- blm/execute ----------------------------------------------------------------------------

  private createExecuteServer(): void {
    const { node, params } = this.ctx;
    new rclnodejs.ActionServer(
      node,
      "blm_msgs/action/Execute",
      TOPICS.execute,
      (handle) => this.execute(handle),
      (goal) => {
        const v = validateInstruction(goal.instruction, params.instruction_max_bytes);
        if (!v.ok) {
          this.fail(v.error.code, `execute goal rejected: ${stripCode(v.error)}`);
          return GOAL_REJECT;
        }
        if (this.ctx.lifecycle.estopLatched) {
          this.fail("E_ESTOP", "execute goal rejected: estop latched");
          return GOAL_REJECT;
        }
        return GOAL_ACCEPT;
      },
      undefined,
      () => CANCEL_ACCEPT,
    );
  }

  private async execute(
    handle: rclnodejs.ServerGoalHandle<"blm_msgs/action/Execute">,
  ): Promise<rclnodejs.blm_msgs.action.Execute_Result> {
    const { params } = this.ctx;
    const req = handle.request;
    const text = validateInstruction(req.instruction, params.instruction_max_bytes);
    const timeout = req.timeout > 0 ? req.timeout : params.execute_timeout_s;
    this.goal?.tracker.preempt();
    const tracker = new GoalTracker(this.ctx.now(), timeout, !!params.success_topic);
    this.goal = { tracker, handle };
    this.goalStartSec = tracker.startSec;
    const chunks0 = this.chunksAccepted;
    if (text.ok) this.instructionPub.publish({ data: text.value });
    if (this.ctx.lifecycle.state !== "active") {
      const a = this.activate();
      if (!a.ok) tracker.abort(a.error.code, stripCode(a.error));
    }
    let lastFeedback = -Infinity;
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      const now = this.ctx.now();
      if (handle.isCancelRequested) tracker.cancel();
      if (this.ctx.lifecycle.state !== "active" && !tracker.poll(now))
        tracker.abort(
          this.ctx.lifecycle.estopLatched ? "E_ESTOP" : "E_CONFIG",
          "the agent left the active state",
        );
      const o = tracker.poll(now);
      if (o) {
        if (o.kind !== "preempted" && this.ctx.lifecycle.state === "active") this.deactivate();
        if (this.goal?.tracker === tracker) this.goal = null;
        const result = {
          success: o.kind === "success",
          message: outcomeMessage(o),
          elapsed: tracker.elapsed(now),
          chunks_executed: this.chunksAccepted - chunks0,
        } as rclnodejs.blm_msgs.action.Execute_Result;
        if (o.kind === "success") handle.succeed();
        else if (o.kind === "cancelled") handle.canceled();
        else handle.abort();
        this.ctx.log.info({ outcome: result.message }, "execute goal ended");
        return result;
      }
      if (now - lastFeedback >= 0.2) {
        lastFeedback = now;
        const mode = this.lastOut?.mode ?? "idle";
        handle.publishFeedback({
          phase:
            mode === "tracking" || mode === "ramp_in"
              ? "executing"
              : mode === "decelerating"
                ? "stopping"
                : this.chunksAccepted === chunks0
                  ? "intent"
                  : "holding",
          elapsed: tracker.elapsed(now),
          chunks_executed: this.chunksAccepted - chunks0,
        } as rclnodejs.blm_msgs.action.Execute_Feedback);
      }
    }
  }

  private pollGoal(_now: number): void {
    // Goals are polled by their own loop; nothing per tick.
  }

  // ---- status ---------------------------------------------------------------------------------

  private fail(code: ErrorCode, message: string): void {
    if (this.lastError?.code === code && this.lastError.message === message) return;
    this.lastError = { code, message };
    this.ctx.log.error({ code }, message);
    this.ctx.bus.errors$.next({ code, message, source: "controller" });
  }

  get mode(): number {
    if (this.ctx.lifecycle.state === "unconfigured") return MODE_IDS.unconfigured;
    return MODE_IDS[this.lastOut?.mode ?? "idle"];
  }

  get modeName(): string {
    if (this.ctx.lifecycle.state === "unconfigured") return "unconfigured";
    const m = this.lastOut?.mode ?? "idle";
    return m === "idle" ? "inactive" : m;
  }

  controlRate(now: number): number {
    return this.tickRate.rate(now);
  }

  get observationToCommand(): number {
    return this.obsToCmd.last;
  }

  status(nowSec: number): ComponentStatus {
    const p = this.problem;
    const out = this.lastOut;
    return {
      name: "controller",
      level: p ? (p.code === "E_ESTOP" ? 2 : 1) : 0,
      message: p ? `${p.code}: ${p.message}` : this.modeName,
      problem: p,
      lastError: this.lastError,
      values: {
        lifecycle: this.ctx.lifecycle.state,
        estop_latched: String(this.ctx.lifecycle.estopLatched),
        mode: this.modeName,
        control_rate_hz: fmt(this.tickRate.rate(nowSec), 2),
        trajectory_topic: this.trajectoryTopic,
        velocity_scale: fmt(out?.velocityScale ?? 0, 3),
        inference_delay_s: fmt(out?.inferenceDelaySec ?? NaN),
        observation_to_command_s: fmt(this.obsToCmd.last),
        observation_to_command_p50_s: fmt(this.obsToCmd.percentile(50)),
        observation_to_command_p99_s: fmt(this.obsToCmd.percentile(99)),
        observation_to_command_samples: this.obsToCmd.count,
        chunks_accepted: this.chunksAccepted,
        success: String(this.successFlag),
      },
    };
  }

  setDryRun(on: boolean): void {
    this.executor.setDryRun(on);
  }

  setVelocityScale(s: number): void {
    if (Number.isNaN(this.stoppingSinceSec)) this.executor.setVelocityScale(s);
  }

  dispose(): void {
    this.timer.cancel();
  }
}

function atRest(out: ControlOutput): boolean {
  if (out.nPoints === 0) return true;
  for (let i = 0; i < out.startVelocities.length; i++)
    if (Math.abs(out.startVelocities[i]!) > 1e-3) return false;
  for (let i = 0; i < out.nPoints * out.nJoints; i++)
    if (Math.abs(out.velocities[i]!) > 1e-3) return false;
  return true;
}
