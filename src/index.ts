/**
 * mobilenet-wasm: the public API, nothing else.
 *
 *   import { load } from 'mobilenet-wasm';
 *   const model = await load();                      // the model shipped in the package
 *   const top5 = await model.classify(image);        // bytes, Blob, URL, path, pixels, <img>, canvas, …
 */
export { MobilenetError, ErrorCodes, type ErrorCode } from './errors.js';
export { Tensor, type Shape4, type NdArrayLike } from './tensor.js';

// One call to a working classifier.
export { load, type LoadOptions } from './engine/load.js';
export {
  MobileNet,
  type ImageModel,
  type Classification,
  type RunOptions,
  type CallOptions,
  type BatchOptions,
  type BatchFailure,
  type EmbedOptions,
} from './engine/mobilenet.js';
export type { ImageInput, ImageOptions, RawPixels } from './image/sources.js';
export type { DomImageSource } from './dom-types.js';
export type { LoadProgress, FetchOptions, FetchTimeouts, RedirectPolicy, BlobLike, ResponseLike } from './fetch.js';

// Building and running a model from options and weights.
export { createModel, availableBackends, type CreateModelOptions } from './engine/create.js';
export type { BackendName, Precision, WasmBuilds, WasmOptions, WasmSource } from './backend.js';
export { hasWasmSimd, setKernelSource, compileKernels } from './wasm/loader.js';

// The layer table and what it tells.
export {
  buildArchitecture,
  resolveOptions,
  expectedWeights,
  layerWeights,
  MOBILENET_V1_CONV_DEFS,
  CONV_MOBILENET_CONV_DEFS,
  SHALLOW_MOBILENET_CONV_DEFS,
  CONV_DEFS_PRESETS,
  type Architecture,
  type ConvDef,
  type ConvLayer,
  type Layer,
  type MobileNetOptions,
  type ResolvedOptions,
} from './model/architecture.js';
export { summaryRows, formatSummary, summaryJson } from './model/summary.js';
export { tablesData, formatTables } from './model/tables.js';
export { randomWeights, mulberry32 } from './model/random.js';
export { checkWeights, type WeightMap, type NamedTensor } from './model/weights.js';
export { foldWeights, type FoldedLayer } from './model/fold.js';

// The reference kernels, for engines that want the oracle itself.
export * as reference from './reference/kernels.js';

// Weights and images.
export { loadModelFile, type LoadedModel, type LoadModelOptions, type ModelSource, type ModelFormat } from './formats/index.js';
export { parseTfjsGraphModel, loadTfjsGraphModel } from './formats/tfjs-graph.js';
export { parseLabels, loadLabels } from './formats/labels.js';
export {
  decodeImage,
  sniffImageFormat,
  preprocessImage,
  imageToInput,
  normalizePixels,
  toModelInput,
  toModelInput01,
  resizeBilinear,
  centerCropSquare,
  type RgbImage,
  type PixelNormalization,
  type PixelScaling,
} from './image/index.js';

// Your own classes on the embeddings: a kNN or a trained linear head, saved and loaded.
export {
  trainHead,
  loadHead,
  modelIdentity,
  UNKNOWN_LABEL,
  type Head,
  type KnnHead,
  type LinearHead,
  type HeadMethod,
  type HeadExample,
  type HeadPrediction,
  type HeadTraining,
  type TrainHeadOptions,
  type TrainProgress,
  type PredictOptions,
  type EmbeddingInput,
  type BaseModelIdentity,
  type HeadBaseModel,
  type AugmentOptions,
} from './head/index.js';
