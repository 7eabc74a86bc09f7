/**
 * The model a user holds: a layer table, folded weights and a backend that computes.
 * Everything the caller gives is checked here, in TypeScript, before any kernel runs.
 *
 * Two levels: `run` / `predict` take a normalised NHWC batch and answer synchronously;
 * `classify`, `classifyBatch` and `embed` take images of any kind (see src/image/sources.ts),
 * run them through the documented pipeline and the model's own pixel normalisation. With
 * threads on a thread that may not block (a browser's main thread), only the asynchronous calls
 * run: `run` refuses with ERR_OPTION.
 */
import type { BackendName, InferenceBackend } from '../backend.js';
import { ErrorCodes, MobilenetError, badOption, describe, fail } from '../errors.js';
import { checkAborted, checkFetchOptions, type FetchOptions } from '../fetch.js';
import { normalizeRgb, type PixelNormalization } from '../image/normalize.js';
import { checkImageOptions, fitToModel, readImage, type ImageInput, type ImageOptions } from '../image/sources.js';
import type { Architecture } from '../model/architecture.js';
import type { FoldedLayer } from '../model/fold.js';
import type { QuantizedEndpoint } from '../quant/reference.js';
import { Tensor, checkInput, type NdArrayLike } from '../tensor.js';

export interface RunOptions {
  /** End points to return, by name (any of `model.endpoints`). Default: the model's output. */
  outputs?: readonly string[];
  /** Refuse NaN or infinite input values (ERR_INPUT_NONFINITE). Default false. */
  checkFinite?: boolean;
  /** Refuse NaN or infinite outputs (ERR_OUTPUT_NONFINITE): finite inputs can still overflow. Default false. */
  checkOutputs?: boolean;
}

export interface Classification {
  index: number;
  /** The class name, when the model has labels. */
  label: string | null;
  /** Softmax probability. */
  probability: number;
  logit: number;
}

/**
 * Options of one `classify` / `embed` call: how the image is decoded, and for URLs how it is
 * read. An image URL follows redirects anywhere by default (as `<img>` does); `redirects:
 * 'same-origin'` keeps it on the URL's origin.
 */
export interface CallOptions extends ImageOptions, Pick<FetchOptions, 'fetch' | 'signal' | 'timeouts' | 'redirects'> {}

export interface BatchOptions extends CallOptions {
  /** Images per inference. Default 8. */
  batchSize?: number;
}

export interface EmbedOptions extends CallOptions {
  /** The end point to return, flattened (HWC). Default `AvgPool_1a`, the pooled features, where the model has it. */
  endpoint?: string;
}

/**
 * What `load()` gives, in the calling thread or in a worker (`{ worker: true }`): images in,
 * classes and features out, asynchronously.
 */
export interface ImageModel {
  /** Class names, index 0 first; null when the model has none. */
  readonly labels: readonly string[] | null;
  /** How uint8 pixels become the network's input (src/image/normalize.ts). */
  readonly normalization: PixelNormalization;
  /** [height, width, 3] of one input image. */
  readonly inputShape: readonly [number, number, number];
  /** Classes of the classifier; 0 when the model has none. */
  readonly numClasses: number;
  readonly endpoints: readonly string[];
  readonly backend: BackendName;
  /** Bytes of the wasm arena; null on the reference path. */
  readonly memoryBytes: number | null;
  /** True when the model runs in a worker. */
  readonly inWorker: boolean;
  /** Threads that compute each run (1 unless `threads` was asked for and this runtime can run them). */
  readonly threads: number;
  /** The arithmetic: 'float32', or 'uint8' / 'int8' for a quantized TFLite file computed in integers (the default for such a file; `dequantize: true` gives 'float32'). */
  readonly dtype: 'float32' | 'uint8' | 'int8';
  /** The precision that runs: `fast` only where it was asked for and the engine has relaxed SIMD (else a warning said why). */
  readonly precision: 'exact' | 'fast';
  /** True when the multiply-adds round once: `fast` on a CPU with FMA (the engine's known-answer probe), or the reference's fused twin. */
  readonly fusedMultiplyAdd: boolean;
  /** The top `topK` classes of one image. */
  classify(image: ImageInput, topK?: number, options?: CallOptions): Promise<Classification[]>;
  /** The top `topK` classes of each image, run in batches; one list per image, in order. */
  classifyBatch(images: readonly ImageInput[] | Tensor, topK?: number, options?: BatchOptions): Promise<Classification[][]>;
  /** The pooled features of one image (or another end point's activation, flattened). */
  embed(image: ImageInput, options?: EmbedOptions): Promise<Float32Array>;
  /** Frees the model (and ends its worker). Any later call is ERR_DISPOSED. */
  dispose(): void;
}

