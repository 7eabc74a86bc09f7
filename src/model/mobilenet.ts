/**
 * The public model: a layer table, folded weights and a backend that computes.
 * Everything the caller gives is checked here, in TypeScript, before any kernel runs.
 */
import type { NdArray } from 'ndarray';
import { ErrorCodes, MobilenetError, fail, describe } from '../errors.js';
import { Tensor, checkInput } from '../tensor.js';
import type { Architecture, MobileNetOptions } from './architecture.js';
import { buildArchitecture } from './architecture.js';
import { foldWeights, type FoldedLayer } from './fold.js';
import { randomWeights } from './random.js';
import { checkWeights, type WeightMap } from './weights.js';
import { runReference, type Activations } from '../reference/backend.js';
import type { WasmSource } from '../wasm/loader.js';

/** What a backend does: run the folded network on a batch and hand back the named activations. */
export interface InferenceBackend {
  readonly name: BackendName;
  /** Bytes of the memory the backend planned (the wasm arena); absent for the reference path. */
  readonly memoryBytes?: number;
  run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Activations;
  dispose(): void;
}

export type BackendName = 'reference' | 'wasm';

/** Makes a backend for a built model; the wasm backend registers itself here. */
export type BackendFactory = (arch: Architecture, folded: readonly FoldedLayer[], options: WasmOptions) => Promise<InferenceBackend>;

/** Where the wasm kernels come from and how much memory they may plan. */
export interface WasmOptions {
  /** Bytes, a path, a URL or a precompiled WebAssembly.Module (Cloudflare Workers need the last). Default: build/kernels.wasm beside the package. */
  source?: WasmSource;
  /** Refuse a plan above this many bytes (ERR_MEMORY_LIMIT). Default: the wasm32 limit, 4 GiB. */
  maxMemoryBytes?: number;
}

const backendFactories = new Map<BackendName, BackendFactory>([
  ['reference', async (arch, folded) => new ReferenceBackend(arch, folded)],
  // Loaded on first use, so the reference path never pulls in the wasm runtime.
  ['wasm', async (arch, folded, wasm) => (await import('../wasm/backend.js')).createWasmBackend(arch, folded, wasm)],
]);

export function registerBackend(name: BackendName, factory: BackendFactory): void {
  backendFactories.set(name, factory);
}

/** The backends this build can create. */
export function availableBackends(): BackendName[] {
  return [...backendFactories.keys()];
}

class ReferenceBackend implements InferenceBackend {
  readonly name = 'reference' as const;
  constructor(
    private readonly arch: Architecture,
    private readonly folded: readonly FoldedLayer[],
  ) {}
  run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Activations {
    return runReference(this.arch, this.folded, input, batch, keep);
  }
  dispose(): void {}
}

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
}

export interface RunOptions {
  /** End points to return, by name (any of `model.endpoints`). Default: the model's output. */
  outputs?: readonly string[];
  /** Refuse NaN or infinite input values. Default false. */
  checkFinite?: boolean;
}

export interface Classification {
  index: number;
  label: string | null;
  probability: number;
  logit: number;
}

export async function createModel(options: CreateModelOptions = {}): Promise<MobileNet> {
  const { weights, seed, backend = 'wasm', fallback = 'none', wasm = {}, strict, allowNonFiniteWeights, labels, ...architectureOptions } = options;
  if (fallback !== 'none' && fallback !== 'reference') fail(ErrorCodes.OPTION, `option fallback: expected "reference" or "none", got ${describe(fallback)}`);
  if (strict !== undefined && typeof strict !== 'boolean') fail(ErrorCodes.OPTION, `option strict: expected true or false, got ${describe(strict)}`);
  if (!backendFactories.has(backend)) {
    fail(ErrorCodes.OPTION, `option backend: expected one of ${[...backendFactories.keys()].join(', ')}, got ${describe(backend)}`);
  }
  const arch = buildArchitecture(architectureOptions);
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
    fail(ErrorCodes.OPTION, `option seed: expected an integer from 0 to 2^32-1, got ${describe(seed)}`);
  }
  const given = weights ?? randomWeights(arch, seed ?? 0);
  checkWeights(arch, given, { strict: strict ?? true, allowNonFinite: allowNonFiniteWeights ?? false });
  const folded = foldWeights(arch, given);
  const factory = backendFactories.get(backend)!;
  const numClasses = arch.options.numClasses;
  if (labels !== undefined && labels.length !== numClasses) {
    fail(ErrorCodes.OPTION, `option labels: expected ${numClasses} labels (one per class), got ${labels.length}`);
  }
  let impl: InferenceBackend;
  try {
    impl = await factory(arch, folded, wasm);
  } catch (err) {
    if (!(fallback === 'reference' && err instanceof MobilenetError && err.code === ErrorCodes.NO_SIMD)) throw err;
    console.warn(`mobilenet-wasm: ${err.message}; falling back to the reference backend (slow)`);
    impl = new ReferenceBackend(arch, folded);
  }
  return new MobileNet(arch, folded, impl, labels ?? null);
}

