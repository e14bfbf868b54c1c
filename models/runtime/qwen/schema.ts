import { z } from "zod";

/**
 * The manifest's Qwen2.5-VL backbone section (`backbone.qwen2_5_vl` in manifest.json, and
 * `backbone.json` beside the graphs), written by models/tools/qwen_export. Self-contained (no import
 * from ../manifest.ts, which imports this file).
 */

const posInt = () => z.number().int().positive();
const tokenId = () => z.number().int().nonnegative();
const sha = () => z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits");
const inFolder = () =>
  z
    .string()
    .min(1)
    .refine(
      (f) => !f.includes("..") && !f.startsWith("/"),
      "must be a file inside the model folder",
    );

const QwenTensorSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(["float32", "int64", "int32", "uint8", "bool", "float16"]),
  shape: z.array(z.union([z.number().int().nonnegative(), z.string().min(1)])),
});

export const QwenGraphSpecSchema = z.object({
  file: inFolder(),
  /** sha256 of the .onnx file (the graph; large weights live in external_data). */
  sha256: sha(),
  inputs: z.array(QwenTensorSchema).min(1),
  outputs: z.array(QwenTensorSchema).min(1),
  /** Weight files the graph references (onnx external data), checked for presence and size. */
  external_data: z
    .array(z.object({ file: inFolder(), bytes: z.number().int().nonnegative() }))
    .optional(),
});
export type QwenGraphSpec = z.infer<typeof QwenGraphSpecSchema>;

export const QWEN_GRAPH_TENSORS = {
  vision: {
    inputs: ["pixel_values", "vision_pos_ids", "window_index", "cu_seqlens", "cu_window_seqlens"],
    outputs: ["image_embeds"],
  },
  embed: { inputs: ["input_ids"], outputs: ["inputs_embeds"] },
  language: {
    inputs: ["inputs_embeds", "attention_mask", "position_ids"],
    outputs: ["hidden_states", "hidden_mask"],
  },
} as const;
export type QwenGraphName = keyof typeof QWEN_GRAPH_TENSORS;
export const QWEN_GRAPH_NAMES = Object.keys(QWEN_GRAPH_TENSORS) as QwenGraphName[];

export const QwenBackboneSchema = z
  .object({
    format: z.literal("qwen2_5_vl/1"),
    layer_k: posInt().describe("hidden states after this many decoder blocks"),
    hidden_dim: posInt(),
    dtype: z
      .enum(["float32", "float16"])
      .describe("weights and compute; graph inputs/outputs stay float32"),
    graphs: z.object({
      vision: QwenGraphSpecSchema,
      embed: QwenGraphSpecSchema,
      language: QwenGraphSpecSchema,
    }),
    vision: z.object({
      patch_size: posInt(),
      temporal_patch_size: posInt(),
      merge_size: posInt(),
      window_size: posInt().describe("px side of a windowed-attention window"),
      fullatt_block_indexes: z.array(z.number().int().nonnegative()),
    }),
    image: z.object({
      min_pixels: posInt(),
      max_pixels: posInt(),
      resample: z.literal("bicubic"),
      rescale: z.number().finite().positive(),
      mean: z.tuple([z.number().finite(), z.number().finite(), z.number().finite()]),
      std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
    }),
    tokens: z.object({
      image_pad: tokenId(),
      video_pad: tokenId(),
      vision_start: tokenId(),
      vision_end: tokenId(),
      pad: tokenId()
        .nullable()
        .optional()
        .describe("padding id (unused for one unpadded sequence)"),
    }),
    tokenizer: z.object({ file: inFolder(), config: inFolder() }),
    prompt: z.object({
      system: z.string().describe("system message of the chat template"),
      add_generation_prompt: z.boolean(),
    }),
    provenance: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.image.min_pixels > s.image.max_pixels)
      ctx.addIssue({ code: "custom", path: ["image"], message: "min_pixels above max_pixels" });
    for (const name of QWEN_GRAPH_NAMES) {
      const g = s.graphs[name];
      const want = QWEN_GRAPH_TENSORS[name];
      for (const [kind, names] of [
        ["inputs", want.inputs],
        ["outputs", want.outputs],
      ] as const) {
        const have = new Set(g[kind].map((t) => t.name));
        for (const n of names)
          if (!have.has(n))
            ctx.addIssue({
              code: "custom",
              path: ["graphs", name, kind],
              message: `graph ${name} needs ${kind.slice(0, -1)} ${n}`,
            });
      }
    }
  });
export type QwenBackboneSpec = z.infer<typeof QwenBackboneSchema>;
