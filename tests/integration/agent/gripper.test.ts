/**
 * The gripper through its action interface over real DDS (DESIGN decision 1): panda sends
 * control_msgs/action/GripperCommand goals, widowx_ai ParallelGripperCommand goals, to the action
 * server the driver serves at the definition's `gripper.command`. Goals are finite, within the
 * gripper's limits and carry the definition's effort (and joint name).
 *
 * On an estop, and when an Execute goal is cancelled, the controller freezes its gripper command
 * (the executor steps the gripper only while tracking, and at velocity scale 0 while stopping)
 * and sends a goal only when the command moved by more than 1% of the stroke since the last one,
 * at most every 0.1 s. So at most one goal can still leave after the stop, at the frozen command
 * (a hold), within a couple of control ticks; none after that.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { unwrap } from "../../../lib/errors.ts";
import { Driver, startDriving, type DriverStats } from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";

/** A goal sent before the stop may still be in flight; a catch-up hold leaves within this. */
const ACTIVE = ["ramp_in", "tracking", "holding"];
const SETTLE_S = 0.5;

for (const arm of ["panda", "widowx_ai"] as const) {
  const g = unwrap(loadEmbodiment(arm)).gripper;

  describe(`${arm}: gripper goals through ${g.interface}`, () => {
    let agent: Peer;
    let d: Driver;

    beforeAll(async () => {
      ({ agent, driver: d } = await startDriving(
        arm,
        ["-p", "intent_period_s:=1.0"],
        { gripperServer: true },
        "pick up the cube",
      ));
      await d.until((s) => s.gripperGoals.length > 0, 10_000);
    }, 90_000);

    afterAll(async () => {
      await Promise.all([agent?.stop(), d?.peer.stop()]);
    });

    /** Stops the agent with `stop` (at driver time t) and returns the gripper goals received after t. */
    async function goalsAfterStop(stop: () => Promise<number>, mode: string) {
      const t = await stop();
      await d.until((x) => x.lastState?.mode === mode, 10_000);
      await d.sleep(2000);
      const s: DriverStats = await d.stats();
      return {
        t,
        before: s.gripperGoals.filter((x) => x.t <= t),
        after: s.gripperGoals.filter((x) => x.t > t),
      };
    }

    it("sends finite goals within the gripper's limits with the definition's effort", async () => {
      await d.sleep(2000);
      const { gripperGoals: goals, lastState } = await d.stats();
      console.info(
        `${arm}: ${goals.length} gripper goals, positions ${goals.map((x) => x.position.toFixed(4)).join(" ")}; state ${lastState?.mode}`,
      );
      expect(goals.length).toBeGreaterThan(0);
      for (const x of goals) {
        expect(Number.isFinite(x.position)).toBe(true);
        expect(x.position).toBeGreaterThanOrEqual(g.position.lower);
        expect(x.position).toBeLessThanOrEqual(g.position.upper);
        expect(x.effort).toBe(g.max_effort);
        if (g.interface === "parallel_gripper") expect(x.names).toEqual([g.joint]);
      }
    }, 30_000);

    it("an estop sends no new gripper goal (at most a hold of the frozen command right away)", async () => {
      const { t, before, after } = await goalsAfterStop(
        async () => (await d.cmd<{ t: number }>({ cmd: "estop", value: true })).t,
        "estopped",
      );
      // the gripper was being commanded when the estop came (else "no new goal" says nothing)
      expect(before.filter((x) => x.t > t - 3).length).toBeGreaterThan(0);
      expect(after.length).toBeLessThanOrEqual(2); // one in flight, one hold
      expect(after.filter((x) => x.t > t + SETTLE_S)).toEqual([]);
      await d.cmd({ cmd: "estop", value: false });
      await d.activate();
      // active again; the test model may hold at a workspace edge it wandered to, which is fine here
      await d.until((x) => ACTIVE.includes(x.lastState?.mode ?? ""), 15_000);
    }, 40_000);

    it("a cancelled Execute goal sends no new gripper goal (at most a hold right away)", async () => {
      expect(await d.execute("lift the peg upright", 30)).toBe(true);
      await d.until((x) => x.lastState?.instruction === "lift the peg upright", 10_000);
      await d.sleep(1000);
      const { t, after } = await goalsAfterStop(
        async () => (await d.cmd<{ t: number }>({ cmd: "cancel" })).t,
        "inactive",
      );
      expect(after.length).toBeLessThanOrEqual(2);
      expect(after.filter((x) => x.t > t + SETTLE_S)).toEqual([]);
    }, 40_000);
  });
}
