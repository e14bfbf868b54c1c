/**
 * scripts/install-ament.sh makes the checkout an ament prefix: the layout ros2 launch looks up
 * (resource index, lib/<pkg>/<exec>, share/<pkg>/), and the installed launch files resolve
 * through that prefix alone, the way `ros2 launch blm_agent agent.launch.xml` resolves them.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkAgentParameters } from "../../../launch/agent-params.ts";
import { resolveLaunch } from "../../../launch/interpreter.ts";
import { DEFAULT_MODEL } from "../../../nodes/params.ts";
import {
  AGENT_BIN,
  AGENT_EXECUTABLES,
  nodeHost,
  REPO_ROOT,
  SIM_EXECUTABLES,
} from "../../../launch/packages.ts";

function install(...args: string[]): string {
  const prefix = path.join(mkdtempSync(path.join(tmpdir(), "blm-ament-")), "install");
  execFileSync("bash", [path.join(REPO_ROOT, "scripts/install-ament.sh"), ...args, prefix], {
    encoding: "utf8",
  });
  return prefix;
}

describe("scripts/install-ament.sh", () => {
  const prefix = install();

  it("writes the resource index entries and package manifests", () => {
    for (const pkg of ["blm_agent", "blm_sim"]) {
      expect(existsSync(path.join(prefix, "share/ament_index/resource_index/packages", pkg))).toBe(
        true,
      );
      expect(readFileSync(path.join(prefix, "share", pkg, "package.xml"), "utf8")).toContain(
        `<name>${pkg}</name>`,
      );
    }
    expect(readFileSync(path.join(prefix, "share/blm_agent/package.xml"), "utf8")).toBe(
      readFileSync(path.join(REPO_ROOT, "package.xml"), "utf8"),
    );
  });

  it("installs one executable wrapper per executable the interpreter knows", () => {
    expect(readdirSync(path.join(prefix, "lib/blm_agent")).sort()).toEqual(
      Object.keys(AGENT_EXECUTABLES).sort(),
    );
    expect(readdirSync(path.join(prefix, "lib/blm_sim")).sort()).toEqual(
      Object.keys(SIM_EXECUTABLES).sort(),
    );
    for (const [pkg, exe] of [
      ...Object.keys(AGENT_EXECUTABLES).map((e) => ["blm_agent", e]),
      ["blm_sim", "sim_node"],
    ] as const) {
      const file = path.join(prefix, "lib", pkg, exe);
      accessSync(file, constants.X_OK);
      const text = readFileSync(file, "utf8");
      expect(text.startsWith("#!/usr/bin/env bash\n")).toBe(true);
      expect(text).toContain(`export BLM_ROOT=${REPO_ROOT}`);
      expect(text).toContain('source "$BLM_ROOT/scripts/ros-env.sh"');
    }
    expect(readFileSync(path.join(prefix, "lib/blm_agent/observer"), "utf8")).toMatch(
      /bin\/blm-agent.js" observer "\$@"/,
    );
    expect(readFileSync(path.join(prefix, "lib/blm_sim/sim_node"), "utf8")).toMatch(
      /-m blm_sim.node "\$@"/,
    );
  });

  it("copies the launch files and params, links the models, and writes a setup hook", () => {
    for (const f of [
      "agent.launch.xml",
      "sim.launch.xml",
      ...readdirSync(path.join(REPO_ROOT, "launch/params")).map((p) => `params/${p}`),
    ]) {
      const installed = path.join(prefix, "share/blm_agent/launch", f);
      expect(lstatSync(installed).isFile()).toBe(true);
      expect(readFileSync(installed, "utf8")).toBe(
        readFileSync(path.join(REPO_ROOT, "launch", f), "utf8"),
      );
    }
    expect(realpathSync(path.join(prefix, "share/blm_agent/models"))).toBe(
      realpathSync(path.join(REPO_ROOT, "models")),
    );
    const env = execFileSync(
      "bash",
      [
        "-c",
        `AMENT_PREFIX_PATH=/opt/x; source ${prefix}/setup.bash; source ${prefix}/setup.bash; echo $AMENT_PREFIX_PATH`,
      ],
      {
        encoding: "utf8",
      },
    );
    expect(env.trim()).toBe(`${prefix}:/opt/x`);
  });

  it("links instead of copying with --symlink", () => {
    const linked = install("--symlink");
    const f = path.join(linked, "share/blm_agent/launch/agent.launch.xml");
    expect(lstatSync(f).isSymbolicLink()).toBe(true);
    expect(realpathSync(f)).toBe(path.join(REPO_ROOT, "launch/agent.launch.xml"));
  });

  it("resolves the installed launch files through AMENT_PREFIX_PATH alone, as ros2 launch does", () => {
    const host = nodeHost({ repoPackages: false, env: { AMENT_PREFIX_PATH: prefix } });
    const r = resolveLaunch(
      path.join(prefix, "share/blm_agent/launch/sim.launch.xml"),
      { embodiment: "xarm6" },
      host,
    );
    if (!r.ok) throw r.error;
    const [sim, agent] = r.value.processes;
    expect(sim!.cmd[0]).toBe(path.join(prefix, "lib/blm_sim/sim_node"));
    expect(agent!.cmd[0]).toBe(path.join(prefix, "lib/blm_agent/blm-agent"));
    expect(agent!.parameters[0]).toEqual({
      kind: "file",
      path: path.join(prefix, "share/blm_agent/launch/params/sim.yaml"),
    });
    const report = checkAgentParameters(agent!);
    expect(report.issues).toEqual([]);
    expect(report.params!.model).toBe(path.join(prefix, "share/blm_agent", DEFAULT_MODEL));
    const a = resolveLaunch(
      path.join(prefix, "share/blm_agent/launch/agent.launch.xml"),
      { embodiment: "panda" },
      host,
    );
    if (!a.ok) throw a.error;
    expect(a.value.processes[0]!.parameters[0]).toEqual({
      kind: "file",
      path: path.join(prefix, "share/blm_agent/launch/params/panda.yaml"),
    });
  });

  it("refuses to run without a prefix", () => {
    const r = spawnSync("bash", [path.join(REPO_ROOT, "scripts/install-ament.sh")], {
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: scripts\/install-ament.sh \[--symlink\] PREFIX/);
  });

  const hasBin = existsSync(path.join(REPO_ROOT, AGENT_BIN));
  it.skipIf(!hasBin)(
    `runs the agent through the installed wrapper (skipped while ${AGENT_BIN} does not exist)`,
    () => {
      const r = spawnSync(path.join(prefix, "lib/blm_agent/blm-agent"), ["--help"], {
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(`${r.stdout}${r.stderr}`).toMatch(/blm-agent/);
    },
  );
});
