import { fail, ok, type Result } from "../../lib/errors.ts";
import { contextTokens, type Manifest } from "./manifest.ts";
import type { EmbodimentCodec } from "./normalize.ts";
import { GaussianNoise } from "./random.ts";
import type { GraphSession, TensorData } from "./session.ts";

/** Intent tokens from the intent bridge, [count, dim] row-major. */
export interface Intent {
  readonly tokens: Float32Array;
  readonly count: number;
  readonly dim: number;
}

export interface SampleRequest {
  /** Measured state in embodiment units: arm joint positions then the gripper. */
  readonly state: ArrayLike<number>;
  /** Measured arm joint velocities (rad/s, arm joint order); required by a model whose manifest has state.velocity. */
  readonly velocity?: ArrayLike<number>;
  /** The measured joints' TCP pose (POSE9_NAMES, forward kinematics); required by a model whose manifest has state.tcp. */
  readonly tcp?: ArrayLike<number>;
  /** The denoiser's context: the bridge's intent, or as IntentContext composes it (intent.frames). */
  readonly intent: Intent;
  /** Euler steps; default from the sampler (the manifest's default_steps unless overridden). */
  readonly steps?: number;
  /**
   * Real-time chunking: the first `length` actions (embodiment units, [length, dims] row-major)
   * are already committed for execution; the sampler inpaints them and the chunk continues them.
   */
  readonly prefix?: { readonly actions: ArrayLike<number>; readonly length: number };
  /** Initial noise [horizon, action_dim]; default: drawn from the sampler's seeded generator. */
  readonly noise?: Float32Array;
}

/**
 * A sampled chunk in embodiment units, in the model's action space (DESIGN decision 3: absolute
 * joint positions + gripper; an ee_pose model's rows are TCP poses + gripper).
 */
export interface ActionChunk {
  readonly embodiment: string;
  readonly horizon: number;
  readonly dims: number;
  /** The columns of `positions`: arm joints then the gripper, or the TCP pose then the gripper. */
  readonly names: readonly string[];
  /** s between consecutive rows. */
  readonly dt: number;
  readonly steps: number;
  /** [horizon, dims] row-major, embodiment units. */
  readonly positions: Float32Array;
}

export interface SamplerOptions {
  /** Seed of the noise generator (xoshiro128** + Box–Muller, see random.ts). */
  seed?: number;
  /** Default number of Euler steps (manifest default otherwise). */
  steps?: number;
  /** Clip normalized min/max actions to [-1, 1] before denormalizing (default true). */
  clip?: boolean;
  /**
   * Scale of the drawn initial noise, in [0, 1] (default 1: the trained distribution). Below 1 the
   * sampler starts nearer the middle of the action distribution: less diverse chunks, closer to
   * the policy's most likely one; 0 makes every chunk a deterministic function of its inputs.
   * Noise passed with a request is used as given.
   */
  noiseScale?: number;
}

/**
 * Flow-matching sampler around the one-step denoiser graph: x starts at Gaussian noise at t = 0 and
 * follows x += dt * v(x, t) for `steps` Euler steps to t = 1 (x_t = (1 - t) noise + t action, the
 * graph predicts v = action - noise). With a prefix, before every step the prefix rows are set to
 * their forward-noised values (1 - t) noise + t prefix, and to the prefix itself at the end.
 * All working buffers are allocated once here; a step allocates no large buffer.
 */
export class FlowMatchingSampler {
  readonly horizon: number;
  readonly actionDim: number;
  readonly defaultSteps: number;
  /** s between consecutive actions of a chunk. */
  readonly dt: number;
  private readonly rng: GaussianNoise;
  private readonly clip: boolean;
  private readonly noiseScale: number;
  private readonly x: Float32Array;
  private readonly noise: Float32Array;
  private readonly prefixNorm: Float32Array;
  private readonly state: Float32Array;
  private readonly t = new Float32Array(1);
  private readonly embodimentId = new BigInt64Array(1);
  private readonly intentBuf: Float32Array;
  private readonly feeds: Record<string, TensorData>;
  private readonly maxSteps = 100;

