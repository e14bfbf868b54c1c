/**
 * One /blm/execute goal's bookkeeping (pure): it ends on success (a true on success_topic
 * received after the goal started), on timeout, on cancel, on preemption by a newer goal, or
 * on an abort (estop, or the agent leaving the active state).
 */
import type { ErrorCode } from "../errors.ts";

export type Outcome =
  | { kind: "success" }
  | { kind: "timeout"; noSuccessTopic: boolean }
  | { kind: "cancelled" }
  | { kind: "preempted" }
  | { kind: "aborted"; code: ErrorCode; message: string };

export class GoalTracker {
  private succeeded = false;
  private ended: Outcome | null = null;

  constructor(
    readonly startSec: number,
    readonly timeoutSec: number,
    readonly hasSuccessTopic: boolean,
  ) {}

  reportSuccess(flag: boolean): void {
    if (flag) this.succeeded = true;
  }

  cancel(): void {
    this.ended ??= { kind: "cancelled" };
  }

  preempt(): void {
    this.ended ??= { kind: "preempted" };
  }

  abort(code: ErrorCode, message: string): void {
    this.ended ??= { kind: "aborted", code, message };
  }

  elapsed(nowSec: number): number {
    return Math.max(0, nowSec - this.startSec);
  }

  /** null while running. */
  poll(nowSec: number): Outcome | null {
    if (this.ended) return this.ended;
    if (this.succeeded) return (this.ended = { kind: "success" });
    if (this.elapsed(nowSec) >= this.timeoutSec)
      return (this.ended = { kind: "timeout", noSuccessTopic: !this.hasSuccessTopic });
    return null;
  }
}

/** The Execute result's message for an outcome (blm_msgs/action/Execute). */
export function outcomeMessage(o: Outcome): string {
  switch (o.kind) {
    case "success":
      return "success";
    case "timeout":
      return o.noSuccessTopic ? "timeout (no success_topic configured)" : "timeout";
    case "cancelled":
      return "cancelled";
    case "preempted":
      return "preempted";
    case "aborted":
      return `aborted: ${o.code} ${o.message}`;
  }
}
