/**
 * A small interpreter of ROS 2 launch XML (DESIGN decision 6): exactly the tags, attributes and
 * substitutions our launch files use, so that the demo, eval and tests start graphs from the
 * same XML that `ros2 launch` reads on a robot. Anything else fails with a message naming it.
 *
 *   <launch>                                      root
 *   <arg name default? description?>              a launch argument; <choice value/> children
 *   <let name value>                              sets a launch configuration
 *   <node pkg exec name? namespace? args? output? on_exit?>   a ROS node, with
 *       <param name value/> | <param from="file.yaml"/>  and  <remap from to/>  children
 *   <executable cmd name? output? on_exit?>       any other process
 *   <include file>                                another launch file; <arg name value/> children
 *   substitutions: see substitution.ts
 *
 * Semantics follow launch / launch_ros: one set of launch configurations shared by a file and the
 * files it includes (an include's <arg> children are set before the file is read), an <arg> keeps a
 * value that is already set and otherwise takes its default, and each node becomes
 *   EXEC [args] --ros-args [-r __node:=NAME] [-r __ns:=NS] (--params-file F | -p N:=V)... (-r FROM:=TO)...
 * in the order the children are written. The one deliberate difference: launch_ros writes each
 * <param name value> into a temporary `/**` params file, we pass it as `-p name:=value`, which rcl
 * merges in the same order with the same precedence. Stricter than ros2 launch, on purpose:
 * unknown command-line arguments, missing params files and relative file paths are errors.
 *
 * File and environment access go through a `LaunchHost`, so the interpreter runs on strings in
 * tests; `packages.ts` provides the real one.
 */
import path from "node:path";
import { z } from "zod";
import { BlmError, fail, ok, type Result } from "../lib/errors.ts";
import { substitute, type SubstitutionContext } from "./substitution.ts";
import { parseXml, type XmlElement } from "./xml.ts";

export interface ExecutableCommand {
  /** The command that runs the package's executable here (e.g. node bin/blm-agent.js). */
  cmd: string[];
  /** Extra environment it needs (e.g. PYTHONPATH for the sim's module). */
  env?: Record<string, string>;
}

export interface LaunchHost {
  readFile(file: string): string;
  fileExists(file: string): boolean;
  env(name: string): string | undefined;
  /** The package's share directory; throws E_CONFIG when the package is unknown. */
  packageShare(pkg: string): string;
  /** How to run `exec` of `pkg`; throws E_CONFIG when either is unknown. */
  executable(pkg: string, exec: string): ExecutableCommand;
}

export type ParameterSource =
  { kind: "file"; path: string } | { kind: "value"; name: string; value: string };

export interface Remapping {
  from: string;
  to: string;
}

export type OutputMode = "screen" | "log" | "both";

export interface PlannedProcess {
  /** Output prefix, as ros2 launch names processes: `<exec or name>-<n>`. */
  label: string;
  kind: "node" | "executable";
  /** The launch file it was declared in. */
  file: string;
  package?: string;
  executable: string;
  nodeName?: string;
  namespace?: string;
  /** Positional arguments before --ros-args (node `args`, or executable `cmd` after the first). */
  arguments: string[];
  parameters: ParameterSource[];
  remappings: Remapping[];
  /** `--ros-args ...` exactly as ros2 launch passes them (nodes only; empty for executables). */
  rosArgs: string[];
  /** The full command line: host executable + arguments + rosArgs. */
  cmd: string[];
  env: Record<string, string>;
  output: OutputMode;
  /** on_exit="shutdown": when it exits, the whole launch shuts down. */
  required: boolean;
}

export interface DeclaredArgument {
  name: string;
  file: string;
  default?: string;
  description?: string;
  choices?: string[];
  /** The value it resolved to. */
  value: string;
}

