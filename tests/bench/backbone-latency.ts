/**
 * Qwen2.5-VL backbone latency (issue 7): camera images + instruction -> layer-k hidden states, on
 * the tiny exported config (models/qwen-tiny: vision tower 2 blocks × 32 wide, 3 decoder layers ×
 * 64 wide, k = 2) or any export folder (--dir). 128×128 camera images (resized to 140×140, 25
 * visual tokens each), at 1 and 2 images. Reports per stage: `prepare` (resize, normalize,
 * patches, chat template, tokenizer, window index, M-RoPE ids: TypeScript) and `run` (the vision,
 * embed and language graphs in onnxruntime-node), p50/p90/mean in ms. Writes out/bench/backbone.json.
 * Figures, not assertions.
 *
 *   npx tsx tests/bench/backbone-latency.ts [--dir models/qwen-tiny] [--iterations 30]
 *       [--provider cpu|webgpu|cuda|auto] [--threads 1] [--threading inline|worker] [--size 128]
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { unwrap } from "../../lib/errors.ts";
import { createLogger } from "../../lib/log.ts";
import type { RawImage } from "../../models/runtime/image.ts";
import { QwenBackbone } from "../../models/runtime/qwen/backbone.ts";
import type { ExecutionProvider } from "../../models/runtime/session.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const r3 = (x: number) => Math.round(x * 1000) / 1000;

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return {
    p50_ms: r3(q(0.5)),
    p90_ms: r3(q(0.9)),
    mean_ms: r3(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

function image(size: number, seed: number): RawImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31 + ((i >> 5) ^ seed)) & 255;
  return { width: size, height: size, encoding: "rgb8", data };
}

export interface BackboneBenchOptions {
  dir?: string;
  iterations?: number;
  provider?: ExecutionProvider;
  threads?: number;
  threading?: "inline" | "worker";
  size?: number;
  out?: string;
}

export async function runBackboneLatencyBench(o: BackboneBenchOptions = {}) {
  const dir = resolve(o.dir ?? resolve(ROOT, "models/qwen-tiny"));
  const iterations = o.iterations ?? 30;
  const size = o.size ?? 128;
  const threads = o.threads ?? 1;
  const threading = o.threading ?? "inline";
  const out = o.out ?? resolve(ROOT, "out/bench/backbone.json");
  const bb = unwrap(
    await QwenBackbone.load(dir, {
      session: { execution_provider: o.provider ?? "cpu", intra_op_threads: threads, threading },
      logger: createLogger("bench", "warn"),
    }),
  );
  const instruction = "pick up the red cube and move it to the green target";
  const results = [];
  try {
    for (const n of [1, 2]) {
      const images = Array.from({ length: n }, (_, i) => image(size, i));
      const prepare: number[] = [];
      const run: number[] = [];
      const total: number[] = [];
      let tokens = 0;
      for (let i = 0; i < iterations + 3; i++) {
        const t0 = performance.now();
        const inputs = unwrap(bb.prepare({ images, instruction }));
        const t1 = performance.now();
        const hidden = unwrap(await bb.run(inputs));
        const t2 = performance.now();
        tokens = hidden.length;
        if (i < 3) continue; // warm-up
        prepare.push(t1 - t0);
        run.push(t2 - t1);
        total.push(t2 - t0);
      }
      results.push({
        images: n,
        image_size: size,
        tokens,
        prepare: stats(prepare),
        run: stats(run),
        total: stats(total),
      });
    }
  } finally {
    await bb.dispose();
  }
  const report = {
    bench: "backbone-latency",
    model: dir,
    spec: {
      layer_k: bb.spec.layer_k,
      hidden_dim: bb.spec.hidden_dim,
      dtype: bb.spec.dtype,
      provenance: bb.spec.provenance,
    },
    provider: bb.provider,
    intra_op_threads: threads,
    threading,
    iterations,
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    node: process.version,
    results,
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(report, null, 2) + "\n");
  return report;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      dir: { type: "string" },
      iterations: { type: "string", default: "30" },
      provider: { type: "string", default: "cpu" },
      threads: { type: "string", default: "1" },
      threading: { type: "string", default: "inline" },
      size: { type: "string", default: "128" },
      out: { type: "string" },
    },
  });
  const report = await runBackboneLatencyBench({
    dir: values.dir,
    iterations: Number(values.iterations),
    provider: values.provider as ExecutionProvider,
    threads: Number(values.threads),
    threading: values.threading as "inline" | "worker",
    size: Number(values.size),
    out: values.out,
  });
  for (const r of report.results)
    console.log(
      `${r.images} image(s), ${r.tokens} tokens: total p50 ${r.total.p50_ms} ms (prepare ${r.prepare.p50_ms}, run ${r.run.p50_ms})`,
    );
}
