/**
 * The simulator's real-time factor with both cameras at 10 Hz (sim/bench_rtf.py, which
 * measures it in the sim's own Python process and writes out/bench/sim.json).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

export async function runSimRtfBench(): Promise<unknown> {
  const out = resolve(ROOT, "out/bench/sim.json");
  const r = spawnSync(
    process.env.BLM_PYTHON ?? "python3",
    ["sim/bench_rtf.py", "--seconds", "5", "--out", out],
    {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 600_000,
    },
  );
  if (r.status !== 0) throw new Error(`sim/bench_rtf.py exited with ${r.status ?? r.signal}`);
  return JSON.parse(readFileSync(out, "utf8")) as unknown;
}