export interface LaunchPlan {
  file: string;
  arguments: DeclaredArgument[];
  processes: PlannedProcess[];
  configurations: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// The tags: attribute schemas (zod, strict: an unknown attribute is an error) and allowed children.

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const str = () => z.string();
const nonEmpty = () => z.string().min(1, "must not be empty");
const OutputSchema = z.enum(["screen", "log", "both"]);

interface TagSpec {
  attrs: z.ZodType<Record<string, string | undefined>>;
  children: readonly string[];
}

const TAGS: Record<string, TagSpec> = {
  launch: {
    attrs: z.strictObject({ version: str().optional() }),
    children: ["arg", "let", "node", "executable", "include"],
  },
  arg: {
    attrs: z.strictObject({
      name: z.string().regex(NAME, "must be a plain identifier"),
      default: str().optional(),
      description: str().optional(),
    }),
    children: ["choice"],
  },
  choice: { attrs: z.strictObject({ value: str() }), children: [] },
  let: { attrs: z.strictObject({ name: nonEmpty(), value: str() }), children: [] },
  node: {
    attrs: z.strictObject({
      pkg: nonEmpty(),
      exec: nonEmpty(),
      name: nonEmpty().optional(),
      namespace: str().optional(),
      args: str().optional(),
      output: OutputSchema.optional(),
      on_exit: z.literal("shutdown").optional(),
    }),
    children: ["param", "remap"],
  },
  executable: {
    attrs: z.strictObject({
      cmd: nonEmpty(),
      name: nonEmpty().optional(),
      output: OutputSchema.optional(),
      on_exit: z.literal("shutdown").optional(),
    }),
    children: [],
  },
  param: {
    attrs: z
      .strictObject({
        name: nonEmpty().optional(),
        value: str().optional(),
        from: nonEmpty().optional(),
      })
      .refine((a) => (a.from !== undefined) !== (a.name !== undefined || a.value !== undefined), {
        message: "needs either name and value, or from (a params file), not both",
      })
      .refine((a) => a.from !== undefined || (a.name !== undefined && a.value !== undefined), {
        message: "needs both name and value",
      }),
    children: [],
  },
  remap: { attrs: z.strictObject({ from: nonEmpty(), to: nonEmpty() }), children: [] },
  include: { attrs: z.strictObject({ file: nonEmpty() }), children: ["arg"] },
  // <arg> inside <include> passes a value; it declares nothing.
  "include>arg": {
    attrs: z.strictObject({
      name: z.string().regex(NAME, "must be a plain identifier"),
      value: str(),
    }),
    children: [],
  },
};

function specOf(parent: string | null, tag: string): TagSpec | undefined {
  return (parent !== null ? TAGS[`${parent}>${tag}`] : undefined) ?? TAGS[tag];
}

/** Validates a whole file's tree: tags, attributes, children, no stray text. Throws E_CONFIG. */
function validateTree(el: XmlElement, parent: string | null, file: string): void {
  const where = `${file}: <${el.tag}> (${el.path})`;
  const spec = specOf(parent, el.tag);
  if (!spec) {
    throw new BlmError(
      "E_CONFIG",
      `${where}: unknown tag <${el.tag}>; this interpreter reads only ${knownTags()}`,
    );
  }
  const parsed = spec.attrs.safeParse(el.attrs);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      if (i.code === "unrecognized_keys") {
        return `unknown attribute${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `'${k}'`).join(", ")}`;
      }
      const key = i.path.join(".");
      if (key && el.attrs[key] === undefined) return `missing attribute '${key}'`;
      return key ? `attribute '${key}': ${i.message}` : i.message;
    });
    throw new BlmError("E_CONFIG", `${where}: ${problems.join("; ")}`);
  }
  if (el.text)
    throw new BlmError("E_CONFIG", `${where}: unexpected text '${el.text.slice(0, 40)}'`);
  for (const child of el.children) {
    if (!spec.children.includes(child.tag)) {
      const allowed = spec.children.length
        ? spec.children.map((c) => `<${c}>`).join(", ")
        : "nothing";
      const known = specOf(el.tag, child.tag) !== undefined;
      throw new BlmError(
        "E_CONFIG",
        `${file}: <${child.tag}> (${child.path}): ${known ? `not allowed inside <${el.tag}>` : "unknown tag"}; <${el.tag}> may contain ${allowed}`,
      );
    }
    validateTree(child, el.tag, file);
  }
}

