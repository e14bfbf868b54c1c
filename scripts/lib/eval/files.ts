/**
 * The eval's files in its results folder: results.json, table.json, table.md (rewritten after
 * every episode) and success.png (drawn by plot_success.py with matplotlib).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseResults, type EvalResults } from "./results.ts";
import { buildTable, renderMarkdown, type SuccessTable } from "./table.ts";

export const RESULTS_FILE = "results.json";

/** Readers never see half a file, even when the eval is killed mid-write. */
function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

export function readResults(dir: string): EvalResults | null {
  const file = path.join(dir, RESULTS_FILE);
  return existsSync(file) ? parseResults(readFileSync(file, "utf8")) : null;
}

export function writeResults(dir: string, results: EvalResults): SuccessTable {
  writeAtomic(path.join(dir, RESULTS_FILE), `${JSON.stringify(results, null, 2)}\n`);
  const table = buildTable(results);
  writeAtomic(path.join(dir, "table.json"), `${JSON.stringify(table, null, 2)}\n`);
  writeAtomic(path.join(dir, "table.md"), renderMarkdown(table));
  return table;
}

/** Draws success.png from table.json; returns null, or why it could not. */
export function plotSuccess(dir: string): string | null {
  const r = spawnSync(
    process.env.BLM_PYTHON ?? "python3",
    [
      path.join(import.meta.dirname, "plot_success.py"),
      path.join(dir, "table.json"),
      path.join(dir, "success.png"),
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (r.status === 0) return null;
  return (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n").pop()!;
}
