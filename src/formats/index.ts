/**
 * One entry point for every weight format: `loadModelFile(pathOrBytes)` looks at the content,
 * never at the file name, and hands it to the loader:
 *
 * - safetensors: `{` at byte 8 after a little-endian u64 header length below 2^56 (its last
 *   byte 0, which no JSON text has): the parser then checks the length against the file and the
 *   100 MB cap, so a forged or truncated length is ERR_HEADER_LENGTH with both byte counts;
 * - TFLite: the flatbuffer file identifier `TFL3` at bytes 4..8;
 * - TF.js: a directory (its model.json) or a model.json; `format: "layers-model"` or a Keras
 *   topology (`class_name` / `model_config`) is a layers model, `format: "graph-model"` or a
 *   graph (`modelTopology.node`) a graph model. A model.json needs its shard files, so it is
 *   accepted as a path or a URL (the shards are read beside it), never as bytes.
 *
 * Every loader returns a `LoadedModel`: TF-Slim names and TF layouts, architecture options and
 * the pixel normalisation the weights were trained with.
 */
import { platform } from '#platform';
import { ErrorCodes, MobilenetError, describe, fail, typeNameOf } from '../errors.js';
import type { URLLike } from '../dom-types.js';
import { asUrl, checkAborted, checkFetchOptions, isBlobLike, isResponseLike, readBytes, readResponse, type BlobLike, type FetchOptions, type ResponseLike } from '../fetch.js';
import type { PixelNormalization } from '../image/normalize.js';
import type { LoadedModel } from './types.js';
import { readSafetensorsModel } from './safetensors.js';
import { readTfliteModel } from './tflite.js';
import { parseTfjsGraphModel, type TfjsGraphModel } from './tfjs-graph.js';
import { parseTfjsLayersModel } from './tfjs-layers.js';
import { LAYERS_MODEL, readTfjsModelFiles } from './tfjs-manifest.js';

export type { PixelNormalization };

export type { LoadedModel, ModelFormat } from './types.js';

/** The largest weight file read into memory (a MobileNet v1 at alpha 1 is 17 MB in float32). */
export const MAX_MODEL_FILE_BYTES = 1 << 30;

export type SniffedFormat = 'safetensors' | 'tflite' | 'json' | 'unknown';

/** What the bytes look like; see the module comment. */
export function sniffFormat(bytes: Uint8Array): SniffedFormat {
  if (bytes.length >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33) return 'tflite';
  // The length's value is the parser's to judge; the `{` after it and a zero top byte are what
  // no other format here starts with (JSON text has no NUL, a flatbuffer has TFL3 at 4..8).
  if (bytes.length >= 9 && bytes[8] === 0x7b && bytes[7] === 0) return 'safetensors';
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  // JSON text: '{' first, and no control bytes in the head (a binary length prefix has NULs).
  if (bytes[i] === 0x7b && bytes.subarray(0, 64).every((b) => b >= 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)) return 'json';
  return 'unknown';
}

/** `fetch`, `signal`, `onProgress`, `timeouts` and `redirects` for URLs (see FetchOptions). */
export type LoadModelOptions = FetchOptions;

/** Anything `loadModelFile` reads: a path or URL, bytes, a Blob or File, or a fetch Response. */
export type ModelSource = string | URLLike | Uint8Array | ArrayBuffer | BlobLike | ResponseLike;

/**
 * Loads a model from a path (any format; TF.js by directory or model.json), an http(s) or
 * file: URL (a file, or a TF.js model.json with its shards beside it), bytes, a Blob or File,
 * or a fetch Response (safetensors or TFLite). Weights are checked once, here.
 */
