/**
 * The demo refuses to bring up its graph beside another sim on its DDS domain (their topics would
 * mix): it names the domain and the node, exits 2, and starts nothing.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, simDecoy } from "../../support/processes.ts";

/** A domain of the demo's own, next to the run's: nothing another test file left may be there. */
const DEMO_DOMAIN = String(1 + ((Number(process.env.ROS_DOMAIN_ID ?? 0) + 30) % 100));
const demoEnv = { ...process.env, ROS_DOMAIN_ID: DEMO_DOMAIN };

describe("npm run demo beside another sim", () => {
  it("refuses before starting the sim and the agent", async () => {
    const decoy = await simDecoy(demoEnv);
    try {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "scripts/demo.ts", "--embodiment", "panda", "--timeout", "3"],
        { cwd: REPO_ROOT, env: demoEnv, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGINT"), 40_000);
      const [status] = (await once(child, "exit")) as [number | null];
      clearTimeout(timer);
      expect(status, stdout + stderr).toBe(2);
      expect(stderr).toContain(
        `demo: another simulation is running on ROS_DOMAIN_ID ${DEMO_DOMAIN} (/blm_sim)`,
      );
      expect(stdout).not.toMatch(/starting the sim/);
    } finally {
      decoy.child.kill("SIGINT");
    }
  }, 60_000);
});
