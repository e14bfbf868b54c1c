/**
 * One closed-loop episode through the running graph, as any ROS client would run it: wait for the
 * agent to be at rest, reset the sim to (task, seed) over /sim/reset, record an MCAP, send the
 * reset's instruction through the agent's /blm/execute action, and wait for its result. Shared
 * by the demo and the eval.
 */
import rclnodejs from "rclnodejs";
import type { Recorder } from "./recorder.ts";

type TaskStatus = rclnodejs.blm_msgs.msg.TaskStatus;
type AgentState = rclnodejs.blm_msgs.msg.AgentState;
type ExecuteFeedback = rclnodejs.blm_msgs.action.Execute_Feedback;
type ExecuteResult = rclnodejs.blm_msgs.action.Execute_Result;
type DiagnosticArray = rclnodejs.diagnostic_msgs.msg.DiagnosticArray;

export type Outcome = "success" | "timeout" | "error";

export interface EpisodeSpec {
  embodiment: string;
  task: string;
  seed: number;
  /** The goal's timeout, sim seconds. */
  timeoutSec: number;
  /** The episode's MCAP: this recorder (of this embodiment) writes it to `file`; null: none. */
  mcap: { recorder: Recorder; file: string } | null;
  /** The whole episode's bound in wall time, ms (reset and recording included). */
  wallLimitMs: number;
}

export interface EpisodeReport {
  outcome: Outcome;
  /** The Execute result's message, or what went wrong around it. */
  message: string;
  instruction: string;
  /** Sim seconds from the goal's start to its end (to success when it succeeded). */
  simElapsedSec: number;
  chunksExecuted: number;
  /** The sim's own success flag at the end (last /sim/task_status); null when none arrived. */
  simSuccess: boolean | null;
  wallSec: number;
  mcap: string | null;
  /**
   * The graph is no longer trustworthy (it died, or an episode overran its wall-time bound or
   * could not reset): restart it before the next episode.
   */
  restartGraph: boolean;
}

export interface EpisodeHooks {
  /** Called when the goal has been accepted (the episode proper starts). */
  onStart?: (instruction: string) => void;
  onFeedback?: (fb: ExecuteFeedback, status: TaskStatus | null) => void;
  /** Resolves (with a reason) when the episode must end at once, e.g. the graph died. */
  abort?: Promise<string>;
}

/** Agent modes (AgentState.mode_name) in which nothing is commanded. */
const AT_REST = new Set(["inactive", "unconfigured"]);
/** A status of this reset: fresh enough that every camera has published the new scene (10 Hz). */
const FRESH_SCENE_SEC = 0.2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Abort extends Error {
  constructor(
    message: string,
    readonly restartGraph: boolean,
  ) {
    super(message);
  }
}

/** The client side of the sim + agent graph: what the demo and the eval watch and call. */
export class SimClient {
  status: TaskStatus | null = null;
  agentState: AgentState | null = null;
  /**
   * The agent's observer statuses from /diagnostics, by status name: level 0 is a valid
   * observation (every camera and the joint state received and fresh).
   */
  private readonly observers = new Map<string, { level: number; message: string }>();
  private readonly reset: rclnodejs.Client<"blm_msgs/srv/SimReset">;
  private readonly execute: rclnodejs.ActionClient<"blm_msgs/action/Execute">;

  constructor(readonly node: rclnodejs.Node) {
    node.createSubscription("blm_msgs/msg/TaskStatus", "/sim/task_status", (m: TaskStatus) => {
      this.status = m;
    });
    node.createSubscription("blm_msgs/msg/AgentState", "/blm/state", (m: AgentState) => {
      this.agentState = m;
    });
    node.createSubscription(
      "diagnostic_msgs/msg/DiagnosticArray",
      "/diagnostics",
      (m: DiagnosticArray) => {
        for (const s of m.status)
          if (s.name.endsWith(": observer"))
            this.observers.set(s.name, { level: s.level, message: s.message });
      },
    );
    this.reset = node.createClient("blm_msgs/srv/SimReset", "/sim/reset");
    this.execute = new rclnodejs.ActionClient(node, "blm_msgs/action/Execute", "/blm/execute");
  }

  // Read through methods: the episode clears these and waits for the next message, and TypeScript
  // would otherwise narrow the field to its cleared value.
  latestStatus(): TaskStatus | null {
    return this.status;
  }

  latestState(): AgentState | null {
    return this.agentState;
  }

  /** Null when every observer of the agent reports a valid observation; else what it lacks. */
  observationProblem(): string | null {
    if (this.observers.size === 0) return "no observer status on /diagnostics yet";
    const bad = [...this.observers.values()].find((o) => o.level !== 0);
    return bad ? bad.message : null;
  }

