/**
 * `npm run bench`: runs every bench module present in tests/bench (each exports a run*Bench
 * function and writes its own JSON under out/bench/), then writes out/bench/summary.json with
 * each bench's result or error and duration. A failing bench is recorded, not fatal.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = resolve(import.meta.dirname, "../..");
const here = resolve(ROOT, "tests/bench");
const only = process.argv.slice(2);

const files = (await readdir(here)).filter((f) => f.endsWith(".ts") && f !== "run.ts").sort();
const summary: Record<string, unknown> = {};
let failed = 0;
for (const f of files) {
  const name = f.replace(/\.ts$/, "");
  if (only.length && !only.includes(name)) continue;
  const mod = (await import(pathToFileURL(resolve(here, f)).href)) as Record<string, unknown>;
  const fn = Object.entries(mod).find(
    ([k, v]) => /^run.*Bench$/.test(k) && typeof v === "function",
  )?.[1] as (() => Promise<unknown>) | undefined;
  if (!fn) {
    summary[name] = { skipped: "no run*Bench export" };
    continue;
  }
  const t0 = performance.now();
  console.log(`bench ${name} ...`);
  try {
    const result = await fn();
    summary[name] = { ok: true, seconds: Math.round((performance.now() - t0) / 100) / 10, result };
    console.log(`bench ${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    failed++;
    summary[name] = {
      ok: false,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
      error: (e as Error).message,
    };
    console.error(`bench ${name}: FAILED: ${(e as Error).message}`);
  }
}
await mkdir(resolve(ROOT, "out/bench"), { recursive: true });
await writeFile(
  resolve(ROOT, "out/bench/summary.json"),
  JSON.stringify({ when: new Date().toISOString(), benches: summary }, null, 2) + "\n",
);
console.log(`bench: ${Object.keys(summary).length} run, ${failed} failed; out/bench/summary.json`);
process.exit(failed ? 1 : 0);
