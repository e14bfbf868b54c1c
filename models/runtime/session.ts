import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { InferenceSession } from "onnxruntime-node";
import { z } from "zod";
import { fail, ok, type Result } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";

/**
 * Sessions over onnxruntime-node: execution provider choice (DESIGN decision 9), capped thread
 * counts, and where inference runs (decision 10).
 *
 * onnxruntime-node 1.30's `session.run()` returns a promise but computes synchronously on the
 * calling thread (inside a setImmediate), so it blocks the event loop for the whole run. The
 * default `threading: "worker"` therefore hosts the sessions in a worker thread; tensors cross
 * through SharedArrayBuffers that are allocated once and reused (grown only for a larger batch), so
 * a run posts two small messages and copies its inputs twice (into the shared buffer, then into a
 * worker-local one, as onnxruntime-node does not take shared memory) and its outputs once.
 * `threading: "inline"` runs on the calling thread (simplest, blocks while it computes).
 */

export const ExecutionProviderSchema = z.enum(["auto", "cuda", "webgpu", "cpu"]);
export type ExecutionProvider = z.infer<typeof ExecutionProviderSchema>;

export const SessionOptionsSchema = z.object({
  execution_provider: ExecutionProviderSchema.default("auto").describe(
    "auto: CUDA when its provider loads, else CPU (logged); cuda/webgpu: that provider or an error; cpu",
  ),
  device_id: z.number().int().nonnegative().default(0).describe("GPU index for cuda"),
  intra_op_threads: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe("threads inside one operator"),
  inter_op_threads: z.number().int().min(1).max(64).default(1).describe("threads across operators"),
  graph_optimization_level: z.enum(["disabled", "basic", "extended", "all"]).default("all"),
  threading: z
    .enum(["worker", "inline"])
    .default("worker")
    .describe("run sessions in a worker thread or inline"),
});
export type SessionOptions = z.infer<typeof SessionOptionsSchema>;
export type SessionOptionsInput = z.input<typeof SessionOptionsSchema>;

/** The provider a session actually runs on. */
export type ActiveProvider = "cuda" | "webgpu" | "cpu";

export type TensorType = "float32" | "int64";
export type TensorArray = Float32Array | BigInt64Array;
export interface TensorData {
  readonly type: TensorType;
  readonly dims: readonly number[];
  readonly data: TensorArray;
}

