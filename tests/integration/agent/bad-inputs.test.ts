/**
 * Bad inputs over real DDS, one agent (panda) and one driver for the whole block. Each case
 * injects one fault, asserts the specific error code in /blm/state and that no chunk is built
 * from the bad data (no chunk whose observation stamp is after the fault), then restores good
 * input and waits for the agent to recover before the next case.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Driver,
  TRAJECTORY_TOPIC,
  agentArgs,
  agentReady,
  startAgent,
  uniqueNamespace,
} from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";

const ns = uniqueNamespace("bad");
let agent: Peer;
let d: Driver;
/** In-flight chunks (sampled before the fault arrived) may carry a stamp up to this much later. */
const GRACE = 0.25;
const IMAGE_TIMEOUT_S = 0.5;

async function activate(): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const r = await d.cmd<{ success: boolean }>({ cmd: "lifecycle", id: 3 }, "lifecycle");
    if (r.success) return;
    await d.sleep(250);
  }
  throw new Error("could not activate");
}

async function healthy(): Promise<void> {
  await d.cmd({ cmd: "set", camera: { front: "ok", wrist: "ok" }, joints: "ok" });
  const t = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
  await d.until((s) => s.chunksSince > 2, 15_000, t);
}

async function fault(set: Record<string, unknown>, code: string, graceSec = GRACE) {
  const t = (await d.cmd<{ t: number }>({ cmd: "set", ...set })).t;
  const s = await d.until((x) => x.errorCodes.includes(code), 8000);
  await d.sleep(1000);
  const after = await d.stats(t + graceSec);
  return { s, after };
}

beforeAll(async () => {
  agent = startAgent(
    agentArgs(ns, "panda", [
      "-p",
      `image_timeout_s:=${IMAGE_TIMEOUT_S}`,
      "-p",
      "joint_state_timeout_s:=0.2",
      "-p",
      "intent_period_s:=1.0",
    ]),
  );
  d = new Driver({ embodiment: "panda", ns, trajectoryTopic: TRAJECTORY_TOPIC });
  await Promise.all([agentReady(agent), d.ready()]);
  await activate();
  await d.cmd({ cmd: "instruction", text: "push the cube to the goal" });
  await d.until((s) => s.trajectories > 10 && s.chunks > 2, 20_000);
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
      await healthy();
      // A stream that stops is not bad data until it is stale: chunks computed within the
      // timeout still rest on a valid observation.
      const graceSec = code === "E_STALE_IMAGE" ? IMAGE_TIMEOUT_S + GRACE : GRACE;
      const { s, after } = await fault(set, code, graceSec);
      expect(s.errorCodes).toContain(code);
      expect(after.chunksSince).toBe(0);
      expect(after.finiteOk && after.limitsOk && after.orderOk).toBe(true);
      await healthy();
    }, 40_000);
  }

  it("accepted encodings other than rgb8 (bgr8, mono8) keep the agent running", async () => {
    await d.cmd({ cmd: "set", camera: { front: "bgr8", wrist: "mono8" } });
    const t = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
    const s = await d.until((x) => x.chunksSince > 3, 10_000, t);
    expect(s.lastState?.code ?? "").not.toMatch(/E_IMAGE/);
  }, 30_000);

  it("an oversized instruction is rejected with E_INSTRUCTION and the current one continues", async () => {
    await healthy();
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
    await healthy();
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
    await activate();
    await d.until(
      (x) =>
        x.chunksSince > 2 && (x.lastState?.mode === "tracking" || x.lastState?.mode === "ramp_in"),
      10_000,
      before,
    );
  }, 40_000);

  it("an Execute goal that is cancelled ends 'cancelled' and stops motion", async () => {
    await healthy();
    const g = await d.cmd<{ accepted: boolean }>(
      { cmd: "execute", instruction: "lift the peg upright", timeout: 30 },
      "goal",
    );
    expect(g.accepted).toBe(true);
    await d.until((x) => x.intentInstructions.includes("lift the peg upright"), 10_000);
    await d.sleep(500);
    const result = d.peer.nextLine((l) => l.includes('"event":"result"'), 10_000);
    await d.cmd({ cmd: "cancel" });
    const r = JSON.parse(await result) as { result: { message: string; success: boolean } };
    expect(r.result.message).toBe("cancelled");
    expect(r.result.success).toBe(false);
    await d.until((x) => x.lastState?.mode === "inactive", 5000);
    await d.sleep(300); // let trajectories already in flight arrive
    const t = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
    await d.sleep(600);
    expect((await d.stats(t)).trajectoriesSince).toBe(0); // inactive: nothing commanded
    await activate();
  }, 40_000);

  it("a new Execute goal preempts the running one: the first ends 'preempted', the second drives", async () => {
    await healthy();
    // Goal results arrive among other driver lines; watch the raw stream so none is skipped.
    let raw = "";
    const onData = (b: Buffer) => (raw += b.toString());
    d.peer.child.stdout!.on("data", onData);
    try {
      const first = await d.cmd<{ accepted: boolean }>(
        { cmd: "execute", instruction: "lift the peg upright", timeout: 30 },
        "goal",
      );
      expect(first.accepted).toBe(true);
      await d.until((x) => x.intentInstructions.includes("lift the peg upright"), 10_000);
      const second = await d.cmd<{ accepted: boolean }>(
        { cmd: "execute", instruction: "push the cube to the goal", timeout: 30 },
        "goal",
      );
      expect(second.accepted).toBe(true);
      const deadline = Date.now() + 10_000;
      while (!raw.includes('"message":"preempted"') && Date.now() < deadline) await d.sleep(100);
      expect(raw).toContain('"message":"preempted"');
      const t = (await d.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
      const s = await d.until(
        (x) => x.chunksSince > 2 && x.lastState?.instruction === "push the cube to the goal",
        10_000,
        t,
      );
      expect(s.lastState?.instruction).toBe("push the cube to the goal");
      await d.cmd({ cmd: "cancel" });
      const until = Date.now() + 10_000;
      while (!raw.includes('"message":"cancelled"') && Date.now() < until) await d.sleep(100);
      expect(raw).toContain('"message":"cancelled"');
    } finally {
      d.peer.child.stdout!.off("data", onData);
    }
    await d.until((x) => x.lastState?.mode === "inactive", 5000);
    await activate();
  }, 60_000);

  it("an Execute goal ends on success reported on the success topic... or says it has none", async () => {
    const g = await d.cmd<{ accepted: boolean }>(
      { cmd: "execute", instruction: "pick up the cube", timeout: 1.5 },
      "goal",
    );
    expect(g.accepted).toBe(true);
    const r = JSON.parse(await d.peer.nextLine((l) => l.includes('"event":"result"'), 10_000)) as {
      result: { message: string };
    };
    expect(r.result.message).toBe("timeout (no success_topic configured)");
  }, 30_000);
});
