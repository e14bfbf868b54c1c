import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fail, fromWire, ok, type Result, type WireResult } from "../../../lib/errors.ts";
import type { Logger } from "../../../lib/log.ts";
import { createLogger } from "../../../lib/log.ts";
import { compareIO, sha256Hex } from "../graph.ts";
import type { Hidden } from "../model.ts";
import { allFinite } from "../sampler.ts";
import {
  createHost,
  openSession,
  SessionOptionsSchema,
  type ActiveProvider,
  type GraphSession,
  type ProviderDeps,
  type SessionHost,
  type SessionOptions,
  type SessionOptionsInput,
  type WorkerTask,
  WorkerHost,
  runGraph,
} from "../session.ts";
import { prepareQwenInputs, type QwenEncodeRequest, type QwenInputs } from "./prepare.ts";
import {
  QWEN_GRAPH_NAMES,
  QwenBackboneSchema,
  type QwenBackboneSpec,
  type QwenGraphName,
} from "./schema.ts";
import { HfTokenizer } from "./tokenizer.ts";

/**
 * The Qwen2.5-VL backbone truncated after block k: camera images + instruction -> hidden states
 * [tokens, D] and mask (all ones for one unpadded sequence), through three ONNX graphs:
 *
 *   images --preprocess--> pixel_values, grids --vision--> image embeddings
 *   instruction --chat template, tokenizer, pad expansion--> input_ids --embed--> embeddings
 *   embeddings with image rows spliced in at <|image_pad|>, M-RoPE position ids --language--> hidden
 *
 * Everything data-dependent (grids, window index, cu_seqlens, position ids) is computed here
 * (DESIGN decision 11, `prepare.ts`); the graphs only do tensor math. With `threading: "worker"`
 * that preparation runs in the inference worker too, so `encode` keeps the main thread's event
 * loop free (decision 10); `prepare` always runs on the calling thread.
 */

export interface QwenBackboneOptions {
  /** Execution provider, threads, worker/inline (SessionOptionsSchema); defaults: auto, 1 thread, worker. */
  session?: SessionOptionsInput;
  logger?: Logger;
  /** Test seams. */
  deps?: ProviderDeps;
  verifyHash?: boolean;
  /** Share a host (thread) with other graphs, e.g. the intent bridge's; closed by its owner. */
  host?: SessionHost;
}

export type { QwenEncodeRequest, QwenInputs } from "./prepare.ts";

