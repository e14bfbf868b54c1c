import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseManifest } from "../../../../models/runtime/manifest.ts";
import { QwenBackboneSchema } from "../../../../models/runtime/qwen/schema.ts";
import { QWEN_DIR } from "./support.ts";

const section = JSON.parse(readFileSync(join(QWEN_DIR, "backbone.json"), "utf8"));
const standin = JSON.parse(readFileSync(join(QWEN_DIR, "../test-tiny/manifest.json"), "utf8"));

describe("QwenBackboneSchema", () => {
  it("accepts the section the export tool writes", () => {
    expect(QwenBackboneSchema.safeParse(section).success).toBe(true);
  });
  it("names a graph that lacks a required input", () => {
    const bad = structuredClone(section);
    bad.graphs.language.inputs = bad.graphs.language.inputs.filter(
      (t: { name: string }) => t.name !== "position_ids",
    );
    const r = QwenBackboneSchema.safeParse(bad);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("graph language needs input position_ids");
  });
});

describe("ManifestSchema backbone.qwen2_5_vl", () => {
  it("accepts a manifest whose backbone is the Qwen export", () => {
    const m = structuredClone(standin);
    m.backbone = { ...m.backbone, kind: "qwen2_5_vl", qwen2_5_vl: section };
    const r = parseManifest(m, "manifest.json");
    expect(r.ok).toBe(true);
  });
  it("rejects kind qwen2_5_vl without its section, naming it", () => {
    const m = structuredClone(standin);
    m.backbone = { ...m.backbone, kind: "qwen2_5_vl" };
    const r = parseManifest(m, "manifest.json");
    expect(!r.ok && r.error.code).toBe("E_MODEL_CORRUPT");
    expect(!r.ok && r.error.message).toContain("backbone.qwen2_5_vl");
  });
});