/** What the graph declares for one input or output (dims: number, or symbolic name). */
export interface IOMeta {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

/**
 * One loaded graph. `run` resolves to outputs whose `data` may be views on buffers reused by the
 * next run of the same session: read or copy them before running it again. Runs of one session
 * are serialized.
 */
export interface GraphSession {
  readonly provider: ActiveProvider;
  readonly inputs: readonly IOMeta[];
  readonly outputs: readonly IOMeta[];
  run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>>;
  dispose(): Promise<void>;
}

const require = createRequire(import.meta.url);
const ORT_PATH = require.resolve("onnxruntime-node");

/** The folder holding onnxruntime-node's native binding and (when installed) its provider libraries. */
export function ortBinaryDir(): string {
  const pkg = dirname(require.resolve("onnxruntime-node/package.json"));
  return join(pkg, "bin", "napi-v6", process.platform, process.arch);
}

export const CUDA_PROVIDER_FILES = [
  "libonnxruntime_providers_shared.so",
  "libonnxruntime_providers_cuda.so",
];

export const CUDA_INSTALL_HINT =
  "install them on a machine with internet access: remove `onnxruntime-node-install=skip` from .npmrc and run " +
  "`ONNXRUNTIME_NODE_INSTALL=1 npm rebuild onnxruntime-node` (fetches the CUDA 12 provider files from NuGet; " +
  "needs CUDA 12 and cuDNN 9 on the machine), or set execution_provider to auto, webgpu or cpu";

/** Whether the CUDA provider's shared libraries are present beside the binding (they are not bundled). */
export function probeCudaFiles(dir = ortBinaryDir()): {
  present: boolean;
  missing: string[];
  dir: string;
} {
  const missing = CUDA_PROVIDER_FILES.filter((f) => !existsSync(join(dir, f)));
  return { present: missing.length === 0, missing, dir };
}

function ortSessionOptions(
  o: SessionOptions,
  provider: ActiveProvider,
): InferenceSession.SessionOptions {
  const eps: InferenceSession.SessionOptions["executionProviders"] =
    provider === "cuda"
      ? [{ name: "cuda", deviceId: o.device_id }, "cpu"]
      : provider === "webgpu"
        ? ["webgpu", "cpu"]
        : ["cpu"];
  return {
    executionProviders: eps,
    intraOpNumThreads: o.intra_op_threads,
    interOpNumThreads: o.inter_op_threads,
    graphOptimizationLevel: o.graph_optimization_level,
    executionMode: "sequential",
  };
}

// ---------------------------------------------------------------------------------------------
// Hosts: where sessions live.

/**
 * What a session is created from: the graph's bytes, or its file path (needed when the graph keeps
 * its weights in external data files beside it, as large exported backbones do).
 */
export type ModelSource = Uint8Array | string;

/** Creates sessions; one host is one thread of inference (the caller's, or one worker). */
export interface SessionHost {
  readonly kind: "worker" | "inline";
  create(
    bytes: ModelSource,
    provider: ActiveProvider,
    options: SessionOptions,
  ): Promise<GraphSession>;
  close(): Promise<void>;
}

type OrtModule = typeof import("onnxruntime-node");
let ortModule: OrtModule | undefined;
async function ort(): Promise<OrtModule> {
  const m = (await import("onnxruntime-node")) as unknown as OrtModule & { default?: OrtModule };
  ortModule ??= m.default ?? m; // CommonJS interop differs between node, vitest and tsx
  return ortModule;
}

function toMeta(list: readonly InferenceSession.ValueMetadata[]): IOMeta[] {
  return list.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: [...m.shape] }
      : { name: m.name, type: "non-tensor", shape: [] },
  );
}

