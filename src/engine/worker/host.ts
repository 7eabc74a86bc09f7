/**
 * `load(source, { worker: true })`: the model runs in a worker and this side forwards calls.
 * What cannot cross to a worker is turned into what can, here, before posting: browser image
 * objects become their pixels, a Response its bytes, URLs their href (relative ones resolved
 * against the page first), Tensors and ndarrays a { data, shape }. Inputs are copied unless the
 * caller asked `transfer: true`. A worker that dies fails every pending call with ERR_WORKER.
 */
import { spawnModelWorker } from '#spawn-worker';
import { platform } from '#platform';
import { ErrorCodes, MobilenetError, badOption, fail } from '../../errors.js';
import { asUrl, isResponseLike, readResponse, type LoadProgress } from '../../fetch.js';
import { MAX_MODEL_FILE_BYTES, type ModelSource } from '../../formats/index.js';
import type { PixelNormalization } from '../../image/normalize.js';
import type { ImageInput } from '../../image/sources.js';
import { Tensor, isNdarray } from '../../tensor.js';
import type { LoadOptions } from '../load-core.js';
import type { BatchOptions, CallOptions, Classification, EmbedOptions, ImageModel } from '../mobilenet.js';
import { MODEL_INFO, type FromWorker, type Method, type ModelInfo, type WorkerPort } from './protocol.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (progress: LoadProgress) => void;
}

class WorkerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: MobilenetError | null = null;
  readonly ready: Promise<void>;

  constructor(private readonly port: WorkerPort) {
    let started!: () => void;
    let failed!: (e: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    port.onMessage((raw) => {
      const message = raw as FromWorker;
      if (message.type === 'ready') return started();
      const call = this.pending.get(message.id);
      if (!call) return;
      if (message.type === 'progress') return call.onProgress?.(message.progress);
      this.pending.delete(message.id);
      this.idleIfDone();
      if (message.ok) return call.resolve(message.value);
      const error = new MobilenetError(message.error.code as never, message.error.message);
      if (message.error.results !== undefined) Object.assign(error, { results: message.error.results, failures: message.error.failures });
      call.reject(error);
    });
    port.onFailure((reason) => {
      this.failure ??= new MobilenetError(ErrorCodes.WORKER, `the model's worker failed: ${reason}`);
      failed(this.failure);
      for (const call of this.pending.values()) call.reject(this.failure);
      this.pending.clear();
      port.terminate();
    });
  }

  call(method: Method, args: unknown[], transfer: Transferable[], extra: { signal?: AbortSignal; onProgress?: (p: LoadProgress) => void } = {}): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const { signal, onProgress } = extra;
    if (signal?.aborted) return Promise.reject(new MobilenetError(ErrorCodes.ABORTED, `${method}: aborted`, { cause: signal.reason }));
    return new Promise((resolve, reject) => {
      // An abort settles the call here at once (the worker may have finished, its answer on the way):
      // the worker is told to stop, and a late answer is dropped.
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.idleIfDone();
        this.port.post({ type: 'abort', id }, []);
        reject(new MobilenetError(ErrorCodes.ABORTED, `${method}: aborted`, { cause: signal!.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (v) => (done(), resolve(v)),
        reject: (e) => (done(), reject(e)),
        ...(onProgress ? { onProgress } : {}),
      });
      this.port.setIdle(false);
      try {
        this.port.post({ type: 'call', id, method, args }, transfer);
      } catch (e) {
        this.pending.delete(id);
        this.idleIfDone();
        done();
        reject(new MobilenetError(ErrorCodes.INPUT, `${method}: the input cannot be sent to the worker (${(e as Error)?.message ?? e})`, { cause: e }));
      }
    });
  }

  private idleIfDone(): void {
    if (this.pending.size === 0) this.port.setIdle(true);
  }

  end(): void {
    this.failure ??= new MobilenetError(ErrorCodes.DISPOSED, 'model: used after dispose()');
    for (const call of this.pending.values()) call.reject(this.failure);
    this.pending.clear();
    this.port.terminate();
  }
}

interface WorkerModel extends ModelInfo {}
// The properties are the worker's answer to `load` (ModelInfo), copied once; calls are forwarded.
class WorkerModel implements ImageModel {
  readonly inWorker = true;
  private disposed = false;

  constructor(
    private readonly client: WorkerClient,
    info: ModelInfo,
    private readonly transfer: boolean,
  ) {
    for (const key of MODEL_INFO) Object.defineProperty(this, key, { value: info[key], enumerable: true });
  }

  async classify(image: ImageInput, topK = 5, options: CallOptions = {}): Promise<Classification[]> {
    this.checkLive();
    const [sent, transfer] = await this.send(image);
    return (await this.client.call('classify', [sent, topK, callOptions(options)], transfer, { signal: options.signal })) as Classification[];
  }

