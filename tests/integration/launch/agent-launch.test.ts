/**
 * CI has no `ros2 launch`: this starts the exact command line that launch/agent.launch.xml
 * resolves to (through the launch runner) and sees the agent come up over DDS: its
 * blm_msgs/AgentState on blm/state, at the root and under a namespace.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { resolveLaunch } from "../../../launch/interpreter.ts";
import { AGENT_BIN, nodeHost, REPO_ROOT } from "../../../launch/packages.ts";
import { Supervisor } from "../../../launch/supervisor.ts";
import { jsPeer, type Peer } from "../../support/processes.ts";

const hasBin = existsSync(path.join(REPO_ROOT, AGENT_BIN));
let peers: Peer[] = [];
let supervisors: Supervisor[] = [];

afterEach(async () => {
  await Promise.all(peers.map((p) => p.stop()));
  await Promise.all(supervisors.map((s) => s.shutdown("test done")));
  peers = [];
  supervisors = [];
});

async function launchAndReadState(args: Record<string, string>, stateTopic: string) {
  const plan = resolveLaunch(path.join(REPO_ROOT, "launch/agent.launch.xml"), args, nodeHost());
  if (!plan.ok) throw plan.error;
  expect(plan.value.processes).toHaveLength(1);
  const lines: string[] = [];
  const supervisor = new Supervisor({ write: (l) => lines.push(l), cwd: REPO_ROOT });
  supervisors.push(supervisor);
  const echo = jsPeer(["echo", "blm_msgs/msg/AgentState", stateTopic]);
  peers.push(echo);
  await echo.nextLine((l) => l === "ready", 30_000);
  supervisor.start(plan.value.processes);
  try {
    const line = await echo.nextLine((l) => l.startsWith("{"), 60_000);
    return { state: JSON.parse(line) as Record<string, unknown>, lines, supervisor };
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlaunch output:\n${lines.slice(-40).join("\n")}`);
  }
}

describe.skipIf(!hasBin)(
  `agent.launch.xml started without ros2 launch${hasBin ? "" : ` (skipped: ${AGENT_BIN} does not exist yet)`}`,
  () => {
    it("brings the agent up for panda with dry_run:=true: AgentState arrives on /blm/state", async () => {
      const { state, lines, supervisor } = await launchAndReadState(
        { embodiment: "panda", dry_run: "true" },
        "/blm/state",
      );
      expect(typeof state.mode_name).toBe("string");
      expect(lines.some((l) => l.startsWith("[blm-agent-1] "))).toBe(true);
      // Still running (a required process: its exit would have shut the launch down).
      expect(supervisor.exits).toEqual([]);
      expect(await supervisor.shutdown("test done")).toBe(0);
    });

    it("puts the agent's topics under the namespace argument", async () => {
      const { state } = await launchAndReadState(
        { embodiment: "xarm6", dry_run: "true", namespace: "cell1" },
        "/cell1/blm/state",
      );
      expect(typeof state.mode_name).toBe("string");
    });
  },
);
