import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { fail, ok, type Result } from "../lib/errors.ts";
import { EMBODIMENT_NAMES, EmbodimentSchema, type Embodiment } from "./schema.ts";

export interface LoadOptions {
  /**
   * Joint-name prefix the robot's driver uses, one of the definition's joint_prefixes (Panda:
   * panda_, fer_, fr3_). Renames the arm and gripper joints and the controller/gripper
   * namespaces that carry the prefix. Only names change: an FR3 has its own limits.
   */
  prefix?: string;
}

/** Loads embodiments/<name>/embodiment.yaml and validates it. */
export function loadEmbodiment(name: string, opts: LoadOptions = {}): Result<Embodiment> {
  if (!(EMBODIMENT_NAMES as readonly string[]).includes(name)) {
    return fail(
      "E_UNKNOWN_EMBODIMENT",
      `unknown embodiment '${name}'; known: ${EMBODIMENT_NAMES.join(", ")}`,
    );
  }
  const file = definitionPath(name);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return fail("E_EMBODIMENT_DEFINITION", `${file}: cannot read (${(e as Error).message})`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    return fail("E_EMBODIMENT_DEFINITION", `${file}: invalid YAML (${(e as Error).message})`);
  }
  const parsed = parseEmbodiment(data, file);
  if (!parsed.ok || opts.prefix === undefined) return parsed;
  return withPrefix(parsed.value, opts.prefix);
}

/** Validates a definition already read from YAML or JSON; `source` names it in errors. */
export function parseEmbodiment(data: unknown, source = "embodiment"): Result<Embodiment> {
  const r = EmbodimentSchema.safeParse(data);
  if (r.success) return ok(r.data);
  return fail("E_EMBODIMENT_DEFINITION", `${source}: ${formatIssues(r.error)}`, {
    issues: r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
  });
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

export function definitionPath(name: string): string {
  return new URL(`./${name}/embodiment.yaml`, import.meta.url).pathname;
}

function withPrefix(emb: Embodiment, prefix: string): Result<Embodiment> {
  const from = emb.joint_prefixes[0];
  if (from === undefined || !emb.joint_prefixes.includes(prefix)) {
    const known = emb.joint_prefixes.length ? emb.joint_prefixes.join(", ") : "none";
    return fail("E_CONFIG", `${emb.name}: joint prefix '${prefix}' not supported; known: ${known}`);
  }
  if (prefix === from) return ok(emb);
  const rename = (s: string) => (s.startsWith(from) ? prefix + s.slice(from.length) : s);
  // Topics like /panda_arm_controller/... and /panda_gripper/... follow the prefix too.
  const renameTopic = (t: string) =>
    t.startsWith(`/${from}`) ? `/${prefix}${t.slice(from.length + 1)}` : t;
  return ok({
    ...emb,
    joints: emb.joints.map((j) => ({ ...j, name: rename(j.name) })),
    gripper: {
      ...emb.gripper,
      joint: rename(emb.gripper.joint),
      mimic_joints: emb.gripper.mimic_joints.map(rename),
      command: renameTopic(emb.gripper.command),
    },
    driver: { ...emb.driver, trajectory_topic: renameTopic(emb.driver.trajectory_topic) },
    joint_prefixes: [prefix, ...emb.joint_prefixes.filter((p) => p !== prefix)],
  });
}

/** JSON Schema of a definition file as written (defaults optional), for Python tools. */
export function embodimentJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(EmbodimentSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
}
