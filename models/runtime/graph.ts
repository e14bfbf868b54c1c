import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fail, type Result } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { GraphSpec, TensorSpec } from "./manifest.ts";
import {
  openSession,
  type GraphSession,
  type IOMeta,
  type ProviderDeps,
  type SessionHost,
  type SessionOptions,
} from "./session.ts";

/** Loads one graph of a model folder: file, content hash, session, and its I/O checked against the manifest. */

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const fmtShape = (shape: readonly (number | string)[]) => `[${shape.join(", ")}]`;
const fmtSpec = (t: { type?: string; dtype?: string; shape: readonly (number | string)[] }) =>
  `${t.dtype ?? t.type} ${fmtShape(t.shape)}`;

/**
 * Compares a graph's declared inputs/outputs with the manifest: same names, dtypes and ranks;
 * static dims equal; dims symbolic in the manifest symbolic in the graph (and the reverse).
 * Returns one message per disagreement, each naming graph, tensor, expected and actual.
 */
export function compareIO(
  graph: string,
  kind: "input" | "output",
  expected: readonly TensorSpec[],
  actual: readonly IOMeta[],
): string[] {
  const out: string[] = [];
  const byName = new Map(actual.map((a) => [a.name, a]));
  for (const e of expected) {
    const a = byName.get(e.name);
    const exp = fmtSpec(e);
    if (!a) {
      out.push(
        `graph ${graph}: ${kind} '${e.name}' expected ${exp}, actual: missing (graph has ${actual.map((x) => x.name).join(", ") || "none"})`,
      );
      continue;
    }
    const act = fmtSpec(a);
    if (a.type !== e.dtype) {
      out.push(`graph ${graph}: ${kind} '${e.name}' dtype expected ${exp}, actual ${act}`);
      continue;
    }
    if (a.shape.length !== e.shape.length) {
      out.push(`graph ${graph}: ${kind} '${e.name}' rank expected ${exp}, actual ${act}`);
      continue;
    }
    e.shape.forEach((d, i) => {
      const g = a.shape[i];
      const bad = typeof d === "number" ? g !== d : typeof g === "number";
      if (bad)
        out.push(`graph ${graph}: ${kind} '${e.name}' dim ${i} expected ${exp}, actual ${act}`);
    });
  }
  const names = new Set(expected.map((e) => e.name));
  for (const a of actual)
    if (!names.has(a.name))
      out.push(
        `graph ${graph}: ${kind} '${a.name}' expected: absent from the manifest, actual ${fmtSpec(a)}`,
      );
  return out;
}

export interface LoadGraphArgs {
  dir: string;
  name: string;
  spec: GraphSpec;
  host: SessionHost;
  options: SessionOptions;
  log: Logger;
  deps?: ProviderDeps;
  /** Skip the sha256 check (tests of the corrupt-file path only). */
  verifyHash?: boolean;
}

export async function loadGraph(a: LoadGraphArgs): Promise<Result<GraphSession>> {
  const file = join(a.dir, a.spec.file);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    return fail(
      "E_MODEL_MISSING",
      `graph ${a.name}: cannot read ${file}: ${(e as Error).message}`,
      { graph: a.name, file },
    );
  }
  if (a.verifyHash !== false) {
    const actual = sha256Hex(bytes);
    if (actual !== a.spec.sha256)
      return fail(
        "E_MODEL_HASH",
        `graph ${a.name}: ${file} has sha256 ${actual}, the manifest says ${a.spec.sha256}`,
        {
          graph: a.name,
          file,
          expected: a.spec.sha256,
          actual,
        },
      );
  }
  const session = await openSession(a.host, bytes, a.name, a.options, a.log, a.deps);
  if (!session.ok) return session;
  const problems = [
    ...compareIO(a.name, "input", a.spec.inputs, session.value.inputs),
    ...compareIO(a.name, "output", a.spec.outputs, session.value.outputs),
  ];
  if (problems.length > 0) {
    await session.value.dispose();
    return fail("E_MODEL_MISMATCH", problems.join("; "), { graph: a.name, problems });
  }
  return session;
}
