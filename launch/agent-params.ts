/**
 * What an agent node started from a launch file will see as its parameters, computed the way
 * rcl does it from the command line (params files and -p rules, merged in order; entries for the
 * node's fully qualified name win over `/**`), and checked against the agent's declarations
 * (nodes/params.ts, nodes/param-spec.ts): every name declared, every value of the declared ROS type
 * as rcl types it ('true' is a bool, 100 an integer, 100.0 a double; the agent takes an integer for
 * a double) and valid under the zod schema.
 *
 * `npm run launch` runs this before it starts anything; the launch tests run it on every file.
 */
import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from "yaml";
import { parameterSpecs } from "../nodes/param-spec.ts";
import { AgentParamsSchema, type AgentParams } from "../nodes/params.ts";
import type { PlannedProcess } from "./interpreter.ts";

export type RosType =
  | "bool"
  | "integer"
  | "double"
  | "string"
  | "bool_array"
  | "integer_array"
  | "double_array"
  | "string_array";

export interface TypedValue {
  type: RosType;
  value: boolean | number | string | boolean[] | number[] | string[];
  /** Where it came from: a params file or `-p`. */
  source: string;
}

export interface ParamIssue {
  source: string;
  name?: string;
  message: string;
}

export interface AgentParamsReport {
  /** Every parameter set on the command line, after rcl's merge. */
  values: Map<string, TypedValue>;
  /** The merged values validated by AgentParamsSchema (with its defaults), when valid. */
  params?: AgentParams;
  issues: ParamIssue[];
}

/** The ROS type each agent parameter is declared with (nodes/param-spec.ts, from the zod schema). */
export function agentParameterTypes(): Record<string, RosType> {
  return Object.fromEntries(parameterSpecs().map((s) => [s.name, s.type]));
}

const TRUE_WORDS = new Set([
  "y",
  "Y",
  "yes",
  "Yes",
  "YES",
  "true",
  "True",
  "TRUE",
  "on",
  "On",
  "ON",
]);
const FALSE_WORDS = new Set([
  "n",
  "N",
  "no",
  "No",
  "NO",
  "false",
  "False",
  "FALSE",
  "off",
  "Off",
  "OFF",
]);
const INTEGER = /^[-+]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;
const DOUBLE = /^[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|\.?inf(inity)?|\.?nan)$/i;

/** rcl_yaml_param_parser's typing of one plain (unquoted) scalar. */
export function rclScalar(text: string): {
  type: "bool" | "integer" | "double" | "string";
  value: boolean | number | string;
} {
  if (TRUE_WORDS.has(text)) return { type: "bool", value: true };
  if (FALSE_WORDS.has(text)) return { type: "bool", value: false };
  if (INTEGER.test(text)) {
    const neg = text.startsWith("-");
    const body = text.replace(/^[-+]/, "");
    const v = /^0[xX]/.test(body)
      ? parseInt(body.slice(2), 16)
      : body.length > 1 && body.startsWith("0")
        ? parseInt(body, 8)
        : parseInt(body, 10);
    return { type: "integer", value: neg ? -v : v };
  }
  if (DOUBLE.test(text)) {
    const t = text.replace(/^([-+]?)\./, "$1").toLowerCase();
    const v = t.includes("nan")
      ? NaN
      : t.includes("inf")
        ? t.startsWith("-")
          ? -Infinity
          : Infinity
        : Number(text);
    return { type: "double", value: v };
  }
  return { type: "string", value: text };
}

function typeNode(
  node: YamlNode | null,
  source: string,
  name: string,
  issues: ParamIssue[],
): TypedValue | undefined {
  if (isScalar(node)) {
    if (node.type === "PLAIN") {
      const s = rclScalar(String(node.source ?? node.value));
      return { ...s, source };
    }
    return { type: "string", value: String(node.value), source };
  }
  if (isSeq(node)) {
    const items = node.items.map((i) => typeNode(i as YamlNode, source, name, issues));
    if (items.some((i) => i === undefined || i.type.endsWith("_array"))) {
      issues.push({ source, name, message: "arrays hold scalars only" });
      return undefined;
    }
    const types = new Set(items.map((i) => i!.type));
    if (types.size !== 1) {
      issues.push({
        source,
        name,
        message: items.length
          ? `array mixes ${[...types].join(" and ")} (ROS arrays have one type)`
          : "empty arrays have no ROS type; leave the parameter out",
      });
      return undefined;
    }
    const t = [...types][0]!;
    return {
      type: `${t}_array` as RosType,
      value: items.map((i) => i!.value) as TypedValue["value"],
      source,
    };
  }
  issues.push({ source, name, message: "value must be a scalar or a list of scalars" });
  return undefined;
}

