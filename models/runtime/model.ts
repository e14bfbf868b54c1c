import type { Logger } from "../../lib/log.ts";
import { createLogger } from "../../lib/log.ts";
import { fail, ok, type Result } from "../../lib/errors.ts";
import { loadGraph } from "./graph.ts";
import { preprocessImage, type RawImage } from "./image.ts";
import { GRAPH_NAMES, loadManifest, type GraphName, type Manifest } from "./manifest.ts";
import { EmbodimentCodec } from "./normalize.ts";
import { allFinite, FlowMatchingSampler, type Intent, type SamplerOptions } from "./sampler.ts";
import {
  createHost,
  runGraph,
  SessionOptionsSchema,
  type ActiveProvider,
  type GraphSession,
  type ProviderDeps,
  type SessionHost,
  type SessionOptionsInput,
} from "./session.ts";
import { QwenBackbone } from "./qwen/backbone.ts";
import { createTokenizer, type Tokenizer } from "./tokenizer.ts";

export interface LoadModelOptions {
  /** Execution provider, threads, worker/inline (SessionOptionsSchema); defaults: auto, 1 thread, worker. */
  session?: SessionOptionsInput;
  /** Which graphs to load: the brain needs backbone + intent_bridge, the policy only the denoiser. Default all. */
  graphs?: readonly GraphName[];
  logger?: Logger;
  /** Test seams. */
  deps?: ProviderDeps;
  verifyHash?: boolean;
}

/** What the brain feeds the backbone: one image per manifest camera, and the instruction. */
export interface EncodeRequest {
  readonly images: Readonly<Record<string, RawImage>>;
  readonly instruction: string;
}

/** Backbone output for one observation: hidden states [length, dim] and mask [length]. */
export interface Hidden {
  readonly states: Float32Array;
  readonly mask: BigInt64Array;
  readonly length: number;
  readonly dim: number;
}

/**
 * A loaded model folder. The brain calls `encode` (backbone + intent bridge); the policy calls
 * `createSampler(embodiment)` once and then `sampler.sample({ state, intent, prefix })` per chunk.
 */
