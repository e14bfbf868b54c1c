/**
 * Runs the processes of a launch plan the way ros2 launch does: each in its own process group,
 * its output prefixed with `[label] `, SIGINT/SIGTERM forwarded (SIGINT, then SIGTERM after
 * `sigintTimeoutMs`, then SIGKILL), and the whole launch shut down when a required process
 * (on_exit="shutdown") exits or when every process has exited.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { formatCommand, type PlannedProcess } from "./interpreter.ts";

export interface SupervisorOptions {
  /** Where console lines go (default: stdout). */
  write?: (line: string) => void;
  /** Folder for the output of processes with output="log" or "both" (one file each). */
  logDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Command put in front of every process (e.g. scripts/with-env.sh when not already inside). */
  wrapper?: string[];
  cwd?: string;
  sigintTimeoutMs?: number;
  sigtermTimeoutMs?: number;
}

export interface ProcessExit {
  label: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Running {
  proc: PlannedProcess;
  child: ChildProcess;
  exit?: ProcessExit;
  log?: WriteStream;
  /** Settles once the log file has been flushed and closed (at once when there is none). */
  logClosed?: Promise<void>;
}

export class Supervisor {
  private readonly running: Running[] = [];
  private readonly write: (line: string) => void;
  private stopping: string | null = null;
  private failure: ProcessExit | null = null;
  private resolveDone!: (code: number) => void;
  /** Resolves with the launch's exit status once every process has exited. */
  readonly done: Promise<number>;
  readonly exits: ProcessExit[] = [];
  private readonly killOnExit = () => {
    for (const r of this.running) if (!r.exit) signalGroup(r.child, "SIGKILL");
  };

  constructor(private readonly opts: SupervisorOptions = {}) {
    this.write = opts.write ?? ((line) => process.stdout.write(`${line}\n`));
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(processes: readonly PlannedProcess[]): void {
    process.once("exit", this.killOnExit);
    for (const proc of processes) this.spawnOne(proc);
    if (!processes.length) this.finish();
  }

  private spawnOne(proc: PlannedProcess): void {
    const cmd = [...(this.opts.wrapper ?? []), ...proc.cmd];
    const child = spawn(cmd[0]!, cmd.slice(1), {
      cwd: this.opts.cwd,
      env: { ...(this.opts.env ?? process.env), ...proc.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const r: Running = { proc, child };
    this.running.push(r);
    if ((proc.output === "log" || proc.output === "both") && this.opts.logDir) {
      mkdirSync(this.opts.logDir, { recursive: true });
      r.log = createWriteStream(path.join(this.opts.logDir, `${proc.label}.log`));
    }
    const toScreen = proc.output === "screen" || proc.output === "both";
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => {
        if (toScreen) this.write(`[${proc.label}] ${line}`);
        r.log?.write(`${line}\n`);
      });
    }
    child.on("error", (e) => {
      this.write(`[ERROR] [${proc.label}]: cannot start '${cmd[0]}': ${e.message}`);
    });
    child.on("spawn", () => {
      this.write(`[INFO] [${proc.label}]: process started with pid [${child.pid}]`);
    });
    child.on("close", (code, signal) => this.onExit(r, code, signal));
  }

  private onExit(r: Running, code: number | null, signal: NodeJS.Signals | null): void {
    const exit: ProcessExit = { label: r.proc.label, pid: r.child.pid, code, signal };
    r.exit = exit;
    this.exits.push(exit);
    const log = r.log;
    r.logClosed = log ? new Promise((resolve) => log.end(() => resolve())) : Promise.resolve();
    const clean =
      code === 0 || (this.stopping !== null && (signal !== null || code === 130 || code === 143));
    if (clean) {
      this.write(`[INFO] [${r.proc.label}]: process has finished cleanly [pid ${r.child.pid}]`);
    } else {
      this.write(
        `[ERROR] [${r.proc.label}]: process has died [pid ${r.child.pid}, exit code ${code ?? signal}, cmd '${formatCommand(r.proc.cmd)}']`,
      );
      if (this.stopping === null && !this.failure) this.failure = exit;
    }
    if (r.proc.required && this.stopping === null) {
      void this.shutdown(`required process ${r.proc.label} exited`);
    }
    if (this.running.every((x) => x.exit)) this.finish();
  }

  private finish(): void {
    process.removeListener("exit", this.killOnExit);
    const f = this.failure;
    const status = f ? (f.code !== null && f.code !== 0 ? f.code : 1) : 0;
    // A caller reading the log files after `done` must find everything the processes wrote.
    void Promise.all(this.running.map((r) => r.logClosed)).then(() => this.resolveDone(status));
  }

  /** Stops every running process: SIGINT, then SIGTERM, then SIGKILL. */
  async shutdown(reason: string): Promise<number> {
    if (this.stopping === null) {
      this.stopping = reason;
      const alive = () => this.running.filter((r) => !r.exit);
      if (alive().length) this.write(`[INFO] [launch]: shutting down (${reason})`);
      for (const r of alive()) signalGroup(r.child, "SIGINT");
      const t1 = setTimeout(() => {
        for (const r of alive()) {
          this.write(
            `[WARNING] [launch]: ${r.proc.label} still running after SIGINT; sending SIGTERM`,
          );
          signalGroup(r.child, "SIGTERM");
        }
      }, this.opts.sigintTimeoutMs ?? 5000);
      const t2 = setTimeout(
        () => {
          for (const r of alive()) {
            this.write(
              `[ERROR] [launch]: ${r.proc.label} still running after SIGTERM; sending SIGKILL`,
            );
            signalGroup(r.child, "SIGKILL");
          }
        },
        (this.opts.sigintTimeoutMs ?? 5000) + (this.opts.sigtermTimeoutMs ?? 5000),
      );
      void this.done.then(() => {
        clearTimeout(t1);
        clearTimeout(t2);
      });
    }
    return this.done;
  }

  /** Forwards SIGINT and SIGTERM of this process to the launched ones. */
  handleSignals(): void {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      process.on(sig, () => void this.shutdown(`${sig} received`));
    }
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
