import { describe, expect, it } from "vitest";
import { BlmError } from "../../../lib/errors.ts";
import {
  formatCommand,
  parseLaunchArguments,
  resolveLaunch,
  splitCommandLine,
  type LaunchHost,
  type LaunchPlan,
} from "../../../launch/interpreter.ts";
import {
  parseTemplate,
  substitute,
  type SubstitutionContext,
} from "../../../launch/substitution.ts";

/** An in-memory host: files by absolute path, an environment, two packages. */
function memoryHost(files: Record<string, string>, env: Record<string, string> = {}): LaunchHost {
  return {
    readFile(file) {
      const text = files[file];
      if (text === undefined) throw new Error("ENOENT");
      return text;
    },
    fileExists: (file) => file in files,
    env: (name) => env[name],
    packageShare(pkg) {
      if (pkg === "demo_pkg") return "/opt/demo/share/demo_pkg";
      throw new BlmError("E_CONFIG", `package '${pkg}' not found`);
    },
    executable(pkg, exec) {
      if (pkg === "demo_pkg" && exec === "talker")
        return { cmd: ["/opt/demo/lib/demo_pkg/talker"] };
      if (pkg === "demo_pkg" && exec === "py")
        return { cmd: ["python3", "-m", "demo.py"], env: { PYTHONPATH: "/opt/demo/py" } };
      if (pkg !== "demo_pkg") throw new BlmError("E_CONFIG", `package '${pkg}' not found`);
      throw new BlmError("E_CONFIG", `package ${pkg} has no executable '${exec}'`);
    },
  };
}

const launch = (body: string) => `<?xml version="1.0"?>\n<launch>\n${body}\n</launch>\n`;

function plan(
  body: string,
  args: Record<string, string> = {},
  extra: Record<string, string> = {},
  env: Record<string, string> = {},
): LaunchPlan {
  const r = resolveLaunch(
    "/w/main.launch.xml",
    args,
    memoryHost({ "/w/main.launch.xml": launch(body), ...extra }, env),
  );
  if (!r.ok) throw r.error;
  return r.value;
}

function failure(
  body: string,
  args: Record<string, string> = {},
  extra: Record<string, string> = {},
): string {
  const r = resolveLaunch(
    "/w/main.launch.xml",
    args,
    memoryHost({ "/w/main.launch.xml": launch(body), ...extra }),
  );
  if (r.ok) throw new Error("expected the launch file to be rejected");
  expect(r.error.code).toBe("E_CONFIG");
  return r.error.message;
}

const ctx = (over: Partial<SubstitutionContext> = {}): SubstitutionContext => ({
  configuration: (n) => ({ robot: "panda", empty: "" })[n],
  configurationNames: () => ["robot", "empty"],
  env: (n) => ({ HOME: "/home/u" })[n],
  packageShare: (p) => `/share/${p}`,
  dirname: "/w/launch",
  ...over,
});

