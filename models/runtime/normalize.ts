import { fail, ok, type Result } from "../../lib/errors.ts";
import type { EmbodimentModel, Normalization } from "./manifest.ts";

/**
 * One embodiment's view of the model's padded vectors: where its joints and gripper sit, and the
 * statistics that map embodiment units (rad, m) to the normalized values the graphs see.
 */
export class EmbodimentCodec {
  readonly dims: number;
  /** Arm joints then the gripper, in the order of every vector this codec reads or writes. */
  readonly names: readonly string[];
  private readonly stateIdx: Int32Array;
  private readonly actionIdx: Int32Array;
  // x_norm = x * scale + shift, x = (x_norm - shift) / scale
  private readonly sScale: Float64Array;
  private readonly sShift: Float64Array;
  private readonly aScale: Float64Array;
  private readonly aShift: Float64Array;
  private readonly actionClip: boolean;
  private readonly velIdx: Int32Array;
  private readonly velScale: Float64Array;
  /** The model reads the arm joints' velocities (the manifest's state.velocity). */
  readonly needsVelocity: boolean;

  constructor(
    readonly name: string,
    readonly model: EmbodimentModel,
    readonly stateDim: number,
    readonly actionDim: number,
  ) {
    this.dims = model.joint_names.length + 1;
    this.names = [...model.joint_names, model.gripper.name];
    this.stateIdx = Int32Array.from(model.state.indices);
    this.actionIdx = Int32Array.from(model.action.indices);
    [this.sScale, this.sShift] = affine(model.state.normalization);
    [this.aScale, this.aShift] = affine(model.action.normalization);
    this.actionClip = model.action.normalization.mode === "min_max";
    const vel = model.state.velocity;
    this.needsVelocity = vel !== undefined;
    this.velIdx = Int32Array.from(vel?.indices ?? []);
    this.velScale = Float64Array.from(vel?.scale ?? []);
  }

  /**
   * Embodiment-unit state -> padded normalized state (unused entries 0). `velocity` holds the arm
   * joints' measured velocities (rad/s, `joint_names` order); a model that reads them gets no
   * state without them, and one that does not ignores them.
   */
  normalizeState(
    units: ArrayLike<number>,
    out: Float32Array,
    velocity?: ArrayLike<number>,
  ): Result<void> {
    if (units.length !== this.dims)
      return fail(
        "E_MODEL_INPUT",
        `${this.name}: state has ${units.length} values, expected ${this.dims} (${this.names.join(", ")})`,
      );
    out.fill(0);
    for (let i = 0; i < this.dims; i++) {
      const v = units[i]!;
      if (!Number.isFinite(v))
        return fail("E_MODEL_INPUT", `${this.name}: state ${this.names[i]} is ${v}`);
      out[this.stateIdx[i]!] = v * this.sScale[i]! + this.sShift[i]!;
    }
    if (!this.needsVelocity) return ok(undefined);
    const joints = this.velIdx.length;
    if (!velocity)
      return fail(
        "E_MODEL_INPUT",
        `${this.name}: the model needs the arm joints' velocities and the state has none`,
      );
    if (velocity.length !== joints)
      return fail(
        "E_MODEL_INPUT",
        `${this.name}: ${velocity.length} joint velocities, expected ${joints} (${this.names.slice(0, joints).join(", ")})`,
      );
    for (let i = 0; i < joints; i++) {
      const v = velocity[i]!;
      if (!Number.isFinite(v))
        return fail("E_MODEL_INPUT", `${this.name}: velocity of ${this.names[i]} is ${v}`);
      out[this.velIdx[i]!] = v * this.velScale[i]!;
    }
    return ok(undefined);
  }

  /** Embodiment-unit action rows [rows, dims] -> padded normalized rows [rows, actionDim] (unused entries 0). */
  normalizeActions(units: ArrayLike<number>, rows: number, out: Float32Array): Result<void> {
    if (units.length !== rows * this.dims)
      return fail(
        "E_MODEL_INPUT",
        `${this.name}: ${rows} action rows need ${rows * this.dims} values, got ${units.length}`,
      );
    out.fill(0, 0, rows * this.actionDim);
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < this.dims; i++) {
        const v = units[r * this.dims + i]!;
        if (!Number.isFinite(v))
          return fail("E_MODEL_INPUT", `${this.name}: action row ${r} ${this.names[i]} is ${v}`);
        out[r * this.actionDim + this.actionIdx[i]!] = v * this.aScale[i]! + this.aShift[i]!;
      }
    return ok(undefined);
  }

  /**
   * Padded normalized rows [rows, actionDim] -> embodiment units [rows, dims]. With min/max
   * statistics the normalized value is clipped to [-1, 1] first (as GR00T does), so outputs never
   * leave the statistics' range.
   */
  denormalizeActions(
    norm: Float32Array,
    rows: number,
    out: Float32Array,
    clip = this.actionClip,
  ): void {
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < this.dims; i++) {
        let v = norm[r * this.actionDim + this.actionIdx[i]!]!;
        if (clip) v = v < -1 ? -1 : v > 1 ? 1 : v;
        out[r * this.dims + i] = (v - this.aShift[i]!) / this.aScale[i]!;
      }
  }
}

function affine(n: Normalization): [Float64Array, Float64Array] {
  if (n.mode === "min_max") {
    const scale = Float64Array.from(n.min, (lo, i) => 2 / (n.max[i]! - lo));
    const shift = Float64Array.from(n.min, (lo, i) => -lo * scale[i]! - 1);
    return [scale, shift];
  }
  const scale = Float64Array.from(n.std, (s) => 1 / s);
  const shift = Float64Array.from(n.mean, (m, i) => -m * scale[i]!);
  return [scale, shift];
}
