/**
 * The composed agent drives each of the four arms over real DDS: a driver process publishes
 * camera images and joint states (a kinematic arm that follows the trajectories it receives),
 * and checks that the agent publishes intents, chunks and JointTrajectory messages with the
 * definition's joint names, strictly increasing time_from_start, all within the limits, at
 * roughly the configured rates, and that the arm actually moves.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startDriving } from "../../support/agent.ts";
import type { Peer } from "../../support/processes.ts";

const peers: Peer[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

// Pairs run in parallel; each arm gets its own namespace.
const ARMS = [
  ["panda", "xarm6"],
  ["xarm7", "widowx_ai"],
] as const;

async function drive(embodiment: string, extra: string[]) {
  const { agent, driver } = await startDriving(embodiment, extra, {}, `move the ${embodiment} arm`);
  peers.push(agent, driver.peer);
  const t0 = (await driver.cmd<{ t: number }>({ cmd: "reset" }, "reset")).t;
  await driver.sleep(3000);
  const s = await driver.stats();
  return { s, span: s.t - t0, agent };
}

describe("the composed agent drives every embodiment", () => {
  for (const pair of ARMS) {
    it(`${pair.join(" and ")}: intents, chunks and limit-respecting trajectories at about the configured rates, and the arm moves`, async () => {
      const paramsFile = path.join(mkdtempSync(path.join(tmpdir(), "blm-params-")), "params.yaml");
      // One arm reads its rates from a params file, the other from -p overrides.
      writeFileSync(
        paramsFile,
        "/**:\n  ros__parameters:\n    chunk_rate_hz: 8.0\n    control_rate_hz: 50\n    intent_period_s: 1.0\n",
      );
      const results = await Promise.all([
        drive(pair[0], ["--params-file", paramsFile, "-p", "joint_state_timeout_s:=0.5"]),
        drive(pair[1], [
          "-p",
          "chunk_rate_hz:=8.0",
          "-p",
          "control_rate_hz:=50.0",
          "-p",
          "intent_period_s:=1.0",
          "-p",
          "joint_state_timeout_s:=0.5",
        ]),
      ]);
      for (const [i, { s, span }] of results.entries()) {
        const arm = pair[i]!;
        console.info(
          `${arm}: ${s.trajectories} trajectories, ${s.chunks} chunks, ${s.intents} intents in ${span.toFixed(2)} s; moved ${s.maxMove.toFixed(3)} rad; state ${JSON.stringify(s.lastState)}`,
        );
        expect(s.violations, arm).toEqual([]);
        expect(s.namesOk && s.orderOk && s.limitsOk && s.finiteOk && s.chunkNamesOk, arm).toBe(
          true,
        );
        // 50 Hz control, 8 Hz chunks, 1 Hz intents over ~3 s: loose bounds (counts, not timing).
        expect(s.trajectories / span, arm).toBeGreaterThan(10); // 2 loaded cores: counts, loosely
        expect(s.trajectories / span, arm).toBeLessThan(60);
        // a quarter of 8 Hz: two agents and two drivers share the cores with whatever else runs
        expect(s.chunks / span, arm).toBeGreaterThan(2);
        expect(s.chunks / span, arm).toBeLessThan(10);
        expect(s.intents, arm).toBeGreaterThanOrEqual(1);
        expect(s.lastState?.provider).toBe("cpu");
        expect(s.diagnosticNames.some((n) => n.endsWith("blm_agent: controller"))).toBe(true);
        // DESIGN decision 15: the arm must actually move (a controller that only holds fails here).
        expect(
          s.maxMove,
          `${arm} did not move; state ${JSON.stringify(s.lastState)}`,
        ).toBeGreaterThan(0.01);
        expect(["tracking", "ramp_in"]).toContain(s.lastState?.mode);
      }
    }, 90_000);
  }
});