/**
 * A batch where some images could not be read: the error of the first failure, with the
 * results of every image that could (null where one failed) and every failure by index.
 */
export interface BatchFailure {
  readonly results: (Classification[] | null)[];
  readonly failures: { index: number; code: string; message: string }[];
}

export class MobileNet implements ImageModel {
  private disposed = false;
  readonly inWorker = false;
  private readonly imageDefaults: Required<ImageOptions>;

  constructor(
    readonly architecture: Architecture,
    /** The folded weights the backend computes with (TF layouts). */
    readonly folded: readonly FoldedLayer[],
    private readonly backendImpl: InferenceBackend,
    readonly labels: readonly string[] | null,
    readonly normalization: PixelNormalization = 'unit-signed',
    imageOptions: ImageOptions = {},
  ) {
    this.imageDefaults = checkImageOptions(imageOptions);
  }

  get backend(): BackendName {
    return this.backendImpl.name;
  }

  /** Bytes of the wasm arena (packed weights, activations, scratch); null on the reference path. */
  get memoryBytes(): number | null {
    return this.backendImpl.memoryBytes ?? null;
  }

  /** The arithmetic: 'float32', or 'uint8' / 'int8' for a quantized TFLite file run in integers (`load(file)`; `dequantize: true` gives 'float32'). */
  get dtype(): 'float32' | 'uint8' | 'int8' {
    return (this.backendImpl as { dtype?: 'uint8' | 'int8' }).dtype ?? 'float32';
  }

  /**
   * An integer model's end points as TFLite has them: integers with their scale and zero point
   * (real = scale * (q - zeroPoint)). `input`: the model's input integers, NHWC, `batch` images
   * (Uint8Array for uint8, Int8Array for int8). ERR_OPTION on a float model.
   */
  runIntegers(input: Uint8Array | Int8Array, batch: number, outputs: readonly string[] = [this.architecture.output]): Record<string, QuantizedEndpoint> {
    this.checkLive();
    const impl = this.backendImpl as { runIntegers?: (x: Uint8Array | Int8Array, n: number, keep: ReadonlySet<string>) => Map<string, QuantizedEndpoint> };
    if (!impl.runIntegers) fail(ErrorCodes.OPTION, 'runIntegers: this model computes in float32 (a uint8 or int8 TFLite file loaded without { dequantize: true } computes in integers)');
    if (!Array.isArray(outputs) || outputs.length === 0) fail(ErrorCodes.OPTION, `option outputs: expected a non-empty list of end point names, got ${describe(outputs)}`);
    return Object.fromEntries(impl.runIntegers(input, batch, new Set(outputs)));
  }

  /** Threads that compute each run: what `threads` asked for, or 1 where threads cannot run (a warning said why). */
  get threads(): number {
    return this.backendImpl.threads ?? 1;
  }

  /** The precision that runs: what `precision` asked for, or `exact` where the fast tier cannot run (a warning said why). */
  get precision(): 'exact' | 'fast' {
    return this.backendImpl.precision ?? 'exact';
  }

  /** True when the multiply-adds round once (`fast` on FMA hardware, or the reference's fused twin). */
  get fusedMultiplyAdd(): boolean {
    return this.backendImpl.fusedMultiplyAdd ?? false;
  }

  get endpoints(): readonly string[] {
    return this.architecture.endpoints;
  }

  get inputShape(): readonly [number, number, number] {
    return this.architecture.inputShape;
  }

  get numClasses(): number {
    return this.endpoints.includes('Logits') ? this.architecture.options.numClasses : 0;
  }