/** The parameters a params file sets for node `fqn` (`/**` and `fqn` entries), in file order. */
export function readParamsFile(
  file: string,
  fqn: string,
  text: string,
  issues: ParamIssue[],
): { wildcard: Array<[string, TypedValue]>; exact: Array<[string, TypedValue]> } {
  const out = {
    wildcard: [] as Array<[string, TypedValue]>,
    exact: [] as Array<[string, TypedValue]>,
  };
  const doc = parseDocument(text);
  if (doc.errors.length) {
    issues.push({ source: file, message: `invalid YAML: ${doc.errors[0]!.message}` });
    return out;
  }
  if (!isMap(doc.contents)) {
    issues.push({ source: file, message: "expected `/**: ros__parameters: {...}` at the top" });
    return out;
  }
  for (const pair of doc.contents.items) {
    const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const body = pair.value as YamlNode | null;
    const params = isMap(body)
      ? body.items.find((p) => isScalar(p.key) && p.key.value === "ros__parameters")
      : undefined;
    if (!isMap(body) || !params || body.items.length !== 1 || !isMap(params.value)) {
      issues.push({
        source: file,
        message: `'${key}' must hold exactly one key, ros__parameters, mapping names to values`,
      });
      continue;
    }
    const target =
      key === "/**" ? out.wildcard : key === fqn || key === fqn.slice(1) ? out.exact : undefined;
    if (!target) continue; // another node's section
    const walk = (map: YamlNode, prefix: string) => {
      if (!isMap(map)) return;
      for (const p of map.items) {
        const name = prefix + String(isScalar(p.key) ? p.key.value : p.key);
        if (isMap(p.value)) walk(p.value as YamlNode, `${name}.`);
        else {
          const v = typeNode(p.value as YamlNode, file, name, issues);
          if (v) target.push([name, v]);
        }
      }
    };
    walk(params.value as YamlNode, "");
  }
  return out;
}

/** A `-p name:=value` value, typed as rcl types it (the value is read as YAML). */
export function typeRuleValue(
  value: string,
  source: string,
  name: string,
  issues: ParamIssue[],
): TypedValue | undefined {
  const doc = parseDocument(value === "" ? "''" : value);
  if (doc.errors.length) {
    issues.push({ source, name, message: `'${value}' is not a valid YAML value` });
    return undefined;
  }
  return typeNode(doc.contents as YamlNode | null, source, name, issues);
}

function nodeFqn(proc: PlannedProcess): string {
  const ns = proc.namespace && proc.namespace !== "/" ? proc.namespace : "";
  return `${ns}/${proc.nodeName ?? "blm_agent"}`;
}

/** Computes and checks the agent's parameters for one planned agent node. */
export function checkAgentParameters(
  proc: PlannedProcess,
  readFile: (file: string) => string = (f) => readFileSync(f, "utf8"),
): AgentParamsReport {
  const issues: ParamIssue[] = [];
  const fqn = nodeFqn(proc);
  const wildcard: Array<[string, TypedValue]> = [];
  const exact: Array<[string, TypedValue]> = [];
  for (const p of proc.parameters) {
    if (p.kind === "file") {
      let text: string;
      try {
        text = readFile(p.path);
      } catch (e) {
        issues.push({ source: p.path, message: `cannot read (${(e as Error).message})` });
        continue;
      }
      const r = readParamsFile(p.path, fqn, text, issues);
      wildcard.push(...r.wildcard);
      exact.push(...r.exact);
    } else {
      const v = typeRuleValue(p.value, `-p ${p.name}`, p.name, issues);
      if (v) wildcard.push([p.name, v]);
    }
  }
  const values = new Map<string, TypedValue>([...wildcard, ...exact]);
  const types = agentParameterTypes();
  for (const [name, v] of values) {
    const want = types[name];
    if (!want) {
      issues.push({
        source: v.source,
        name,
        message: `'${name}' is not a parameter of the agent (nodes/params.ts)`,
      });
      continue;
    }
    // The agent reads an integer override of a double parameter as that number (nodes/ros-params.ts).
    if (v.type !== want && !(want === "double" && v.type === "integer")) {
      issues.push({
        source: v.source,
        name,
        message: `'${name}' is ${v.type} ${JSON.stringify(v.value)} but is declared ${want}`,
      });
    }
  }
  const input = Object.fromEntries(
    [...values].filter(([n]) => n in types).map(([n, v]) => [n, v.value]),
  );
  const parsed = AgentParamsSchema.safeParse(input);
  const report: AgentParamsReport = { values, issues };
  if (parsed.success) report.params = parsed.data;
  else {
    for (const i of parsed.error.issues) {
      const name = String(i.path[0] ?? "");
      issues.push({
        source: values.get(name)?.source ?? "(not set)",
        name,
        message: `'${name}': ${i.message}`,
      });
    }
  }
  return report;
}

export function formatIssues(issues: readonly ParamIssue[]): string {
  return issues.map((i) => `${i.source}: ${i.message}`).join("\n");
}