function knownTags(): string {
  return Object.keys(TAGS)
    .filter((t) => !t.includes(">"))
    .map((t) => `<${t}>`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------------

/**
 * Reads `file` with the given command-line arguments (`name:=value` pairs already split) and
 * returns every declared argument and every process with its exact command line.
 */
export function resolveLaunch(
  file: string,
  args: Record<string, string>,
  host: LaunchHost,
): Result<LaunchPlan> {
  try {
    return ok(new Walker(host, args).run(path.resolve(file)));
  } catch (e) {
    if (e instanceof BlmError) return { ok: false, error: e };
    return fail("E_CONFIG", `${file}: ${(e as Error).message}`);
  }
}

/** Splits `name:=value` command-line arguments (ros2 launch's syntax). */
export function parseLaunchArguments(argv: string[]): Result<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const a of argv) {
    const i = a.indexOf(":=");
    if (i <= 0) return fail("E_CONFIG", `launch argument '${a}' is not of the form name:=value`);
    out[a.slice(0, i)] = a.slice(i + 2);
  }
  return ok(out);
}

class Walker {
  private readonly config = new Map<string, string>();
  private readonly declared: DeclaredArgument[] = [];
  private readonly processes: PlannedProcess[] = [];
  private readonly stack: string[] = [];

  constructor(
    private readonly host: LaunchHost,
    private readonly cliArgs: Record<string, string>,
  ) {
    for (const [k, v] of Object.entries(cliArgs)) this.config.set(k, v);
  }

  run(file: string): LaunchPlan {
    this.readFile(file);
    const declaredNames = new Set(this.declared.map((a) => a.name));
    const unknown = Object.keys(this.cliArgs).filter((k) => !declaredNames.has(k));
    if (unknown.length) {
      throw new BlmError(
        "E_CONFIG",
        `${file}: unknown launch argument${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; declared: ${[...declaredNames].join(", ")}`,
      );
    }
    return {
      file,
      arguments: this.declared,
      processes: this.processes,
      configurations: Object.fromEntries(this.config),
    };
  }

  private readFile(file: string): void {
    if (this.stack.includes(file)) {
      throw new BlmError(
        "E_CONFIG",
        `${file}: included recursively (${[...this.stack, file].join(" -> ")})`,
      );
    }
    let text: string;
    try {
      text = this.host.readFile(file);
    } catch (e) {
      throw new BlmError("E_CONFIG", `${file}: cannot read launch file (${(e as Error).message})`);
    }
    const root = parseXml(text, file);
    if (!root.ok) throw root.error;
    if (root.value.tag !== "launch") {
      throw new BlmError(
        "E_CONFIG",
        `${file}: root element is <${root.value.tag}>, expected <launch>`,
      );
    }
    validateTree(root.value, null, file);
    this.checkRequired(root.value, file);
    this.stack.push(file);
    for (const el of root.value.children) this.element(el, file);
    this.stack.pop();
  }

  /** Every required <arg> (no default) of this file that nothing has set, named at once. */
  private checkRequired(root: XmlElement, file: string): void {
    const missing = root.children
      .filter(
        (el) =>
          el.tag === "arg" && el.attrs.default === undefined && !this.config.has(el.attrs.name!),
      )
      .map((el) => `${el.attrs.name}${el.attrs.description ? ` (${el.attrs.description})` : ""}`);
    if (!missing.length) return;
    const declared = new Set(
      root.children.filter((el) => el.tag === "arg").map((el) => el.attrs.name!),
    );
    const stray = this.stack.length
      ? []
      : Object.keys(this.cliArgs).filter((k) => !declared.has(k));
    throw new BlmError(
      "E_CONFIG",
      `${file}: required launch argument${missing.length > 1 ? "s" : ""} not given: ${missing.join("; ")}` +
        (stray.length ? ` (given but not declared here: ${stray.join(", ")})` : "") +
        `; pass ${missing.length > 1 ? "them" : "it"} as name:=value`,
    );
  }

  private ctx(file: string): SubstitutionContext {
    return {
      configuration: (n) => this.config.get(n),
      configurationNames: () => [...this.config.keys()],
      env: (n) => this.host.env(n),
      packageShare: (pkg) => this.host.packageShare(pkg),
      dirname: path.dirname(file),
    };
  }

