/**
 * `load()` in the calling thread: one call from a model file (or none: the model shipped in the package) to a model
 * ready to classify, with its labels and its pixel normalisation found without being asked.
 *
 *   const model = await load();                       // MobileNet v1 0.5 @ 160, uint8 TFLite, in the package, computed in integers
 *   const top5 = await model.classify(imageBytes);    // [{ index, label, probability, logit }, ...]
 *
 * Labels, first found: `options.labels`; the file's own (TFLite metadata, safetensors
 * metadata); a `*labels*.txt` with one line per class beside a model given by path; the
 * ImageNet labels shipped in the package for 1001- and 1000-class models.
 */
import { platform } from '#platform';
import type { BackendName, WasmOptions } from '../backend.js';
import { ErrorCodes, badOption, fail, typeNameOf } from '../errors.js';
import type { URLLike } from '../dom-types.js';
import { asUrl, checkFetchOptions, isBlobLike, isResponseLike, type FetchOptions } from '../fetch.js';
import { loadModelFile, type LoadedModel, type ModelSource } from '../formats/index.js';
import { loadLabels, parseLabels } from '../formats/labels.js';
import type { PixelNormalization } from '../image/normalize.js';
import type { ImageOptions } from '../image/sources.js';
import { ARCHITECTURE_OPTIONS, resolveOptions, type MobileNetOptions } from '../model/architecture.js';
import { resolveThreadsOption, threadsUnavailable } from '../wasm/threads/support.js';
import { relaxedSimd, resolvePrecisionOption } from '../wasm/relaxed.js';
import { createModel } from './create.js';
import type { ImageModel, MobileNet } from './mobilenet.js';

export interface LoadOptions extends FetchOptions, ImageOptions, MobileNetOptions {
  /** Class names (one per class, index 0 first), or the path or URL of a labels file. */
  labels?: readonly string[] | string | URLLike;
  /** How pixels become inputs. Default: what the file says (TFLite input quantisation, TF.js [-1, 1], PyTorch mean/std). */
  normalization?: PixelNormalization;
  /** Default `wasm`; `reference` is the plain-TypeScript path. */
  backend?: BackendName;
  /** `reference`: where WebAssembly SIMD is missing, use the reference path (with a warning) instead of ERR_NO_SIMD. */
  fallback?: 'reference' | 'none';
  /** Where the wasm kernels come from (bytes, URL, path, or a compiled WebAssembly.Module) and the memory cap. */
  wasm?: WasmOptions;
  /** Run the model in a worker (a Web Worker in browsers, a worker_threads Worker in Node, Deno and Bun). */
  worker?: boolean;
  /** With `worker`: transfer image buffers to the worker instead of copying them (the caller's buffers are detached). */
  transfer?: boolean;
  /** Threads that compute each run: a positive integer or `auto` (the cores available); default 1. See `CreateModelOptions.threads`. */
  threads?: number | 'auto';
  /** `exact` (default) or `fast` (relaxed SIMD's fused multiply-add where the engine has it). See `CreateModelOptions.precision`. */
  precision?: 'exact' | 'fast';
  /**
   * For a uint8 or int8 TFLite file: absent or `false` computes in TFLite's integer arithmetic (the
   * default: the integer wasm kernels, bit-identical to TFLite's reference kernels; `model.dtype`
   * 'uint8' / 'int8'); `true`: the float path on its dequantized weights (`model.dtype` 'float32').
   * Other files: no effect.
   */
  dequantize?: boolean;
}

const LOAD_OPTIONS = new Set([
  'fetch', 'signal', 'onProgress', 'timeouts', 'redirects', 'decoder', 'orientation', 'labels', 'normalization', 'backend', 'fallback', 'wasm', 'worker', 'transfer', 'threads', 'precision', 'dequantize',
  ...ARCHITECTURE_OPTIONS,
]);