  /**
   * Waits for a (new) graph: the sim's status and the agent's state published after this call,
   * the reset service, the action server, and a valid observation in the agent; returns what is
   * missing. The messages matter after a restart: discovery still lists a dead graph's services for
   * a while, but it publishes nothing. The observation matters because the agent refuses to
   * activate before its joint-state subscription has matched the sim's publisher.
   */
  async waitReady(timeoutMs: number): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1000, deadline - Date.now());
    this.status = null;
    this.agentState = null;
    this.observers.clear();
    const none = {};
    if (!(await this.until(() => this.latestStatus() !== null, deadline, none)))
      return `no /sim/task_status from the sim within ${timeoutMs / 1000} s`;
    if (!(await this.until(() => this.latestState() !== null, deadline, none)))
      return `no /blm/state from the agent within ${timeoutMs / 1000} s`;
    if (!(await this.reset.waitForService(left())))
      return `the sim's /sim/reset service did not come up within ${timeoutMs / 1000} s`;
    if (!(await this.execute.waitForServer(left())))
      return `the agent's /blm/execute action server did not come up within ${timeoutMs / 1000} s`;
    if (!(await this.until(() => this.observationProblem() === null, deadline, none)))
      return `the agent has no valid observation within ${timeoutMs / 1000} s (${this.observationProblem()})`;
    return null;
  }

  private async until(pred: () => boolean, deadline: number, abort: { reason?: string }) {
    while (!pred()) {
      if (abort.reason) throw new Abort(abort.reason, true);
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  /** Runs one episode; never throws: every failure is an `error` outcome. */
  async runEpisode(spec: EpisodeSpec, hooks: EpisodeHooks = {}): Promise<EpisodeReport> {
    const t0 = Date.now();
    const deadline = t0 + spec.wallLimitMs;
    const abort: { reason?: string } = {};
    void hooks.abort?.then((reason) => (abort.reason = reason));
    const report: EpisodeReport = {
      outcome: "error",
      message: "",
      instruction: "",
      simElapsedSec: 0,
      chunksExecuted: 0,
      simSuccess: null,
      wallSec: 0,
      mcap: null,
      restartGraph: false,
    };
    let recording: boolean | null = null;
    try {
      // The previous goal ends with the agent decelerating: a reset under a moving controller
      // would be pulled back toward the old scene's trajectory. Wait until it has stopped.
      this.agentState = null;
      const atRest = () => AT_REST.has(this.latestState()?.mode_name ?? "");
      if (!(await this.until(atRest, Math.min(deadline, Date.now() + 30_000), abort)))
        throw new Abort(
          `the agent did not come to rest (mode ${this.latestState()?.mode_name ?? "unknown"})`,
          true,
        );

      const reply = await this.reset.sendRequestAsync(
        { task: spec.task, seed: spec.seed, embodiment: spec.embodiment },
        { timeout: Math.max(1000, Math.min(60_000, deadline - Date.now())) },
      );
      if (!reply.success) throw new Abort(`reset failed: ${reply.message}`, false);
      report.instruction = reply.instruction;
      this.status = null;
      const fresh = () => {
        const s = this.latestStatus();
        return (
          !!s &&
          s.task === spec.task &&
          s.seed === spec.seed &&
          s.embodiment === spec.embodiment &&
          s.elapsed >= FRESH_SCENE_SEC
        );
      };
      if (!(await this.until(fresh, deadline, abort)))
        throw new Abort("no task status of the reset scene arrived", true);

      if (spec.mcap)
        recording = await spec.mcap.recorder.begin({
          out: spec.mcap.file,
          instruction: reply.instruction,
          task: spec.task,
          seed: spec.seed,
        });

      const goal = await this.execute.sendGoal(
        { instruction: reply.instruction, timeout: spec.timeoutSec },
        (fb) => hooks.onFeedback?.(fb, this.status),
      );
      if (!goal.isAccepted()) throw new Abort("the agent rejected the goal", false);
      hooks.onStart?.(reply.instruction);
      let ended: { result: ExecuteResult } | { error: Error } | null = null;
      // rclnodejs resolves getResult() with the result message itself.
      (goal.getResult() as unknown as Promise<ExecuteResult>).then(
        (result) => (ended = { result }),
        (error: Error) => (ended = { error }),
      );
      if (!(await this.until(() => ended !== null, deadline, abort))) {
        await goal.cancelGoal().catch(() => undefined);
        throw new Abort(
          `no result within the episode's wall-time bound (${spec.wallLimitMs / 1000} s)`,
          true,
        );
      }
      const end = ended as unknown as { result: ExecuteResult } | { error: Error };
      if ("error" in end) throw new Abort(`no result: ${end.error.message}`, true);
      const r = end.result;
      report.outcome = r.success
        ? "success"
        : r.message.startsWith("timeout")
          ? "timeout"
          : "error";
      report.message = r.message;
      report.simElapsedSec = r.elapsed;
      report.chunksExecuted = r.chunks_executed;
      report.simSuccess = this.latestStatus()?.success ?? null;
    } catch (e) {
      report.outcome = "error";
      report.message = (e as Error).message;
      report.restartGraph = e instanceof Abort ? e.restartGraph : true;
    } finally {
      let missing = recording === false ? "the recorder did not start" : "";
      if (recording) {
        const { file, detail } = await spec.mcap!.recorder.end();
        report.mcap = file;
        if (!file) missing = detail;
      }
      if (missing) report.message += `${report.message ? "; " : ""}no MCAP: ${missing}`;
      report.wallSec = (Date.now() - t0) / 1000;
    }
    return report;
  }
}