describe("substitutions", () => {
  it("evaluates $(var) from launch configurations", () => {
    expect(substitute("$(var robot).yaml", ctx())).toBe("panda.yaml");
  });
  it("names the missing configuration and the ones that are set", () => {
    expect(() => substitute("$(var nope)", ctx())).toThrow(
      /no launch argument or <let> named 'nope'.*robot, empty/,
    );
  });
  it("evaluates $(env) with and without a default", () => {
    expect(substitute("$(env HOME)/x", ctx())).toBe("/home/u/x");
    expect(substitute("$(env UNSET_VAR fallback)", ctx())).toBe("fallback");
    expect(() => substitute("$(env UNSET_VAR)", ctx())).toThrow(
      /'UNSET_VAR' is not set and has no default/,
    );
  });
  it("evaluates $(find-pkg-share) and $(dirname)", () => {
    expect(substitute("$(find-pkg-share blm_agent)/models", ctx())).toBe("/share/blm_agent/models");
    expect(substitute("$(dirname)/params/$(var robot).yaml", ctx())).toBe(
      "/w/launch/params/panda.yaml",
    );
  });
  it("nests substitutions and quoted arguments", () => {
    expect(substitute("$(env UNSET $(find-pkg-share $(var robot))/m)", ctx())).toBe(
      "/share/panda/m",
    );
    expect(substitute("$(env UNSET 'a b)c')", ctx())).toBe("a b)c");
    expect(substitute('$(env UNSET "x $(var robot)")', ctx())).toBe("x panda");
  });
  it("keeps text without substitutions, including a lone $", () => {
    expect(substitute("cost $5 (approx)", ctx())).toBe("cost $5 (approx)");
    expect(parseTemplate("")).toEqual([]);
  });
  it("rejects an unknown substitution, naming the supported ones", () => {
    expect(() => substitute("$(eval 1+1)", ctx())).toThrow(
      /unknown substitution \$\(eval\); supported: \$\(var\), \$\(env\), \$\(find-pkg-share\), \$\(dirname\)/,
    );
  });
  it("rejects wrong argument counts and unterminated substitutions", () => {
    expect(() => substitute("$(var)", ctx())).toThrow(/\$\(var\) takes 1 argument/);
    expect(() => substitute("$(dirname x)", ctx())).toThrow(/\$\(dirname\) takes 0 argument/);
    expect(() => substitute("$(var robot", ctx())).toThrow(/unterminated/);
    expect(() => substitute("$(env 'abc)", ctx())).toThrow(/unterminated '-quoted/);
  });
});

describe("<arg>", () => {
  it("takes the command-line value over the default", () => {
    const p = plan(`<arg name="robot" default="panda"/><let name="copy" value="$(var robot)"/>`, {
      robot: "xarm6",
    });
    expect(p.configurations.copy).toBe("xarm6");
    expect(p.arguments).toEqual([
      { name: "robot", file: "/w/main.launch.xml", default: "panda", value: "xarm6" },
    ]);
  });
  it("evaluates the default when not given, with earlier arguments available", () => {
    const p = plan(
      `<arg name="robot" default="panda"/><arg name="file" default="$(dirname)/$(var robot).yaml"/>`,
    );
    expect(p.configurations.file).toBe("/w/panda.yaml");
  });
  it("names every missing required argument at once, with descriptions", () => {
    const msg = failure(
      `<arg name="robot" description="which arm"/><arg name="task"/><arg name="x" default="1"/>`,
    );
    expect(msg).toMatch(/required launch arguments not given: robot \(which arm\); task/);
  });
  it("points at a misspelt argument when a required one is missing", () => {
    expect(failure(`<arg name="robot"/>`, { robto: "panda" })).toMatch(
      /given but not declared here: robto/,
    );
  });
  it("rejects a value outside its choices", () => {
    const body = `<arg name="robot" default="panda"><choice value="panda"/><choice value="xarm6"/></arg>`;
    expect(plan(body, { robot: "xarm6" }).arguments[0]!.choices).toEqual(["panda", "xarm6"]);
    expect(failure(body, { robot: "ur5" })).toMatch(
      /argument 'robot' is 'ur5', not one of: panda, xarm6/,
    );
  });
  it("rejects command-line arguments that no file declares", () => {
    expect(failure(`<arg name="robot" default="panda"/>`, { robto: "x" })).toMatch(
      /unknown launch argument robto; declared: robot/,
    );
  });
  it("parses name:=value pairs and rejects anything else", () => {
    expect(parseLaunchArguments(["a:=1", "b:=x:=y", "c:="])).toEqual({
      ok: true,
      value: { a: "1", b: "x:=y", c: "" },
    });
    const bad = parseLaunchArguments(["a=1"]);
    expect(bad.ok).toBe(false);
  });
});

describe("<let>", () => {
  it("sets a configuration that later substitutions see, overriding an argument", () => {
    const p = plan(
      `<arg name="a" default="1"/><let name="a" value="$(var a)2"/><let name="b" value="$(var a)3"/>`,
    );
    expect(p.configurations).toMatchObject({ a: "12", b: "123" });
  });
});

describe("<node>", () => {
  it("builds the ros2 launch command line: name, namespace, params and remaps in written order", () => {
    const p = plan(
      `<arg name="ns" default="robot1"/>
       <node pkg="demo_pkg" exec="talker" name="talk" namespace="$(var ns)" args="--verbose 'two words'" output="screen" on_exit="shutdown">
         <param from="$(dirname)/p.yaml"/>
         <param name="rate" value="10.0"/>
         <param name="topic" value=""/>
         <remap from="/chatter" to="/$(var ns)/chatter"/>
       </node>`,
      {},
      { "/w/p.yaml": "/**:\n  ros__parameters:\n    rate: 1.0\n" },
    );
    expect(p.processes).toHaveLength(1);
    const n = p.processes[0]!;
    expect(n.cmd).toEqual([
      "/opt/demo/lib/demo_pkg/talker",
      "--verbose",
      "two words",
      "--ros-args",
      "-r",
      "__node:=talk",
      "-r",
      "__ns:=/robot1",
      "--params-file",
      "/w/p.yaml",
      "-p",
      "rate:=10.0",
      "-p",
      "topic:=''",
      "-r",
      "/chatter:=/robot1/chatter",
    ]);
    expect(n).toMatchObject({
      label: "talker-1",
      kind: "node",
      package: "demo_pkg",
      nodeName: "talk",
      namespace: "/robot1",
      output: "screen",
      required: true,
    });
    expect(n.parameters).toEqual([
      { kind: "file", path: "/w/p.yaml" },
      { kind: "value", name: "rate", value: "10.0" },
      { kind: "value", name: "topic", value: "" },
    ]);
  });
  it("passes an empty namespace as the root namespace, as launch_ros does", () => {
    const n = plan(`<node pkg="demo_pkg" exec="talker" namespace=""/>`).processes[0]!;
    expect(n.rosArgs).toEqual(["--ros-args", "-r", "__ns:=/"]);
    expect(n.output).toBe("log");
    expect(n.required).toBe(false);
  });
  it("carries the host's environment for the executable", () => {
    expect(plan(`<node pkg="demo_pkg" exec="py"/>`).processes[0]!.env).toEqual({
      PYTHONPATH: "/opt/demo/py",
    });
  });
  it("rejects an unknown package or executable with the host's message", () => {
    expect(failure(`<node pkg="nope" exec="x"/>`)).toMatch(
      /<node> \(launch > node\[1\]\): package 'nope' not found/,
    );
    expect(failure(`<node pkg="demo_pkg" exec="x"/>`)).toMatch(/has no executable 'x'/);
  });
  it("rejects invalid node names and namespaces", () => {
    expect(failure(`<node pkg="demo_pkg" exec="talker" name="bad-name"/>`)).toMatch(
      /not a valid ROS node name/,
    );
    expect(failure(`<node pkg="demo_pkg" exec="talker" namespace="a//b"/>`)).toMatch(
      /not a valid ROS namespace/,
    );
  });
  it("rejects params files that are relative or missing", () => {
    expect(failure(`<node pkg="demo_pkg" exec="talker"><param from="p.yaml"/></node>`)).toMatch(
      /params file 'p.yaml' is relative/,
    );
    expect(
      failure(`<node pkg="demo_pkg" exec="talker"><param from="/w/none.yaml"/></node>`),
    ).toMatch(/params file '\/w\/none.yaml' does not exist/);
  });
  it("rejects a <param> with both or neither of name/value and from", () => {
    expect(
      failure(
        `<node pkg="demo_pkg" exec="talker"><param name="a" value="1" from="/w/p.yaml"/></node>`,
      ),
    ).toMatch(/either name and value, or from/);
    expect(failure(`<node pkg="demo_pkg" exec="talker"><param name="a"/></node>`)).toMatch(
      /needs both name and value/,
    );
  });
  it("rejects an on_exit other than shutdown and an unknown output", () => {
    expect(failure(`<node pkg="demo_pkg" exec="talker" on_exit="restart"/>`)).toMatch(
      /attribute 'on_exit'/,
    );
    expect(failure(`<node pkg="demo_pkg" exec="talker" output="file"/>`)).toMatch(
      /attribute 'output'/,
    );
  });
});

describe("<executable>", () => {
  it("splits cmd into arguments after substitution and numbers processes in order", () => {
    const p = plan(
      `<arg name="n" default="3"/><node pkg="demo_pkg" exec="talker"/><executable cmd="sleep $(var n)" name="nap" output="both"/>`,
    );
    expect(p.processes.map((x) => x.label)).toEqual(["talker-1", "nap-2"]);
    expect(p.processes[1]).toMatchObject({
      kind: "executable",
      cmd: ["sleep", "3"],
      rosArgs: [],
      output: "both",
    });
  });
  it("splits at whitespace outside quotes and substitutions", () => {
    expect(splitCommandLine(`a  'b c' $(env X 'd e')f "g"`)).toEqual([
      "a",
      "b c",
      "$(env X 'd e')f",
      "g",
    ]);
    expect(formatCommand(["a", "b c", "it's"])).toBe(`a 'b c' 'it'\\''s'`);
  });
});

describe("<include>", () => {
  const child = launch(
    `<arg name="robot"/><arg name="rate" default="1.0"/><let name="seen" value="$(var robot)@$(var rate)@$(dirname)"/>
     <node pkg="demo_pkg" exec="talker" name="inner"><param name="robot" value="$(var robot)"/></node>`,
  );
  it("passes its <arg> values, evaluated in the including file, and reads the file with its own dirname", () => {
    const p = plan(
      `<arg name="robot" default="panda"/>
       <include file="$(dirname)/sub/child.launch.xml"><arg name="robot" value="$(var robot)_x"/></include>`,
      {},
      { "/w/sub/child.launch.xml": child },
    );
    expect(p.configurations.seen).toBe("panda_x@1.0@/w/sub");
    expect(p.processes[0]!.parameters).toEqual([
      { kind: "value", name: "robot", value: "panda_x" },
    ]);
    expect(p.arguments.map((a) => `${a.file}:${a.name}=${a.value}`)).toEqual([
      "/w/main.launch.xml:robot=panda",
      "/w/sub/child.launch.xml:robot=panda_x",
      "/w/sub/child.launch.xml:rate=1.0",
    ]);
  });
  it("reports a required argument of the included file that nobody passes", () => {
    expect(
      failure(
        `<include file="/w/sub/child.launch.xml"/>`,
        {},
        { "/w/sub/child.launch.xml": child },
      ),
    ).toMatch(/child.launch.xml: required launch argument not given: robot/);
  });
  it("lets command-line arguments reach arguments declared only in an included file", () => {
    const p = plan(
      `<include file="/w/sub/child.launch.xml"/>`,
      { robot: "xarm7" },
      { "/w/sub/child.launch.xml": child },
    );
    expect(p.configurations.seen).toMatch(/^xarm7@/);
  });
  it("rejects relative, missing and recursive includes", () => {
    expect(failure(`<include file="child.launch.xml"/>`)).toMatch(
      /include file 'child.launch.xml' is relative/,
    );
    expect(failure(`<include file="/w/none.launch.xml"/>`)).toMatch(/does not exist/);
    expect(failure(`<include file="$(dirname)/main.launch.xml"/>`)).toMatch(/included recursively/);
  });
});

describe("validation of the XML", () => {
  it("rejects an unknown tag, listing the tags it reads", () => {
    expect(failure(`<group><node pkg="demo_pkg" exec="talker"/></group>`)).toMatch(
      /<group> \(launch > group\[1\]\): unknown tag; <launch> may contain <arg>, <let>, <node>, <executable>, <include>/,
    );
  });
  it("rejects a known tag in the wrong place", () => {
    expect(
      failure(`<node pkg="demo_pkg" exec="talker"><node pkg="demo_pkg" exec="talker"/></node>`),
    ).toMatch(/not allowed inside <node>; <node> may contain <param>, <remap>/);
    expect(failure(`<param name="a" value="1"/>`)).toMatch(/not allowed inside <launch>/);
  });
  it("rejects an unknown attribute, and conditions (if/unless) in particular", () => {
    expect(failure(`<node pkg="demo_pkg" exec="talker" respawn="true"/>`)).toMatch(
      /unknown attribute 'respawn'/,
    );
    expect(failure(`<arg name="a" default="1" if="true"/>`)).toMatch(/unknown attribute 'if'/);
  });
  it("rejects a missing attribute by name", () => {
    expect(failure(`<node pkg="demo_pkg"/>`)).toMatch(/missing attribute 'exec'/);
    expect(
      failure(
        `<remap from="/a"/>`.replace("<remap", "<node pkg='demo_pkg' exec='talker'><remap") +
          "</node>",
      ),
    ).toMatch(/missing attribute 'to'/);
  });
  it("rejects stray text, a wrong root and malformed XML with a line number", () => {
    expect(failure(`hello`)).toMatch(/unexpected text 'hello'/);
    const wrongRoot = resolveLaunch("/w/a.xml", {}, memoryHost({ "/w/a.xml": "<robot/>" }));
    expect(!wrongRoot.ok && wrongRoot.error.message).toMatch(
      /root element is <robot>, expected <launch>/,
    );
    const broken = resolveLaunch(
      "/w/a.xml",
      {},
      memoryHost({ "/w/a.xml": "<launch>\n<arg name='a'>\n</launch>" }),
    );
    expect(!broken.ok && broken.error.message).toMatch(/\/w\/a.xml:\d+:\d+: not well-formed XML/);
  });
  it("validates the whole file before evaluating it, so errors in later elements show at once", () => {
    expect(failure(`<arg name="robot"/><bogus/>`)).toMatch(/unknown tag/);
  });
  it("reports a file it cannot read", () => {
    const r = resolveLaunch("/w/none.xml", {}, memoryHost({}));
    expect(!r.ok && r.error.message).toMatch(/cannot read launch file/);
  });
});