export function checkLoadOptions(source: unknown, options: LoadOptions): void {
  if (source !== undefined && !isModelSource(source)) {
    fail(ErrorCodes.INPUT, `load: expected a path, a URL, bytes (Uint8Array, ArrayBuffer), a Blob or File, or a Response, or nothing for the default model; got ${source === null ? 'null' : source === '' ? 'an empty string' : typeNameOf(source)}`);
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) badOption('load options', options, 'an object');
  for (const key of Object.keys(options)) {
    if (!LOAD_OPTIONS.has(key)) badOption(key, (options as Record<string, unknown>)[key], `one of the load options ${[...LOAD_OPTIONS].join(', ')}`);
  }
  for (const key of ['worker', 'transfer', 'dequantize'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') badOption(key, options[key], 'true or false');
  }
  if (options.threads !== undefined) resolveThreadsOption(options.threads);
  resolvePrecisionOption(options.precision);
  checkFetchOptions(options);
}

function isModelSource(v: unknown): boolean {
  return (typeof v === 'string' && v !== '') || v instanceof URL || v instanceof Uint8Array || v instanceof ArrayBuffer || isBlobLike(v) || isResponseLike(v);
}

/** `load` in the calling thread (what a worker runs too). */
export async function loadInThread(source: ModelSource | undefined, options: LoadOptions = {}): Promise<MobileNet> {
  checkLoadOptions(source, options);
  const { fetch, signal, onProgress, timeouts, redirects, decoder, orientation, labels, normalization, backend, fallback, wasm, worker: _w, transfer: _t, threads, precision, dequantize, ...overrides } = options;
  const fetchOptions: FetchOptions = { fetch, signal, onProgress, timeouts, redirects };
  // The package's kernels compile while the model loads (compiled once per process; a failure
  // here is ignored: createModel meets it again and reports it, or falls back).
  if (backend !== 'reference' && wasm?.source === undefined) {
    const threaded = threads !== undefined && resolveThreadsOption(threads) > 1 && threadsUnavailable() === null;
    const fast = precision === 'fast' && typeof relaxedSimd() !== 'string';
    const build = fast ? (threaded ? 'threadsRelaxed' : 'relaxed') : threaded ? 'threads' : 'simd';
    void import('../wasm/loader.js').then((m) => m.defaultKernels(build)).catch(() => {});
  }
  const loaded = await loadModelFile(source ?? (await platform.defaultModel()), fetchOptions);
  const architecture = mergeOptions(loaded.options, overrides);
  const numClasses = resolveOptions(architecture).numClasses;
  if (dequantize !== true && loaded.format === 'tflite') {
    // The default for a quantized TFLite file: the integer path (./integer.ts); null for any other file.
    const { loadIntegerModel } = await import('./integer.js');
    const integer = await loadIntegerModel(loaded, overrides, {
      labels: async () => (await findLabels(source, loaded, numClasses, labels, fetchOptions)) ?? null,
      normalization, backend, fallback: fallback ?? (backend === undefined ? 'reference' : 'none'), wasm,
      threads: threads === undefined ? 1 : resolveThreadsOption(threads),
      ...(precision !== undefined ? { precision } : {}),
      image: { ...(decoder !== undefined ? { decoder } : {}), ...(orientation !== undefined ? { orientation } : {}) },
    });
    if (integer) return integer;
  }
  return createModel({
    ...architecture,
    weights: loaded.weights,
    labels: (await findLabels(source, loaded, numClasses, labels, fetchOptions)) ?? undefined,
    normalization: normalization ?? loaded.pixelNormalization,
    ...(backend !== undefined ? { backend } : {}),
    // Without SIMD the default falls back to the reference path (with a warning); an explicit backend: 'wasm' does not.
    fallback: fallback ?? (backend === undefined ? 'reference' : 'none'),
    ...(wasm !== undefined ? { wasm } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(precision !== undefined ? { precision } : {}),
    image: { ...(decoder !== undefined ? { decoder } : {}), ...(orientation !== undefined ? { orientation } : {}) },
  });
}

/** The file's options with the caller's over them; `alpha` given by the caller replaces the file's depthMultiplier. */
function mergeOptions(fromFile: MobileNetOptions, overrides: MobileNetOptions): MobileNetOptions {
  const merged: MobileNetOptions = { ...fromFile, ...overrides };
  if (overrides.alpha !== undefined && overrides.depthMultiplier === undefined) delete merged.depthMultiplier;
  if (overrides.depthMultiplier !== undefined && overrides.alpha === undefined) delete merged.alpha;
  return merged;
}

async function findLabels(
  source: ModelSource | undefined,
  loaded: LoadedModel,
  numClasses: number,
  given: LoadOptions['labels'],
  fetchOptions: FetchOptions,
): Promise<string[] | null> {
  if (given !== undefined) {
    if (Array.isArray(given)) return [...given] as string[];
    if (typeof given === 'string' || given instanceof URL) return loadLabels(given, fetchOptions);
    badOption('labels', given, 'a list of class names, or the path or URL of a labels file');
  }
  if (numClasses === 0) return null;
  if (loaded.labels?.length === numClasses) return loaded.labels;
  if (typeof source === 'string' && platform.hasFiles && asUrl(source) === null) {
    const beside = await labelsBeside(source, numClasses);
    if (beside) return beside;
  }
  if (numClasses === 1001 || numClasses === 1000) {
    const { IMAGENET_LABELS_1001 } = await import('../formats/imagenet-labels.js');
    const all = IMAGENET_LABELS_1001.split('\n');
    // A 1000-class head (Keras, PyTorch) has no background class: index k is the 1001-class head's k + 1.
    return numClasses === 1001 ? all : all.slice(1);
  }
  return null;
}

/** A labels file with exactly one line per class, in the model's folder or the one above it. */
async function labelsBeside(modelPath: string, classes: number): Promise<string[] | null> {
  const info = await platform.fileInfo(modelPath).catch(() => null);
  const start = info?.kind === 'directory' ? modelPath : platform.dirname(modelPath);
  for (const dir of [start, platform.dirname(start)]) {
    const names = await platform.listDir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => /labels.*\.txt$/i.test(n)).sort()) {
      const labels = await platform
        .readFile(platform.joinPath(dir, name), 16 << 20)
        .then((bytes) => parseLabels(new TextDecoder('utf-8', { fatal: true }).decode(bytes)))
        .catch(() => null);
      if (labels?.length === classes) return labels;
    }
  }
  return null;
}
