/**
 * Start-up failures end the process with one line naming the error code (never a crash loop),
 * and each node runs alone: observer, brain, policy and controller as four processes drive the
 * arm through topics.
 */
import { afterAll, describe, expect, it } from "vitest";
import {
  Driver,
  TEST_MODEL,
  TRAJECTORY_TOPIC,
  agentReady,
  startAgent,
  uniqueNamespace,
} from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";

const peers: Peer[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

async function exitLine(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = startAgent(args);
  peers.push(p);
  const code = await p.exited(30_000);
  return { code, stderr: p.stderrTail };
}

describe("start-up errors", () => {
  it("a missing model folder exits with E_MODEL_MISSING", async () => {
    const [missing, unknown, badParam] = await Promise.all([
      exitLine(["--ros-args", "-p", "embodiment:=panda", "-p", "model:=models/does-not-exist"]),
      exitLine(["--ros-args", "-p", "embodiment:=ur5"]),
      exitLine(["--ros-args", "-p", "embodiment:=panda", "-p", "chunk_rate_hz:=1000.0"]),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/blm-agent: E_MODEL_MISSING: .*does-not-exist/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/blm-agent: E_UNKNOWN_EMBODIMENT: unknown embodiment 'ur5'/);
    expect(badParam.code).toBe(2);
    expect(badParam.stderr).toMatch(/E_CONFIG: parameter chunk_rate_hz/);
  }, 60_000);
});

describe("the nodes as separate processes", () => {
  it("observer, brain, policy and controller talk through topics and move the arm", async () => {
    const ns = uniqueNamespace("split");
    const common = [
      "--ros-args",
      "-r",
      `__ns:=${ns}`,
      "-p",
      "embodiment:=xarm6",
      "-p",
      `model:=${TEST_MODEL}`,
      "-p",
      `trajectory_topic:=${TRAJECTORY_TOPIC}`,
      "-p",
      "autostart:=true",
      "-p",
      "joint_state_timeout_s:=0.5",
    ];
    const nodes = ["observer", "brain", "policy", "controller"].map((role) =>
      startAgent([role, ...common]),
    );
    const driver = new Driver({ embodiment: "xarm6", ns, trajectoryTopic: TRAJECTORY_TOPIC });
    peers.push(...nodes, driver.peer);
    await Promise.all([...nodes.map((n) => agentReady(n)), driver.ready()]);
    await driver.cmd({ cmd: "instruction", text: "pull the cube" });
    const roles = [
      "blm_observer: observer",
      "blm_brain: brain",
      "blm_policy: policy",
      "blm_controller: controller",
    ];
    const reported = (names: string[], role: string) => names.some((n) => n.endsWith(role));
    // Diagnostics come at 1 Hz from each process: wait for every node's, not just the traffic.
    const s = await driver
      .until(
        (x) =>
          x.trajectories > 50 &&
          x.chunks > 5 &&
          x.intents > 0 &&
          roles.every((r) => reported(x.diagnosticNames, r)),
        30_000,
      )
      .catch(() => driver.stats(0));
    expect(s.namesOk && s.orderOk && s.limitsOk && s.chunkNamesOk).toBe(true);
    for (const role of roles) expect(reported(s.diagnosticNames, role), role).toBe(true);
    const moved = await driver.until((x) => x.maxMove > 0.01, 10_000).catch((e: Error) => e);
    expect(moved instanceof Error ? moved.message.slice(0, 600) : "moved").toBe("moved");
  }, 90_000);
});
