/**
 * The simulation graph of launch/sim.launch.xml (the MuJoCo sim and the agent on sim time),
 * started exactly as `npm run launch -- launch/sim.launch.xml ...` starts it: the launch runner
 * (launch/run.ts, the project's launch interpreter) in a child process, its output in a log file.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../../launch/packages.ts";

export const SIM_LAUNCH_FILE = "launch/sim.launch.xml";

const launchArgv = (args: Record<string, string | number | boolean>) =>
  Object.entries(args).map(([k, v]) => `${k}:=${v}`);

export class SimGraph {
  private exitCode: number | null | undefined = undefined;
  /** Resolves with the launch's exit status (null after a signal) once it has exited. */
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.on("exit", (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
    // Never leave a graph behind: the launch runner stops its processes on SIGTERM.
    process.once("exit", this.killOnExit);
  }

  private readonly killOnExit = () => {
    if (this.running) this.child.kill("SIGTERM");
  };

  /**
   * The launch runner's own preflight of these arguments (`--print`: the launch file resolves, the
   * agent's parameters, its params file's included, check against nodes/params.ts), starting
   * nothing: null when the graph would start, else the runner's reasons.
   */
  static check(args: Record<string, string | number | boolean>): string | null {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "launch/run.ts", "--print", SIM_LAUNCH_FILE, ...launchArgv(args)],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
    return r.status === 0 ? null : r.stderr.trim() || `launch/run.ts --print exited ${r.status}`;
  }

  /** Starts the graph with these launch arguments (`name:=value`), appending its output to `logFile`. */
  static start(args: Record<string, string | number | boolean>, logFile: string): SimGraph {
    mkdirSync(path.dirname(logFile), { recursive: true });
    const log = createWriteStream(logFile, { flags: "a" });
    log.write(`--- ${new Date().toISOString()} ${SIM_LAUNCH_FILE} ${JSON.stringify(args)}\n`);
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "launch/run.ts",
        "--log-dir",
        path.dirname(logFile),
        SIM_LAUNCH_FILE,
        ...launchArgv(args),
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    child.on("exit", () => setTimeout(() => log.end(), 100));
    return new SimGraph(child, logFile);
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The launch runner shuts its processes down on SIGINT (then SIGTERM, then SIGKILL, within 10 s). */
  async stop(timeoutMs = 20_000): Promise<void> {
    process.removeListener("exit", this.killOnExit);
    if (!this.running) return;
    this.child.kill("SIGINT");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
