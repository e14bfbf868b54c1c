import { describe, expect, it } from "vitest";
import {
  agentParameterTypes,
  checkAgentParameters,
  rclScalar,
} from "../../../launch/agent-params.ts";
import type { ParameterSource, PlannedProcess } from "../../../launch/interpreter.ts";

function agent(
  parameters: ParameterSource[],
  files: Record<string, string> = {},
  nodeName = "blm_agent",
  namespace?: string,
) {
  const proc = { nodeName, namespace, parameters } as unknown as PlannedProcess;
  return checkAgentParameters(proc, (f) => {
    const t = files[f];
    if (t === undefined) throw new Error("ENOENT");
    return t;
  });
}
const v = (name: string, value: string): ParameterSource => ({ kind: "value", name, value });
const file = (path: string): ParameterSource => ({ kind: "file", path });
const messages = (r: ReturnType<typeof agent>) => r.issues.map((i) => i.message);

describe("rclScalar", () => {
  it("types plain scalars as rcl's YAML parser does", () => {
    expect(rclScalar("true")).toEqual({ type: "bool", value: true });
    expect(rclScalar("Off")).toEqual({ type: "bool", value: false });
    expect(rclScalar("100")).toEqual({ type: "integer", value: 100 });
    expect(rclScalar("-0x10")).toEqual({ type: "integer", value: -16 });
    expect(rclScalar("100.0")).toEqual({ type: "double", value: 100 });
    expect(rclScalar("1e3")).toEqual({ type: "double", value: 1000 });
    expect(rclScalar(".inf")).toEqual({ type: "double", value: Infinity });
    expect(rclScalar("/models/test-tiny")).toEqual({ type: "string", value: "/models/test-tiny" });
  });
});

describe("checkAgentParameters", () => {
  it("maps the schema to ROS types", () => {
    expect(agentParameterTypes()).toMatchObject({
      embodiment: "string",
      cameras: "string_array",
      denoise_steps: "integer",
      chunk_rate_hz: "double",
      dry_run: "bool",
    });
  });

  it("merges params files and -p rules in order, later wins", () => {
    const files = {
      "/a.yaml":
        "/**:\n  ros__parameters:\n    embodiment: xarm6\n    denoise_steps: 8\n    cameras: [front]\n",
    };
    const r = agent([v("denoise_steps", "2"), file("/a.yaml"), v("embodiment", "panda")], files);
    expect(messages(r)).toEqual([]);
    expect(r.params).toMatchObject({ embodiment: "panda", denoise_steps: 8, cameras: ["front"] });
  });

  it("lets a section for the node's full name win over /** whatever the order", () => {
    const files = {
      "/a.yaml":
        "/cell1/left:\n  ros__parameters:\n    denoise_steps: 9\n/**:\n  ros__parameters:\n    denoise_steps: 3\n/other:\n  ros__parameters:\n    bogus: 1\n",
    };
    const r = agent(
      [file("/a.yaml"), v("embodiment", "panda"), v("denoise_steps", "5")],
      files,
      "left",
      "/cell1",
    );
    expect(messages(r)).toEqual([]);
    expect(r.params!.denoise_steps).toBe(9);
  });

  it("rejects a parameter the agent does not declare", () => {
    expect(messages(agent([v("embodiment", "panda"), v("contol_rate_hz", "100.0")]))).toEqual([
      "'contol_rate_hz' is not a parameter of the agent (nodes/params.ts)",
    ]);
  });

  it("rejects a value of the wrong ROS type, and accepts an integer for a double as the agent does", () => {
    expect(messages(agent([v("embodiment", "panda"), v("denoise_steps", "4.0")])).join()).toMatch(
      /'denoise_steps' is double 4 but is declared integer/,
    );
    expect(messages(agent([v("embodiment", "panda"), v("dry_run", "'true'")])).join()).toMatch(
      /'dry_run' is string "true" but is declared bool/,
    );
    expect(messages(agent([v("embodiment", "panda"), v("control_rate_hz", "100")]))).toEqual([]);
  });

  it("rejects values the schema refuses, naming the parameter", () => {
    expect(messages(agent([v("embodiment", "ur5")])).join()).toMatch(/'embodiment'/);
    expect(messages(agent([v("embodiment", "panda"), v("velocity_scale", "1.5")])).join()).toMatch(
      /'velocity_scale'/,
    );
    expect(messages(agent([v("model", "/m")])).join()).toMatch(/'embodiment'/);
  });

  it("rejects malformed params files", () => {
    const files = {
      "/mixed.yaml": "/**:\n  ros__parameters:\n    cameras: [front, 1]\n",
      "/flat.yaml": "embodiment: panda\n",
      "/bad.yaml": "/**: [\n",
    };
    expect(messages(agent([v("embodiment", "panda"), file("/mixed.yaml")], files)).join()).toMatch(
      /array mixes string and integer/,
    );
    expect(messages(agent([v("embodiment", "panda"), file("/flat.yaml")], files)).join()).toMatch(
      /must hold exactly one key, ros__parameters/,
    );
    expect(messages(agent([v("embodiment", "panda"), file("/bad.yaml")], files)).join()).toMatch(
      /invalid YAML/,
    );
    expect(messages(agent([v("embodiment", "panda"), file("/none.yaml")])).join()).toMatch(
      /cannot read/,
    );
  });
});
