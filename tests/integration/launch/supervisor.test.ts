/**
 * The launch runner with real processes: output prefixes, shutdown when a required process
 * exits, SIGINT forwarded (and escalated to SIGTERM for a process that ignores it), and the CLI.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveLaunch, type PlannedProcess } from "../../../launch/interpreter.ts";
import { nodeHost, REPO_ROOT } from "../../../launch/packages.ts";
import { Supervisor } from "../../../launch/supervisor.ts";

const work = mkdtempSync(path.join(tmpdir(), "blm-launch-"));

function plan(body: string): PlannedProcess[] {
  const file = path.join(work, `t${Math.random().toString(36).slice(2)}.launch.xml`);
  writeFileSync(file, `<launch>${body}</launch>`);
  const r = resolveLaunch(file, {}, nodeHost());
  if (!r.ok) throw r.error;
  return r.value.processes;
}

function supervise(
  processes: PlannedProcess[],
  opts: { sigintTimeoutMs?: number; logDir?: string } = {},
) {
  const lines: string[] = [];
  const s = new Supervisor({ write: (l) => lines.push(l), ...opts });
  s.start(processes);
  return { s, lines };
}

describe("Supervisor", () => {
  it("prefixes each process's output lines with its label and exits 0 when all end cleanly", async () => {
    const { s, lines } = supervise(
      plan(
        `<executable cmd="bash -c 'echo one; echo two >&amp;2'" name="a" output="screen"/><executable cmd="echo three" output="screen"/>`,
      ),
    );
    expect(await s.done).toBe(0);
    expect(lines).toContain("[a-1] one");
    expect(lines).toContain("[a-1] two");
    expect(lines).toContain("[echo-2] three");
    expect(lines.filter((l) => l.includes("process has finished cleanly"))).toHaveLength(2);
  });

  it("writes output=log processes to a file only", async () => {
    const logDir = path.join(work, "logs");
    const { s, lines } = supervise(plan(`<executable cmd="echo quiet" name="q" output="log"/>`), {
      logDir,
    });
    expect(await s.done).toBe(0);
    expect(lines.some((l) => l.includes("quiet"))).toBe(false);
    expect(readFileSync(path.join(logDir, "q-1.log"), "utf8")).toBe("quiet\n");
  });

  it("shuts everything down when a required process exits, with its exit code", async () => {
    const t0 = Date.now();
    const { s, lines } = supervise(
      plan(
        `<executable cmd="sleep 30" name="long" output="screen"/><executable cmd="bash -c 'exit 3'" name="req" on_exit="shutdown"/>`,
      ),
    );
    expect(await s.done).toBe(3);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(lines.join("\n")).toMatch(
      /\[ERROR\] \[req-2\]: process has died \[pid \d+, exit code 3/,
    );
    expect(lines.join("\n")).toMatch(/shutting down \(required process req-2 exited\)/);
    expect(s.exits.find((e) => e.label === "long-1")!.signal).toBe("SIGINT");
  });

  it("keeps running when a process that is not required exits", async () => {
    const { s } = supervise(
      plan(`<executable cmd="sleep 1" name="a"/><executable cmd="bash -c 'exit 1'" name="b"/>`),
    );
    expect(await s.done).toBe(1); // b died: reported in the status, a still ran to its end
    expect(s.exits.map((e) => e.label)).toEqual(["b-2", "a-1"]);
  });

  it("forwards a shutdown as SIGINT, then SIGTERM to a process that ignores SIGINT", async () => {
    const { s, lines } = supervise(
      plan(
        `<executable cmd="bash -c 'trap \\&quot;\\&quot; INT; echo up; while true; do sleep 0.1; done'" name="stubborn" output="screen"/>` +
          `<executable cmd="sleep 30" name="polite"/>`,
      ),
      { sigintTimeoutMs: 500 },
    );
    for (let i = 0; i < 50 && !lines.includes("[stubborn-1] up"); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await s.shutdown("test")).toBe(0);
    expect(lines.join("\n")).toMatch(/stubborn-1 still running after SIGINT; sending SIGTERM/);
    expect(s.exits.find((e) => e.label === "polite-2")!.signal).toBe("SIGINT");
    expect(s.exits.find((e) => e.label === "stubborn-1")!.signal).toBe("SIGTERM");
  });

  it("reports a command that cannot start", async () => {
    const { s, lines } = supervise(
      plan(`<executable cmd="/nonexistent/prog" on_exit="shutdown"/>`),
    );
    expect(await s.done).not.toBe(0);
    expect(lines.join("\n")).toMatch(/cannot start '\/nonexistent\/prog'/);
  });
});

describe("launch/run.ts", () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "launch/run.ts", ...args], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      timeout: 60_000,
    });

  it("--print shows the command lines without starting anything", () => {
    const r = run([
      "--print",
      "--no-check",
      "launch/sim.launch.xml",
      "embodiment:=widowx_ai",
      "task:=PullCube",
    ]);
    expect(r.stdout).toMatch(/# sim_node-1: node blm_sim\/sim_node, required/);
    expect(r.stdout).toMatch(
      /-m blm_sim.node --ros-args -r __node:=blm_sim -p embodiment:=widowx_ai -p task:=PullCube/,
    );
    expect(r.stdout).toMatch(
      /bin\/blm-agent.js --ros-args -r __node:=blm_agent -r __ns:=\/ --params-file \S+\/launch\/params\/sim.yaml -p embodiment:=widowx_ai/,
    );
  });

  it("finds a launch file by package and name, and lists its arguments", () => {
    const r = run(["--show-args", "blm_agent", "agent.launch.xml", "embodiment:=panda"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /'embodiment' \(launch\/agent.launch.xml\):\n\s+Robot: panda \| xarm6 \| xarm7 \| widowx_ai\n\s+choices: panda, xarm6, xarm7, widowx_ai\n\s+\(required\)/,
    );
  });

  it("exits 2 naming a missing required argument", () => {
    const r = run(["launch/agent.launch.xml"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /E_CONFIG: .*agent.launch.xml: required launch argument not given: embodiment/,
    );
  });

  it("exits 2 when the agent's parameters fail the check, before starting anything", () => {
    const bad = path.join(work, "bad.yaml");
    writeFileSync(bad, "/**:\n  ros__parameters:\n    denoise_steps: many\n    colour: red\n");
    const r = run([
      "--print",
      "launch/agent.launch.xml",
      "embodiment:=panda",
      `params_file:=${bad}`,
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/'denoise_steps' is string "many" but is declared integer/);
    expect(r.stderr).toMatch(/'colour' is not a parameter of the agent/);
  });
});
