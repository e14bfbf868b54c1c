import { describe, expect, it } from "vitest";
import { ropeIndex, visionIndices, type Grid } from "../../../../models/runtime/qwen/indices.ts";
import { fixture, toNumbers } from "./support.ts";

/** Fixtures: transformers 4.57.6 Qwen2_5_VisionTransformerPretrainedModel / get_rope_index. */
interface IndicesFixture {
  windows: {
    grid_thw: Grid[];
    vision_pos_ids: number[];
    window_index: number[];
    cu_seqlens: number[];
    cu_window_seqlens: number[];
  }[];
  rope: {
    input_ids: number[][];
    attention_mask: number[][];
    grid_thw: Grid[];
    position_ids: number[][][];
  }[];
  tokens: { image_pad: number; vision_start: number; vision_end: number };
}
const fx = fixture<IndicesFixture>("indices");

describe("visionIndices", () => {
  it.each(fx.windows)("matches the reference for grids $grid_thw", (c) => {
    const v = visionIndices(c.grid_thw, 2, 112, 14);
    expect(toNumbers(v.posIds)).toEqual(c.vision_pos_ids);
    expect(toNumbers(v.windowIndex)).toEqual(c.window_index);
    expect(toNumbers(v.cuSeqlens)).toEqual(c.cu_seqlens);
    expect(toNumbers(v.cuWindowSeqlens)).toEqual(c.cu_window_seqlens);
  });
});

describe("ropeIndex", () => {
  const tokens = {
    imagePad: fx.tokens.image_pad,
    videoPad: -1,
    visionStart: fx.tokens.vision_start,
  };
  it.each(fx.rope)("gives get_rope_index's 3-D position ids (case %#: padding, text only)", (c) => {
    const batch = c.input_ids.length;
    const seq = c.input_ids[0]!.length;
    const { positionIds } = ropeIndex(
      c.input_ids.flat(),
      c.attention_mask.flat(),
      batch,
      seq,
      c.grid_thw,
      tokens,
      2,
    );
    expect(toNumbers(positionIds)).toEqual(c.position_ids.flat(2));
  });
});