export async function loadModelFile(source: ModelSource, options: LoadModelOptions = {}): Promise<LoadedModel> {
  if (options === null || typeof options !== 'object') fail(ErrorCodes.OPTION, `loadModelFile options: expected an object, got ${describe(options)}`);
  checkFetchOptions(options);
  if (source instanceof Uint8Array) return loadBytes(source, 'model bytes');
  if (source instanceof ArrayBuffer) return loadBytes(new Uint8Array(source), 'model bytes');
  if (isResponseLike(source)) {
    const where = source.url || 'response';
    if (!source.ok) fail(ErrorCodes.IO, `${where}: HTTP ${source.status}`);
    return loadBytes(await readResponse(source as Response, MAX_MODEL_FILE_BYTES, where, options), where);
  }
  if (isBlobLike(source)) {
    const where = source.name || 'Blob';
    if (source.size > MAX_MODEL_FILE_BYTES) fail(ErrorCodes.HEADER_LENGTH, `${where}: ${source.size} bytes, above the ${MAX_MODEL_FILE_BYTES}-byte cap for a model file`);
    checkAborted(options.signal, where);
    return loadBytes(new Uint8Array(await source.arrayBuffer()), where);
  }
  if (!(source instanceof URL) && (typeof source !== 'string' || source === '')) {
    fail(ErrorCodes.OPTION, `loadModelFile: expected a path, a URL, bytes (Uint8Array, ArrayBuffer), a Blob or a Response, got ${source === '' ? 'an empty string' : typeNameOf(source)}`);
  }
  const url = asUrl(source);
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'file:' && url.protocol !== 'blob:' && url.protocol !== 'data:') {
    fail(ErrorCodes.OPTION, `loadModelFile: ${url.href}: only http:, https:, file:, blob: and data: URLs are read`);
  }
  const where = url?.href ?? (source as string);
  if (url ? url.pathname.endsWith('/') || url.pathname.endsWith('.json') : (await platform.fileInfo(source as string)).kind === 'directory') {
    return loadTfjs(url ?? (source as string), options);
  }
  const bytes = await readBytes(url ?? (source as string), MAX_MODEL_FILE_BYTES, options);
  if (sniffFormat(bytes) === 'json') return loadTfjs(url ?? (source as string), options, bytes);
  return loadBytes(bytes, where);
}

async function loadTfjs(source: string | URL, options: FetchOptions, jsonBytes?: Uint8Array): Promise<LoadedModel> {
  const { json, shards, kind } = await readTfjsModelFiles(source, options, undefined, jsonBytes);
  return kind === LAYERS_MODEL ? parseTfjsLayersModel(json, shards) : fromGraph(parseTfjsGraphModel(json, shards));
}

/** The bytes a TFLite model was read from, for the integer path (src/engine/integer.ts): kept beside, not in, the LoadedModel. */
const TFLITE_BYTES = new WeakMap<LoadedModel, Uint8Array>();

/** The file a `loadModelFile` result for a TFLite model came from (undefined for other formats). */
export function tfliteBytesOf(loaded: LoadedModel): Uint8Array | undefined {
  return TFLITE_BYTES.get(loaded);
}

function loadBytes(bytes: Uint8Array, where: string): LoadedModel {
  const kind = sniffFormat(bytes);
  try {
    if (kind === 'tflite') {
      const loaded = readTfliteModel(bytes);
      TFLITE_BYTES.set(loaded, bytes);
      return loaded;
    }
    if (kind === 'safetensors') return readSafetensorsModel(bytes);
  } catch (e) {
    if (e instanceof MobilenetError && where !== 'model bytes') fail(e.code, `${where}: ${e.message}`, e);
    throw e;
  }
  if (kind === 'json') fail(ErrorCodes.OPTION, `${where}: a TF.js model.json needs its shard files: pass its path, directory or URL, not its bytes`);
  if (bytes.length < 8) fail(ErrorCodes.FILE_TOO_SHORT, `${where}: ${bytes.length} bytes, too short for any model format`);
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return fail(ErrorCodes.HEADER_FORMAT, `${where}: not a safetensors, TFLite or TF.js model (starts with ${head})`);
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
