/**
 * Declares the agent's parameters on an rclnodejs node from the schema (descriptors with
 * description, range, read-only), after validating the overrides that came from
 * `--ros-args -p name:=value` and `--params-file` (rcl parses both in rclnodejs.init).
 * Errors are values: E_CONFIG (or E_UNKNOWN_EMBODIMENT) naming the parameter.
 */
import rclnodejs from "rclnodejs";
import { fail, ok, type Result } from "../lib/errors.ts";
import { EMBODIMENT_NAMES } from "../embodiments/schema.ts";
import { AgentParamsSchema, type AgentParams } from "./params.ts";
import { parameterSpecs, type ParamSpec } from "./param-spec.ts";

/** rcl_interfaces/msg/ParameterType values (rclnodejs declares them as an ambient const enum). */
const PT = {
  PARAMETER_BOOL: 1,
  PARAMETER_INTEGER: 2,
  PARAMETER_DOUBLE: 3,
  PARAMETER_STRING: 4,
  PARAMETER_STRING_ARRAY: 9,
} as const;

function rosType(spec: ParamSpec): rclnodejs.ParameterType {
  return rosTypeId(spec) as unknown as rclnodejs.ParameterType;
}

function rosTypeId(spec: ParamSpec): number {
  switch (spec.type) {
    case "bool":
      return PT.PARAMETER_BOOL;
    case "integer":
      return PT.PARAMETER_INTEGER;
    case "double":
      return PT.PARAMETER_DOUBLE;
    case "string_array":
      return PT.PARAMETER_STRING_ARRAY;
    default:
      return PT.PARAMETER_STRING;
  }
}

/** An override's value as the schema wants it (YAML `100` for a double, bigint for an integer). */
function coerce(spec: ParamSpec, value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (spec.type === "string_array" && Array.isArray(value)) return value.map(String);
  return value;
}

export function readParams(node: rclnodejs.Node): Result<AgentParams> {
  const specs = parameterSpecs();
  const overrides = new Map<string, unknown>();
  for (const p of node.getParameterOverrides()) overrides.set(p.name, p.value);
  const input: Record<string, unknown> = {};
  for (const s of specs) {
    if (s.name === "use_sim_time" && node.hasParameter("use_sim_time")) {
      input[s.name] = node.getParameter("use_sim_time").value;
      continue;
    }
    if (overrides.has(s.name)) input[s.name] = coerce(s, overrides.get(s.name));
  }
  if (input.embodiment === undefined)
    return fail("E_CONFIG", `parameter embodiment is required (${EMBODIMENT_NAMES.join(" | ")})`);
  if (!(EMBODIMENT_NAMES as readonly string[]).includes(String(input.embodiment)))
    return fail(
      "E_UNKNOWN_EMBODIMENT",
      `unknown embodiment '${String(input.embodiment)}'; known: ${EMBODIMENT_NAMES.join(", ")}`,
    );
  const r = AgentParamsSchema.safeParse(input);
  if (!r.success)
    return fail(
      "E_CONFIG",
      r.error.issues
        .map(
          (i) =>
            `parameter ${i.path.join(".")}: ${i.message} (got ${JSON.stringify(input[String(i.path[0])])})`,
        )
        .join("; "),
    );
  return ok(r.data);
}

/** Validates the overrides, then declares every parameter with its descriptor and the validated value. */
export function declareParams(node: rclnodejs.Node): Result<AgentParams> {
  const r = readParams(node);
  if (!r.ok) return r;
  const values = r.value as Record<string, unknown>;
  for (const s of parameterSpecs()) {
    if (node.hasParameter(s.name)) continue; // use_sim_time: declared by the node's time source
    let value = values[s.name];
    if (s.type === "integer") value = BigInt(value as number);
    let range: rclnodejs.Range | undefined;
    if (s.range && s.type === "integer")
      range = new rclnodejs.IntegerRange(BigInt(s.range.from), BigInt(s.range.to), 1n);
    else if (s.range && s.type === "double")
      range = new rclnodejs.FloatingPointRange(s.range.from, s.range.to, 0);
    const desc = s.choices ? `${s.description} [${s.choices.join(", ")}]` : s.description;
    const d = new rclnodejs.ParameterDescriptor(s.name, rosType(s), desc, s.readOnly, range);
    try {
      node.declareParameter(new rclnodejs.Parameter(s.name, rosType(s), value), d, true);
    } catch (e) {
      return fail("E_CONFIG", `parameter ${s.name}: ${(e as Error).message}`);
    }
  }
  return r;
}
