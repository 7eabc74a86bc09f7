/**
 * One entry point for every weight format: `loadModelFile(pathOrBytes)` looks at the content,
 * never at the file name, and hands it to the loader:
 *
 * - safetensors: a little-endian u64 header length that fits the file and the 100 MB cap, then `{`;
 * - TFLite: the flatbuffer file identifier `TFL3` at bytes 4..8;
 * - TF.js: a directory (its model.json) or a model.json; `format: "layers-model"` or a Keras
 *   topology (`class_name` / `model_config`) is a layers model, `format: "graph-model"` or a
 *   graph (`modelTopology.node`) a graph model. A model.json needs its shard files, so it is
 *   accepted as a path only.
 *
 * Every loader returns a `LoadedModel`: TF-Slim names and TF layouts, architecture options and
 * the pixel normalisation the weights were trained with.
 */
import { io, join, readFile, stat } from '../platform/node.js';
import { ErrorCodes, MobilenetError, describe, fail } from '../errors.js';
import type { MobileNetOptions } from '../model/architecture.js';
import type { WeightMap } from '../model/weights.js';
import { MAX_HEADER_BYTES, readSafetensorsModel } from './safetensors.js';
import { readTfliteModel } from './tflite.js';
import { loadTfjsGraphModel, parseTfjsGraphModel, type TfjsGraphModel } from './tfjs-graph.js';
import { loadTfjsLayersModel, parseTfjsLayersModel } from './tfjs-layers.js';
import { LAYERS_MODEL, checkJsonSize, decodeUtf8, fetchBytes, fetchModelFiles, tfjsKindOf } from './tfjs-manifest.js';

export type ModelFormat = 'safetensors' | 'tflite' | 'tfjs-layers' | 'tfjs-graph';

/**
 * How a uint8 RGB pixel becomes the network's input value:
 * - `unit-signed`: u8 / 255 * 2 - 1, in [-1, 1] (TF-Slim, TF-Hub, TF.js, Keras MobileNet);
 * - `tflite-uint8`: (u8 - 128) / 128, the uint8 TFLite models' input quantization (scale 1/128, zero point 128);
 * - `torch-imagenet`: (u8 / 255 - mean) / std per channel with ImageNet's mean and std (the seed's PyTorch model).
 */
export type PixelNormalization = 'unit-signed' | 'tflite-uint8' | 'torch-imagenet';

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

/** The largest weight file read into memory (a MobileNet v1 at alpha 1 is 17 MB in float32). */
export const MAX_MODEL_FILE_BYTES = 1 << 30;

export type SniffedFormat = 'safetensors' | 'tflite' | 'json' | 'unknown';

/** What the bytes look like; see the module comment. */
export function sniffFormat(bytes: Uint8Array): SniffedFormat {
  if (bytes.length >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33) return 'tflite';
  if (bytes.length >= 9) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
    if (n >= 2 && n <= MAX_HEADER_BYTES && n <= bytes.length - 8 && bytes[8] === 0x7b) return 'safetensors';
  }
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  // JSON text: '{' first, and no control bytes in the head (a binary length prefix has NULs).
  if (bytes[i] === 0x7b && bytes.subarray(0, 64).every((b) => b >= 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) return 'json';
  return 'unknown';
}

export interface LoadModelOptions {
  /** Used only for an http(s) URL. Default: the global fetch. Nothing is ever fetched implicitly. */
  fetch?: typeof fetch;
}

/**
 * Loads a model from bytes (safetensors or TFLite), a path (any format; TF.js by directory or
 * model.json), or an http(s) URL (a file, or a TF.js model.json with its shards beside it).
 */
export async function loadModelFile(source: string | URL | Uint8Array, options: LoadModelOptions = {}): Promise<LoadedModel> {
  if (source instanceof Uint8Array) return loadBytes(source, 'model bytes');
  if (typeof source === 'string' && /^https?:\/\//i.test(source)) source = new URL(source);
  if (source instanceof URL) return loadUrl(source, options.fetch ?? globalThis.fetch);
  if (typeof source !== 'string' || source === '') fail(ErrorCodes.OPTION, `loadModelFile: expected a path, a URL or a Uint8Array, got ${describe(source)}`);
  const info = await io(source, () => stat(source));
  if (info.isDirectory()) return loadJson(join(source, 'model.json'));
  if (info.size > MAX_MODEL_FILE_BYTES) fail(ErrorCodes.HEADER_LENGTH, `${source}: ${info.size} bytes, above the ${MAX_MODEL_FILE_BYTES}-byte cap for a model file`);
  const bytes = new Uint8Array(await io(source, () => readFile(source)));
  if (sniffFormat(bytes) === 'json') return loadJson(source);
  return loadBytes(bytes, source);
}

async function loadUrl(url: URL, fetchFn: typeof fetch): Promise<LoadedModel> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(ErrorCodes.OPTION, `loadModelFile: ${url.href}: only http: and https: URLs are fetched`);
  if (typeof fetchFn !== 'function') fail(ErrorCodes.OPTION, 'loadModelFile: no fetch function is available to load a URL');
  if (url.pathname.endsWith('/') || url.pathname.endsWith('.json')) {
    const { json, shards, kind } = await fetchModelFiles(url, fetchFn);
    return kind === LAYERS_MODEL ? parseTfjsLayersModel(json, shards) : fromGraph(parseTfjsGraphModel(json, shards));
  }
  return loadBytes(await fetchBytes(url, fetchFn, MAX_MODEL_FILE_BYTES), url.href);
}

function loadBytes(bytes: Uint8Array, where: string): LoadedModel {
  const kind = sniffFormat(bytes);
  try {
    if (kind === 'tflite') return readTfliteModel(bytes);
    if (kind === 'safetensors') return readSafetensorsModel(bytes);
  } catch (e) {
    if (e instanceof MobilenetError && where !== 'model bytes') fail(e.code, `${where}: ${e.message}`, e);
    throw e;
  }
  if (kind === 'json') fail(ErrorCodes.OPTION, `${where}: a TF.js model.json needs its shard files: pass its path or directory, not its bytes`);
  if (bytes.length < 8) fail(ErrorCodes.FILE_TOO_SHORT, `${where}: ${bytes.length} bytes, too short for any model format`);
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return fail(ErrorCodes.HEADER_FORMAT, `${where}: not a safetensors, TFLite or TF.js model (starts with ${head})`);
}

async function loadJson(path: string): Promise<LoadedModel> {
  checkJsonSize(path, (await io(path, () => stat(path))).size);
  const text = decodeUtf8(await io(path, () => readFile(path)), path);
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    return fail(ErrorCodes.HEADER_FORMAT, `${path}: not valid JSON: ${(e as Error).message}`, e);
  }
  if (tfjsKindOf(json) === LAYERS_MODEL) return loadTfjsLayersModel(path);
  return fromGraph(await loadTfjsGraphModel(path));
}

function fromGraph(graph: TfjsGraphModel): LoadedModel {
  const { depthMultiplier, inputSize, numClasses, globalPool } = graph.options;
  return {
    format: 'tfjs-graph',
    options: { depthMultiplier, inputSize, numClasses, ...(globalPool ? { globalPool } : {}) },
    weights: graph.weights,
    // The graph scales its own input to [-1, 1]; the weights without that step expect [-1, 1].
    pixelNormalization: 'unit-signed',
  };
}
