/**
 * Starts a launch file's graph without `ros2 launch` (DESIGN decision 6):
 *
 *   npm run launch -- launch/agent.launch.xml embodiment:=panda dry_run:=true
 *   npm run launch -- blm_agent sim.launch.xml task:=PushCube
 *   npm run launch -- --print launch/sim.launch.xml embodiment:=xarm7
 *
 * Options (before the file):
 *   --print       print each process's command line and exit; nothing is started
 *   --show-args   list the file's launch arguments and exit
 *   --no-check    start even if the agent's parameters fail the check against nodes/params.ts
 *   --log-dir D   folder for processes with output="log"/"both" (default out/launch/<time>)
 * Exit status: 0 when the launch ended cleanly or was stopped (SIGINT/SIGTERM), the exit code of
 * the first process that died otherwise, 2 for a launch file or parameter error.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { checkAgentParameters, formatIssues } from "./agent-params.ts";
import {
  formatCommand,
  parseLaunchArguments,
  resolveLaunch,
  type LaunchPlan,
  type PlannedProcess,
} from "./interpreter.ts";
import { AGENT_BIN, nodeHost, REPO_ROOT, repoShare, amentPrefix } from "./packages.ts";
import { Supervisor } from "./supervisor.ts";

const USAGE =
  "usage: npm run launch -- [--print] [--show-args] [--no-check] [--log-dir DIR] (FILE | PACKAGE FILE) [name:=value ...]";

interface Cli {
  print: boolean;
  showArgs: boolean;
  check: boolean;
  logDir?: string;
  file: string;
  args: string[];
}

function parseCli(argv: string[], env: NodeJS.ProcessEnv): Cli | string {
  const cli: Partial<Cli> & { print: boolean; showArgs: boolean; check: boolean } = {
    print: false,
    showArgs: false,
    check: true,
  };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--print") cli.print = true;
    else if (a === "--show-args" || a === "-s") cli.showArgs = true;
    else if (a === "--no-check") cli.check = false;
    else if (a === "--log-dir") {
      const d = argv[++i];
      if (!d) return "--log-dir needs a folder";
      cli.logDir = d;
    } else if (a === "-h" || a === "--help") return USAGE;
    else if (a.startsWith("--")) return `unknown option ${a}\n${USAGE}`;
    else rest.push(a);
  }
  const positional = rest.filter((a) => !a.includes(":="));
  const args = rest.filter((a) => a.includes(":="));
  const cwd = env.INIT_CWD ?? process.cwd();
  if (positional.length === 1) {
    cli.file = path.resolve(cwd, positional[0]!);
  } else if (positional.length === 2) {
    const [pkg, name] = positional as [string, string];
    const share =
      repoShare(pkg) ??
      (amentPrefix(pkg, env) ? path.join(amentPrefix(pkg, env)!, "share", pkg) : undefined);
    if (!share)
      return `package '${pkg}' not found (not in this repository, not on AMENT_PREFIX_PATH)`;
    const found = [path.join(share, name), path.join(share, "launch", name)].find((f) =>
      existsSync(f),
    );
    if (!found) return `no launch file '${name}' in ${share} or ${share}/launch`;
    cli.file = found;
  } else {
    return USAGE;
  }
  return { ...cli, args } as Cli;
}

/** The project's ROS 2 environment (scripts/ros-env.sh), unless this process already runs inside it. */
function rosEnv(): NodeJS.ProcessEnv {
  if (process.env.BLM_ROS_SOURCE) return process.env;
  const out = execFileSync("bash", ["-c", `source "${REPO_ROOT}/scripts/ros-env.sh" && env -0`], {
    encoding: "utf8",
  });
  const env: NodeJS.ProcessEnv = {};
  for (const entry of out.split("\0")) {
    const i = entry.indexOf("=");
    if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return env;
}

function describe(p: PlannedProcess): string {
  const what = p.kind === "node" ? `node ${p.package}/${p.executable}` : "executable";
  const env = Object.entries(p.env).map(([k, v]) => `${k}=${v}`);
  return `# ${p.label}: ${what}${p.required ? ", required" : ""} (${path.relative(REPO_ROOT, p.file)})\n${formatCommand([...(env.length ? ["env", ...env] : []), ...p.cmd])}`;
}

function showArgs(plan: LaunchPlan): string {
  return plan.arguments
    .map((a) => {
      const lines = [
        `'${a.name}' (${path.relative(REPO_ROOT, a.file)}):`,
        `    ${a.description ?? "no description"}`,
      ];
      if (a.choices) lines.push(`    choices: ${a.choices.join(", ")}`);
      lines.push(a.default !== undefined ? `    (default: '${a.default}')` : "    (required)");
      return lines.join("\n");
    })
    .join("\n\n");
}

/** Checks each agent node's parameters and that the agent's bin exists; returns problems. */
function preflight(plan: LaunchPlan, check: boolean): string[] {
  const problems: string[] = [];
  for (const p of plan.processes) {
    if (p.package !== "blm_agent") continue;
    if (!existsSync(path.join(REPO_ROOT, AGENT_BIN)))
      problems.push(`${p.label}: ${AGENT_BIN} does not exist`);
    if (!check) continue;
    const report = checkAgentParameters(p);
    if (report.issues.length)
      problems.push(
        `${p.label}: parameters do not match nodes/params.ts:\n${formatIssues(report.issues)}`,
      );
  }
  return problems;
}

async function main(): Promise<number> {
  const env = rosEnv();
  const cli = parseCli(process.argv.slice(2), env);
  if (typeof cli === "string") {
    console.error(cli);
    return cli === USAGE ? 0 : 2;
  }
  const args = parseLaunchArguments(cli.args);
  if (!args.ok) {
    console.error(args.error.message);
    return 2;
  }
  const plan = resolveLaunch(cli.file, args.value, nodeHost({ env }));
  if (!plan.ok) {
    console.error(plan.error.message);
    return 2;
  }
  if (cli.showArgs) {
    console.log(showArgs(plan.value));
    return 0;
  }
  const problems = preflight(plan.value, cli.check);
  if (cli.print) {
    console.log(plan.value.processes.map(describe).join("\n"));
    if (problems.length) console.error(problems.join("\n"));
    return problems.length ? 2 : 0;
  }
  if (problems.length) {
    console.error(`${problems.join("\n")}\n(--no-check starts it anyway)`);
    return 2;
  }
  const logDir =
    cli.logDir ??
    path.join(REPO_ROOT, "out", "launch", new Date().toISOString().replace(/[:.]/g, "-"));
  const supervisor = new Supervisor({ env, logDir, cwd: REPO_ROOT });
  for (const p of plan.value.processes)
    console.log(`[INFO] [launch]: ${p.label}: ${formatCommand(p.cmd)}`);
  supervisor.handleSignals();
  supervisor.start(plan.value.processes);
  return supervisor.done;
}

process.exitCode = await main();
