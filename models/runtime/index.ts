/** The model runtime's public surface (no ROS here: nodes/ wraps it). */
export { BlmModel, type EncodeRequest, type Hidden, type LoadModelOptions } from "./model.ts";
export {
  FlowMatchingSampler,
  type ActionChunk,
  type Intent,
  type SampleRequest,
  type SamplerOptions,
} from "./sampler.ts";
export {
  ManifestSchema,
  loadManifest,
  parseManifest,
  contextTokens,
  type Manifest,
  type EmbodimentModel,
  type GraphName,
} from "./manifest.ts";
export {
  SessionOptionsSchema,
  ExecutionProviderSchema,
  probeCudaFiles,
  type ActiveProvider,
  type ExecutionProvider,
  type SessionOptions,
  type SessionOptionsInput,
} from "./session.ts";
export { preprocessImage, type RawImage } from "./image.ts";
export { GaussianNoise } from "./random.ts";
export { EmbodimentCodec } from "./normalize.ts";
export { IntentContext } from "./intent-context.ts";
export { createTokenizer, type Tokenizer } from "./tokenizer.ts";
export { QwenBackbone, type QwenEncodeRequest, type QwenBackboneSpec } from "./qwen/index.ts";
