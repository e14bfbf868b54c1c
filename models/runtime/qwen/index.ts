/** Qwen2.5-VL backbone runtime (issue 7): preprocessing, indices, chat template, tokenizer, runner. */
export {
  QwenBackbone,
  type QwenBackboneOptions,
  type QwenEncodeRequest,
  type QwenInputs,
} from "./backbone.ts";
export {
  QwenBackboneSchema,
  QWEN_GRAPH_NAMES,
  type QwenBackboneSpec,
  type QwenGraphName,
} from "./schema.ts";
export {
  preprocessQwenImage,
  resizeBicubicRgb,
  smartResize,
  type PreprocessedImage,
} from "./preprocess.ts";
export { visionIndices, ropeIndex, type Grid, type VisionIndices } from "./indices.ts";
export { renderChat, expandImagePads, type PromptOptions } from "./chat.ts";
export { HfTokenizer } from "./tokenizer.ts";
