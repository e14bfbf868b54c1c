export {
  checkImage,
  normalizeEncoding,
  toRgb8,
  CHANNELS,
  type ImageLike,
  type ImageLimits,
} from "./image.ts";
export { decodeCompressed, sniffFormat, type CompressedLike } from "./compressed.ts";
export { CompressedDecoder, type DecodedSink, type DecoderCounts } from "./decoder.ts";
export { JointStateMatcher, staleness, type JointSample, type JointStateLike } from "./joints.ts";
export { validateInstruction, decodeInstruction } from "./instruction.ts";
export {
  ObservationStore,
  stripCode,
  type Observation,
  type Problem,
  type StoreOptions,
} from "./store.ts";
