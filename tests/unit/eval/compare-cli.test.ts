/**
 * `npm run eval:compare`: reads eval results folders, prints the comparison, writes it with
 * --out, and names what is wrong with its arguments instead of throwing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { EpisodeRecord, EvalResults } from "../../../scripts/lib/eval/results.ts";
import { episode } from "./support.ts";

const SCRIPT = path.resolve(import.meta.dirname, "../../../scripts/eval-compare.ts");
const dir = mkdtempSync(path.join(tmpdir(), "eval-compare-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function resultsFolder(name: string, outcomes: EpisodeRecord["outcome"][], seedStart: number) {
  const folder = path.join(dir, name);
  mkdirSync(folder, { recursive: true });
  const results: EvalResults = {
    config: { model: name, ablation: null, timeout_s: 20, real_time_factor: 1, params_file: null },
    episodes: outcomes.map((o, i) => episode("xarm7", "PullCube", seedStart + i, o)),
  };
  writeFileSync(path.join(folder, "results.json"), JSON.stringify(results));
  return folder;
}

const compare = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...args], { encoding: "utf8" });

describe("eval:compare", () => {
  const a0 = resultsFolder("a-s0", ["success", "success"], 0);
  const a2 = resultsFolder("a-s2", ["success", "timeout"], 2);
  const b0 = resultsFolder("b-s0", ["timeout", "timeout", "success", "timeout"], 0);

  it("pools a side's folders, pairs the episodes and writes the comparison", () => {
    const out = path.join(dir, "cmp");
    const r = compare("--a", `${a0},${a2}`, "--b", b0, "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\| A \| .*a-s0, .*a-s2 \| 3 of 4 \| 75\.00 \|/);
    const c = JSON.parse(readFileSync(path.join(out, "comparison.json"), "utf8"));
    expect(c).toMatchObject({ matched: 4, a_only_success: 2, b_only_success: 0, both_success: 1 });
    expect(readFileSync(path.join(out, "comparison.md"), "utf8")).toBe(`${r.stdout.trimEnd()}\n`);
  });

  it("exits 2 with the reason and the usage on a folder without results, or a missing side", () => {
    const r = compare("--a", path.join(dir, "nowhere"), "--b", b0);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--a .*nowhere: no results\.json there/);
    expect(r.stderr).toMatch(/usage: npm run eval:compare/);
    expect(compare("--a", a0).stderr).toMatch(/--b needs at least one eval results folder/);
    expect(compare("--a", a0, "--b", b0, "--bogus").status).toBe(2);
  });
});
