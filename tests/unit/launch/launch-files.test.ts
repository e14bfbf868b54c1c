/**
 * The launch files against what they start: every argument, parameter and remap of the agent
 * node checked against the agent's declarations (nodes/params.ts) and its documented default
 * topics, every params file against the schema and the embodiment definitions, the sim node's
 * parameters against the ones sim/blm_sim/node.py declares, and the exact command lines.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadEmbodiment } from "../../../embodiments/registry.ts";
import { EMBODIMENT_NAMES } from "../../../embodiments/schema.ts";
import { ExecutionProviderSchema } from "../../../models/runtime/session.ts";
import { AGENT_PARAMETER_NAMES, AgentParamsSchema, DEFAULT_MODEL } from "../../../nodes/params.ts";
import {
  checkAgentParameters,
  readParamsFile,
  type ParamIssue,
} from "../../../launch/agent-params.ts";
import {
  resolveLaunch,
  type LaunchPlan,
  type PlannedProcess,
} from "../../../launch/interpreter.ts";
import { nodeHost, REPO_ROOT } from "../../../launch/packages.ts";
import { TASK_NAMES } from "../../../scripts/lib/eval/table.ts";

const LAUNCH = path.join(REPO_ROOT, "launch");
const PARAMS = path.join(LAUNCH, "params");
const AGENT_FILE = path.join(LAUNCH, "agent.launch.xml");
const SIM_FILE = path.join(LAUNCH, "sim.launch.xml");
const host = nodeHost({ env: { ...process.env, BLM_PYTHON: "/usr/bin/python3" } });

function resolve(file: string, args: Record<string, string>): LaunchPlan {
  const r = resolveLaunch(file, args, host);
  if (!r.ok) throw r.error;
  return r.value;
}

const agentNodes = (plan: LaunchPlan) => plan.processes.filter((p) => p.package === "blm_agent");
const unwrapIssues = (issues: ParamIssue[]) => issues.map((i) => `${i.source}: ${i.message}`);

/** The agent's default topic names (DESIGN "External interface"; nodes use them relative). */
function documentedTopics(embodiment: string): Set<string> {
  const emb = loadEmbodiment(embodiment);
  if (!emb.ok) throw emb.error;
  const cameras = AgentParamsSchema.shape.cameras.parse(undefined);
  return new Set([
    emb.value.driver.joint_states_topic.replace(/^\//, ""),
    ...cameras.flatMap((c) => [`camera/${c}/image_raw`, `camera/${c}/image_raw/compressed`]),
    "blm/instruction",
    "blm/estop",
    "blm/intent",
    "blm/action_chunk",
    "blm/state",
    "diagnostics",
  ]);
}

/** Every $(var NAME) in a file's text. */
const usedVars = (text: string) =>
  new Set([...text.matchAll(/\$\(var\s+([A-Za-z0-9_]+)\)/g)].map((m) => m[1]!));

describe("launch/agent.launch.xml", () => {
  for (const embodiment of EMBODIMENT_NAMES) {
    it(`starts one agent node for ${embodiment} whose parameters all pass the agent's schema`, () => {
      const plan = resolve(AGENT_FILE, { embodiment });
      expect(plan.processes).toHaveLength(1);
      const [agent] = agentNodes(plan);
      expect(agent).toMatchObject({
        executable: "blm-agent",
        nodeName: "blm_agent",
        required: true,
        output: "screen",
      });
      const report = checkAgentParameters(agent!);
      expect(unwrapIssues(report.issues)).toEqual([]);
      expect(report.params).toMatchObject({
        embodiment,
        use_sim_time: false,
        dry_run: false,
        execution_provider: "auto",
      });
      expect(report.params!.model).toBe(path.join(REPO_ROOT, DEFAULT_MODEL));
      expect(agent!.parameters[0]).toEqual({
        kind: "file",
        path: path.join(PARAMS, `${embodiment}.yaml`),
      });
    });
  }

  it("sets only parameters the agent declares", () => {
    const [agent] = agentNodes(resolve(AGENT_FILE, { embodiment: "panda" }));
    for (const p of agent!.parameters) {
      if (p.kind === "value") expect(AGENT_PARAMETER_NAMES).toContain(p.name);
    }
  });

  it("remaps only topics the agent uses, by their relative default names", () => {
    for (const embodiment of EMBODIMENT_NAMES) {
      const [agent] = agentNodes(resolve(AGENT_FILE, { embodiment }));
      const topics = documentedTopics(embodiment);
      expect(agent!.remappings.length).toBeGreaterThan(0);
      for (const r of agent!.remappings) {
        expect(topics, `remap from ${r.from}`).toContain(r.from);
        // With the default arguments every remap is the identity: nothing moves unless asked.
        expect(r.to).toBe(r.from);
      }
      // joint states and both cameras, raw and compressed, can be redirected
      for (const t of [
        "joint_states",
        "camera/front/image_raw",
        "camera/wrist/image_raw/compressed",
      ]) {
        expect(agent!.remappings.map((r) => r.from)).toContain(t);
      }
    }
  });

  it("applies namespace and topic arguments as __ns and remap rules", () => {
    const [agent] = agentNodes(
      resolve(AGENT_FILE, {
        embodiment: "xarm7",
        namespace: "cell1",
        node_name: "left_agent",
        front_camera_topic: "/rig/cam0/image_raw",
        joint_states_topic: "/xarm/joint_states",
        dry_run: "true",
        use_sim_time: "true",
        execution_provider: "cpu",
      }),
    );
    expect(agent!.rosArgs.slice(0, 5)).toEqual([
      "--ros-args",
      "-r",
      "__node:=left_agent",
      "-r",
      "__ns:=/cell1",
    ]);
    expect(agent!.remappings).toContainEqual({ from: "joint_states", to: "/xarm/joint_states" });
    expect(agent!.remappings).toContainEqual({
      from: "camera/front/image_raw",
      to: "/rig/cam0/image_raw",
    });
    expect(agent!.remappings).toContainEqual({
      from: "camera/front/image_raw/compressed",
      to: "/rig/cam0/image_raw/compressed",
    });
    const report = checkAgentParameters(agent!);
    expect(unwrapIssues(report.issues)).toEqual([]);
    expect(report.params).toMatchObject({
      dry_run: true,
      use_sim_time: true,
      execution_provider: "cpu",
      embodiment: "xarm7",
    });
  });

  it("turns panda's defaults into exactly this command line", () => {
    const [agent] = agentNodes(resolve(AGENT_FILE, { embodiment: "panda", dry_run: "true" }));
    expect(agent!.cmd).toEqual([
      process.execPath,
      path.join(REPO_ROOT, "bin/blm-agent.js"),
      "--ros-args",
      ...["-r", "__node:=blm_agent", "-r", "__ns:=/"],
      ...["--params-file", path.join(PARAMS, "panda.yaml")],
      ...["-p", "embodiment:=panda", "-p", `model:=${path.join(REPO_ROOT, DEFAULT_MODEL)}`],
      ...[
        "-p",
        "execution_provider:=auto",
        "-p",
        "use_sim_time:=false",
        "-p",
        "dry_run:=true",
        "-p",
        "autostart:=false",
      ],
      ...["-r", "joint_states:=joint_states"],
      ...[
        "-r",
        "camera/front/image_raw:=camera/front/image_raw",
        "-r",
        "camera/front/image_raw/compressed:=camera/front/image_raw/compressed",
      ],
      ...[
        "-r",
        "camera/wrist/image_raw:=camera/wrist/image_raw",
        "-r",
        "camera/wrist/image_raw/compressed:=camera/wrist/image_raw/compressed",
      ],
      ...["-r", "blm/instruction:=blm/instruction", "-r", "blm/estop:=blm/estop"],
    ]);
  });

  it("offers exactly the schema's values as choices, and defaults the schema accepts", () => {
    const plan = resolve(AGENT_FILE, { embodiment: "panda" });
    const [agent] = agentNodes(plan);
    const fromArg = new Map<string, string>(); // parameter name -> the argument that sets it
    for (const p of agent!.parameters) {
      if (p.kind !== "value") continue;
      const m = /\$\(var ([a-z_]+)\)/.exec(
        readFileSync(AGENT_FILE, "utf8").match(
          new RegExp(`<param name="${p.name}" value="([^"]+)"`),
        )![1]!,
      );
      if (m) fromArg.set(p.name, m[1]!);
    }
    expect([...fromArg.keys()].sort()).toEqual([
      "autostart",
      "dry_run",
      "embodiment",
      "execution_provider",
      "model",
      "use_sim_time",
    ]);
    const args = new Map(plan.arguments.map((a) => [a.name, a]));
    expect(args.get("embodiment")!.choices).toEqual([...EMBODIMENT_NAMES]);
    expect(args.get("embodiment")!.default).toBeUndefined();
    expect(args.get("execution_provider")!.choices).toEqual([...ExecutionProviderSchema.options]);
    for (const b of ["use_sim_time", "dry_run", "autostart"]) {
      expect(args.get(b)!.choices).toEqual(["true", "false"]);
      expect(args.get(b)!.default).toBe(
        String(AgentParamsSchema.shape[b as "dry_run"].parse(undefined)),
      );
    }
    expect(args.get("execution_provider")!.default).toBe(
      AgentParamsSchema.shape.execution_provider.parse(undefined),
    );
  });

  it("uses every argument it declares, and declares a description for each", () => {
    const text = readFileSync(AGENT_FILE, "utf8");
    const plan = resolve(AGENT_FILE, { embodiment: "panda" });
    const used = usedVars(text);
    for (const a of plan.arguments) {
      expect(used, `argument ${a.name} is never used`).toContain(a.name);
      expect(a.description, `argument ${a.name}`).toBeTruthy();
    }
  });

  it("refuses to start without an embodiment, naming the argument", () => {
    const r = resolveLaunch(AGENT_FILE, {}, host);
    expect(!r.ok && r.error.message).toMatch(/required launch argument not given: embodiment/);
  });
});

describe("launch/sim.launch.xml", () => {
  /** The sim node's declared parameters: (name, default) tuples of PARAMETERS in sim/blm_sim/node.py. */
  type SimType = "integer" | "double" | "string" | "bool";
  function simParameters(): Map<string, SimType> {
    const text = readFileSync(path.join(REPO_ROOT, "sim/blm_sim/node.py"), "utf8");
    const block = text.slice(
      text.indexOf("PARAMETERS"),
      text.indexOf("\n)\n", text.indexOf("PARAMETERS")),
    );
    const out = new Map<string, SimType>();
    for (const m of block.matchAll(/\(\s*"([a-z_]+)",\s*([^,]+),/g)) {
      const d = m[2]!.trim();
      out.set(
        m[1]!,
        /^["']/.test(d)
          ? "string"
          : /^(True|False)$/.test(d)
            ? "bool"
            : /^-?\d+$/.test(d)
              ? "integer"
              : "double",
      );
    }
    return out;
  }

  for (const embodiment of EMBODIMENT_NAMES) {
    it(`starts the sim and the agent on sim time for ${embodiment}`, () => {
      const plan = resolve(SIM_FILE, { embodiment, task: "StackCube", seed: "7" });
      expect(plan.processes.map((p) => `${p.package}/${p.executable}`)).toEqual([
        "blm_sim/sim_node",
        "blm_agent/blm-agent",
      ]);
      const [agent] = agentNodes(plan);
      const report = checkAgentParameters(agent!);
      expect(unwrapIssues(report.issues)).toEqual([]);
      expect(report.params).toMatchObject({
        embodiment,
        use_sim_time: true,
        success_topic: "/sim/success",
      });
      const sim = plan.processes[0]!;
      expect(sim.required && agent!.required).toBe(true);
      expect(sim.parameters).toContainEqual({
        kind: "value",
        name: "embodiment",
        value: embodiment,
      });
      expect(sim.parameters).toContainEqual({ kind: "value", name: "task", value: "StackCube" });
      expect(sim.parameters).toContainEqual({ kind: "value", name: "seed", value: "7" });
    });
  }

  it("sets only parameters the sim declares, each typed as its default (a float where the sim wants one)", () => {
    const declared = simParameters();
    expect(declared.size).toBeGreaterThan(5);
    const [sim] = resolve(SIM_FILE, {}).processes;
    expect(sim!.cmd.slice(0, 3)).toEqual(["/usr/bin/python3", "-m", "blm_sim.node"]);
    expect(sim!.env.PYTHONPATH?.split(":")[0]).toBe(path.join(REPO_ROOT, "sim"));
    for (const p of sim!.parameters) {
      expect(p.kind).toBe("value");
      if (p.kind !== "value") continue;
      expect(declared.has(p.name), `sim parameter ${p.name}`).toBe(true);
      const want = declared.get(p.name);
      const got = /^-?\d+$/.test(p.value)
        ? "integer"
        : /^-?\d*\.\d+$/.test(p.value)
          ? "double"
          : /^(true|false)$/.test(p.value)
            ? "bool"
            : "string";
      expect(got, `${p.name}=${p.value}`).toBe(want);
    }
    // The sim is the clock source and paces itself on wall time.
    expect(sim!.parameters.map((p) => (p.kind === "value" ? p.name : ""))).not.toContain(
      "use_sim_time",
    );
  });

  it("offers the six tasks (the eval's table rows) and four embodiments", () => {
    const args = new Map(
      resolve(SIM_FILE, {})
        .arguments.filter((a) => a.file === SIM_FILE)
        .map((a) => [a.name, a]),
    );
    expect(args.get("task")!.choices).toEqual([...TASK_NAMES]);
    expect(args.get("embodiment")!.choices).toEqual([...EMBODIMENT_NAMES]);
    const r = resolveLaunch(SIM_FILE, { task: "OpenDrawer" }, host);
    expect(!r.ok && r.error.message).toMatch(/'task' is 'OpenDrawer', not one of/);
  });

  it("loads params/sim.yaml into the agent, or the params file it is given in its place", () => {
    const fileOf = (args: Record<string, string>) =>
      agentNodes(resolve(SIM_FILE, args))[0]!.parameters.filter((p) => p.kind === "file");
    expect(fileOf({})).toEqual([{ kind: "file", path: path.join(PARAMS, "sim.yaml") }]);
    const mine = path.join(PARAMS, "xarm7.yaml");
    expect(fileOf({ params_file: mine })).toEqual([{ kind: "file", path: mine }]);
  });

  it("uses every argument it declares", () => {
    const used = usedVars(readFileSync(SIM_FILE, "utf8"));
    for (const a of resolve(SIM_FILE, {}).arguments.filter((x) => x.file === SIM_FILE))
      expect(used).toContain(a.name);
  });
});

describe("launch/params/*.yaml", () => {
  const files = readdirSync(PARAMS).filter((f) => f.endsWith(".yaml"));

  it("has one params file per embodiment, plus sim.yaml", () => {
    expect(files.sort()).toEqual([...EMBODIMENT_NAMES.map((e) => `${e}.yaml`), "sim.yaml"].sort());
  });

  for (const file of files) {
    it(`${file}: every key a declared parameter, every value valid and of its ROS type`, () => {
      const issues: ParamIssue[] = [];
      const text = readFileSync(path.join(PARAMS, file), "utf8");
      const r = readParamsFile(file, "/blm_agent", text, issues);
      expect(unwrapIssues(issues)).toEqual([]);
      expect(r.exact).toEqual([]); // only /** sections: they apply whatever the node is called
      expect(r.wildcard.length).toBeGreaterThan(0);
      const embodiments =
        file === "sim.yaml" ? [...EMBODIMENT_NAMES] : [file.replace(/\.yaml$/, "")];
      for (const embodiment of embodiments) {
        const proc = {
          nodeName: "blm_agent",
          parameters: [
            { kind: "value", name: "embodiment", value: embodiment },
            { kind: "file", path: path.join(PARAMS, file) },
          ],
        } as unknown as PlannedProcess;
        const report = checkAgentParameters(proc);
        expect(unwrapIssues(report.issues)).toEqual([]);
        expect(report.params!.embodiment).toBe(embodiment);
      }
    });
  }

  for (const embodiment of EMBODIMENT_NAMES) {
    it(`${embodiment}.yaml matches embodiments/${embodiment}: name, control rate, topic, joint prefix`, () => {
      const issues: ParamIssue[] = [];
      const values = new Map(
        readParamsFile(
          "f",
          "/blm_agent",
          readFileSync(path.join(PARAMS, `${embodiment}.yaml`), "utf8"),
          issues,
        ).wildcard,
      );
      const emb = loadEmbodiment(embodiment);
      if (!emb.ok) throw emb.error;
      expect(values.get("embodiment")?.value).toBe(embodiment);
      expect(values.get("control_rate_hz")?.value).toBe(emb.value.driver.control_rate_hz);
      const topic = values.get("trajectory_topic")?.value;
      if (topic !== undefined)
        expect(String(topic).replace(/^\//, "")).toBe(
          emb.value.driver.trajectory_topic.replace(/^\//, ""),
        );
      const prefix = values.get("joint_prefix")?.value;
      if (prefix !== undefined) expect(emb.value.joint_prefixes).toContain(prefix);
      // The file documents the driver's topic even where it leaves it to the default.
      expect(readFileSync(path.join(PARAMS, `${embodiment}.yaml`), "utf8")).toContain(
        emb.value.driver.trajectory_topic,
      );
    });
  }

  it("sets no parameter that the launch files always override with an argument (dead config)", () => {
    const [agent] = agentNodes(resolve(AGENT_FILE, { embodiment: "panda" }));
    const overridden = new Set(
      agent!.parameters.flatMap((p) => (p.kind === "value" ? [p.name] : [])),
    );
    for (const file of files) {
      const values = readParamsFile(
        file,
        "/blm_agent",
        readFileSync(path.join(PARAMS, file), "utf8"),
        [],
      ).wildcard;
      for (const [name] of values) {
        if (name === "embodiment") continue; // kept so that each file stands alone
        expect(overridden.has(name), `${file}: ${name}`).toBe(false);
      }
    }
  });
});