  constructor(
    private readonly denoiser: GraphSession,
    manifest: Manifest,
    readonly codec: EmbodimentCodec,
    options: SamplerOptions = {},
  ) {
    const p = manifest.policy;
    this.horizon = p.horizon;
    this.actionDim = p.action_dim;
    this.defaultSteps = options.steps ?? p.flow_matching.default_steps;
    this.dt = p.action_dt;
    this.rng = new GaussianNoise(options.seed ?? 0);
    this.clip = options.clip ?? true;
    this.noiseScale = options.noiseScale ?? 1;
    const n = p.horizon * p.action_dim;
    this.x = new Float32Array(n);
    this.noise = new Float32Array(n);
    this.prefixNorm = new Float32Array(n);
    this.state = new Float32Array(p.state_dim);
    this.intentBuf = new Float32Array(contextTokens(manifest) * manifest.intent.dim);
    this.embodimentId[0] = BigInt(codec.model.id);
    this.feeds = {
      noisy_actions: { type: "float32", dims: [1, p.horizon, p.action_dim], data: this.x },
      flow_time: { type: "float32", dims: [1], data: this.t },
      state: { type: "float32", dims: [1, p.state_dim], data: this.state },
      embodiment_id: { type: "int64", dims: [1], data: this.embodimentId },
      intent: {
        type: "float32",
        dims: [1, contextTokens(manifest), manifest.intent.dim],
        data: this.intentBuf,
      },
    };
  }

  /** Restarts the noise sequence (e.g. at the start of an episode). */
  reseed(seed: number): void {
    this.rng.reseed(seed);
  }

  async sample(req: SampleRequest): Promise<Result<ActionChunk>> {
    const steps = req.steps ?? this.defaultSteps;
    if (!Number.isInteger(steps) || steps < 1 || steps > this.maxSteps)
      return fail("E_MODEL_INPUT", `steps must be an integer in 1..${this.maxSteps}, got ${steps}`);
    const { horizon: H, actionDim: A } = this;
    const codec = this.codec;

    const st = codec.normalizeState(req.state, this.state, req.velocity, req.tcp);
    if (!st.ok) return st;

    const it = req.intent;
    if (it.tokens.length !== this.intentBuf.length || it.count * it.dim !== it.tokens.length)
      return fail(
        "E_MODEL_INPUT",
        `intent has ${it.count}x${it.dim} (${it.tokens.length} values), the model takes ${this.intentBuf.length}`,
      );
    if (!allFinite(it.tokens))
      return fail("E_MODEL_INPUT", "intent tokens contain NaN or infinity");
    this.intentBuf.set(it.tokens);

    let P = 0;
    if (req.prefix && req.prefix.length > 0) {
      P = req.prefix.length;
      if (!Number.isInteger(P) || P >= H)
        return fail(
          "E_MODEL_INPUT",
          `prefix length ${P} must be an integer below the horizon ${H}`,
        );
      const pr = codec.normalizeActions(req.prefix.actions, P, this.prefixNorm);
      if (!pr.ok) return pr;
    }

    if (req.noise) {
      if (req.noise.length !== H * A)
        return fail("E_MODEL_INPUT", `noise has ${req.noise.length} values, expected ${H * A}`);
      if (!allFinite(req.noise)) return fail("E_MODEL_INPUT", "noise contains NaN or infinity");
      this.noise.set(req.noise);
    } else {
      this.rng.fill(this.noise);
      if (this.noiseScale !== 1) for (let k = 0; k < H * A; k++) this.noise[k]! *= this.noiseScale;
    }
    const x = this.x;
    const noise = this.noise;
    x.set(noise);

    const dt = 1 / steps;
    const nP = P * A;
    const prefix = this.prefixNorm;
    for (let i = 0; i < steps; i++) {
      const t = i / steps;
      for (let k = 0; k < nP; k++) x[k] = (1 - t) * noise[k]! + t * prefix[k]!;
      this.t[0] = t;
      let out: Record<string, TensorData>;
      try {
        out = await this.denoiser.run(this.feeds);
      } catch (e) {
        return fail("E_MODEL_INPUT", `denoiser run failed: ${(e as Error).message}`);
      }
      const v = out.velocity?.data as Float32Array | undefined;
      if (!v || v.length !== H * A)
        return fail(
          "E_MODEL_MISMATCH",
          `denoiser returned ${v?.length ?? 0} velocity values, expected ${H * A}`,
        );
      for (let k = 0; k < x.length; k++) x[k] = x[k]! + dt * v[k]!;
    }
    for (let k = 0; k < nP; k++) x[k] = prefix[k]!;
    if (!allFinite(x)) return fail("E_CHUNK_NONFINITE", "sampled chunk contains NaN or infinity");

    const positions = new Float32Array(H * codec.actionDims);
    codec.denormalizeActions(x, H, positions, this.clip ? undefined : false);
    return ok({
      embodiment: codec.name,
      horizon: H,
      dims: codec.actionDims,
      names: codec.actionNames,
      dt: this.dt,
      steps,
      positions,
    });
  }

  /** The last chunk in normalized, padded model units [horizon, action_dim] (a view, overwritten by the next sample). */
  get lastNormalized(): Float32Array {
    return this.x;
  }
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}
