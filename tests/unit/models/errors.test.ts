import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrap } from "../../../lib/errors.ts";
import { sha256Hex } from "../../../models/runtime/graph.ts";
import { BlmModel } from "../../../models/runtime/model.ts";
import {
  editManifest,
  f32,
  i64,
  loadFixture,
  memoryLogger,
  MODEL_DIR,
  scratchModel,
} from "./support.ts";

const cpu = { execution_provider: "cpu", threading: "inline" } as const;
const quiet = () => memoryLogger().log;

describe("BlmModel.load rejects bad model folders", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await scratchModel();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fails with E_MODEL_MISSING when the folder has no manifest", async () => {
    const r = await BlmModel.load(join(dir, "nowhere"), { session: cpu, logger: quiet() });
    expect(r.ok || r.error.code).toBe("E_MODEL_MISSING");
  });

  it("fails with E_MODEL_MISSING naming the graph when a graph file is missing", async () => {
    const d = await scratchModel();
    await rm(join(d, "denoiser.onnx"));
    const r = await BlmModel.load(d, { session: cpu, logger: quiet() });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("E_MODEL_MISSING");
      expect(r.error.message).toContain("graph denoiser");
    }
    await rm(d, { recursive: true, force: true });
  });

  it("fails with E_MODEL_HASH when a graph's bytes differ from the manifest's sha256", async () => {
    const d = await scratchModel();
    const file = join(d, "intent_bridge.onnx");
    const bytes = await readFile(file);
    const at = bytes.length - 10;
    bytes[at] = bytes[at]! ^ 0xff;
    await writeFile(file, bytes);
    const r = await BlmModel.load(d, { session: cpu, logger: quiet() });
    expect(r.ok || r.error.code).toBe("E_MODEL_HASH");
    if (!r.ok)
      expect(r.error.message).toMatch(
        /graph intent_bridge: .* has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/,
      );
    await rm(d, { recursive: true, force: true });
  });

  it("fails with E_MODEL_CORRUPT when a graph is not a valid ONNX file (hash matching)", async () => {
    const d = await scratchModel();
    const garbage = new Uint8Array(4096).map((_, i) => (i * 37) & 0xff);
    await writeFile(join(d, "denoiser.onnx"), garbage);
    await editManifest(d, (m) => {
      m.graphs.denoiser.sha256 = sha256Hex(garbage);
    });
    const r = await BlmModel.load(d, { session: cpu, logger: quiet() });
    expect(r.ok || r.error.code).toBe("E_MODEL_CORRUPT");
    await rm(d, { recursive: true, force: true });
  });

  it("fails with E_MODEL_CORRUPT when the manifest is not JSON or not a manifest", async () => {
    const d = await scratchModel();
    await writeFile(join(d, "manifest.json"), "{ not json");
    const r1 = await BlmModel.load(d, { session: cpu, logger: quiet() });
    expect(r1.ok || r1.error.code).toBe("E_MODEL_CORRUPT");
    await writeFile(join(d, "manifest.json"), await readFile(join(MODEL_DIR, "manifest.json")));
    await editManifest(d, (m) => {
      m.policy.action_dim = 40; // beyond the 32 padded action dims
    });
    const r2 = await BlmModel.load(d, { session: cpu, logger: quiet() });
    expect(r2.ok || r2.error.code).toBe("E_MODEL_CORRUPT");
    if (!r2.ok) expect(r2.error.message).toContain("policy.action_dim");
    await rm(d, { recursive: true, force: true });
  });

  it("fails with E_MODEL_MISMATCH naming graph, tensor, expected and actual when the manifest and a graph disagree", async () => {
    const d = await scratchModel();
    await editManifest(d, (m) => {
      m.graphs.denoiser.inputs[2].shape = ["batch", 48]; // the graph's state is [batch, 64]
      m.graphs.intent_bridge.outputs[0].name = "intent_tokens";
    });
    const r = await BlmModel.load(d, { session: cpu, logger: quiet() });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("E_MODEL_MISMATCH");
      expect(r.error.message).toContain(
        "graph intent_bridge: output 'intent_tokens' expected float32 [batch, 8, 64], actual: missing",
      );
    }
    const d2 = await scratchModel();
    await editManifest(d2, (m) => {
      m.graphs.denoiser.inputs[2].shape = ["batch", 48];
      m.graphs.denoiser.inputs[3].dtype = "int32";
    });
    const r2 = await BlmModel.load(d2, { session: cpu, logger: quiet(), graphs: ["denoiser"] });
    expect(r2.ok).toBe(false);
    if (!r2.ok) {
      expect(r2.error.code).toBe("E_MODEL_MISMATCH");
      expect(r2.error.message).toContain(
        "graph denoiser: input 'state' dim 1 expected float32 [batch, 48], actual float32 [batch, 64]",
      );
      expect(r2.error.message).toContain(
        "graph denoiser: input 'embodiment_id' dtype expected int32 [batch], actual int64 [batch]",
      );
    }
    await rm(d, { recursive: true, force: true });
    await rm(d2, { recursive: true, force: true });
  });

  it("fails with E_MODEL_MISMATCH when the manifest says static where the graph is dynamic", async () => {
    const d = await scratchModel();
    await editManifest(d, (m) => {
      m.graphs.denoiser.inputs[1].shape = [1];
    });
    const r = await BlmModel.load(d, { session: cpu, logger: quiet(), graphs: ["denoiser"] });
    expect(r.ok || r.error.code).toBe("E_MODEL_MISMATCH");
    if (!r.ok)
      expect(r.error.message).toContain(
        "input 'flow_time' dim 0 expected float32 [1], actual float32 [batch]",
      );
    await rm(d, { recursive: true, force: true });
  });
});

