import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unwrap } from "../../../lib/errors.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import {
  InlineHost,
  openSession,
  probeCudaFiles,
  SessionOptionsSchema,
  WorkerHost,
} from "../../../models/runtime/session.ts";
import { memoryLogger, MODEL_DIR } from "./support.ts";

const cudaInstalled = probeCudaFiles().present;

describe("execution provider choice", () => {
  it.skipIf(cudaInstalled)("auto falls back to CPU and logs why CUDA is unavailable", async () => {
    const { log, records } = memoryLogger();
    const model = unwrap(
      await BlmModel.load(MODEL_DIR, { session: { execution_provider: "auto" }, logger: log }),
    );
    expect(model.providers).toEqual({ backbone: "cpu", intent_bridge: "cpu", denoiser: "cpu" });
    const warns = records.filter((r) => r.msg === "CUDA unavailable, falling back to CPU");
    expect(warns).toHaveLength(1); // logged once per model, not per graph
    const warn = warns[0];
    expect(warn).toBeDefined();
    expect(warn!.level).toBe(40);
    expect(String(warn!.reason)).toContain("libonnxruntime_providers_cuda.so");
    expect(records.some((r) => r.msg === "execution provider" && r.provider === "cpu")).toBe(true);
    await model.dispose();
  });

  it.skipIf(cudaInstalled)(
    "cuda fails with E_PROVIDER_UNAVAILABLE saying the provider files are missing and how to install them",
    async () => {
      const r = await BlmModel.load(MODEL_DIR, {
        session: { execution_provider: "cuda" },
        logger: memoryLogger().log,
      });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("E_PROVIDER_UNAVAILABLE");
        expect(r.error.message).toContain("CUDA provider files are not installed");
        expect(r.error.message).toContain("libonnxruntime_providers_shared.so");
        expect(r.error.message).toContain(
          "ONNXRUNTIME_NODE_INSTALL=1 npm rebuild onnxruntime-node",
        );
        expect(r.error.message).toContain("onnxruntime-node-install=skip");
      }
    },
  );

  it("wraps onnxruntime's own CUDA load failure: E_PROVIDER_UNAVAILABLE in cuda mode, CPU fallback in auto", async () => {
    // Pretend the files are present so onnxruntime itself tries (and, without CUDA, fails) to load them.
    const probeCuda = () => ({ present: true, missing: [], dir: "(test)" });
    const bytes = await readFile(join(MODEL_DIR, "intent_bridge.onnx"));
    const host = new InlineHost();
    const opts = SessionOptionsSchema.parse({ execution_provider: "cuda" });
    const { log, records } = memoryLogger();
    const r = await openSession(host, bytes, "intent_bridge", opts, log, { probeCuda });
    if (r.ok) {
      // a machine with a working CUDA provider
      expect(r.value.provider).toBe("cuda");
      return;
    }
    expect(r.error.code).toBe("E_PROVIDER_UNAVAILABLE");
    expect(r.error.message).toContain("the CUDA provider did not load");
    const a = unwrap(
      await openSession(
        host,
        bytes,
        "intent_bridge",
        { ...opts, execution_provider: "auto" },
        log,
        { probeCuda },
      ),
    );
    expect(a.provider).toBe("cpu");
    expect(records.some((x) => x.msg === "CUDA unavailable, falling back to CPU")).toBe(true);
  });

  it("webgpu runs on WebGPU where an adapter exists and fails with E_PROVIDER_UNAVAILABLE where none does", async () => {
    const r = await BlmModel.load(MODEL_DIR, {
      session: { execution_provider: "webgpu" },
      logger: memoryLogger().log,
      graphs: ["denoiser"],
    });
    if (r.ok) {
      expect(r.value.providers.denoiser).toBe("webgpu");
      await r.value.dispose();
    } else {
      expect(r.error.code).toBe("E_PROVIDER_UNAVAILABLE");
      expect(r.error.message).toContain("webgpu");
    }
  });

  it("rejects out-of-range session options with E_CONFIG", async () => {
    const r = await BlmModel.load(MODEL_DIR, {
      session: { intra_op_threads: 0 },
      logger: memoryLogger().log,
    });
    expect(r.ok || r.error.code).toBe("E_CONFIG");
  });
});

describe("inference threading", () => {
  /** Runs the bridge on a large batch while a 2 ms interval counts event-loop turns. */
  async function ticksDuringRun(
    threading: "worker" | "inline",
  ): Promise<{ ticks: number; ms: number }> {
    const bytes = await readFile(join(MODEL_DIR, "intent_bridge.onnx"));
    const host = threading === "worker" ? new WorkerHost() : new InlineHost();
    const s = unwrap(
      await openSession(
        host,
        bytes,
        "intent_bridge",
        SessionOptionsSchema.parse({ execution_provider: "cpu", threading }),
        memoryLogger().log,
      ),
    );
    const B = 256;
    const feeds = {
      hidden_states: {
        type: "float32" as const,
        dims: [B, 64, 64],
        data: new Float32Array(B * 64 * 64).fill(0.1),
      },
      hidden_mask: {
        type: "int64" as const,
        dims: [B, 64],
        data: new BigInt64Array(B * 64).fill(1n),
      },
    };
    await s.run(feeds); // warm-up
    let ticks = 0;
    const iv = setInterval(() => ticks++, 2);
    const t0 = performance.now();
    const out = await s.run(feeds);
    const ms = performance.now() - t0;
    clearInterval(iv);
    expect(out.intent!.dims).toEqual([B, 8, 64]);
    await s.dispose();
    await host.close();
    return { ticks, ms };
  }

  it("keeps the event loop turning during a run in a worker (and shows inline runs block it)", async () => {
    const worker = await ticksDuringRun("worker");
    const inline = await ticksDuringRun("inline");
    console.log("event-loop ticks during one run", { worker, inline });
    // inline: the run computes synchronously inside one event-loop turn
    expect(inline.ticks).toBeLessThanOrEqual(1);
    if (worker.ms > 30) expect(worker.ticks).toBeGreaterThanOrEqual(3);
  });
});