  private sub(template: string, file: string, where: string): string {
    try {
      return substitute(template, this.ctx(file));
    } catch (e) {
      if (e instanceof BlmError)
        throw new BlmError("E_CONFIG", `${where}: ${e.message.replace(/^E_CONFIG: /, "")}`);
      throw e;
    }
  }

  private element(el: XmlElement, file: string): void {
    const where = `${file}: <${el.tag}> (${el.path})`;
    const a = el.attrs;
    switch (el.tag) {
      case "arg":
        return this.arg(el, file, where);
      case "let":
        this.config.set(this.sub(a.name!, file, where), this.sub(a.value!, file, where));
        return;
      case "include":
        return this.include(el, file, where);
      case "node":
        return this.node(el, file, where);
      case "executable":
        return this.executable(el, file, where);
    }
  }

  private arg(el: XmlElement, file: string, where: string): void {
    const name = el.attrs.name!;
    const choices = el.children.map((c) => c.attrs.value!);
    let value = this.config.get(name);
    if (value === undefined) {
      // checkRequired has made sure a default exists.
      value = this.sub(el.attrs.default!, file, where);
      this.config.set(name, value);
    }
    if (choices.length && !choices.includes(value)) {
      throw new BlmError(
        "E_CONFIG",
        `${where}: argument '${name}' is '${value}', not one of: ${choices.join(", ")}`,
      );
    }
    this.declared.push({
      name,
      file,
      value,
      ...(el.attrs.default !== undefined ? { default: el.attrs.default } : {}),
      ...(el.attrs.description !== undefined ? { description: el.attrs.description } : {}),
      ...(choices.length ? { choices } : {}),
    });
  }

  private include(el: XmlElement, file: string, where: string): void {
    const target = this.absoluteFile(this.sub(el.attrs.file!, file, where), where, "include file");
    // Values are evaluated in the including file's context, then all set, then the file is read.
    const values = el.children.map(
      (c) => [c.attrs.name!, this.sub(c.attrs.value!, file, `${file}: <arg> (${c.path})`)] as const,
    );
    for (const [k, v] of values) this.config.set(k, v);
    this.readFile(target);
  }

  private absoluteFile(p: string, where: string, what: string): string {
    if (!path.isAbsolute(p)) {
      throw new BlmError(
        "E_CONFIG",
        `${where}: ${what} '${p}' is relative; write $(dirname)/... or $(find-pkg-share PKG)/... so it does not depend on the working directory`,
      );
    }
    if (!this.host.fileExists(p))
      throw new BlmError("E_CONFIG", `${where}: ${what} '${p}' does not exist`);
    return path.normalize(p);
  }