  /** Runs a batch `[N, H, W, 3]` (values as the model expects, see `normalization`) and returns the end points asked for. */
  run(input: Tensor | NdArrayLike, options: RunOptions = {}): Record<string, Tensor> {
    const { x, batch, outputs } = this.checkRun(input, options);
    let activations;
    try {
      activations = this.backendImpl.run(x.data, batch, new Set(outputs));
    } catch (e) {
      return this.kernelFailure(e);
    }
    return this.results(activations, outputs, batch, options);
  }

  /** `run` for the asynchronous calls: where the backend's threads must be awaited (a browser's main thread), awaits them. */
  private async runAsync(input: Tensor, options: RunOptions): Promise<Record<string, Tensor>> {
    if (!this.backendImpl.runAsync) return this.run(input, options);
    const { x, batch, outputs } = this.checkRun(input, options);
    let activations;
    try {
      activations = await this.backendImpl.runAsync(x.data, batch, new Set(outputs));
    } catch (e) {
      return this.kernelFailure(e);
    }
    this.checkLive();
    return this.results(activations, outputs, batch, options);
  }

  private checkRun(input: Tensor | NdArrayLike, options: RunOptions): { x: Tensor; batch: number; outputs: readonly string[] } {
    this.checkLive();
    if (options === null || typeof options !== 'object') badOption('run options', options, 'an object');
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
    return { x, batch, outputs };
  }

  private kernelFailure(e: unknown): never {
    if (e instanceof MobilenetError) throw e;
    // A kernel that traps (custom kernels, a broken engine) is the engine's failure, reported with a code.
    return fail(ErrorCodes.KERNEL, `${this.backend} backend: the kernels failed while running: ${(e as Error)?.message ?? String(e)}`, e);
  }

  private results(activations: Map<string, Float32Array>, outputs: readonly string[], batch: number, options: RunOptions): Record<string, Tensor> {
    const result: Record<string, Tensor> = {};
    for (const name of outputs) {
      const data = activations.get(name)!;
      if (options.checkOutputs) checkFiniteOutput(name, data);
      result[name] = new Tensor(data, this.shapeOf(name, batch));
    }
    return result;
  }

  /** The model's output end point (Logits, or the pooled features, or the final end point). */
  predict(input: Tensor | NdArrayLike): Tensor {
    return this.run(input, { outputs: [this.architecture.output] })[this.architecture.output]!;
  }

  async classify(image: ImageInput, topK = 5, options: CallOptions = {}): Promise<Classification[]> {
    this.checkLive();
    this.checkClassifier(topK);
    const x = await this.prepare([image], options, 'classify');
    if (x.shape[0] !== 1) fail(ErrorCodes.INPUT, `classify: expected one image, got a batch of ${x.shape[0]}; use classifyBatch for several`);
    return (await this.topClasses(x, topK))[0]!;
  }

