/**
 * Where packages and their executables are, for the launch interpreter on this checkout:
 * `blm_agent` and `blm_sim` map to the repository itself (the agent's bin, the sim's Python
 * module), anything else is looked up the way ros2 launch does, in the ament resource index of
 * each prefix on AMENT_PREFIX_PATH (`<prefix>/lib/<pkg>/<exec>`, `<prefix>/share/<pkg>`).
 *
 * The same table drives scripts/install-ament.sh's wrappers (checked by a test), so that
 * `ros2 launch blm_agent agent.launch.xml` runs what `npm run launch` runs.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BlmError } from "../lib/errors.ts";
import type { ExecutableCommand, LaunchHost } from "./interpreter.ts";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The agent's entry: `blm-agent [observer|brain|policy|controller]` (package.json `bin`). */
export const AGENT_BIN = "bin/blm-agent.js";
/** Executables of package blm_agent: the composed agent and one per node. */
export const AGENT_EXECUTABLES = {
  "blm-agent": [],
  observer: ["observer"],
  brain: ["brain"],
  policy: ["policy"],
  controller: ["controller"],
} as const satisfies Record<string, readonly string[]>;
/** Executables of package blm_sim: Python modules under sim/ (`python -m blm_sim.node`). */
export const SIM_EXECUTABLES = { sim_node: "blm_sim.node" } as const satisfies Record<
  string,
  string
>;

export interface RepoPackagesOptions {
  root?: string;
  env?: NodeJS.ProcessEnv;
  /** false: resolve blm_agent and blm_sim like any package, through AMENT_PREFIX_PATH (as ros2 launch does). */
  repoPackages?: boolean;
}

/** The command that runs the agent's bin with these leading arguments. */
export function agentCommand(root: string, leading: readonly string[]): string[] {
  return [process.execPath, path.join(root, AGENT_BIN), ...leading];
}

export function repoExecutable(
  pkg: string,
  exec: string,
  opts: RepoPackagesOptions = {},
): ExecutableCommand | undefined {
  const root = opts.root ?? REPO_ROOT;
  const env = opts.env ?? process.env;
  if (pkg === "blm_agent") {
    const leading = (AGENT_EXECUTABLES as Record<string, readonly string[]>)[exec];
    if (!leading) {
      throw new BlmError(
        "E_CONFIG",
        `package blm_agent has no executable '${exec}'; it has ${Object.keys(AGENT_EXECUTABLES).join(", ")}`,
      );
    }
    return { cmd: agentCommand(root, leading) };
  }
  if (pkg === "blm_sim") {
    const module = (SIM_EXECUTABLES as Record<string, string>)[exec];
    if (!module) {
      throw new BlmError(
        "E_CONFIG",
        `package blm_sim has no executable '${exec}'; it has ${Object.keys(SIM_EXECUTABLES).join(", ")}`,
      );
    }
    const simDir = path.join(root, "sim");
    const pythonPath = env.PYTHONPATH ? `${simDir}:${env.PYTHONPATH}` : simDir;
    return { cmd: [env.BLM_PYTHON ?? "python3", "-m", module], env: { PYTHONPATH: pythonPath } };
  }
  return undefined;
}

export function repoShare(pkg: string, root = REPO_ROOT): string | undefined {
  if (pkg === "blm_agent") return root;
  if (pkg === "blm_sim") return path.join(root, "sim");
  return undefined;
}

/** `<prefix>` of an installed ament package on AMENT_PREFIX_PATH, as ament_index finds it. */
export function amentPrefix(pkg: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const prefix of (env.AMENT_PREFIX_PATH ?? "").split(":").filter(Boolean)) {
    if (existsSync(path.join(prefix, "share", "ament_index", "resource_index", "packages", pkg)))
      return prefix;
  }
  return undefined;
}

function notFound(pkg: string): BlmError {
  return new BlmError(
    "E_CONFIG",
    `package '${pkg}' not found: it is neither blm_agent nor blm_sim (this repository) nor on AMENT_PREFIX_PATH`,
  );
}

/** The host the CLI and the tests use: real files, the process environment, the packages above. */
export function nodeHost(opts: RepoPackagesOptions = {}): LaunchHost {
  const root = opts.root ?? REPO_ROOT;
  const env = opts.env ?? process.env;
  const repo = opts.repoPackages ?? true;
  return {
    readFile: (file) => readFileSync(file, "utf8"),
    fileExists: (file) => existsSync(file) && statSync(file).isFile(),
    env: (name) => env[name],
    packageShare(pkg) {
      const share = repo ? repoShare(pkg, root) : undefined;
      if (share) return share;
      const prefix = amentPrefix(pkg, env);
      if (!prefix) throw notFound(pkg);
      return path.join(prefix, "share", pkg);
    },
    executable(pkg, exec) {
      const local = repo ? repoExecutable(pkg, exec, { root, env }) : undefined;
      if (local) return local;
      const prefix = amentPrefix(pkg, env);
      if (!prefix) throw notFound(pkg);
      const file = path.join(prefix, "lib", pkg, exec);
      try {
        accessSync(file, constants.X_OK);
      } catch {
        throw new BlmError(
          "E_CONFIG",
          `package '${pkg}' (${prefix}) has no executable '${exec}' in lib/${pkg}/`,
        );
      }
      return { cmd: [file] };
    },
  };
}
