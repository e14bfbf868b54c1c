/**
 * Episode MCAPs: sim/blm_sim/record.py in a child process (rclpy, ROS 2 CDR), subscribed like any
 * other client. One process serves every episode of a bringup (`begin`/`end` on its stdin): its
 * subscriptions stay matched, and no Python start-up is paid per episode.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { REPO_ROOT } from "../../launch/packages.ts";

export interface RecordingSpec {
  out: string;
  instruction: string;
  task: string;
  seed: number;
}

export class Recorder {
  private readonly lines: string[] = [];
  private readonly exited: Promise<void>;
  private tail = "";

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on("line", (l) => this.lines.push(l));
    child.stderr.on("data", (d: Buffer) => (this.tail = (this.tail + d.toString()).slice(-2000)));
    this.exited = new Promise((resolve) => child.on("exit", () => resolve()));
  }

  /** Starts the recorder for an embodiment's topics; resolves when it is ready or has failed. */
  static async start(embodiment: string, readyMs = 60_000): Promise<Recorder> {
    const child = spawn(
      process.env.BLM_PYTHON ?? "python3",
      ["-m", "blm_sim.record", "--embodiment", embodiment],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          PYTHONPATH: [path.join(REPO_ROOT, "sim"), process.env.PYTHONPATH]
            .filter(Boolean)
            .join(":"),
        },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    const r = new Recorder(child);
    await r.nextLine((l) => l === "ready", readyMs);
    return r;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private async nextLine(match: (l: string) => boolean, timeoutMs: number): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex(match);
      if (i >= 0) return this.lines.splice(0, i + 1).pop()!;
      if (!this.alive || Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Opens an episode's file; false when the recorder did not confirm. */
  async begin(spec: RecordingSpec, timeoutMs = 15_000): Promise<boolean> {
    if (!this.alive) return false;
    this.lines.length = 0;
    this.child.stdin.write(`begin ${JSON.stringify({ ...spec, seed: String(spec.seed) })}\n`);
    return (await this.nextLine((l) => l === "recording", timeoutMs)) !== null;
  }

  /** Closes the episode's file; resolves with the MCAP written, or null and what went wrong. */
  async end(timeoutMs = 30_000): Promise<{ file: string | null; detail: string }> {
    if (!this.alive) return { file: null, detail: `the recorder exited: ${this.lastWords()}` };
    this.child.stdin.write("end\n");
    const line = await this.nextLine(
      (l) => l.startsWith("wrote ") || l.startsWith("no "),
      timeoutMs,
    );
    const wrote = line && /^wrote (\S+)/.exec(line);
    return wrote
      ? { file: wrote[1]!, detail: line }
      : { file: null, detail: line ?? this.lastWords() };
  }

  private lastWords(): string {
    return this.tail.trim().split("\n").pop() || "no answer";
  }

  async close(timeoutMs = 15_000): Promise<void> {
    if (this.alive) this.child.stdin.end("quit\n");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