async function readSection(dir: string): Promise<Result<QwenBackboneSpec>> {
  let raw: unknown;
  let file = join(dir, "backbone.json");
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch {
    file = join(dir, "manifest.json");
    try {
      const m = JSON.parse(await readFile(file, "utf8")) as { backbone?: { qwen2_5_vl?: unknown } };
      raw = m.backbone?.qwen2_5_vl;
    } catch (e) {
      return fail(
        "E_MODEL_MISSING",
        `${dir} has neither backbone.json nor a readable manifest.json: ${(e as Error).message}`,
      );
    }
    if (raw === undefined)
      return fail("E_MODEL_CORRUPT", `${file} has no backbone.qwen2_5_vl section`);
  }
  const parsed = QwenBackboneSchema.safeParse(raw);
  if (!parsed.success)
    return fail(
      "E_MODEL_CORRUPT",
      `${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      { file },
    );
  return ok(parsed.data);
}

async function loadQwenGraph(
  dir: string,
  name: QwenGraphName,
  spec: QwenBackboneSpec["graphs"][QwenGraphName],
  host: SessionHost,
  options: SessionOptions,
  log: Logger,
  deps: ProviderDeps | undefined,
  verifyHash: boolean,
): Promise<Result<GraphSession>> {
  const file = join(dir, spec.file);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    return fail("E_MODEL_MISSING", `graph ${name}: cannot read ${file}: ${(e as Error).message}`, {
      graph: name,
      file,
    });
  }
  if (verifyHash) {
    const actual = sha256Hex(bytes);
    if (actual !== spec.sha256)
      return fail(
        "E_MODEL_HASH",
        `graph ${name}: ${file} has sha256 ${actual}, the manifest says ${spec.sha256}`,
        {
          graph: name,
          file,
        },
      );
  }
  for (const ext of spec.external_data ?? []) {
    const path = join(dir, ext.file);
    const size = await stat(path).then(
      (s) => s.size,
      () => -1,
    );
    if (size < 0)
      return fail("E_MODEL_MISSING", `graph ${name}: weights ${path} are missing`, {
        graph: name,
        file: path,
      });
    if (size !== ext.bytes)
      return fail(
        "E_MODEL_CORRUPT",
        `graph ${name}: weights ${path} have ${size} bytes, the manifest says ${ext.bytes}`,
        {
          graph: name,
          file: path,
        },
      );
  }
  // a graph with external weights is opened by path so onnxruntime finds its .data file
  const source = spec.external_data?.length ? file : bytes;
  const session = await openSession(host, source, `qwen.${name}`, options, log, deps);
  if (!session.ok) return session;
  const problems = [
    ...compareIO(`qwen.${name}`, "input", spec.inputs, session.value.inputs),
    ...compareIO(`qwen.${name}`, "output", spec.outputs, session.value.outputs),
  ];
  if (problems.length > 0) {
    await session.value.dispose();
    return fail("E_MODEL_MISMATCH", problems.join("; "), { graph: name, problems });
  }
  return session;
}

export class QwenBackbone {
  private constructor(
    readonly dir: string,
    readonly spec: QwenBackboneSpec,
    private readonly sessions: Record<QwenGraphName, GraphSession>,
    private readonly ownHost: SessionHost | undefined,
    readonly tokenizer: HfTokenizer,
    readonly log: Logger,
    /** The preparation living in the worker thread (threading "worker"). */
    private readonly preparer: WorkerTask | undefined,
  ) {}

  /** Loads an exported backbone folder (backbone.json, or manifest.json's backbone.qwen2_5_vl). */
  static async load(dir: string, options: QwenBackboneOptions = {}): Promise<Result<QwenBackbone>> {
    const section = await readSection(dir);
    if (!section.ok) return section;
    return QwenBackbone.fromSection(dir, section.value, options);
  }

  /** Loads the graphs a parsed section names (files relative to `dir`). */
  static async fromSection(
    dir: string,
    spec: QwenBackboneSpec,
    options: QwenBackboneOptions = {},
  ): Promise<Result<QwenBackbone>> {
    const log = options.logger ?? createLogger("backbone");
    const so = SessionOptionsSchema.safeParse(options.session ?? {});
    if (!so.success)
      return fail(
        "E_CONFIG",
        `session options: ${so.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    const tok = await HfTokenizer.load(dir, spec.tokenizer.file, spec.tokenizer.config);
    if (!tok.ok) return tok;
    const host = options.host ?? createHost(so.data);
    const sessions: Partial<Record<QwenGraphName, GraphSession>> = {};
    let sessionOptions = so.data;
    for (const name of QWEN_GRAPH_NAMES) {
      const g = await loadQwenGraph(
        dir,
        name,
        spec.graphs[name],
        host,
        sessionOptions,
        log,
        options.deps,
        options.verifyHash !== false,
      );
      if (!g.ok) {
        for (const s of Object.values(sessions)) await s.dispose().catch(() => undefined);
        if (!options.host) await host.close();
        log.error({ code: g.error.code, graph: name }, g.error.message);
        return g;
      }
      sessions[name] = g.value;
      // the first graph settles the provider (and logs an auto fallback once)
      sessionOptions = { ...sessionOptions, execution_provider: g.value.provider };
    }
    let preparer: WorkerTask | undefined;
    if (host instanceof WorkerHost) {
      try {
        preparer = await host.loadTask(PREPARE_MODULE, "createQwenPreparer", [dir, spec]);
      } catch (e) {
        for (const s of Object.values(sessions)) await s.dispose().catch(() => undefined);
        if (!options.host) await host.close();
        const msg = `qwen preprocessing does not start in the inference worker: ${(e as Error).message}`;
        log.error({ code: "E_CONFIG" }, msg);
        return fail("E_CONFIG", msg);
      }
    }
    log.info(
      {
        dir,
        layer_k: spec.layer_k,
        dtype: spec.dtype,
        provider: sessionOptions.execution_provider,
      },
      "qwen backbone loaded",
    );
    return ok(
      new QwenBackbone(
        dir,
        spec,
        sessions as Record<QwenGraphName, GraphSession>,
        options.host ? undefined : host,
        tok.value,
        log,
        preparer,
      ),
    );
  }

  get provider(): ActiveProvider {
    return this.sessions.language.provider;
  }

  /** Images + instruction -> the graphs' inputs, exactly as the reference processor and model compute them (on the calling thread). */
  prepare(req: QwenEncodeRequest): Result<QwenInputs> {
    return prepareQwenInputs(this.spec, this.tokenizer, req);
  }

  /** `prepare` in the inference worker when there is one (threading "worker"), else inline. */
  async prepareOffThread(req: QwenEncodeRequest): Promise<Result<QwenInputs>> {
    if (!this.preparer) return this.prepare(req);
    try {
      // a view on a larger buffer (a ROS message) would carry the whole buffer across: send its bytes
      const images = req.images.map((im) =>
        im.data.byteLength === im.data.buffer.byteLength ? im : { ...im, data: im.data.slice() },
      );
      const r = await this.preparer.call("prepare", { images, instruction: req.instruction });
      return fromWire(r as WireResult<QwenInputs>);
    } catch (e) {
      return fail("E_MODEL_INPUT", `qwen preprocessing failed: ${(e as Error).message}`);
    }
  }

  /** Runs the three graphs on prepared inputs; hidden states are copied out (safe to keep). */
  async run(inputs: QwenInputs): Promise<Result<Hidden>> {
    const d = this.spec.hidden_dim;
    const T = inputs.ids.length;
    const idsT = BigInt64Array.from(inputs.ids, BigInt);
    const embed = await runGraph(this.sessions.embed, "qwen.embed", {
      input_ids: { type: "int64", dims: [1, T], data: idsT },
    });
    if (!embed.ok) return embed;
    const embeds = Float32Array.from(embed.value.inputs_embeds!.data as Float32Array);
    if (inputs.grids.length > 0) {
      const cols = inputs.pixels.length / inputs.vision.patches;
      const vis = await runGraph(this.sessions.vision, "qwen.vision", {
        pixel_values: { type: "float32", dims: [inputs.vision.patches, cols], data: inputs.pixels },
        vision_pos_ids: {
          type: "int64",
          dims: [inputs.vision.patches, 2],
          data: inputs.vision.posIds,
        },
        window_index: {
          type: "int64",
          dims: [inputs.vision.windowIndex.length],
          data: inputs.vision.windowIndex,
        },
        cu_seqlens: {
          type: "int64",
          dims: [inputs.vision.cuSeqlens.length],
          data: inputs.vision.cuSeqlens,
        },
        cu_window_seqlens: {
          type: "int64",
          dims: [inputs.vision.cuWindowSeqlens.length],
          data: inputs.vision.cuWindowSeqlens,
        },
      });
      if (!vis.ok) return vis;
      const img = vis.value.image_embeds!.data as Float32Array;
      const pad = this.spec.tokens.image_pad;
      let row = 0;
      const rows = img.length / d;
      for (let i = 0; i < T; i++) {
        if (inputs.ids[i] !== pad) continue;
        if (row >= rows)
          return fail("E_MODEL_INPUT", `more image pads than image embeddings (${rows})`);
        embeds.set(img.subarray(row * d, (row + 1) * d), i * d);
        row++;
      }
      if (row !== rows)
        return fail("E_MODEL_INPUT", `${row} image pads for ${rows} image embeddings`);
    }
    const mask = new BigInt64Array(T).fill(1n);
    const out = await runGraph(this.sessions.language, "qwen.language", {
      inputs_embeds: { type: "float32", dims: [1, T, d], data: embeds },
      attention_mask: { type: "int64", dims: [1, T], data: mask },
      position_ids: { type: "int64", dims: [3, 1, T], data: inputs.positionIds },
    });
    if (!out.ok) return out;
    const states = Float32Array.from(out.value.hidden_states!.data as Float32Array);
    if (!allFinite(states)) return fail("E_MODEL_INPUT", "backbone produced NaN or infinity");
    return ok({
      states,
      mask: BigInt64Array.from(out.value.hidden_mask!.data as BigInt64Array),
      length: T,
      dim: d,
    });
  }

  /** Camera images + instruction -> hidden states after block k, [tokens, D], and mask. */
  async encode(req: QwenEncodeRequest): Promise<Result<Hidden>> {
    const inputs = await this.prepareOffThread(req);
    if (!inputs.ok) return inputs;
    return this.run(inputs.value);
  }

  async dispose(): Promise<void> {
    await this.preparer?.dispose();
    for (const s of Object.values(this.sessions)) await s.dispose().catch(() => undefined);
    if (this.ownHost) await this.ownHost.close();
  }
}

/** prepare.ts beside this module (.ts when run unbuilt, .js when built), loaded in the worker. */
const PREPARE_MODULE = new URL(
  `./prepare${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`,
  import.meta.url,
).href;
