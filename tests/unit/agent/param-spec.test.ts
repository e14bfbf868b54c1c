import { describe, expect, it } from "vitest";
import { parameterSpecs } from "../../../nodes/param-spec.ts";
import { AGENT_PARAMETER_NAMES } from "../../../nodes/params.ts";

describe("parameterSpecs", () => {
  const specs = parameterSpecs();
  it("declares every schema parameter with a description", () => {
    expect(specs.map((s) => s.name)).toEqual(AGENT_PARAMETER_NAMES);
    for (const s of specs) expect(s.description.length).toBeGreaterThan(5);
  });
  it("carries types, ranges and choices from the schema", () => {
    const by = Object.fromEntries(specs.map((s) => [s.name, s]));
    expect(by.control_rate_hz).toMatchObject({ type: "double", range: { from: 0, to: 1000 } });
    expect(by.denoise_steps).toMatchObject({ type: "integer", range: { from: 1, to: 100 } });
    expect(by.cameras).toMatchObject({ type: "string_array", default: ["front", "wrist"] });
    expect(by.embodiment).toMatchObject({
      type: "string",
      required: true,
      choices: ["panda", "xarm6", "xarm7", "widowx_ai"],
    });
    expect(by.use_sim_time).toMatchObject({ type: "bool", default: false });
  });
  it("only velocity_scale and dry_run are writable at run time", () => {
    expect(
      specs
        .filter((s) => !s.readOnly)
        .map((s) => s.name)
        .sort(),
    ).toEqual(["dry_run", "velocity_scale"]);
  });
});
