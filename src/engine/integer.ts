/**
 * A uint8 or int8 TFLite MobileNet as a `MobileNet` (src/engine/mobilenet.ts) that computes in
 * TFLite's integer arithmetic: what `load(file)` gives for such a file (unless `dequantize: true`). The model's
 * calls are the float model's (classify, classifyBatch, embed, run); underneath, an
 * `InferenceBackend` whose float input (the pixels normalised as the file says) is quantized
 * with the file's input quantization, which gives exactly the integers TFLite takes, and whose
 * end points are the integer ones dequantized:
 *   - classify: `probability` = the softmax output's integer / 256 exactly (what TFLite returns),
 *     `logit` = the dequantized logit (scale * (q - zero point), float32);
 *   - run / embed: every end point dequantized (TFLite's Dequantize);
 *   - `model.runIntegers`: the end points as integers with their scale and zero point.
 * Two backends, one result: `wasm` (src/quant/wasm.ts, the integer SIMD kernels) and `reference`
 * (src/quant/reference.ts); they agree on every integer.
 */
import type { Activations, BackendName, InferenceBackend, WasmOptions } from '../backend.js';
import { ErrorCodes, MobilenetError, badOption, describe, fail } from '../errors.js';
import { checkNormalization, type PixelNormalization } from '../image/normalize.js';
import type { ImageOptions } from '../image/sources.js';
import type { LoadedModel } from '../formats/types.js';
import type { MobileNetOptions } from '../model/architecture.js';
import { foldWeights, type FoldedLayer } from '../model/fold.js';
import { MobileNet } from './mobilenet.js';
import { tfliteBytesOf } from '../formats/index.js';
import { isQuantizedTflite, readTfliteQuantized } from '../quant/tflite-reader.js';
import { platform } from '#platform';
import { kernelSources } from '../wasm/loader.js';
import { warnExact } from '../wasm/relaxed.js';
import { canBlock } from '../wasm/threads/pool.js';
import { threadsUnavailable, warnOneThread } from '../wasm/threads/support.js';
import { dequantize, quantize } from '../quant/kernels.js';
import type { IntDType, QuantizedModel } from '../quant/model.js';
import { runQuantizedReference, type QuantizedEndpoint } from '../quant/reference.js';
import { createQuantWasm, type QuantWasmRunner } from '../quant/wasm.js';

/** What computes: the wasm runner or the integer reference. */
interface IntegerEngine {
  run(input: Uint8Array | Int8Array, batch: number, keep?: ReadonlySet<string>): Map<string, QuantizedEndpoint>;
  readonly memoryBytes?: number;
  readonly threads?: number;
  dispose(): void;
}

/** An `InferenceBackend` over an integer engine: floats in (quantized as the file's input), dequantized end points out. */
export class QuantizedBackend implements InferenceBackend {
  private disposed = false;

  constructor(
    readonly model: QuantizedModel,
    private readonly engine: IntegerEngine,
    readonly name: BackendName,
  ) {}

  /** The activations' integer type. */
  get dtype(): IntDType {
    return this.model.dtype;
  }

  get memoryBytes(): number | undefined {
    return this.disposed ? undefined : this.engine.memoryBytes;
  }

  /** Threads that compute each run. */
  get threads(): number {
    return this.engine.threads ?? 1;
  }

  /** The model's input integers for pixels normalised as the file says (TFLite's Quantize; exact for (u8 - 128) / 128 inputs). */
  quantizeInput(input: Float32Array): Uint8Array | Int8Array {
    const { dtype, scale, zeroPoint } = this.model.input;
    return quantize(input, dtype, scale, zeroPoint) as Uint8Array | Int8Array;
  }

  run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Activations {
    const out: Activations = new Map();
    for (const [name, e] of this.runIntegers(this.quantizeInput(input), batch, keep)) out.set(name, dequantize(e.data, e.scale, e.zeroPoint));
    return out;
  }

  /** The end points in `keep` as integers with their scale and zero point. */
  runIntegers(input: Uint8Array | Int8Array, batch: number, keep: ReadonlySet<string>): Map<string, QuantizedEndpoint> {
    if (this.disposed) fail(ErrorCodes.DISPOSED, 'integer backend: used after dispose()');
    return this.engine.run(input, batch, keep);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.engine.dispose();
  }
}

/** The integer reference as an engine. */
function referenceEngine(model: QuantizedModel): IntegerEngine {
  return { run: (input, batch, keep) => runQuantizedReference(model, input, batch, keep), dispose: () => {} };
}

export interface QuantizedModelOptions {
  backend?: BackendName;
  fallback?: 'reference' | 'none';
  wasm?: WasmOptions;
  labels?: readonly string[] | null;
  normalization?: PixelNormalization;
  image?: ImageOptions;
  /** Folded float weights (the dequantized file): what a head's identity hashes (src/head/identity.ts). */
  folded: readonly FoldedLayer[];
  /**
   * Threads asked for (already checked): the wasm integer kernels on that many threads, the same
   * integers as one; one thread and a warning where threads cannot run (as the float path), on
   * the reference backend, or where the calling thread may not block (a browser's main thread:
   * load the model in a worker, { worker: true }).
   */
  threads?: number;
  /** `fast` does not apply: integer arithmetic is exact (a one-time note says so; `model.precision` is 'exact'). */
  precision?: 'exact' | 'fast';
}

