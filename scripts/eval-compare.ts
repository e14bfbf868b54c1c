/**
 * Compares two models' closed-loop evals on the episodes both ran (same embodiment, task and
 * seed): each side's pooled success with its 95 % interval, and an exact McNemar test on the
 * matched episodes. Reads only results.json files; runs nothing.
 *
 *   npm run eval:compare -- --a out/eval/new-s0,out/eval/new-s2 --b out/eval/committed-s0,...
 *     [--out DIR]   also writes comparison.json and comparison.md there
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { readResults } from "./lib/eval/files.ts";
import { compareSides, renderComparison, type Side } from "./lib/eval/stats.ts";

const USAGE = "usage: npm run eval:compare -- --a DIR[,DIR...] --b DIR[,DIR...] [--out DIR]";

function side(arg: string | undefined, name: string): Side {
  const folders = (arg ?? "").split(",").filter(Boolean);
  if (!folders.length) throw new Error(`--${name} needs at least one eval results folder`);
  const episodes = folders.flatMap((f) => {
    const r = readResults(path.resolve(f));
    if (!r) throw new Error(`--${name} ${f}: no results.json there (not an eval results folder)`);
    return r.episodes;
  });
  return { folders, episodes };
}

function main(): number {
  try {
    const { values: v } = parseArgs({
      args: process.argv.slice(2),
      options: { a: { type: "string" }, b: { type: "string" }, out: { type: "string" } },
      strict: true,
    });
    const c = compareSides(side(v.a, "a"), side(v.b, "b"));
    const md = renderComparison(c);
    if (v.out) {
      mkdirSync(v.out, { recursive: true });
      writeFileSync(path.join(v.out, "comparison.json"), `${JSON.stringify(c, null, 2)}\n`);
      writeFileSync(path.join(v.out, "comparison.md"), md);
    }
    console.log(md);
    return 0;
  } catch (e) {
    console.error(`eval:compare: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
}

process.exitCode = main();