  async classifyBatch(images: readonly ImageInput[] | Tensor, topK = 5, options: BatchOptions = {}): Promise<Classification[][]> {
    this.checkLive();
    this.checkClassifier(topK);
    const batchSize = options.batchSize ?? 8;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 4096) badOption('batchSize', batchSize, 'an integer from 1 to 4096');
    if (images instanceof Tensor) return await this.topClasses(images, topK);
    if (!Array.isArray(images)) fail(ErrorCodes.INPUT, `classifyBatch: expected a list of images or a Tensor [N, H, W, 3], got ${describe(images)}`);
    const results: (Classification[] | null)[] = [];
    const failures: BatchFailure['failures'] = [];
    let firstError: MobilenetError | null = null;
    for (let start = 0; start < images.length; start += batchSize) {
      const chunk = images.slice(start, start + batchSize);
      const ready: Float32Array[] = [];
      const at: number[] = [];
      for (let i = 0; i < chunk.length; i++) {
        try {
          const x = await this.prepare([chunk[i]], options, `images[${start + i}]`, typeof chunk[i] === 'string' || chunk[i] instanceof URL ? undefined : `images[${start + i}]`);
          if (x.shape[0] !== 1) fail(ErrorCodes.INPUT, `images[${start + i}]: expected one image, got a batch of ${x.shape[0]}`);
          ready.push(x.data);
          at.push(start + i);
        } catch (e) {
          if (!(e instanceof MobilenetError) || e.code === ErrorCodes.DISPOSED || e.code === ErrorCodes.ABORTED) throw e;
          firstError ??= e;
          failures.push({ index: start + i, code: e.code, message: e.message });
          results[start + i] = null;
        }
      }
      if (ready.length > 0) {
        const [h, w] = this.architecture.inputShape;
        const batch = new Float32Array(ready.length * h * w * 3);
        ready.forEach((d, k) => batch.set(d, k * h * w * 3));
        (await this.topClasses(new Tensor(batch, [ready.length, h, w, 3]), topK)).forEach((top, k) => (results[at[k]!] = top));
      }
    }
    if (firstError) {
      const error = new MobilenetError(firstError.code, `classifyBatch: ${failures.length} of ${images.length} images failed; the first: ${firstError.message}`, { cause: firstError });
      Object.assign(error, { results, failures } satisfies BatchFailure);
      throw error;
    }
    return results as Classification[][];
  }

  async embed(image: ImageInput, options: EmbedOptions = {}): Promise<Float32Array> {
    this.checkLive();
    const endpoint = options.endpoint ?? (this.endpoints.includes('AvgPool_1a') ? 'AvgPool_1a' : this.architecture.output);
    if (typeof endpoint !== 'string' || !this.endpoints.includes(endpoint)) {
      badOption('endpoint', endpoint, `one of ${this.endpoints.join(', ')}`);
    }
    const x = await this.prepare([image], options, 'embed');
    if (x.shape[0] !== 1) fail(ErrorCodes.INPUT, `embed: expected one image, got a batch of ${x.shape[0]}`);
    return (await this.runAsync(x, { outputs: [endpoint], checkOutputs: true }))[endpoint]!.data;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backendImpl.dispose();
  }

  /** Reads, decodes, crops, resizes and normalises images; a Tensor or ndarray passes as it is. */
  private async prepare(images: readonly unknown[], options: CallOptions, what: string, name?: string): Promise<Tensor> {
    if (options === null || typeof options !== 'object') badOption(`${what} options`, options, 'an object');
    checkFetchOptions(options);
    checkAborted(options.signal, what);
    const imageOptions = checkImageOptions({ ...this.imageDefaults, ...definedOnly({ decoder: options.decoder, orientation: options.orientation }) });
    const [h, w] = this.architecture.inputShape;
    const rgb: Uint8Array[] = [];
    for (const image of images) {
      const read = await readImage(image, imageOptions, { ...options, redirects: options.redirects ?? 'any' }, name);
      this.checkLive();
      if ('tensor' in read) {
        // Checked here, not only by run: classifyBatch copies each image into one batch by the model's size.
        const s = read.tensor.shape;
        if (s.length !== 4 || s[1] !== h || s[2] !== w || s[3] !== 3) fail(ErrorCodes.INPUT, `${what}: expected a tensor of shape [N, ${h}, ${w}, 3], got ${describe(s)}`);
        if (images.length === 1) return read.tensor;
        fail(ErrorCodes.INPUT, `${what}: a Tensor cannot be mixed with images`);
      }
      rgb.push(fitToModel(read.rgb, h, w));
    }
    return normalizeRgb(rgb, h, w, this.normalization);
  }

  private checkClassifier(topK: number): void {
    if (!this.architecture.endpoints.includes('Predictions')) {
      fail(ErrorCodes.OPTION, 'classify: this model has no classifier (numClasses is 0 or a finalEndpoint was set); use embed');
    }
    if (!Number.isSafeInteger(topK) || topK < 1) badOption('topK', topK, 'a positive integer');
  }

  /** Top-K classes per image, from the logits and the softmax predictions; non-finite logits are refused. */
  private async topClasses(input: Tensor, topK: number): Promise<Classification[][]> {
    const { Logits: logits, Predictions: probs } = await this.runAsync(input, { outputs: ['Logits', 'Predictions'], checkOutputs: true });
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

function checkFiniteOutput(name: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      fail(ErrorCodes.OUTPUT_NONFINITE, `${name}: element ${i} is ${data[i]}; the inputs or weights overflow float32 in this model`);
    }
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
