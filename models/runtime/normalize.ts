import { fail, ok, type Result } from "../../lib/errors.ts";
import { POSE9_NAMES, type EmbodimentModel, type Normalization } from "./manifest.ts";

/**
 * One embodiment's view of the model's padded vectors: where its joints and gripper sit, and the
 * statistics that map embodiment units (rad, m) to the normalized values the graphs see.
 */
export class EmbodimentCodec {
  /** Values of a state: the arm joints then the gripper. */
  readonly dims: number;
  /** Arm joints then the gripper, in the order of the state this codec reads. */
  readonly names: readonly string[];
  /** Values of an action row: `dims` in joint space, the TCP pose (POSE9_NAMES) and the gripper for ee_pose. */
  readonly actionDims: number;
  /** The columns of an action row. */
  readonly actionNames: readonly string[];
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
  private readonly tcpIdx: Int32Array;
  private readonly tScale: Float64Array;
  private readonly tShift: Float64Array;
  /** The model reads the TCP pose (the manifest's state.tcp; ee_pose models). */
  readonly needsTcp: boolean;

  constructor(
    readonly name: string,
    readonly model: EmbodimentModel,
    readonly stateDim: number,
    readonly actionDim: number,
  ) {
    this.dims = model.joint_names.length + 1;
    this.names = [...model.joint_names, model.gripper.name];
    const ee = model.action_space === "ee_pose";
    this.actionNames = ee ? [...POSE9_NAMES, model.gripper.name] : this.names;
    this.actionDims = this.actionNames.length;
    this.stateIdx = Int32Array.from(model.state.indices);
    this.actionIdx = Int32Array.from(model.action.indices);
    [this.sScale, this.sShift] = affine(model.state.normalization);
    [this.aScale, this.aShift] = affine(model.action.normalization);
    this.actionClip = model.action.normalization.mode === "min_max";
    const vel = model.state.velocity;
    this.needsVelocity = vel !== undefined;
    this.velIdx = Int32Array.from(vel?.indices ?? []);
    this.velScale = Float64Array.from(vel?.scale ?? []);
    const tcp = model.state.tcp;
    this.needsTcp = tcp !== undefined;
    this.tcpIdx = Int32Array.from(tcp?.indices ?? []);
    [this.tScale, this.tShift] = tcp
      ? affine(tcp.normalization)
      : [new Float64Array(), new Float64Array()];
  }

  /**
   * Embodiment-unit state -> padded normalized state (unused entries 0). `velocity` holds the arm
   * joints' measured velocities (rad/s, `joint_names` order); a model that reads them gets no
   * state without them, and one that does not ignores them. `tcp` is the TCP pose of the measured
   * joints (POSE9_NAMES: forward kinematics), which an ee_pose model reads the same way.
   */
  normalizeState(
    units: ArrayLike<number>,
    out: Float32Array,
    velocity?: ArrayLike<number>,
    tcp?: ArrayLike<number>,
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
    if (this.needsTcp) {
      if (!tcp || tcp.length !== POSE9_NAMES.length)
        return fail(
          "E_MODEL_INPUT",
          `${this.name}: the model needs the TCP pose (${POSE9_NAMES.length} values), got ${tcp?.length ?? "none"}`,
        );
      for (let i = 0; i < POSE9_NAMES.length; i++) {
        const v = tcp[i]!;
        if (!Number.isFinite(v))
          return fail("E_MODEL_INPUT", `${this.name}: TCP pose ${POSE9_NAMES[i]} is ${v}`);
        out[this.tcpIdx[i]!] = v * this.tScale[i]! + this.tShift[i]!;
      }
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
    const w = this.actionDims;
    if (units.length !== rows * w)
      return fail(
        "E_MODEL_INPUT",
        `${this.name}: ${rows} action rows need ${rows * w} values, got ${units.length}`,
      );
    out.fill(0, 0, rows * this.actionDim);
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < w; i++) {
        const v = units[r * w + i]!;
        if (!Number.isFinite(v))
          return fail(
            "E_MODEL_INPUT",
            `${this.name}: action row ${r} ${this.actionNames[i]} is ${v}`,
          );
        out[r * this.actionDim + this.actionIdx[i]!] = v * this.aScale[i]! + this.aShift[i]!;
      }
    return ok(undefined);
  }

  /**
   * Padded normalized rows [rows, actionDim] -> embodiment units [rows, actionDims]. With min/max
   * statistics the normalized value is clipped to [-1, 1] first (as GR00T does), so outputs never
   * leave the statistics' range.
   */
  denormalizeActions(
    norm: Float32Array,
    rows: number,
    out: Float32Array,
    clip = this.actionClip,
  ): void {
    const w = this.actionDims;
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < w; i++) {
        let v = norm[r * this.actionDim + this.actionIdx[i]!]!;
        if (clip) v = v < -1 ? -1 : v > 1 ? 1 : v;
        out[r * w + i] = (v - this.aShift[i]!) / this.aScale[i]!;
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
