import { cp, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../../../lib/log.ts";
import { QwenBackbone } from "../../../../models/runtime/qwen/backbone.ts";
import type { QwenBackboneSpec } from "../../../../models/runtime/qwen/schema.ts";
import { QWEN_DIR } from "./support.ts";

/** Loading checks on a copy of models/qwen-tiny: hashes, graph contracts, external data, the section. */
const log = createLogger("test", "silent");
const session = { execution_provider: "cpu" as const, threading: "inline" as const };

describe("QwenBackbone.load checks", () => {
  let dir: string;
  let section: QwenBackboneSpec;
  const writeSection = (s: unknown) => writeFile(join(dir, "backbone.json"), JSON.stringify(s));
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "qwen-load-"));
    await cp(QWEN_DIR, dir, { recursive: true });
    section = JSON.parse(await readFile(join(dir, "backbone.json"), "utf8"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fails with E_MODEL_HASH when a graph file changed", async () => {
    await writeSection({
      ...section,
      graphs: { ...section.graphs, embed: { ...section.graphs.embed, sha256: "0".repeat(64) } },
    });
    const r = await QwenBackbone.load(dir, { session, logger: log });
    expect(!r.ok && r.error.code).toBe("E_MODEL_HASH");
  });

  it("fails with E_MODEL_MISMATCH naming the tensor when a graph is not what the section says", async () => {
    const vision = section.graphs.vision;
    await writeSection({
      ...section,
      graphs: {
        ...section.graphs,
        embed: { ...section.graphs.embed, file: vision.file, sha256: vision.sha256 },
      },
    });
    const r = await QwenBackbone.load(dir, { session, logger: log });
    expect(!r.ok && r.error.code).toBe("E_MODEL_MISMATCH");
    expect(!r.ok && r.error.message).toContain("graph qwen.embed: input 'input_ids'");
  });

  it("fails with E_MODEL_MISSING / E_MODEL_CORRUPT for absent or truncated external data", async () => {
    const ext = {
      ...section.graphs.language,
      external_data: [{ file: "language.onnx.data", bytes: 100 }],
    };
    await writeSection({ ...section, graphs: { ...section.graphs, language: ext } });
    const missing = await QwenBackbone.load(dir, { session, logger: log });
    expect(!missing.ok && missing.error.code).toBe("E_MODEL_MISSING");
    await writeFile(join(dir, "language.onnx.data"), new Uint8Array(10));
    await truncate(join(dir, "language.onnx.data"), 10);
    const short = await QwenBackbone.load(dir, { session, logger: log });
    expect(!short.ok && short.error.code).toBe("E_MODEL_CORRUPT");
  });

  it("fails with E_MODEL_CORRUPT naming the field of a bad section", async () => {
    await writeSection({ ...section, layer_k: 0 });
    const r = await QwenBackbone.load(dir, { session, logger: log });
    expect(!r.ok && r.error.code).toBe("E_MODEL_CORRUPT");
    expect(!r.ok && r.error.message).toContain("layer_k");
  });
});
