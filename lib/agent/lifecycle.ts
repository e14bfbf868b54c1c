/**
 * The agent's explicit state machine (managed-node semantics, lifecycle_msgs transition ids):
 *
 *   unconfigured ──configure──▶ inactive ──activate──▶ active
 *        ▲                        │  ▲                   │
 *        └────────cleanup─────────┘  └────deactivate─────┘
 *
 * Only `active` commands motion; deactivation stops it (the controller decelerates within the
 * limits, then stops commanding). The estop latch: `estop(true)` forces `inactive` and latches;
 * activation is refused until `estop(false)` is received AND an operator activates again.
 */
import { fail, ok, type Result } from "../errors.ts";

export type LifecycleState = "unconfigured" | "inactive" | "active";
export type Transition = "configure" | "cleanup" | "activate" | "deactivate";

/** lifecycle_msgs/msg/Transition ids and lifecycle_msgs/msg/State ids. */
export const TRANSITION_IDS: Readonly<Record<number, Transition>> = {
  1: "configure",
  2: "cleanup",
  3: "activate",
  4: "deactivate",
};
export const STATE_IDS: Readonly<Record<LifecycleState, number>> = {
  unconfigured: 1,
  inactive: 2,
  active: 3,
};

export class AgentLifecycle {
  state: LifecycleState = "unconfigured";
  private latched = false;
  private readonly listeners: Array<(from: LifecycleState, to: LifecycleState) => void> = [];

  get estopLatched(): boolean {
    return this.latched;
  }

  onChange(fn: (from: LifecycleState, to: LifecycleState) => void): void {
    this.listeners.push(fn);
  }

  apply(t: Transition): Result<LifecycleState> {
    const s = this.state;
    switch (t) {
      case "configure":
        if (s !== "unconfigured") return this.bad(t);
        return this.set("inactive");
      case "cleanup":
        if (s !== "inactive") return this.bad(t);
        return this.set("unconfigured");
      case "activate":
        if (this.latched)
          return fail("E_ESTOP", "estop latched: publish false on estop, then activate again");
        if (s === "active") return ok(s);
        if (s !== "inactive") return this.bad(t);
        return this.set("active");
      case "deactivate":
        if (s === "inactive") return ok(s);
        if (s !== "active") return this.bad(t);
        return this.set("inactive");
    }
  }

  /** true: stop at once and latch; false: unlatch (motion resumes only on a new activation). */
  estop(raised: boolean): void {
    if (raised) {
      this.latched = true;
      if (this.state === "active") this.set("inactive");
    } else {
      this.latched = false;
    }
  }

  private set(to: LifecycleState): Result<LifecycleState> {
    const from = this.state;
    this.state = to;
    if (from !== to) for (const l of this.listeners) l(from, to);
    return ok(to);
  }

  private bad(t: Transition): Result<never> {
    return fail("E_CONFIG", `transition ${t} is not valid from ${this.state}`);
  }
}