  private node(el: XmlElement, file: string, where: string): void {
    const a = el.attrs;
    const pkg = this.sub(a.pkg!, file, where);
    const exec = this.sub(a.exec!, file, where);
    const nodeName = a.name !== undefined ? this.sub(a.name, file, where) : undefined;
    if (nodeName !== undefined && !NAME.test(nodeName)) {
      throw new BlmError(
        "E_CONFIG",
        `${where}: node name '${nodeName}' is not a valid ROS node name`,
      );
    }
    let namespace: string | undefined;
    if (a.namespace !== undefined) {
      const ns = this.sub(a.namespace, file, where);
      namespace = ns.startsWith("/") ? ns : `/${ns}`;
      if (namespace.length > 1 && namespace.endsWith("/")) namespace = namespace.slice(0, -1);
      if (!/^\/([A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*)?$/.test(namespace)) {
        throw new BlmError("E_CONFIG", `${where}: namespace '${ns}' is not a valid ROS namespace`);
      }
    }
    const args =
      a.args !== undefined ? splitCommandLine(a.args).map((t) => this.sub(t, file, where)) : [];
    const parameters: ParameterSource[] = [];
    const remappings: Remapping[] = [];
    for (const c of el.children) {
      const cw = `${file}: <${c.tag}> (${c.path})`;
      if (c.tag === "param" && c.attrs.from !== undefined) {
        parameters.push({
          kind: "file",
          path: this.absoluteFile(this.sub(c.attrs.from, file, cw), cw, "params file"),
        });
      } else if (c.tag === "param") {
        const name = this.sub(c.attrs.name!, file, cw);
        if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name))
          throw new BlmError("E_CONFIG", `${cw}: '${name}' is not a valid parameter name`);
        parameters.push({ kind: "value", name, value: this.sub(c.attrs.value!, file, cw) });
      } else {
        const from = this.sub(c.attrs.from!, file, cw);
        const to = this.sub(c.attrs.to!, file, cw);
        if (!from || !to)
          throw new BlmError(
            "E_CONFIG",
            `${cw}: remap needs non-empty names (from '${from}' to '${to}')`,
          );
        remappings.push({ from, to });
      }
    }
    const rosArgs = ["--ros-args"];
    if (nodeName !== undefined) rosArgs.push("-r", `__node:=${nodeName}`);
    if (namespace !== undefined) rosArgs.push("-r", `__ns:=${namespace}`);
    for (const p of parameters) {
      if (p.kind === "file") rosArgs.push("--params-file", p.path);
      else rosArgs.push("-p", `${p.name}:=${p.value === "" ? "''" : p.value}`);
    }
    for (const r of remappings) rosArgs.push("-r", `${r.from}:=${r.to}`);
    const resolved = this.resolveExecutable(pkg, exec, where);
    this.processes.push({
      label: this.label(exec),
      kind: "node",
      file,
      package: pkg,
      executable: exec,
      ...(nodeName !== undefined ? { nodeName } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      arguments: args,
      parameters,
      remappings,
      rosArgs,
      cmd: [...resolved.cmd, ...args, ...rosArgs],
      env: resolved.env ?? {},
      output: (a.output as OutputMode | undefined) ?? "log",
      required: a.on_exit === "shutdown",
    });
  }

  private executable(el: XmlElement, file: string, where: string): void {
    const a = el.attrs;
    const cmd = splitCommandLine(a.cmd!).map((t) => this.sub(t, file, where));
    if (!cmd.length || !cmd[0]) throw new BlmError("E_CONFIG", `${where}: cmd is empty`);
    const name = a.name !== undefined ? this.sub(a.name, file, where) : cmd[0];
    this.processes.push({
      label: this.label(name),
      kind: "executable",
      file,
      executable: cmd[0],
      arguments: cmd.slice(1),
      parameters: [],
      remappings: [],
      rosArgs: [],
      cmd,
      env: {},
      output: (a.output as OutputMode | undefined) ?? "log",
      required: a.on_exit === "shutdown",
    });
  }

  private resolveExecutable(pkg: string, exec: string, where: string): ExecutableCommand {
    try {
      return this.host.executable(pkg, exec);
    } catch (e) {
      if (e instanceof BlmError)
        throw new BlmError("E_CONFIG", `${where}: ${e.message.replace(/^E_CONFIG: /, "")}`);
      throw e;
    }
  }

  private label(name: string): string {
    return `${path.basename(name)}-${this.processes.length + 1}`;
  }
}

/**
 * Splits a command line (executable `cmd`, node `args`) at whitespace outside quotes and
 * outside $( ... ), keeping each token's substitutions for later evaluation.
 */
export function splitCommandLine(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let depth = 0;
  let quote: string | null = null;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
      continue;
    }
    if (depth === 0 && (c === "'" || c === '"')) {
      quote = c;
      started = true;
      continue;
    }
    if (c === "$" && s[i + 1] === "(") {
      depth++;
      cur += "$(";
      i++;
      started = true;
      continue;
    }
    if (depth > 0 && c === ")") depth--;
    if (depth === 0 && /\s/.test(c)) {
      if (started) out.push(cur);
      cur = "";
      started = false;
      continue;
    }
    cur += c;
    started = true;
  }
  if (quote) throw new BlmError("E_CONFIG", `unterminated quote in '${s}'`);
  if (started) out.push(cur);
  return out;
}

/** One shell-quoted line for logs and --print. */
export function formatCommand(cmd: readonly string[]): string {
  return cmd
    .map((t) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(t) ? t : `'${t.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}
