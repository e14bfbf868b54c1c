/**
 * ROS parameter descriptors derived from the zod schema in params.ts (the single source): type,
 * description (with units), range, read-only flag, default. Pure: the launch checks and the
 * README table read the same list.
 */
import { AgentParamsSchema, type AgentParams } from "./params.ts";

export type RosParamType = "bool" | "integer" | "double" | "string" | "string_array";

export interface ParamSpec {
  name: keyof AgentParams;
  type: RosParamType;
  description: string;
  readOnly: boolean;
  /** Inclusive numeric range, where the schema has one. */
  range?: { from: number; to: number };
  /** Allowed values of a string enum. */
  choices?: readonly string[];
  default?: unknown;
  required: boolean;
}

/** Parameters that take effect when changed at run time; every other one is read-only. */
export const MUTABLE_PARAMETERS: ReadonlySet<string> = new Set(["velocity_scale", "dry_run"]);

interface ZodLike {
  _zod: { def: Record<string, unknown> & { type: string } };
  description?: string;
  minValue?: number | null;
  maxValue?: number | null;
  isInt?: boolean;
}

export function parameterSpecs(): ParamSpec[] {
  return Object.entries(AgentParamsSchema.shape).map(([name, schema]) => {
    const outer = schema as unknown as ZodLike;
    const def = outer._zod.def;
    const hasDefault = def.type === "default";
    const inner = (hasDefault ? def.innerType : outer) as ZodLike;
    const t = inner._zod.def.type;
    let type: RosParamType;
    let choices: string[] | undefined;
    if (t === "boolean") type = "bool";
    else if (t === "number") type = inner.isInt ? "integer" : "double";
    else if (t === "array") type = "string_array";
    else if (t === "enum") {
      type = "string";
      choices = Object.keys(inner._zod.def.entries as Record<string, unknown>);
    } else type = "string";
    const spec: ParamSpec = {
      name: name as keyof AgentParams,
      type,
      description: outer.description ?? inner.description ?? name,
      readOnly: !MUTABLE_PARAMETERS.has(name),
      required: !hasDefault,
    };
    if (choices) spec.choices = choices;
    if (hasDefault) spec.default = def.defaultValue;
    if (
      (type === "integer" || type === "double") &&
      Number.isFinite(inner.minValue) &&
      Number.isFinite(inner.maxValue)
    )
      spec.range = { from: inner.minValue!, to: inner.maxValue! };
    return spec;
  });
}