export class BlmModel {
  private readonly pixels: Float32Array;
  private readonly ids: BigInt64Array;
  private readonly mask: BigInt64Array;

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly sessions: Partial<Record<GraphName, GraphSession>>,
    private readonly hosts: SessionHost[],
    private readonly tokenizer: Tokenizer | undefined,
    readonly log: Logger,
    /** The Qwen2.5-VL backbone (manifest backbone.kind qwen2_5_vl), in place of the backbone graph. */
    readonly qwen?: QwenBackbone,
  ) {
    const { image, backbone, tokenizer: tok } = manifest;
    this.pixels = new Float32Array(backbone.cameras.length * 3 * image.height * image.width);
    this.ids = new BigInt64Array(tok.max_length);
    this.mask = new BigInt64Array(tok.max_length);
  }

  /** Loads and checks a model folder: manifest, each graph's hash, provider, and I/O. */
  static async load(dir: string, options: LoadModelOptions = {}): Promise<Result<BlmModel>> {
    const log = options.logger ?? createLogger("model");
    const so = SessionOptionsSchema.safeParse(options.session ?? {});
    if (!so.success)
      return fail(
        "E_CONFIG",
        `session options: ${so.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    const manifest = await loadManifest(dir);
    if (!manifest.ok) return manifest;
    const m = manifest.value;
    const wanted = options.graphs ?? GRAPH_NAMES;
    let tokenizer: Tokenizer | undefined;
    const qwenSpec = m.backbone.kind === "qwen2_5_vl" ? m.backbone.qwen2_5_vl : undefined;
    let qwen: QwenBackbone | undefined;
    if (wanted.includes("backbone") && !qwenSpec) {
      const t = createTokenizer(m.tokenizer);
      if (!t.ok) return t;
      tokenizer = t.value;
    }
    // The brain's graphs and the policy's denoiser get separate hosts (threads), so a long backbone
    // run never delays a chunk.
    const brainHost = createHost(so.data);
    const policyHost = so.data.threading === "worker" ? createHost(so.data) : brainHost;
    const hosts = brainHost === policyHost ? [brainHost] : [brainHost, policyHost];
    const sessions: Partial<Record<GraphName, GraphSession>> = {};
    const cleanup = async () => {
      await qwen?.dispose();
      for (const s of Object.values(sessions)) await s.dispose().catch(() => undefined);
      for (const h of hosts) await h.close();
    };
    // The first graph settles the provider (and logs an auto fallback once); the others follow it.
    let sessionOptions = so.data;
    for (const name of wanted) {
      if (name === "backbone" && qwenSpec) {
        // three graphs (vision, embed, language) on the brain's host; see runtime/qwen/
        const q = await QwenBackbone.fromSection(dir, qwenSpec, {
          host: brainHost,
          session: sessionOptions,
          logger: log,
          deps: options.deps,
          verifyHash: options.verifyHash,
        });
        if (!q.ok) {
          await cleanup();
          return q;
        }
        qwen = q.value;
        sessionOptions = { ...sessionOptions, execution_provider: q.value.provider };
        continue;
      }
      const spec = m.graphs[name];
      if (!spec) {
        await cleanup();
        return fail("E_MODEL_CORRUPT", `manifest names no graph ${name}`, { graph: name });
      }
      const g = await loadGraph({
        dir,
        name,
        spec,
        host: name === "denoiser" ? policyHost : brainHost,
        options: sessionOptions,
        log,
        deps: options.deps,
        verifyHash: options.verifyHash,
      });
      if (!g.ok) {
        await cleanup();
        log.error({ code: g.error.code, graph: name }, g.error.message);
        return g;
      }
      sessions[name] = g.value;
      sessionOptions = { ...sessionOptions, execution_provider: g.value.provider };
    }
    log.info({ model: m.name, dir, graphs: wanted }, "model loaded");
    return ok(new BlmModel(dir, m, sessions, hosts, tokenizer, log, qwen));
  }

  /** The provider each loaded graph runs on. */
  get providers(): Partial<Record<GraphName, ActiveProvider>> {
    const out: Partial<Record<GraphName, ActiveProvider>> = {};
    for (const [k, s] of Object.entries(this.sessions)) out[k as GraphName] = s.provider;
    return out;
  }

  /** Embodiments the model has statistics for. */
  get embodiments(): string[] {
    return Object.keys(this.manifest.embodiments);
  }

  private session(name: GraphName): Result<GraphSession> {
    const s = this.sessions[name];
    return s ? ok(s) : fail("E_CONFIG", `graph ${name} was not loaded (LoadModelOptions.graphs)`);
  }

  /** Images + instruction -> intent tokens (backbone, then intent bridge). */
  async encode(req: EncodeRequest): Promise<Result<Intent>> {
    const { image, backbone } = this.manifest;
    if (this.qwen) {
      const images = [];
      for (const cam of backbone.cameras) {
        const img = req.images[cam];
        if (!img)
          return fail(
            "E_MODEL_INPUT",
            `no image for camera ${cam} (the model takes ${backbone.cameras.join(", ")})`,
          );
        images.push(img);
      }
      const hidden = await this.qwen.encode({ images, instruction: req.instruction });
      if (!hidden.ok) return hidden;
      return this.runIntentBridge(hidden.value);
    }
    const plane = 3 * image.height * image.width;
    for (const [c, cam] of backbone.cameras.entries()) {
      const img = req.images[cam];
      if (!img)
        return fail(
          "E_MODEL_INPUT",
          `no image for camera ${cam} (the model takes ${backbone.cameras.join(", ")})`,
        );
      const r = preprocessImage(img, image, this.pixels, c * plane);
      if (!r.ok) return r;
    }
    if (!this.tokenizer) return fail("E_CONFIG", "backbone not loaded");
    this.tokenizer.encode(req.instruction, this.ids, this.mask);
    const hidden = await this.runBackbone(this.pixels, this.ids, this.mask);
    if (!hidden.ok) return hidden;
    return this.runIntentBridge(hidden.value);
  }

  /** The backbone on already preprocessed pixels [cameras, 3, H, W] and token ids/mask [max_length]. */
  async runBackbone(
    pixels: Float32Array,
    ids: BigInt64Array,
    mask: BigInt64Array,
  ): Promise<Result<Hidden>> {
    const s = this.session("backbone");
    if (!s.ok) return s;
    const { image, backbone, tokenizer } = this.manifest;
    if (
      pixels.length !== this.pixels.length ||
      ids.length !== tokenizer.max_length ||
      mask.length !== tokenizer.max_length
    )
      return fail("E_MODEL_INPUT", "backbone inputs have the wrong size");
    if (!allFinite(pixels)) return fail("E_MODEL_INPUT", "pixel values contain NaN or infinity");
    const out = await runGraph(s.value, "backbone", {
      pixel_values: {
        type: "float32",
        dims: [1, backbone.cameras.length, 3, image.height, image.width],
        data: pixels,
      },
      input_ids: { type: "int64", dims: [1, tokenizer.max_length], data: ids },
      attention_mask: { type: "int64", dims: [1, tokenizer.max_length], data: mask },
    });
    if (!out.ok) return out;
    const hs = out.value.hidden_states!;
    const hm = out.value.hidden_mask!;
    // copies: the outputs are views on buffers the next run reuses
    return ok({
      states: Float32Array.from(hs.data as Float32Array),
      mask: BigInt64Array.from(hm.data as BigInt64Array),
      length: hs.dims[1]!,
      dim: hs.dims[2]!,
    });
  }

  /** Hidden states + mask -> intent tokens. */
  async runIntentBridge(hidden: Hidden): Promise<Result<Intent>> {
    const s = this.session("intent_bridge");
    if (!s.ok) return s;
    if (
      hidden.dim !== this.manifest.backbone.hidden_dim ||
      hidden.states.length !== hidden.length * hidden.dim ||
      hidden.mask.length !== hidden.length
    )
      return fail(
        "E_MODEL_INPUT",
        `hidden states are ${hidden.length}x${hidden.dim}, the bridge takes dim ${this.manifest.backbone.hidden_dim}`,
      );
    if (!allFinite(hidden.states))
      return fail("E_MODEL_INPUT", "hidden states contain NaN or infinity");
    const out = await runGraph(s.value, "intent_bridge", {
      hidden_states: { type: "float32", dims: [1, hidden.length, hidden.dim], data: hidden.states },
      hidden_mask: { type: "int64", dims: [1, hidden.length], data: hidden.mask },
    });
    if (!out.ok) return out;
    const t = out.value.intent!;
    const tokens = Float32Array.from(t.data as Float32Array);
    if (!allFinite(tokens)) return fail("E_MODEL_INPUT", "intent bridge produced NaN or infinity");
    return ok({ tokens, count: t.dims[1]!, dim: t.dims[2]! });
  }

  /** A sampler for one embodiment; E_UNKNOWN_EMBODIMENT when the model has no statistics for it. */
  createSampler(embodiment: string, options: SamplerOptions = {}): Result<FlowMatchingSampler> {
    const s = this.session("denoiser");
    if (!s.ok) return s;
    const scale = options.noiseScale ?? 1;
    if (!(scale >= 0 && scale <= 1))
      return fail("E_CONFIG", `sampler noiseScale must be in [0, 1], got ${scale}`);
    const e = this.manifest.embodiments[embodiment];
    if (!e)
      return fail(
        "E_UNKNOWN_EMBODIMENT",
        `model ${this.manifest.name} has no statistics for embodiment ${embodiment} (has ${this.embodiments.join(", ")})`,
        {
          embodiment,
        },
      );
    const codec = new EmbodimentCodec(
      embodiment,
      e,
      this.manifest.policy.state_dim,
      this.manifest.policy.action_dim,
    );
    return ok(new FlowMatchingSampler(s.value, this.manifest, codec, options));
  }

  /** The denoiser session (for tests and tools that drive it directly). */
  get denoiser(): GraphSession | undefined {
    return this.sessions.denoiser;
  }

  async dispose(): Promise<void> {
    await this.qwen?.dispose();
    for (const s of Object.values(this.sessions)) await s.dispose().catch(() => undefined);
    for (const h of this.hosts) await h.close();
  }
}
