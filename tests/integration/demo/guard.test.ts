/**
 * The demo refuses to bring up its graph beside another sim on its DDS domain (their topics would
 * mix): it names the domain and the node, exits 2, and starts nothing.
 */
import { describe, expect, it } from "vitest";
import { runScript, simDecoy } from "../../support/processes.ts";

/** A domain of the demo's own, next to the run's: nothing another test file left may be there. */
const DEMO_DOMAIN = String(1 + ((Number(process.env.ROS_DOMAIN_ID ?? 0) + 30) % 100));
const demoEnv = { ...process.env, ROS_DOMAIN_ID: DEMO_DOMAIN };

describe("npm run demo beside another sim", () => {
  it("refuses before starting the sim and the agent", async () => {
    const decoy = await simDecoy(demoEnv);
    try {
      const args = ["--embodiment", "panda", "--timeout", "3"];
      const { status, stdout, stderr } = await runScript("scripts/demo.ts", args, demoEnv, 40_000);
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
