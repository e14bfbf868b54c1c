/**
 * `npm run eval` end to end, small: one embodiment × one task × one seed with the test model and
 * a short timeout, through the real graph (launch/sim.launch.xml: the sim and the agent over DDS).
 * The test model is not trained to succeed: the episode must end as a well-formed timeout, with
 * every output file in place; then --resume has nothing left to run.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { parseResults } from "../../../scripts/lib/eval/results.ts";
import type { SuccessTable } from "../../../scripts/lib/eval/table.ts";
import { REPO_ROOT, runScript, simDecoy } from "../../support/processes.ts";

const base = path.join(mkdtempSync(path.join(tmpdir(), "blm-eval-")), "test-tiny");
/**
 * The eval's own DDS domain, next to the run's: the eval refuses to start while another sim graph
 * is on its domain, and a process another test file left behind must not make it refuse.
 */
const EVAL_DOMAIN = String(1 + ((Number(process.env.ROS_DOMAIN_ID ?? 0) + 50) % 100));
const evalEnv = { ...process.env, ROS_DOMAIN_ID: EVAL_DOMAIN };
/** Runs the eval's entry point on the test model, one short episode unless `extra` says otherwise. */
function evalRun(extra: string[]) {
  const args = [
    ...["--out", base, "--model", path.join(REPO_ROOT, "models/test-tiny")],
    ...["--embodiments", "panda", "--tasks", "PickCube", "--seeds", "1"],
    ...["--timeout", "3", "--real-time-factor", "5"],
    ...extra,
  ];
  return runScript("scripts/eval.ts", args, evalEnv, 140_000);
}
const MCAP_MAGIC = Buffer.from([0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a]);

describe("npm run eval (1 embodiment × 1 task × 1 seed, test-tiny, 3 s timeout)", () => {
  it("runs the episode through the graph and writes results, tables, plot and MCAP", async () => {
    const r = await evalRun([]);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(
      /\[1\/1\] panda PickCube seed 100000: timeout .*sim \d+\.\d s, wall \d+\.\d s/,
    );
    expect(out).toMatch(/overall average 0\.00% over 1 episodes/);

    const results = parseResults(readFileSync(path.join(base, "results.json"), "utf8"));
    expect(results.config).toEqual({
      model: "test-tiny",
      ablation: null,
      timeout_s: 3,
      real_time_factor: 5,
      params_file: null,
    });
    expect(results.episodes).toHaveLength(1);
    const ep = results.episodes[0]!;
    expect(ep).toMatchObject({
      embodiment: "panda",
      task: "PickCube",
      seed: 100_000,
      outcome: "timeout",
      time_to_success_s: null,
      sim_success: false,
      message: "timeout",
    });
    expect(ep.instruction).toMatch(/cube/);
    expect(ep.sim_elapsed_s).toBeGreaterThanOrEqual(3);
    // The agent polls its goal on wall time: at 5× real time a busy machine overshoots by seconds.
    expect(ep.sim_elapsed_s).toBeLessThan(12);
    expect(ep.wall_s).toBeGreaterThan(0);

    // The episode's MCAP, written by the recorder and named in the record.
    expect(ep.mcap).toBe("episodes/panda/PickCube/seed-100000.mcap");
    const mcap = readFileSync(path.join(base, ep.mcap!));
    expect(mcap.subarray(0, 8).equals(MCAP_MAGIC)).toBe(true);
    expect(mcap.subarray(-8).equals(MCAP_MAGIC)).toBe(true); // closed, not truncated
    expect(mcap.length).toBeGreaterThan(10_000);

    const table = JSON.parse(readFileSync(path.join(base, "table.json"), "utf8")) as SuccessTable;
    expect(table.cells.PickCube!.panda).toEqual({
      successes: 0,
      episodes: 1,
      success_pct: 0,
      mean_time_to_success_s: null,
    });
    expect(table.robot_average).toEqual({ panda: 0, xarm6: null, xarm7: null, widowx_ai: null });
    expect(table.overall_average).toBe(0);
    const md = readFileSync(path.join(base, "table.md"), "utf8");
    expect(md).toContain("| PickCube | 0.00 (0/1) | — | — | — |");
    expect(md).toContain("| **Average** | **0.00** | **—** | **—** | **—** |");

    const png = PNG.sync.read(readFileSync(path.join(base, "success.png")));
    expect(png.width).toBeGreaterThan(400);
    expect(png.height).toBeGreaterThan(200);
  }, 150_000);

  it("--resume finds nothing left to run; without it the results are not overwritten", async () => {
    const before = readFileSync(path.join(base, "results.json"), "utf8");
    const resumed = await evalRun(["--resume"]);
    expect(resumed.status, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/1 episodes .*1 already in/);
    expect(resumed.stdout).toMatch(/0 episodes run/);
    expect(readFileSync(path.join(base, "results.json"), "utf8")).toBe(before);

    const again = await evalRun([]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/results\.json exists: --resume to continue it/);

    // Other agent params would make other numbers: not continued.
    const sim = path.join(REPO_ROOT, "launch/params/sim.yaml");
    const other = await evalRun(["--resume", "--params-file", sim]);
    expect(other.status).toBe(2);
    expect(other.stderr).toContain(
      `made with other settings (params_file null there, ${JSON.stringify(sim)} now)`,
    );
    expect(readFileSync(path.join(base, "results.json"), "utf8")).toBe(before);
  }, 60_000);

  it("refuses to start beside another sim on its DDS domain, before bringing anything up", async () => {
    // A node named like the sim's: its topics would mix with the eval's own sim's.
    const decoy = await simDecoy(evalEnv);
    try {
      const out = path.join(path.dirname(base), "beside-another-sim");
      const r = await evalRun(["--out", out]);
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `eval: another simulation is running on ROS_DOMAIN_ID ${EVAL_DOMAIN} (/blm_sim)`,
      );
      expect(r.stdout).not.toMatch(/starting the sim/);
      expect(parseResults(readFileSync(path.join(out, "results.json"), "utf8")).episodes).toEqual(
        [],
      );
    } finally {
      decoy.child.kill("SIGINT");
    }
  }, 60_000);

  it("refuses a params file the agent would refuse, with the launch's reasons, before anything starts", async () => {
    const dir = path.dirname(base);
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "/**:\n  ros__parameters:\n    intent_period_s: 0.0\n    chunk_rate: 2.5\n");
    const out = path.join(dir, "bad-params");
    const r = await evalRun(["--out", out, "--params-file", bad]);
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain("eval: the launch refuses panda's graph:");
    expect(r.stderr).toContain(`${bad}: 'chunk_rate' is not a parameter of the agent`);
    expect(r.stderr).toMatch(/'intent_period_s': Too small: expected number to be >=0\.05/);
    expect(r.stdout).not.toMatch(/starting the sim/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
