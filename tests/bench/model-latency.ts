/**
 * Model latency on CPU for the test model: one intent (images + instruction -> backbone -> intent
 * bridge) and one action chunk at 1, 4 and 10 Euler steps, p50/p99 over repeated runs, in both
 * threading modes. Writes out/bench/model.json.
 *
 *   npx tsx tests/bench/model-latency.ts [--iterations 200] [--model models/test-tiny] [--provider cpu]
 */
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { unwrap } from "../../lib/errors.ts";
import { BlmModel } from "../../models/runtime/model.ts";
import { GaussianNoise } from "../../models/runtime/random.ts";
import type { ExecutionProvider } from "../../models/runtime/session.ts";

const ROOT = resolve(import.meta.dirname, "../..");

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

async function time(n: number, warmup: number, fn: () => Promise<void>) {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50_ms: r(percentile(ms, 50)),
    p99_ms: r(percentile(ms, 99)),
    mean_ms: r(ms.reduce((a, b) => a + b, 0) / n),
    n,
  };
}

export async function runModelBench(
  opts: { iterations?: number; model?: string; provider?: ExecutionProvider; out?: string } = {},
) {
  const iterations = opts.iterations ?? 200;
  const dir = resolve(ROOT, opts.model ?? "models/test-tiny");
  const out = resolve(ROOT, opts.out ?? "out/bench/model.json");
  const provider = opts.provider ?? "cpu";
  const results: Record<string, unknown> = {};
  for (const threading of ["worker", "inline"] as const) {
    const model = unwrap(
      await BlmModel.load(dir, {
        session: {
          execution_provider: provider,
          threading,
          intra_op_threads: 1,
          inter_op_threads: 1,
        },
        logger: pino({ level: "warn" }),
      }),
    );
    const { image, backbone } = model.manifest;
    const rng = new GaussianNoise(0);
    const images = Object.fromEntries(
      backbone.cameras.map((cam) => [
        cam,
        {
          width: 128,
          height: 128,
          encoding: "rgb8" as const,
          data: Uint8Array.from({ length: 128 * 128 * 3 }, () => Math.floor(rng.uniform() * 256)),
        },
      ]),
    );
    const intent = unwrap(
      await model.encode({ images, instruction: "stack the red cube on the green cube" }),
    );
    const entry: Record<string, unknown> = {
      intent: await time(iterations, 10, async () => {
        unwrap(await model.encode({ images, instruction: "stack the red cube on the green cube" }));
      }),
      image_input: `${backbone.cameras.length} x 128x128 rgb8 -> ${image.width}x${image.height}`,
    };
    const sampler = unwrap(model.createSampler("panda", { seed: 1 }));
    const state = new Float32Array(8).fill(0.1);
    state[3] = -1.5;
    state[5] = 1.5;
    state[7] = 0.02;
    for (const steps of [1, 4, 10]) {
      entry[`chunk_${steps}_steps`] = await time(iterations, 10, async () => {
        unwrap(await sampler.sample({ state, intent, steps }));
      });
    }
    entry.providers = model.providers;
    results[threading] = entry;
    await model.dispose();
  }
  const report = {
    bench: "model-latency",
    model: dir.slice(ROOT.length + 1),
    execution_provider: provider,
    threads: { intra_op: 1, inter_op: 1 },
    machine: {
      cpus: availableParallelism(),
      cpu: cpus()[0]?.model ?? "unknown",
      node: process.version,
    },
    onnxruntime_node: (await import("onnxruntime-node/package.json", { with: { type: "json" } }))
      .default.version,
    note: "p50/p99 of wall time per call on the calling thread; worker = sessions in a worker thread (default), inline = on the event loop",
    results,
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(report, null, 2) + "\n");
  return { out, report };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      iterations: { type: "string" },
      model: { type: "string" },
      provider: { type: "string" },
      out: { type: "string" },
    },
  });
  const { out, report } = await runModelBench({
    iterations: values.iterations ? Number(values.iterations) : undefined,
    model: values.model,
    provider: values.provider as ExecutionProvider | undefined,
    out: values.out,
  });
  console.log(JSON.stringify(report.results, null, 2));
  console.log(`wrote ${out}`);
}
