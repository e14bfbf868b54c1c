/**
 * A model that reads the arm joints' velocities (its manifest's state.velocity) over real DDS:
 * while /joint_states reports no velocities the policy builds no chunk and names why
 * (E_JOINT_MISSING; the controller holds), and chunks flow once the driver reports them.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Driver, startPair } from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";
import { addStateVelocity, editManifest, scratchModel } from "../../unit/models/support.ts";

describe("panda with a velocity-reading model", () => {
  let agent: Peer;
  let d: Driver;
  let model: string;

  beforeAll(async () => {
    model = await scratchModel();
    await editManifest(model, (m) => addStateVelocity(m, "panda"));
    ({ agent, driver: d } = await startPair("panda", [
      "-p",
      `model:=${model}`,
      "-p",
      "intent_period_s:=1.0",
    ]));
    await d.activate();
  }, 90_000);

  afterAll(async () => {
    await Promise.all([agent?.stop(), d?.peer.stop()]);
    if (model) await rm(model, { recursive: true, force: true });
  });

  it("holds with E_JOINT_MISSING while the joint states carry no velocities, then moves when they do", async () => {
    const t = (
      await d.cmd<{ t: number }>({ cmd: "instruction", text: "push the cube to the goal" })
    ).t;
    const s = await d.until(
      (x) => x.intents > 0 && x.lastState?.code === "E_JOINT_MISSING",
      20_000,
      t,
    );
    expect(s.lastState?.message).toContain("velocities");
    await d.sleep(1500);
    expect((await d.stats(t)).chunksSince).toBe(0);

    const t2 = (await d.cmd<{ t: number }>({ cmd: "set", joints: "velocity" })).t;
    const moving = await d.until((x) => x.chunksSince > 2 && x.trajectoriesSince > 5, 20_000, t2);
    expect(moving.finiteOk && moving.limitsOk && moving.orderOk).toBe(true);
    expect(moving.lastState?.code ?? "").not.toBe("E_JOINT_MISSING");
  }, 60_000);
});
