/**
 * Bad inputs over real DDS, one agent (panda) and one driver for the whole block. Each case
 * injects one fault, asserts the specific error code in /blm/state and that no chunk is built
 * from the bad data (no chunk whose observation stamp is after the fault), then restores good
 * input and waits for the agent to recover before the next case.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Driver, GRACE_S as GRACE, startDriving } from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";

let agent: Peer;
let d: Driver;
const IMAGE_TIMEOUT_S = 0.5;

beforeAll(async () => {
  ({ agent, driver: d } = await startDriving("panda", [
    "-p",
    `image_timeout_s:=${IMAGE_TIMEOUT_S}`,
    "-p",
    "joint_state_timeout_s:=0.2",
    "-p",
    "intent_period_s:=1.0",
  ]));
}, 90_000);

afterAll(async () => {
  await Promise.all([agent?.stop(), d?.peer.stop()]);
});

describe("bad inputs put the agent in a named error and build nothing from the bad data", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["wrong image encoding", { camera: { front: "bad_encoding" } }, "E_IMAGE_ENCODING"],
    ["wrong image step", { camera: { wrist: "wrong_step" } }, "E_IMAGE_SIZE"],
    ["empty image", { camera: { front: "empty" } }, "E_IMAGE_EMPTY"],
    ["camera stops publishing", { camera: { wrist: "stop" } }, "E_STALE_IMAGE"],
    ["NaN joint state", { joints: "nan" }, "E_JOINT_NONFINITE"],
    ["missing joint", { joints: "missing" }, "E_JOINT_MISSING"],
    ["joint states stop", { joints: "stop" }, "E_STALE_JOINT_STATE"],
  ];
  for (const [name, set, code] of cases) {
    it(`${name} → ${code}, no chunk from the bad data, recovers when input is good again`, async () => {
      await d.healthy();
      // A stream that stops is not bad data until it is stale: chunks computed within the
      // timeout still rest on a valid observation.
      const graceSec = code === "E_STALE_IMAGE" ? IMAGE_TIMEOUT_S + GRACE : GRACE;
      const { s, after } = await d.fault(set, code, graceSec);
      expect(s.errorCodes).toContain(code);
      expect(after.chunksSince).toBe(0);
      expect(after.finiteOk && after.limitsOk && after.orderOk).toBe(true);
      await d.healthy();
    }, 40_000);
  }

  it("accepted encodings other than rgb8 (bgr8, mono8) keep the agent running", async () => {
    await d.cmd({ cmd: "set", camera: { front: "bgr8", wrist: "mono8" } });
    const t = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
    const s = await d.until((x) => x.chunksSince > 3, 10_000, t);
    expect(s.lastState?.code ?? "").not.toMatch(/E_IMAGE/);
  }, 30_000);

  it("an oversized instruction is rejected with E_INSTRUCTION and the current one continues", async () => {
    await d.healthy();
    await d.cmd({ cmd: "instruction", text: "x".repeat(600) });
    // A limiting condition (if any) takes AgentState's error field; the rejection is then the brain's last error.
    const s = await d.until(
      (x) =>
        x.errorCodes.includes("E_INSTRUCTION") ||
        Object.entries(x.diagValues).some(
          ([k, v]) => k.endsWith("brain/last_error") && v.startsWith("E_INSTRUCTION"),
        ),
      8000,
    );
    expect(s.lastState?.instruction).toBe("push the cube to the goal");
    await d.cmd({ cmd: "instruction", text: "push the cube to the goal" });
  }, 30_000);

  it("an estop mid-motion stops at once, latches through a release, and resumes only on re-activation", async () => {
    await d.healthy();
    const t = (await d.cmd<{ t: number }>({ cmd: "estop", value: true })).t;
    await d.until((x) => x.lastState?.mode === "estopped", 5000);
    const q0 = (await d.stats()).q;
    await d.cmd({ cmd: "estop", value: false });
    await d.sleep(1000);
    const s = await d.stats(t + GRACE);
    expect(s.lastState?.mode).toBe("estopped"); // release alone does not resume
    expect(s.errorCodes).toContain("E_ESTOP");
    // Held: the arm stays where the estop caught it (it had been moving).
    for (let j = 0; j < q0.length; j++) expect(Math.abs(s.q[j]! - q0[j]!)).toBeLessThan(0.02);
    const before = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
    await d.activate();
    await d.until(
      (x) =>
        x.chunksSince > 2 && (x.lastState?.mode === "tracking" || x.lastState?.mode === "ramp_in"),
      10_000,
      before,
    );
  }, 40_000);

  it("an Execute goal that is cancelled ends 'cancelled' and stops motion", async () => {
    await d.healthy();
    expect(await d.execute("lift the peg upright", 30)).toBe(true);
    await d.until((x) => x.intentInstructions.includes("lift the peg upright"), 10_000);
    await d.sleep(500);
    // The result and the cancel command's "ok" come in either order: watch for the result.
    const lines = d.peer.watch();
    let r: { result: { message: string; success: boolean } };
    try {
      await d.cmd({ cmd: "cancel" });
      r = JSON.parse(await lines.find((l) => l.includes('"event":"result"'), 10_000)) as typeof r;
    } finally {
      lines.close();
    }
    expect(r.result.message).toBe("cancelled");
    expect(r.result.success).toBe(false);
    await d.until((x) => x.lastState?.mode === "inactive", 5000);
    await d.sleep(300); // let trajectories already in flight arrive
    const t = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
    await d.sleep(600);
    expect((await d.stats(t)).trajectoriesSince).toBe(0); // inactive: nothing commanded
    await d.activate();
  }, 40_000);

  it("a new Execute goal preempts the running one: the first ends 'preempted', the second drives", async () => {
    await d.healthy();
    // Goal results arrive among other driver lines; watch them all so none is skipped.
    const lines = d.peer.watch();
    try {
      expect(await d.execute("lift the peg upright", 30)).toBe(true);
      await d.until((x) => x.intentInstructions.includes("lift the peg upright"), 10_000);
      expect(await d.execute("push the cube to the goal", 30)).toBe(true);
      await lines.find((l) => l.includes('"message":"preempted"'), 10_000);
      const t = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
      const s = await d.until(
        (x) => x.chunksSince > 2 && x.lastState?.instruction === "push the cube to the goal",
        10_000,
        t,
      );
      expect(s.lastState?.instruction).toBe("push the cube to the goal");
      await d.cmd({ cmd: "cancel" });
      await lines.find((l) => l.includes('"message":"cancelled"'), 10_000);
    } finally {
      lines.close();
    }
    await d.until((x) => x.lastState?.mode === "inactive", 5000);
    await d.activate();
  }, 60_000);

  it("an Execute goal ends on success reported on the success topic... or says it has none", async () => {
    expect(await d.execute("pick up the cube", 1.5)).toBe(true);
    const r = JSON.parse(await d.peer.nextLine((l) => l.includes('"event":"result"'), 10_000)) as {
      result: { message: string };
    };
    expect(r.result.message).toBe("timeout (no success_topic configured)");
  }, 30_000);
});
