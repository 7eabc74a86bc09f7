/**
 * Building a model: the layer table from the options, the weights checked (once: a map a loader
 * already checked is not scanned again) and folded, then a backend. The wasm backend is
 * imported on first use, so the reference path never loads the wasm runtime.
 */
import type { BackendFactory, BackendName, InferenceBackend, Precision, WasmOptions } from '../backend.js';
import { ErrorCodes, MobilenetError, badOption, describe, fail } from '../errors.js';
import { checkNormalization, type PixelNormalization } from '../image/normalize.js';
import type { ImageOptions } from '../image/sources.js';
import { buildArchitecture, type MobileNetOptions } from '../model/architecture.js';
import { foldWeights } from '../model/fold.js';
import { randomWeights } from '../model/random.js';
import { ensureWeightsChecked, type WeightMap } from '../model/weights.js';
import { ReferenceBackend } from '../reference/backend.js';
import { resolveThreadsOption, warnOneThread } from '../wasm/threads/support.js';
import { resolvePrecisionOption } from '../wasm/relaxed.js';
import { MobileNet } from './mobilenet.js';

export interface CreateModelOptions extends MobileNetOptions {
  /** TF-Slim-named weights; BatchNorm folded or not, per layer. Default: `randomWeights(seed)`. */
  weights?: WeightMap;
  /** Seed of the deterministic random weights when no weights are given. */
  seed?: number;
  /** Default `wasm`. Without WebAssembly SIMD that is an ERR_NO_SIMD error unless `fallback` allows the reference path. */
  backend?: BackendName;
  /** `reference`: where the wasm backend cannot start for want of SIMD, use the reference path and warn. */
  fallback?: 'reference' | 'none';
  wasm?: WasmOptions;
  /** Refuse weights the architecture does not use. Default true. */
  strict?: boolean;
  /** Accept NaN or infinite weights. Default false. */
  allowNonFiniteWeights?: boolean;
  /** Class names, index 0 first (for 1001-class TF-Slim models, `background`). */
  labels?: readonly string[];
  /** How `classify` and `embed` turn pixels into inputs. Default: `torch-imagenet` for the torch flavour, else `unit-signed`. */
  normalization?: PixelNormalization;
  /** How `classify` and `embed` decode images by default (each call may override). */
  image?: ImageOptions;
  /**
   * Threads that compute each run (wasm backend): a positive integer, or `auto` for the cores
   * available. Default 1. Bit-identical to one thread. Needs SharedArrayBuffer (in browsers a
   * cross-origin isolated page) and workers; where there are none, one thread and a warning
   * (`model.threads` tells the number used).
   */
  threads?: number | 'auto';
  /**
   * `exact` (default): the same bits in every engine, on every CPU. `fast`: the dense and
   * pointwise convolutions multiply-add with relaxed SIMD (f32x4.relaxed_madd), fused on CPUs with
   * FMA: faster, and within about 1e-6 of exact (the same summation order, one rounding fewer per
   * multiply-add). Where the engine has no relaxed SIMD (Node 20 without
   * --experimental-wasm-relaxed-simd, Safari, older browsers), exact and a warning;
   * `model.precision` tells which runs and `model.fusedMultiplyAdd` whether it fuses. On the
   * reference backend, `fast` is its bit-exact twin (a correctly rounded fused multiply-add in
   * TypeScript), the fast tier's bits on a CPU with FMA.
   */
  precision?: Precision;
}

const BACKENDS: Record<BackendName, BackendFactory> = {
  reference: async (arch, folded, _wasm, _threads, precision) => new ReferenceBackend(arch, folded, precision),
  wasm: async (arch, folded, wasm, threads, precision) => (await import('../wasm/backend.js')).createWasmBackend(arch, folded, wasm, threads, precision),
};

/** The backends this build can create. */
export function availableBackends(): BackendName[] {
  return Object.keys(BACKENDS) as BackendName[];
}

export async function createModel(options: CreateModelOptions = {}): Promise<MobileNet> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) badOption('createModel options', options, 'an object');
  const { weights, seed, backend = 'wasm', fallback = 'none', wasm = {}, strict, allowNonFiniteWeights, labels, normalization, image, threads, precision, ...architectureOptions } = options;
  const requestedThreads = resolveThreadsOption(threads);
  const requestedPrecision = resolvePrecisionOption(precision);
  if (fallback !== 'none' && fallback !== 'reference') badOption('fallback', fallback, '"reference" or "none"');
  if (strict !== undefined && typeof strict !== 'boolean') badOption('strict', strict, 'true or false');
  if (allowNonFiniteWeights !== undefined && typeof allowNonFiniteWeights !== 'boolean') badOption('allowNonFiniteWeights', allowNonFiniteWeights, 'true or false');
  if (!Object.hasOwn(BACKENDS, backend)) badOption('backend', backend, `one of ${availableBackends().join(', ')}`);
  if (wasm === null || typeof wasm !== 'object') badOption('wasm', wasm, 'an object { source?, maxMemoryBytes? }');
  if (weights !== undefined && !(weights instanceof Map)) badOption('weights', weights, 'a Map of TF-Slim name -> {shape, data: Float32Array} (what loadModelFile returns)');
  const arch = buildArchitecture(architectureOptions);
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
    fail(ErrorCodes.OPTION, `option seed: expected an integer from 0 to 2^32-1, got ${describe(seed)}`);
  }
  const pixels = normalization === undefined ? (arch.options.flavour === 'torch' ? 'torch-imagenet' : 'unit-signed') : checkNormalization(normalization);
  const numClasses = arch.options.numClasses;
  if (labels !== undefined && labels !== null) {
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) badOption('labels', labels, 'a list of strings');
    if (labels.length !== numClasses) fail(ErrorCodes.OPTION, `option labels: expected ${numClasses} labels (one per class), got ${labels.length}`);
  }
  const given = weights ?? randomWeights(arch, seed ?? 0);
  ensureWeightsChecked(arch, given, { strict: strict ?? true, allowNonFinite: allowNonFiniteWeights ?? false });
  const folded = foldWeights(arch, given);
  let impl: InferenceBackend;
  try {
    impl = await BACKENDS[backend](arch, folded, wasm, requestedThreads, requestedPrecision);
  } catch (err) {
    if (!(fallback === 'reference' && err instanceof MobilenetError && err.code === ErrorCodes.NO_SIMD)) throw err;
    console.warn(`mobilenet-wasm: ${err.message}; falling back to the reference backend (slow)`);
    impl = new ReferenceBackend(arch, folded);
  }
  if (requestedThreads > 1 && impl.name === 'reference') warnOneThread(requestedThreads, 'the reference backend runs on one thread');
  return new MobileNet(arch, folded, impl, labels ?? null, pixels, image ?? {});
}
