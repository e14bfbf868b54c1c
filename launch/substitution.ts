import { BlmError } from "../lib/errors.ts";

/**
 * ROS 2 launch substitutions, exactly those our launch files use:
 *   $(var NAME)               a launch configuration (<arg> or <let>)
 *   $(env NAME [DEFAULT])     an environment variable, DEFAULT when unset (error without one)
 *   $(find-pkg-share PKG)     a package's share directory
 *   $(dirname)                the directory of the launch file being read
 * Arguments are separated by whitespace and may be quoted ('...' or "...") or be substitutions
 * themselves: $(env BLM_MODEL $(find-pkg-share blm_agent)/models/test-tiny).
 */
export type Part = { kind: "text"; text: string } | { kind: "sub"; name: string; args: Part[][] };

export const SUBSTITUTIONS = {
  var: { min: 1, max: 1 },
  env: { min: 1, max: 2 },
  "find-pkg-share": { min: 1, max: 1 },
  dirname: { min: 0, max: 0 },
} as const;
export type SubstitutionName = keyof typeof SUBSTITUTIONS;

export interface SubstitutionContext {
  configuration(name: string): string | undefined;
  configurationNames(): string[];
  env(name: string): string | undefined;
  packageShare(pkg: string): string;
  dirname: string;
}

const isSpace = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";

/** Parses a template into text and substitution parts; throws E_CONFIG naming the problem. */
export function parseTemplate(template: string): Part[] {
  const p = new TemplateParser(template);
  const parts = p.parts(null);
  return parts;
}

class TemplateParser {
  private i = 0;
  constructor(private readonly s: string) {}

  private error(message: string): never {
    throw new BlmError("E_CONFIG", `in '${this.s}' at ${this.i + 1}: ${message}`);
  }

  /** Top level (stop = null) or one argument (stop = the closing quote, or " " for unquoted). */
  parts(stop: null | "'" | '"' | " "): Part[] {
    const out: Part[] = [];
    let text = "";
    const flush = () => {
      if (text) out.push({ kind: "text", text });
      text = "";
    };
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) {
        if (stop === "'" || stop === '"') this.error(`unterminated ${stop}-quoted argument`);
        if (stop === " ") this.error("unterminated $( ... )");
        break;
      }
      if (c === "$" && this.s[this.i + 1] === "(") {
        flush();
        out.push(this.substitution());
        continue;
      }
      if (stop === "'" || stop === '"') {
        if (c === stop) {
          this.i++;
          break;
        }
      } else if (stop === " ") {
        if (isSpace(c) || c === ")") break;
        if (c === "'" || c === '"') {
          this.i++;
          flush();
          out.push(...this.parts(c));
          continue;
        }
      }
      text += c;
      this.i++;
    }
    flush();
    return out;
  }

  private substitution(): Part {
    this.i += 2; // "$("
    while (isSpace(this.s[this.i])) this.i++;
    const start = this.i;
    while (this.i < this.s.length && /[A-Za-z0-9_-]/.test(this.s[this.i]!)) this.i++;
    const name = this.s.slice(start, this.i);
    if (!name) this.error("expected a substitution name after $(");
    const args: Part[][] = [];
    for (;;) {
      while (isSpace(this.s[this.i])) this.i++;
      const c = this.s[this.i];
      if (c === undefined) this.error(`unterminated $(${name} ...)`);
      if (c === ")") {
        this.i++;
        break;
      }
      args.push(this.parts(" "));
    }
    return { kind: "sub", name, args };
  }
}

/** Evaluates parsed parts to a string. */
export function evaluate(parts: Part[], ctx: SubstitutionContext): string {
  return parts.map((p) => (p.kind === "text" ? p.text : evaluateSubstitution(p, ctx))).join("");
}

/** Parses and evaluates a template. */
export function substitute(template: string, ctx: SubstitutionContext): string {
  return evaluate(parseTemplate(template), ctx);
}

function evaluateSubstitution(p: Extract<Part, { kind: "sub" }>, ctx: SubstitutionContext): string {
  const spec = (SUBSTITUTIONS as Record<string, { min: number; max: number }>)[p.name];
  if (!spec) {
    throw new BlmError(
      "E_CONFIG",
      `unknown substitution $(${p.name}); supported: ${Object.keys(SUBSTITUTIONS)
        .map((s) => `$(${s})`)
        .join(", ")}`,
    );
  }
  if (p.args.length < spec.min || p.args.length > spec.max) {
    const want = spec.min === spec.max ? `${spec.min}` : `${spec.min} or ${spec.max}`;
    throw new BlmError("E_CONFIG", `$(${p.name}) takes ${want} argument(s), got ${p.args.length}`);
  }
  const args = p.args.map((a) => evaluate(a, ctx));
  const name = p.name as SubstitutionName;
  switch (name) {
    case "var": {
      const value = ctx.configuration(args[0]!);
      if (value === undefined) {
        const known = ctx.configurationNames();
        throw new BlmError(
          "E_CONFIG",
          `$(var ${args[0]}): no launch argument or <let> named '${args[0]}' is set` +
            ` (set: ${known.length ? known.join(", ") : "none"})`,
        );
      }
      return value;
    }
    case "env": {
      const value = ctx.env(args[0]!);
      if (value !== undefined) return value;
      if (args.length === 2) return args[1]!;
      throw new BlmError(
        "E_CONFIG",
        `$(env ${args[0]}): environment variable '${args[0]}' is not set and has no default`,
      );
    }
    case "find-pkg-share":
      return ctx.packageShare(args[0]!);
    case "dirname":
      return ctx.dirname;
  }
}