export class MobileNet {
  private disposed = false;

  constructor(
    readonly architecture: Architecture,
    /** The folded weights the backend computes with (TF layouts). */
    readonly folded: readonly FoldedLayer[],
    private readonly backendImpl: InferenceBackend,
    readonly labels: readonly string[] | null,
  ) {}

  get backend(): BackendName {
    return this.backendImpl.name;
  }

  /** Bytes of the wasm arena (packed weights, activations, scratch); null on the reference path. */
  get memoryBytes(): number | null {
    return this.backendImpl.memoryBytes ?? null;
  }

  get endpoints(): readonly string[] {
    return this.architecture.endpoints;
  }

  /** Runs a batch `[N, H, W, 3]` (values as the model expects, [-1, 1] for TF-Slim) and returns the end points asked for. */
  run(input: Tensor | NdArray, options: RunOptions = {}): Record<string, Tensor> {
    this.checkLive();
    const x = Tensor.from(input);
    const [batch] = checkInput(x, this.architecture.inputShape[0], this.architecture.inputShape[1]);
    if (options.checkFinite) {
      const i = x.data.findIndex((v) => !Number.isFinite(v));
      if (i >= 0) fail(ErrorCodes.INPUT_NONFINITE, `input: expected finite values, found ${x.data[i]} at flat index ${i}`);
    }
    const outputs = options.outputs ?? [this.architecture.output];
    if (!Array.isArray(outputs) || outputs.length === 0) {
      fail(ErrorCodes.OPTION, `option outputs: expected a non-empty list of end point names, got ${describe(outputs)}`);
    }
    for (const name of outputs) {
      if (!this.architecture.endpoints.includes(name)) {
        fail(ErrorCodes.OPTION, `option outputs: unknown end point ${describe(name)}; expected one of ${this.architecture.endpoints.join(', ')}`);
      }
    }
    const activations = this.backendImpl.run(x.data, batch, new Set(outputs));
    const result: Record<string, Tensor> = {};
    for (const name of outputs) result[name] = new Tensor(activations.get(name)!, this.shapeOf(name, batch));
    return result;
  }

  /** The model's output end point (Logits, or the pooled features, or the final end point). */
  predict(input: Tensor | NdArray): Tensor {
    return this.run(input, { outputs: [this.architecture.output] })[this.architecture.output]!;
  }

  /** Top-K classes per image, from the logits and the softmax predictions. */
  classify(input: Tensor | NdArray, topK = 5): Classification[][] {
    if (!this.architecture.endpoints.includes('Predictions')) {
      fail(ErrorCodes.OPTION, 'classify: this model has no classifier (numClasses is 0 or a finalEndpoint was set)');
    }
    if (!Number.isSafeInteger(topK) || topK < 1) fail(ErrorCodes.OPTION, `option topK: expected a positive integer, got ${describe(topK)}`);
    const { Logits: logits, Predictions: probs } = this.run(input, { outputs: ['Logits', 'Predictions'] });
    const classes = this.architecture.options.numClasses;
    const rows = logits!.size / classes;
    const result: Classification[][] = [];
    for (let r = 0; r < rows; r++) {
      const order = Array.from({ length: classes }, (_, k) => k);
      const p = probs!.data.subarray(r * classes, (r + 1) * classes);
      const l = logits!.data.subarray(r * classes, (r + 1) * classes);
      // Ties broken by the lower index, as tf.topk does.
      order.sort((a, b) => l[b]! - l[a]! || a - b);
      result.push(
        order.slice(0, Math.min(topK, classes)).map((index) => ({
          index,
          label: this.labels?.[index] ?? null,
          probability: p[index]!,
          logit: l[index]!,
        })),
      );
    }
    return result;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backendImpl.dispose();
  }

  private checkLive(): void {
    if (this.disposed) fail(ErrorCodes.DISPOSED, 'model: used after dispose()');
  }

  private shapeOf(name: string, batch: number): number[] {
    const layer = this.architecture.layers.find((l) => l.name === name)!;
    const [h, w, c] = layer.outShape;
    const squeezed = (name === 'Logits' || name === 'Predictions') && this.architecture.options.spatialSqueeze;
    return squeezed ? [batch, c] : [batch, h, w, c];
  }
}