describe("BlmModel rejects bad inputs", () => {
  let model: BlmModel;
  const fx = loadFixture();
  const intent = () => ({ tokens: f32(fx.encode.intent!), count: 8, dim: 64 });
  beforeAll(async () => {
    model = unwrap(await BlmModel.load(MODEL_DIR, { session: cpu, logger: quiet() }));
  });
  afterAll(async () => {
    await model.dispose();
  });

  it("fails with E_UNKNOWN_EMBODIMENT for an embodiment without statistics", () => {
    const r = model.createSampler("ur5");
    expect(r.ok || r.error.code).toBe("E_UNKNOWN_EMBODIMENT");
    if (!r.ok) expect(r.error.message).toContain("panda, xarm6, xarm7, widowx_ai");
  });

  it("fails with E_MODEL_INPUT for NaN in the state, the intent, the prefix or the noise", async () => {
    const s = unwrap(model.createSampler("xarm6"));
    const state = new Float32Array(7);
    const bad = Float32Array.from(state);
    bad[2] = NaN;
    const r1 = await s.sample({ state: bad, intent: intent() });
    expect(r1.ok || r1.error.code).toBe("E_MODEL_INPUT");
    if (!r1.ok) expect(r1.error.message).toContain("joint3");
    const it2 = intent();
    it2.tokens[5] = Infinity;
    const r2 = await s.sample({ state, intent: it2 });
    expect(r2.ok || r2.error.code).toBe("E_MODEL_INPUT");
    const prefix = new Float32Array(3 * 7);
    prefix[4] = NaN;
    const r3 = await s.sample({ state, intent: intent(), prefix: { actions: prefix, length: 3 } });
    expect(r3.ok || r3.error.code).toBe("E_MODEL_INPUT");
    const noise = new Float32Array(16 * 32);
    noise[100] = NaN;
    const r4 = await s.sample({ state, intent: intent(), noise });
    expect(r4.ok || r4.error.code).toBe("E_MODEL_INPUT");
  });

  it("fails with E_MODEL_INPUT for NaN pixels, wrong state length, bad steps or a prefix as long as the horizon", async () => {
    const pixels = Float32Array.from(f32(fx.encode.pixel_values!));
    pixels[10] = NaN;
    const r1 = await model.runBackbone(
      pixels,
      i64(fx.encode.input_ids!),
      i64(fx.encode.attention_mask!),
    );
    expect(r1.ok || r1.error.code).toBe("E_MODEL_INPUT");
    const s = unwrap(model.createSampler("panda"));
    const r2 = await s.sample({ state: new Float32Array(7), intent: intent() });
    expect(r2.ok || r2.error.code).toBe("E_MODEL_INPUT");
    const r3 = await s.sample({ state: new Float32Array(8), intent: intent(), steps: 0 });
    expect(r3.ok || r3.error.code).toBe("E_MODEL_INPUT");
    const r4 = await s.sample({
      state: new Float32Array(8),
      intent: intent(),
      prefix: { actions: new Float32Array(16 * 8), length: 16 },
    });
    expect(r4.ok || r4.error.code).toBe("E_MODEL_INPUT");
  });

  it("fails with E_MODEL_INPUT when a camera image is missing", async () => {
    const r = await model.encode({ images: {}, instruction: "push the cube" });
    expect(r.ok || r.error.code).toBe("E_MODEL_INPUT");
  });
});
