import { readFileSync } from "node:fs";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import type { Logger } from "../../../lib/log.ts";

export const MODEL_DIR = resolve(import.meta.dirname, "../../../models/test-tiny");

type Encoded = { dtype: "float32" | "int64" | "uint8"; shape: number[]; data: string };

export function decode(e: Encoded): Float32Array | BigInt64Array | Uint8Array {
  const buf = Buffer.from(e.data, "base64");
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  if (e.dtype === "float32") return new Float32Array(ab);
  if (e.dtype === "int64") return new BigInt64Array(ab);
  return new Uint8Array(ab);
}
export const f32 = (e: Encoded) => decode(e) as Float32Array;
export const i64 = (e: Encoded) => decode(e) as BigInt64Array;

export interface SampleCase {
  embodiment: string;
  steps: number;
  state_units: Encoded;
  noise: Encoded;
  normalized_chunk: Encoded;
  chunk_units: Encoded;
  prefix_units?: Encoded;
}
export interface Fixture {
  torch: string;
  encode: Record<string, Encoded> & { instruction: string };
  sample: SampleCase[];
}

export function loadFixture(): Fixture {
  return JSON.parse(readFileSync(join(MODEL_DIR, "fixtures", "parity.json"), "utf8")) as Fixture;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A pino logger whose records are kept in memory, for asserting what was logged. */
export function memoryLogger(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n"))
        if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: "debug", base: { node: "test" } }, stream), records };
}

/** A scratch copy of the test model folder that a test may damage. */
export async function scratchModel(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "blm-model-"));
  await cp(MODEL_DIR, dir, { recursive: true });
  return dir;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests poke at raw manifest JSON
export type RawManifest = any;

/** Rewrites `<dir>/manifest.json` through `edit` (a scratch model's, to make it bad or different). */
export async function editManifest(dir: string, edit: (m: RawManifest) => void): Promise<void> {
  const file = join(dir, "manifest.json");
  const m = JSON.parse(await readFile(file, "utf8"));
  edit(m);
  await writeFile(file, JSON.stringify(m));
}

/** The arm joints' velocities in the state at padded slots 8.. (what `stage2 train --state-motion` exports). */
export function addStateVelocity(m: RawManifest, embodiment: string, scale = 0.5): void {
  const e = m.embodiments[embodiment];
  const n = e.joint_names.length;
  e.state.velocity = {
    indices: Array.from({ length: n }, (_, i) => 8 + i),
    scale: Array.from({ length: n }, () => scale),
  };
}

/**
 * Makes `embodiment` an ee_pose model (what `stage2 train --action-space ee_pose` exports): action
 * rows are the TCP pose at padded slots 16..24 and the jaw at its usual slot, and the state carries
 * the measured TCP pose at the same slots; `lo`/`hi` are the pose statistics (the box every
 * sampled pose lies in).
 */
export function makeEePose(
  m: RawManifest,
  embodiment: string,
  lo = [-0.8, -0.5, -0.1, -1.05, -1.05, -1.05, -1.05, -1.05, -1.05],
  hi = [0.2, 0.5, 0.6, 1.05, 1.05, 1.05, 1.05, 1.05, 1.05],
): void {
  const e = m.embodiments[embodiment];
  const slots = Array.from({ length: 9 }, (_, i) => 16 + i);
  const jaw = e.action.indices.length - 1;
  const norm = e.action.normalization;
  e.action_space = "ee_pose";
  e.state.tcp = { indices: slots, normalization: { mode: "min_max", min: lo, max: hi } };
  e.action = {
    indices: [...slots, e.action.indices[jaw]],
    normalization: { mode: "min_max", min: [...lo, norm.min[jaw]], max: [...hi, norm.max[jaw]] },
  };
}

/** Inline CPU sessions: what the unit tests load models with. */
export const CPU_SESSION = { execution_provider: "cpu", threading: "inline" } as const;

/** The test model's recorded intent (fixture), as the sampler takes it. */
export function fixtureIntent(): { tokens: Float32Array; count: number; dim: number } {
  return { tokens: f32(loadFixture().encode.intent!), count: 8, dim: 64 };
}

/** An xArm6 state (six joints, then a 4 cm jaw) inside the test model's statistics. */
export const XARM6_STATE = Float32Array.from([0.1, -0.2, 0.3, 0, 0.5, -0.1, 0.04]);
