/** What every weight loader returns (the loaders and `loadModelFile` share it). */
import type { PixelNormalization } from '../image/normalize.js';
import type { MobileNetOptions } from '../model/architecture.js';
import type { WeightMap } from '../model/weights.js';

export type ModelFormat = 'safetensors' | 'tflite' | 'tfjs-layers' | 'tfjs-graph';

export interface LoadedModel {
  format: ModelFormat;
  /** Options for `buildArchitecture` / `createModel`, derived from the file (metadata, graph, weight shapes). */
  options: MobileNetOptions;
  /** TF-Slim names and TF layouts; BatchNorm folded into `<scope>/biases` or given as `BatchNorm/*`. */
  weights: WeightMap;
  pixelNormalization: PixelNormalization;
  /** One per class, index 0 first, when the file carries them. */
  labels?: string[];
}
