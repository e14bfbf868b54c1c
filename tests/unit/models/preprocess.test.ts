import { describe, expect, it } from "vitest";
import { unwrap } from "../../../lib/errors.ts";
import { preprocessImage } from "../../../models/runtime/image.ts";
import {
  ManifestSchema,
  type ImageSpec,
  type TokenizerSpec,
} from "../../../models/runtime/manifest.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MODEL_DIR } from "./support.ts";
import { EmbodimentCodec } from "../../../models/runtime/normalize.ts";
import { createTokenizer } from "../../../models/runtime/tokenizer.ts";

const spec: ImageSpec = {
  height: 2,
  width: 2,
  resize: "bilinear",
  rescale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  channel_order: "rgb",
};

describe("preprocessImage", () => {
  it("averages 2x2 blocks when halving (bilinear, half-pixel centres)", () => {
    // 4x4 mono8 ramp: row-major values 0..15 * 10
    const data = Uint8Array.from({ length: 16 }, (_, i) => i * 10);
    const out = new Float32Array(12);
    unwrap(preprocessImage({ width: 4, height: 4, encoding: "mono8", data }, spec, out, 0));
    const expected = [
      (0 + 10 + 40 + 50) / 4,
      (20 + 30 + 60 + 70) / 4,
      (80 + 90 + 120 + 130) / 4,
      (100 + 110 + 140 + 150) / 4,
    ].map((v) => v / 255);
    for (let i = 0; i < 4; i++) expect(out[i]).toBeCloseTo(expected[i]!, 6);
    expect([...out.subarray(4, 8)]).toEqual([...out.subarray(0, 4)]);
  });

  it("reorders bgr8 into the model's rgb planes and applies mean/std", () => {
    const data = Uint8Array.from([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]); // 2x2 bgr
    const out = new Float32Array(12);
    unwrap(
      preprocessImage(
        { width: 2, height: 2, encoding: "bgr8", data },
        { ...spec, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
        out,
        0,
      ),
    );
    expect(out[0]).toBeCloseTo((30 / 255 - 0.5) / 0.5, 6); // R plane
    expect(out[8]).toBeCloseTo((10 / 255 - 0.5) / 0.5, 6); // B plane
  });

  it("rejects short data with E_IMAGE_SIZE and empty images with E_IMAGE_EMPTY", () => {
    const out = new Float32Array(12);
    const r1 = preprocessImage(
      { width: 4, height: 4, encoding: "rgb8", data: new Uint8Array(10) },
      spec,
      out,
      0,
    );
    expect(r1.ok || r1.error.code).toBe("E_IMAGE_SIZE");
    const r2 = preprocessImage(
      { width: 0, height: 4, encoding: "rgb8", data: new Uint8Array(10) },
      spec,
      out,
      0,
    );
    expect(r2.ok || r2.error.code).toBe("E_IMAGE_EMPTY");
  });
});

describe("ByteTokenizer", () => {
  const tok: TokenizerSpec = {
    kind: "bytes",
    max_length: 8,
    vocab_size: 260,
    pad_id: 0,
    bos_id: 1,
    eos_id: 2,
    byte_offset: 4,
  };
  it("writes bos, offset UTF-8 bytes, eos and padding, truncating long text", () => {
    const t = unwrap(createTokenizer(tok));
    const ids = new BigInt64Array(8);
    const mask = new BigInt64Array(8);
    expect(t.encode("hé", ids, mask)).toBe(5);
    expect([...ids]).toEqual([1n, 104n + 4n, 0xc3n + 4n, 0xa9n + 4n, 2n, 0n, 0n, 0n]);
    expect([...mask]).toEqual([1n, 1n, 1n, 1n, 1n, 0n, 0n, 0n]);
    expect(t.encode("a long instruction", ids, mask)).toBe(8);
    expect(ids[7]).toBe(2n);
  });
  it("names a tokenizer.json tokenizer but reports it as not implemented yet (E_CONFIG)", () => {
    const r = createTokenizer({
      kind: "tokenizer_json",
      file: "tokenizer.json",
      max_length: 512,
      pad_id: 151643,
    });
    expect(r.ok || r.error.code).toBe("E_CONFIG");
  });
});

describe("EmbodimentCodec", () => {
  const model = {
    id: 0,
    joint_names: ["a", "b"],
    gripper: { name: "g", value: "joint_position" as const },
    action_space: "absolute_joint" as const,
    state: {
      indices: [0, 1, 5],
      normalization: { mode: "mean_std" as const, mean: [1, -1, 0.02], std: [2, 0.5, 0.01] },
    },
    action: {
      indices: [2, 0, 1],
      normalization: { mode: "min_max" as const, min: [-1, -2, 0], max: [1, 2, 0.04] },
    },
  };
  const codec = new EmbodimentCodec("toy", model, 8, 4);
  it("places normalized state values at their padded indices", () => {
    const out = new Float32Array(8).fill(9);
    unwrap(codec.normalizeState([3, -1.5, 0.03], out));
    expect([...out]).toEqual([1, -1, 0, 0, 0, 1, 0, 0]);
  });
  it("round-trips actions and clips min/max actions to the statistics' range", () => {
    const norm = new Float32Array(8);
    unwrap(codec.normalizeActions([0.5, 1, 0.01, 1, -2, 0.04], 2, norm));
    const back = new Float32Array(6);
    codec.denormalizeActions(norm, 2, back);
    [0.5, 1, 0.01, 1, -2, 0.04].forEach((v, i) => expect(back[i]).toBeCloseTo(v, 6));
    norm[2] = 3; // far beyond the max of dim 0
    codec.denormalizeActions(norm, 1, back);
    expect(back[0]).toBeCloseTo(1, 6);
  });
});

describe("ManifestSchema", () => {
  const base = () => JSON.parse(readFileSync(join(MODEL_DIR, "manifest.json"), "utf8"));
  it("accepts the test model's manifest and a tokenizer.json tokenizer", () => {
    expect(ManifestSchema.safeParse(base()).success).toBe(true);
    const m = base();
    m.tokenizer = {
      kind: "tokenizer_json",
      file: "tokenizer.json",
      max_length: 512,
      pad_id: 151643,
    };
    expect(ManifestSchema.safeParse(m).success).toBe(true);
  });
  it("rejects statistics that do not match the indices, and repeated indices", () => {
    const m = base();
    m.embodiments.panda.action.normalization.min.pop();
    const r = ManifestSchema.safeParse(m);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("statistics need 8 entries");
    const m2 = base();
    m2.embodiments.xarm6.state.indices[1] = 0;
    expect(ManifestSchema.safeParse(m2).success).toBe(false);
  });
});