class InlineSession implements GraphSession {
  readonly inputs: IOMeta[];
  readonly outputs: IOMeta[];
  private queue: Promise<unknown> = Promise.resolve();
  constructor(
    private readonly session: InferenceSession,
    private readonly ortm: OrtModule,
    readonly provider: ActiveProvider,
  ) {
    this.inputs = toMeta(session.inputMetadata);
    this.outputs = toMeta(session.outputMetadata);
  }
  run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    const next = this.queue.then(async () => {
      const t: Record<string, InstanceType<OrtModule["Tensor"]>> = {};
      for (const [name, f] of Object.entries(feeds))
        t[name] = new this.ortm.Tensor(f.type, f.data, f.dims);
      const out = await this.session.run(t);
      const res: Record<string, TensorData> = {};
      for (const [name, v] of Object.entries(out))
        res[name] = { type: v.type as TensorType, dims: v.dims, data: v.data as TensorArray };
      return res;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export class InlineHost implements SessionHost {
  readonly kind = "inline" as const;
  async create(
    bytes: ModelSource,
    provider: ActiveProvider,
    options: SessionOptions,
  ): Promise<GraphSession> {
    const ortm = await ort();
    const so = ortSessionOptions(options, provider);
    const s =
      typeof bytes === "string"
        ? await ortm.InferenceSession.create(bytes, so)
        : await ortm.InferenceSession.create(bytes, so);
    return new InlineSession(s, ortm, provider);
  }
  async close(): Promise<void> {}
}

// The worker's code, evaluated as CommonJS inside the worker (no TypeScript loader needed there).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
// loaded on first use: a worker that only runs tasks (the image decoder's) never loads onnxruntime
let ortModule;
const ort = () => (ortModule ??= require(workerData.ortPath));
const sessions = new Map();
const staging = new Map();
const tasks = new Map();
let tsxRegistered = false;
// the ArrayBuffers under a task's result (its typed arrays, a few levels down): moved, not copied;
// a task returns only arrays it made for that result
const transferables = (v, out = [], depth = 0) => {
  if (ArrayBuffer.isView(v)) {
    if (v.buffer instanceof ArrayBuffer && !out.includes(v.buffer)) out.push(v.buffer);
  } else if (v && typeof v === "object" && depth < 4) {
    for (const x of Object.values(v)) transferables(x, out, depth + 1);
  }
  return out;
};
const ctor = { float32: Float32Array, int64: BigInt64Array };
parentPort.on("message", async (msg) => {
  try {
    if (msg.op === "create") {
      const s = await ort().InferenceSession.create(msg.path ?? new Uint8Array(msg.bytes), msg.options);
      sessions.set(msg.sid, s);
      const meta = (l) => l.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: "non-tensor", shape: [] }));
      parentPort.postMessage({ id: msg.id, ok: true, inputs: meta(s.inputMetadata), outputs: meta(s.outputMetadata) });
    } else if (msg.op === "run") {
      const s = sessions.get(msg.sid);
      const feeds = {};
      for (const [name, f] of Object.entries(msg.feeds)) {
        // onnxruntime-node rejects views on SharedArrayBuffers: copy into a worker-local buffer,
        // allocated once per session and input and grown when a larger batch arrives.
        const key = msg.sid + ":" + name;
        let local = staging.get(key);
        if (!local || local.type !== f.type || local.data.length < f.length) {
          local = { type: f.type, data: new ctor[f.type](f.length) };
          staging.set(key, local);
        }
        const view = local.data.length === f.length ? local.data : local.data.subarray(0, f.length);
        view.set(new ctor[f.type](f.buffer, 0, f.length));
        feeds[name] = new (ort().Tensor)(f.type, view, f.dims);
      }
      const out = await s.run(feeds);
      const result = {};
      for (const [name, t] of Object.entries(out)) {
        const d = t.data;
        let buf = msg.outputs[name];
        if (!buf || buf.byteLength < d.byteLength) buf = new SharedArrayBuffer(Math.max(8, d.byteLength));
        new Uint8Array(buf, 0, d.byteLength).set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
        result[name] = { type: t.type, dims: t.dims, buffer: buf, length: d.length };
      }
      parentPort.postMessage({ id: msg.id, ok: true, outputs: result });
    } else if (msg.op === "load") {
      // a module of this package, run in this thread (TypeScript sources through tsx's loader)
      if (msg.url.endsWith(".ts") && !tsxRegistered) {
        const { register } = await import(workerData.tsxApi);
        register();
        tsxRegistered = true;
      }
      const mod = await import(msg.url);
      tasks.set(msg.tid, await mod[msg.factory](...msg.args));
      parentPort.postMessage({ id: msg.id, ok: true });
    } else if (msg.op === "call") {
      const value = await tasks.get(msg.tid)[msg.method](...msg.args);
      parentPort.postMessage({ id: msg.id, ok: true, value }, transferables(value));
    } else if (msg.op === "unload") {
      tasks.delete(msg.tid);
      parentPort.postMessage({ id: msg.id, ok: true });
    } else if (msg.op === "dispose") {
      const s = sessions.get(msg.sid);
      sessions.delete(msg.sid);
      if (s) await s.release();
      parentPort.postMessage({ id: msg.id, ok: true });
    }
  } catch (e) {
    parentPort.postMessage({ id: msg.id, ok: false, error: String((e && e.message) || e) });
  }
});
`;

interface WireTensor {
  type: TensorType;
  dims: number[];
  buffer: SharedArrayBuffer;
  length: number;
}
type Reply =
  { id: number; ok: true; [k: string]: unknown } | { id: number; ok: false; error: string };

function typedView(type: TensorType, buffer: SharedArrayBuffer, length: number): TensorArray {
  return type === "float32"
    ? new Float32Array(buffer, 0, length)
    : new BigInt64Array(buffer, 0, length);
}

class WorkerSession implements GraphSession {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly inStage = new Map<string, SharedArrayBuffer>();
  private readonly outStage = new Map<string, SharedArrayBuffer>();
  constructor(
    private readonly host: WorkerHost,
    private readonly sid: number,
    readonly provider: ActiveProvider,
    readonly inputs: IOMeta[],
    readonly outputs: IOMeta[],
  ) {}

  run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    const next = this.queue.then(async () => {
      const wire: Record<string, WireTensor> = {};
      for (const [name, f] of Object.entries(feeds)) {
        let buf = this.inStage.get(name);
        if (!buf || buf.byteLength < f.data.byteLength) {
          buf = new SharedArrayBuffer(Math.max(8, f.data.byteLength));
          this.inStage.set(name, buf);
        }
        if (f.type === "float32")
          new Float32Array(buf, 0, f.data.length).set(f.data as Float32Array);
        else new BigInt64Array(buf, 0, f.data.length).set(f.data as BigInt64Array);
        wire[name] = { type: f.type, dims: [...f.dims], buffer: buf, length: f.data.length };
      }
      const outputs: Record<string, SharedArrayBuffer> = {};
      for (const [k, v] of this.outStage) outputs[k] = v;
      const reply = await this.host.call({ op: "run", sid: this.sid, feeds: wire, outputs });
      const res: Record<string, TensorData> = {};
      for (const [name, t] of Object.entries(reply.outputs as Record<string, WireTensor>)) {
        this.outStage.set(name, t.buffer);
        res[name] = { type: t.type, dims: t.dims, data: typedView(t.type, t.buffer, t.length) };
      }
      return res;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  async dispose(): Promise<void> {
    await this.queue;
    await this.host.call({ op: "dispose", sid: this.sid }).catch(() => undefined);
  }
}

/** An object living in a worker thread (WorkerHost.loadTask). */
export interface WorkerTask {
  call(method: string, ...args: unknown[]): Promise<unknown>;
  dispose(): Promise<void>;
}

/**
 * tsx's ESM register API (a file URL), for workers that load this package's TypeScript sources
 * when it runs unbuilt (bin/blm-agent.js and the tests run it through tsx or vitest); undefined
 * when tsx is not installed (a built package loads .js modules and needs no loader).
 */
function tsxApiUrl(): string | undefined {
  try {
    const pkgFile = require.resolve("tsx/package.json");
    const pkg = JSON.parse(readFileSync(pkgFile, "utf8")) as {
      exports: Record<string, { import?: { default?: string } }>;
    };
    const rel = pkg.exports["./esm/api"]?.import?.default;
    return rel ? pathToFileURL(join(dirname(pkgFile), rel)).href : undefined;
  } catch {
    return undefined;
  }
}

/** One worker thread hosting any number of sessions and tasks (they run one at a time, in order). */
export class WorkerHost implements SessionHost {
  readonly kind = "worker" as const;
  private worker: Worker | undefined;
  private nextId = 1;
  private nextSid = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: Reply & { ok: true }) => void; reject: (e: Error) => void }
  >();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath: ORT_PATH, tsxApi: tsxApiUrl() },
    });
    w.unref(); // an idle model must not keep the process alive
    w.on("message", (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r);
      else p.reject(new Error(r.error));
    });
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.worker = undefined;
    };
    w.on("error", failAll);
    w.on("exit", (code) => failAll(new Error(`inference worker exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  call(msg: Record<string, unknown>): Promise<Reply & { ok: true }> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) w.ref();
      w.postMessage({ ...msg, id });
    }).finally(() => {
      if (this.pending.size === 0) this.worker?.unref();
    }) as Promise<Reply & { ok: true }>;
  }

  async create(
    bytes: ModelSource,
    provider: ActiveProvider,
    options: SessionOptions,
  ): Promise<GraphSession> {
    const sid = this.nextSid++;
    // the worker receives its own copy of the model bytes, or the path to open
    const source = typeof bytes === "string" ? { path: bytes } : { bytes: bytes.slice().buffer };
    const r = await this.call({
      op: "create",
      sid,
      ...source,
      options: ortSessionOptions(options, provider),
    });
    return new WorkerSession(this, sid, provider, r.inputs as IOMeta[], r.outputs as IOMeta[]);
  }

  /**
   * Runs `factory(...args)` of the module at `url` inside this worker thread and returns a handle
   * whose `call(method, ...args)` invokes the object it made there. Arguments and results cross by
   * structured clone; typed arrays in a result are transferred. Used for CPU-heavy preparation
   * that must not run on the main thread (the Qwen preprocessing, compressed-image decoding).
   */
  async loadTask(url: string, factory: string, args: readonly unknown[]): Promise<WorkerTask> {
    const tid = this.nextSid++;
    await this.call({ op: "load", tid, url, factory, args });
    return {
      call: async (method, ...margs) =>
        (await this.call({ op: "call", tid, method, args: margs })).value,
      dispose: async () => {
        await this.call({ op: "unload", tid }).catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

export function createHost(options: SessionOptions): SessionHost {
  return options.threading === "worker" ? new WorkerHost() : new InlineHost();
}

// ---------------------------------------------------------------------------------------------
// Provider choice.

export interface ProviderDeps {
  /** Overridable for tests: whether the CUDA provider files are present. */
  probeCuda?: () => { present: boolean; missing: string[]; dir: string };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split("\n")[0]!
    .trim();
}

/**
 * Creates a session on the configured provider. `auto` tries CUDA and falls back to CPU with a
 * logged reason; `cuda` and `webgpu` fail with E_PROVIDER_UNAVAILABLE and say why.
 */
export async function openSession(
  host: SessionHost,
  bytes: ModelSource,
  graph: string,
  options: SessionOptions,
  log: Logger,
  deps: ProviderDeps = {},
): Promise<Result<GraphSession>> {
  const mode = options.execution_provider;
  const probe = deps.probeCuda ?? probeCudaFiles;
  /** Ok(session), or the first line of onnxruntime's error. */
  const attempt = async (
    p: ActiveProvider,
  ): Promise<{ ok: true; value: GraphSession } | { ok: false; reason: string }> => {
    try {
      return { ok: true, value: await host.create(bytes, p, options) };
    } catch (e) {
      return { ok: false, reason: firstLine(e) };
    }
  };

  if (mode === "cuda" || mode === "auto") {
    const files = probe();
    let reason: string;
    if (!files.present) {
      reason =
        `execution_provider cuda: onnxruntime-node's CUDA provider files are not installed ` +
        `(missing ${files.missing.join(", ")} in ${files.dir}); ${CUDA_INSTALL_HINT}`;
    } else {
      const cuda = await attempt("cuda");
      if (cuda.ok) {
        log.info(
          { graph, provider: "cuda", device_id: options.device_id, threading: host.kind },
          "execution provider",
        );
        return ok(cuda.value);
      }
      reason =
        `execution_provider cuda: the CUDA provider did not load (${cuda.reason}); check the driver, ` +
        `CUDA 12 and cuDNN 9, or set execution_provider to auto or cpu`;
    }
    if (mode === "cuda") return fail("E_PROVIDER_UNAVAILABLE", reason, { graph, provider: "cuda" });
    log.warn(
      { graph, provider: "cpu", requested: "auto", reason },
      "CUDA unavailable, falling back to CPU",
    );
  }

  const provider: ActiveProvider = mode === "webgpu" ? "webgpu" : "cpu";
  const res = await attempt(provider);
  if (!res.ok) {
    if (provider === "webgpu")
      return fail(
        "E_PROVIDER_UNAVAILABLE",
        `execution_provider webgpu: no usable WebGPU adapter (${res.reason}); set execution_provider to cpu`,
        {
          graph,
          provider,
        },
      );
    return fail("E_MODEL_CORRUPT", `graph ${graph}: onnxruntime cannot load it: ${res.reason}`, {
      graph,
    });
  }
  log.info(
    { graph, provider, intra_op_threads: options.intra_op_threads, threading: host.kind },
    "execution provider",
  );
  return ok(res.value);
}

/** Runs a graph, turning onnxruntime's exceptions into E_MODEL_INPUT naming the graph. */
export async function runGraph(
  s: GraphSession,
  name: string,
  feeds: Record<string, TensorData>,
): Promise<Result<Record<string, TensorData>>> {
  try {
    return ok(await s.run(feeds));
  } catch (e) {
    return fail("E_MODEL_INPUT", `${name} run failed: ${(e as Error).message}`, { graph: name });
  }
}
