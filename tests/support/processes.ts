import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PYTHON = process.env.BLM_PYTHON ?? "python3";

/** A child process whose stdout is read line by line; killed by `stop()` or at test end. */
export class Peer {
  readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly watches = new Set<string[]>();
  private stderr = "";

  constructor(
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv = process.env,
    opts: { stdin?: boolean } = {},
  ) {
    this.child = spawn(command, args, {
      cwd: REPO_ROOT,
      env,
      stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      this.watches.forEach((w) => w.push(line));
      this.waiters.splice(0).forEach((w) => w());
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
  }

  /** Resolves with the first line (after those already taken) that satisfies `match`. */
  async nextLine(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.lines.findIndex(match);
      if (index >= 0) return this.lines.splice(0, index + 1).pop()!;
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(
          `no matching line from ${this.child.spawnfile} within ${timeoutMs} ms ` +
            `(exit ${this.child.exitCode}); stderr: ${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Every line from now on, whatever `nextLine` takes: `nextLine` drops the lines before its match,
   * so a line another wait is after (a goal's result while a command waits for its "ok") must be
   * watched, not waited for concurrently.
   */
  watch(): {
    find(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
    close(): void;
  } {
    const seen: string[] = [];
    this.watches.add(seen);
    return {
      find: async (match, timeoutMs) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const line = seen.find(match);
          if (line !== undefined) return line;
          if (Date.now() > deadline || this.child.exitCode !== null)
            throw new Error(
              `no watched line matched within ${timeoutMs} ms (exit ${this.child.exitCode})`,
            );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      },
      close: () => this.watches.delete(seen),
    };
  }

  /** Writes one line to the child's stdin (peers started with `{ stdin: true }`). */
  send(line: string): void {
    this.child.stdin?.write(line + "\n");
  }

  /** The last few kB of stderr. */
  get stderrTail(): string {
    return this.stderr;
  }

  /** Resolves with the exit code (or null after a signal). */
  async exited(timeoutMs: number): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const [code] = (await once(this.child, "exit")) as [number | null];
    clearTimeout(timer);
    return code;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGINT");
    const exited = once(this.child, "exit");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}

export function jsPeer(args: string[]): Peer {
  return new Peer(process.execPath, ["--import", "tsx", "tests/support/peers/js-peer.ts", ...args]);
}

export function pyPeer(args: string[]): Peer {
  return new Peer(PYTHON, ["tests/support/peers/py_peer.py", ...args]);
}

/**
 * A node named like the sim's (`blm_sim`) on the DDS domain of `env`: what the eval's and the
 * demo's graph guard must refuse to start beside. Resolves once the node exists.
 */
export async function simDecoy(env: NodeJS.ProcessEnv): Promise<Peer> {
  const decoy = new Peer(
    PYTHON,
    [
      "-c",
      "import rclpy, time; rclpy.init(); n = rclpy.create_node('blm_sim'); print('ready', flush=True); time.sleep(120)",
    ],
    env,
  );
  await decoy.nextLine((l) => l === "ready", 30_000);
  return decoy;
}

/**
 * Runs one of the repo's TypeScript entry points (`node --import tsx script ...args`) to its exit,
 * asynchronously (a blocked test worker loses its vitest RPC), sending SIGINT after `killAfterMs`.
 */
export async function runScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  killAfterMs: number,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGINT"), killAfterMs);
  const [status] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { status, stdout, stderr };
}
