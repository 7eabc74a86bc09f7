/**
 * mobilenet-wasm: the public API, nothing else.
 */
export { MobilenetError, ErrorCodes, type ErrorCode } from './errors.js';
export { Tensor, type Shape4 } from './tensor.js';

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

// Building and running a model.
export {
  createModel,
  MobileNet,
  availableBackends,
  registerBackend,
  type BackendName,
  type CreateModelOptions,
  type RunOptions,
  type Classification,
  type WasmOptions,
} from './model/mobilenet.js';
export { hasWasmSimd, setKernelSource, compileKernels, type WasmSource } from './wasm/loader.js';
export { randomWeights, mulberry32 } from './model/random.js';
export { checkWeights, type WeightMap, type NamedTensor } from './model/weights.js';
export { foldWeights, type FoldedLayer } from './model/fold.js';

// The reference kernels, for engines that want the oracle itself.
export * as reference from './reference/kernels.js';

// Weights and images.
export { loadModelFile, type LoadedModel, type PixelNormalization } from './formats/index.js';
export { parseTfjsGraphModel, loadTfjsGraphModel } from './formats/tfjs-graph.js';
export { parseLabels, loadLabels } from './formats/labels.js';
export { decodeImage, preprocessImage, imageToInput, normalizePixels, toModelInput, toModelInput01, resizeBilinear, centerCropSquare } from './image/index.js';