/**
 * Builds a `MobileNet` on `model` computing in integers: the wasm integer kernels (default) or
 * the integer reference (`backend: 'reference'`, or where SIMD is missing and `fallback` allows).
 */
export async function createQuantizedMobileNet(model: QuantizedModel, o: QuantizedModelOptions) {
  const backend = o.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'reference') fail(ErrorCodes.OPTION, `option backend: expected "wasm" or "reference", got ${describe(backend)}`);
  // Checked as createModel checks them, before any kernel is built.
  const normalization = o.normalization === undefined ? model.pixelNormalization : checkNormalization(o.normalization);
  const numClasses = model.architecture.options.numClasses;
  if (o.labels !== undefined && o.labels !== null) {
    if (!Array.isArray(o.labels) || !o.labels.every((l) => typeof l === 'string')) badOption('labels', o.labels, 'a list of strings');
    if (o.labels.length !== numClasses) fail(ErrorCodes.OPTION, `option labels: expected ${numClasses} labels (one per class), got ${o.labels.length}`);
  }
  if (o.precision === 'fast') warnExact('the model computes in integers (a uint8 or int8 TFLite file; load it with dequantize: true for the float path and its fast tier)');
  const asked = o.threads ?? 1;
  let threads = 1;
  if (asked > 1) {
    const reason = backend === 'reference'
      ? 'the reference backend runs on one thread'
      : threadsUnavailable() ?? (canBlock() ? null : 'the integer path runs threads only where the calling thread may wait (not a browser\'s main thread: load the model in a worker, { worker: true })');
    if (reason !== null) warnOneThread(asked, reason);
    else threads = asked;
  }
  let impl: QuantizedBackend;
  if (backend === 'reference') {
    impl = new QuantizedBackend(model, referenceEngine(model), 'reference');
  } else {
    try {
      const sources = kernelSources(o.wasm?.source);
      const max = o.wasm?.maxMemoryBytes !== undefined ? { maxMemoryBytes: o.wasm.maxMemoryBytes } : {};
      let runner: QuantWasmRunner | null = null;
      if (threads > 1) {
        try {
          runner = await createQuantWasm(model, { ...(sources.threads !== undefined ? { source: sources.threads } : {}), ...max, threading: { threads, spawn: platform.spawnThread! } });
        } catch (error) {
          // A shared memory the engine will not reserve, workers that cannot start: one thread, as the float path.
          if (!(error instanceof MobilenetError && (error.code === ErrorCodes.WORKER || error.code === ErrorCodes.MEMORY_LIMIT))) throw error;
          warnOneThread(asked, `its thread workers could not start (${error.message})`);
        }
      }
      runner ??= await createQuantWasm(model, { ...(sources.simd !== undefined ? { source: sources.simd } : {}), ...max });
      impl = new QuantizedBackend(model, runner, 'wasm');
    } catch (err) {
      if (!(o.fallback === 'reference' && err instanceof MobilenetError && err.code === ErrorCodes.NO_SIMD)) throw err;
      console.warn(`mobilenet-wasm: ${err.message}; falling back to the reference backend (integer arithmetic, slow)`);
      impl = new QuantizedBackend(model, referenceEngine(model), 'reference');
    }
  }
  const labels = o.labels ?? model.labels ?? null;
  return new MobileNet(model.architecture, o.folded, impl, labels, normalization, o.image ?? {});
}

/**
 * `load(file)` (without `dequantize: true`): the integer model for a uint8 or int8 TFLite file
 * (null for any other file, which keeps the float path). Unsupported quantization in the file is
 * refused with ERR_TFLITE naming the tensor and the parameter (readTfliteQuantized), never run
 * in float instead.
 */
export async function loadIntegerModel(
  loaded: LoadedModel,
  overrides: MobileNetOptions,
  o: Omit<QuantizedModelOptions, 'folded' | 'labels'> & { labels: () => Promise<readonly string[] | null> },
) {
  if (loaded.format !== 'tflite') return null;
  const bytes = tfliteBytesOf(loaded);
  if (!bytes || !isQuantizedTflite(bytes)) return null;
  const given = Object.keys(overrides).filter((k) => (overrides as Record<string, unknown>)[k] !== undefined);
  if (given.length > 0) fail(ErrorCodes.OPTION, `option${given.length > 1 ? 's' : ''} ${given.join(', ')}: this quantized TFLite file computes in integers on its own architecture (the default); leave ${given.length > 1 ? 'them' : 'it'} out, or pass dequantize: true for the float path on its dequantized weights`);
  const model = readTfliteQuantized(bytes);
  // The dequantized weights, folded: what identifies the base model of a head (src/head/identity.ts).
  const folded = foldWeights(model.architecture, loaded.weights);
  return createQuantizedMobileNet(model, { ...o, folded, labels: await o.labels() });
}
