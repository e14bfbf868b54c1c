import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parameterTable } from "../../../scripts/params-table.ts";

describe("README parameter table", () => {
  it("matches the parameters the agent declares", () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, "../../../README.md"), "utf8");
    expect(readme).toContain(parameterTable());
  });
});