  async classifyBatch(images: readonly ImageInput[] | Tensor, topK = 5, options: BatchOptions = {}): Promise<Classification[][]> {
    this.checkLive();
    let sent: unknown;
    const transfer: Transferable[] = [];
    if (Array.isArray(images)) {
      sent = [];
      for (const image of images) {
        const [one, t] = await this.send(image);
        (sent as unknown[]).push(one);
        transfer.push(...t);
      }
    } else {
      [sent] = await this.send(images as ImageInput);
    }
    return (await this.client.call('classifyBatch', [sent, topK, { ...callOptions(options), ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}) }], dedupe(transfer), { signal: options.signal })) as Classification[][];
  }

  async embed(image: ImageInput, options: EmbedOptions = {}): Promise<Float32Array> {
    this.checkLive();
    const [sent, transfer] = await this.send(image);
    return (await this.client.call('embed', [sent, { ...callOptions(options), ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}) }], transfer, { signal: options.signal })) as Float32Array;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.client.end();
  }

  private checkLive(): void {
    if (this.disposed) fail(ErrorCodes.DISPOSED, 'model: used after dispose()');
  }

  /** One image as the worker can receive it, and the buffers to transfer (with `transfer: true`). */
  private async send(image: unknown): Promise<[unknown, Transferable[]]> {
    if (image instanceof Tensor) return [{ tensor: { data: image.data, shape: image.shape } }, this.take(image.data)];
    if (isNdarray(image)) {
      const t = Tensor.from(image);
      return [{ tensor: { data: t.data, shape: t.shape } }, [t.data.buffer]];
    }
    if (typeof image === 'string' || image instanceof URL) {
      const url = asUrl(image);
      return [url ? url.href : image, []];
    }
    if (image instanceof Uint8Array || image instanceof ArrayBuffer) return [image, this.take(image)];
    const raw = image as { data?: unknown; width?: unknown; height?: unknown } | null;
    if (raw && (raw.data instanceof Uint8Array || raw.data instanceof Uint8ClampedArray)) {
      return [{ data: raw.data, width: raw.width, height: raw.height }, this.take(raw.data)];
    }
    const pixels = image !== null && typeof image === 'object' ? platform.pixelsOf?.(image) : null;
    if (pixels) {
      const p = await pixels;
      // Pixels read here are ours to give away: always transferred.
      return [{ data: p.data, width: p.width, height: p.height }, [p.data.buffer]];
    }
    return [image, []];
  }

  /** The buffer behind `view`, to transfer, when asked and when the view owns all of it. */
  private take(view: ArrayBuffer | ArrayBufferView): Transferable[] {
    if (!this.transfer) return [];
    if (view instanceof ArrayBuffer) return [view];
    const buffer = view.buffer;
    return buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength ? [buffer] : [];
  }
}

function callOptions(options: CallOptions): Record<string, unknown> {
  if (options === null || typeof options !== 'object') badOption('options', options, 'an object');
  if (options.fetch !== undefined) badOption('fetch', options.fetch, 'nothing when the model runs in a worker (a function cannot be sent to it)');
  const out: Record<string, unknown> = {};
  if (options.decoder !== undefined) out.decoder = options.decoder;
  if (options.orientation !== undefined) out.orientation = options.orientation;
  if (options.timeouts !== undefined) out.timeouts = options.timeouts;
  if (options.redirects !== undefined) out.redirects = options.redirects;
  return out;
}

function dedupe(list: Transferable[]): Transferable[] {
  return [...new Set(list)];
}

export async function loadInWorker(source: ModelSource | undefined, options: LoadOptions): Promise<ImageModel> {
  const { worker: _worker, transfer = false, signal, onProgress, fetch, ...rest } = options;
  if (fetch !== undefined) badOption('fetch', fetch, 'nothing with { worker: true } (a function cannot be sent to a worker)');
  // What cannot be cloned is turned into what can, before the worker starts.
  let sent: unknown = source;
  const moved: Transferable[] = [];
  if (source instanceof URL || typeof source === 'string') sent = asUrl(source)?.href ?? source;
  else if (isResponseLike(source)) sent = await readResponse(source as Response, MAX_MODEL_FILE_BYTES, source.url || 'response', { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}), ...(rest.timeouts ? { timeouts: rest.timeouts } : {}) });
  else if (transfer && source instanceof ArrayBuffer) moved.push(source);
  const labels = rest.labels instanceof URL ? rest.labels.href : rest.labels;
  // URLs cannot be cloned: sent as their addresses (a `{ simd, threads }` map entry by entry).
  const href = (v: unknown) => (v instanceof URL ? v.href : v);
  const given = rest.wasm?.source as unknown;
  const wasmSource = given !== null && typeof given === 'object' && (Object.getPrototypeOf(given) === Object.prototype || Object.getPrototypeOf(given) === null)
    ? Object.fromEntries(Object.entries(given).map(([k, v]) => [k, href(v)]))
    : href(given);
  const sentOptions = { ...rest, ...(labels !== undefined ? { labels } : {}), ...(rest.wasm ? { wasm: { ...rest.wasm, ...(wasmSource !== undefined ? { source: wasmSource } : {}) } } : {}) };

  const port = await spawnModelWorker();
  const client = new WorkerClient(port);
  try {
    await client.ready;
    const info = (await client.call('load', [sent, sentOptions], moved, { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) })) as ModelInfo;
    return new WorkerModel(client, info, transfer);
  } catch (e) {
    client.end();
    throw e;
  }
}
