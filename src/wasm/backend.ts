/**
 * The wasm backend: the layer table run with the AssemblyScript SIMD kernels.
 *
 * Memory, planned once when the model is built (one WebAssembly.Memory per model):
 *   [0, 64)                 unused (no kernel pointer is ever 0)
 *   weights                 every layer's packed weights, 64-byte aligned, written once
 *   GEMM scratch            one chunk of A rows packed 4 by 4 for the pointwise layers
 *                           (`gemmScratchBytes`, the largest over the layers; batch-independent)
 *   activations A, B        ping-pong buffers, each the largest activation of any layer
 *                           (input included) times the batch, plus 64 bytes of slack for the
 *                           kernels' channel-tail over-reads
 * A larger batch grows the memory (before the run, never during it); a plan above the wasm32
 * limit fails with ERR_MEMORY_LIMIT. Inputs are copied in, requested end points copied out
 * into Float32Arrays the caller owns. The softmax stays in TypeScript (`softmaxRef`).
 *
 * With threads (N > 1, src/wasm/threads/): the memory is shared, the kernels are the threads
 * build, and the plan has, after the weights, the threads' control block and step descriptors
 * (`controlBytes`), then one GEMM scratch per thread. The layers run as steps, each cut into
 * items the threads take from a counter (plan.ts); every output is computed as on one thread.
 *
 * With `precision: 'fast'` (relaxed.ts): the same plan and kernels, from the builds compiled with
 * relaxed SIMD (kernels-relaxed.wasm, kernels-threads-relaxed.wasm); where the engine has no
 * relaxed SIMD, exact and a warning.
 */
import { ErrorCodes, fail } from '../errors.js';
import type { Architecture, ConvLayer, Layer } from '../model/architecture.js';
import type { FoldedLayer } from '../model/fold.js';
import { platform } from '#platform';
import type { Activations, InferenceBackend, Precision, WasmOptions } from '../backend.js';
import { softmaxRef } from '../reference/kernels.js';
import { WASM_MAX_BYTES, WASM_PAGE_BYTES, compileKernels, defaultKernels, instantiateKernels, kernelSources } from './loader.js';
import { relaxedSimd, warnExact } from './relaxed.js';
import type { KernelExports, ThreadKernelExports } from './kernels.js';
import { DESC_WORDS, describeStep } from './threads/plan.js';
import { ThreadPool, canBlock, controlBytes, descAt } from './threads/pool.js';
import { threadsUnavailable, warnOneThread } from './threads/support.js';
import { gemmChunkRows, packConv, packDepthwise, packGemm, packedConvLength, packedDepthwiseLength, packedGemmLength } from './pack.js';

const ALIGN = 64;
const SLACK = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function clampRange(activation: ConvLayer['activation']): [number, number] {
  return activation === 'relu6' ? [0, 6] : activation === 'relu' ? [0, Infinity] : [-Infinity, Infinity];
}

interface Planned {
  readonly layer: Layer;
  /** Byte offset of the packed weights (conv layers). */
  readonly weights: number;
}

/** Bytes of the scratch the packed GEMM path needs for depth `k`: one chunk of packed rows. */
export const gemmScratchBytes = (k: number) => gemmChunkRows(k) * k * 4;

/**
 * Calls the GEMM over `m` rows, in row chunks that stay in cache. With a `scratch` (at least
 * `gemmScratchBytes(k)` bytes, 16-byte aligned), each chunk's rows are packed 4 by 4
 * (f32_pack_a_4rows) and run by f32_gemm_4x8_packed_minmax, the rows left over (m % 4) by
 * f32_gemm_1x8_minmax; without, by f32_gemm_4x8_minmax in place. Same bits either way.
 */
export function gemm(
  kernels: KernelExports, m: number, n: number, k: number, a: number, w: number, c: number, lo: number, hi: number,
  scratch = 0,
): void {
  const chunk = gemmChunkRows(k);
  for (let m0 = 0; m0 < m; m0 += chunk) {
    const rows = Math.min(chunk, m - m0);
    const ar = a + m0 * k * 4;
    const cr = c + m0 * n * 4;
    if (scratch === 0) {
      kernels.f32_gemm_4x8_minmax(rows, n, k, ar, k * 4, w, cr, n * 4, lo, hi);
      continue;
    }
    const rows4 = rows & ~3;
    if (rows4 > 0) {
      kernels.f32_pack_a_4rows(rows4, k, ar, k * 4, scratch);
      kernels.f32_gemm_4x8_packed_minmax(rows4, n, k, scratch, w, cr, n * 4, lo, hi);
    }
    if (rows4 < rows) kernels.f32_gemm_1x8_minmax(rows - rows4, n, k, ar + rows4 * k * 4, k * 4, w, cr + rows4 * n * 4, n * 4, lo, hi);
  }
}

/** How a backend runs threaded: `threads` compute; `asyncHost`: the calling thread may not block. */
export interface Threading {
  readonly threads: number;
  readonly asyncHost: boolean;
}

/** A part of a threaded run: run steps first..last (none when first > last), then copy out or take the softmax of layer `keep`. */
type Segment = { readonly first: number; readonly last: number; readonly keep: number };

export class WasmBackend implements InferenceBackend {
  readonly name = 'wasm' as const;
  // Dropped by dispose(): the arena and the instance become garbage at once.
  private memory: WebAssembly.Memory;
  private kernels: KernelExports;
  private module: WebAssembly.Module;
  private disposed = false;
  private readonly plan: Planned[];
  /** End of the weights and the GEMM scratch: where the activation buffers start. */
  private readonly weightsEnd: number;
  /** Byte offset of the GEMM scratch (0: no pointwise layer). */
  private readonly scratch: number;
  /** Floats of the largest activation of one image. */
  private readonly maxActivation: number;
  private batchCapacity = 0;
  private bufA = 0;
  private bufB = 0;
  /** Threaded: the control block's offset, the bytes between threads' scratches, the pool, and what the descriptors were written for. */
  private readonly ctrl: number = 0;
  private readonly scratchStride: number = 0;
  private pool: ThreadPool | null = null;
  private described: { batch: number; bufB: number } | null = null;
  /** The async runs in progress, one after another (they share the buffers). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly arch: Architecture,
    folded: readonly FoldedLayer[],
    module: WebAssembly.Module,
    private readonly maxBytes = WASM_MAX_BYTES,
    /** Threaded: `module` is the threads build (kernels-threads.wasm). */
    private readonly threading: Threading | null = null,
    /** Fast: `module` is a relaxed SIMD build; `fused`: its relaxed_madd rounds once (the engine's probe). */
    private readonly fast: { readonly fused: boolean } | null = null,
  ) {
    const byName = new Map(folded.map((f) => [f.layer.name, f]));
    let offset = ALIGN;
    const packedLength: number[] = [];
    this.plan = arch.layers.map((layer) => {
      const len = packedLengthOf(layer);
      packedLength.push(len);
      const planned = { layer, weights: len > 0 ? offset : 0 };
      offset += align(len * 4);
      return planned;
    });
    const scratchBytes = Math.max(0, ...arch.layers.map((l) => (l.kind === 'pointwise' || l.kind === 'logits' ? gemmScratchBytes(l.inShape[2]) : 0)));
    if (threading) {
      this.ctrl = offset;
      offset += align(controlBytes(arch.layers.length));
      this.scratchStride = align(scratchBytes);
    }
    this.scratch = scratchBytes > 0 ? offset : 0;
    offset += align(scratchBytes) * (threading?.threads ?? 1);
    this.weightsEnd = offset;
    const size = (s: readonly number[]) => s[0]! * s[1]! * s[2]!;
    this.maxActivation = Math.max(size(arch.inputShape), ...arch.layers.map((l) => Math.max(size(l.inShape), size(l.outShape))));
    const bytes = this.bytesFor(1);
    const pages = { initial: Math.ceil(bytes / WASM_PAGE_BYTES), maximum: Math.ceil(this.maxBytes / WASM_PAGE_BYTES) };
    this.memory = threading ? sharedMemory(pages, this.maxBytes) : new WebAssembly.Memory(pages);
    this.kernels = instantiateKernels(module, this.memory).kernels;
    this.module = module;
    this.place(1);
    // Pack every layer's weights straight into the arena.
    this.plan.forEach(({ layer, weights }, i) => {
      if (weights === 0) return;
      const f = byName.get(layer.name);
      if (!f) fail(ErrorCodes.WEIGHT_MISSING, `wasm backend: no folded weights for layer ${layer.name}`);
      const view = new Float32Array(this.memory.buffer, weights, packedLength[i]!);
      packLayer(layer as ConvLayer, f.filter, f.bias, view);
    });
  }

  /** Bytes of the arena (the WebAssembly.Memory) as planned now. */
  get memoryBytes(): number {
    return this.disposed ? 0 : this.memory.buffer.byteLength;
  }

  /** Threads that compute a run. */
  get threads(): number {
    return this.threading?.threads ?? 1;
  }

  /** `fast` when the kernels are a relaxed SIMD build. */
  get precision(): Precision {
    return this.fast ? 'fast' : 'exact';
  }

  /** True when the fast kernels' multiply-adds round once (FMA hardware). */
  get fusedMultiplyAdd(): boolean {
    return this.fast?.fused ?? false;
  }

  /** True when the calling thread may not block (a browser's main thread): `run` refuses, `runAsync` works. */
  get mustRunAsync(): boolean {
    return this.threading?.asyncHost ?? false;
  }

  /** Threaded: starts the workers (ERR_WORKER if they cannot start). */
  async startThreads(): Promise<void> {
    if (!this.threading || this.pool) return;
    this.pool = await ThreadPool.start({
      module: this.module,
      memory: this.memory,
      kernels: this.kernels as ThreadKernelExports,
      ctrl: this.ctrl,
      steps: this.plan.length,
      threads: this.threading.threads,
      asyncHost: this.threading.asyncHost,
      spawn: platform.spawnThread!,
    });
  }

  private bytesFor(batch: number): number {
    const bytes = this.weightsEnd + 2 * align(this.maxActivation * batch * 4 + SLACK);
    if (bytes > this.maxBytes) {
      fail(ErrorCodes.MEMORY_LIMIT, `wasm backend: batch ${batch} needs ${bytes} bytes of wasm memory (weights and GEMM scratch ${this.weightsEnd}, two activation buffers of ${this.maxActivation * batch * 4}), above the limit of ${this.maxBytes} bytes`);
    }
    return bytes;
  }

  /** Makes room for `batch` images: grows the memory if needed (never during a run). */
  private place(batch: number): void {
    if (batch <= this.batchCapacity) return;
    const bytes = this.bytesFor(batch);
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      try {
        this.memory.grow(Math.ceil((bytes - have) / WASM_PAGE_BYTES));
      } catch (error) {
        fail(ErrorCodes.MEMORY_LIMIT, `wasm backend: could not grow wasm memory to ${bytes} bytes for batch ${batch}: ${(error as Error).message}`, error);
      }
    }
    this.batchCapacity = batch;
    this.bufA = this.weightsEnd;
    this.bufB = this.weightsEnd + align(this.maxActivation * batch * 4 + SLACK);
    this.pool?.refreshViews();
  }

  run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Activations {
    this.checkLive();
    if (this.mustRunAsync) {
      fail(ErrorCodes.OPTION, `wasm backend: with threads: ${this.threads}, a run cannot wait on this thread (a browser's main thread may not block); use the async calls (classify, classifyBatch, embed: they take Tensors too), or load the model in a worker ({ worker: true })`);
    }
    const inSize = this.arch.inputShape[0] * this.arch.inputShape[1] * this.arch.inputShape[2];
    if (!Number.isSafeInteger(batch) || batch < 1 || input.length !== batch * inSize) {
      fail(ErrorCodes.INPUT, `wasm backend: expected ${batch} x ${inSize} input values, got ${input.length}`);
    }
    this.place(batch);
    if (this.pool) {
      const out: Activations = new Map();
      let copy: (() => void) | undefined = () => this.copyIn(input);
      for (const segment of this.segments(batch, keep)) {
        if (segment.first <= segment.last) this.pool.run(segment.first, segment.last, copy);
        else copy?.();
        copy = undefined;
        this.collect(segment, batch, keep, out);
      }
      return out;
    }
    const out: Activations = new Map();
    const last = this.plan.reduce((acc, p, i) => (keep.has(p.layer.name) ? i : acc), -1);
    new Float32Array(this.memory.buffer, this.bufA, input.length).set(input);
    let src = this.bufA;
    let dst = this.bufB;
    const k = this.kernels;
    for (let i = 0; i <= last; i++) {
      const { layer, weights } = this.plan[i]!;
      const [outH, outW, outC] = layer.outShape;
      const outLen = batch * outH * outW * outC;
      if (layer.kind === 'softmax') {
        const logits = new Float32Array(this.memory.buffer, src, outLen);
        if (keep.has(layer.name)) out.set(layer.name, softmaxRef(logits, batch * outH * outW, outC));
        continue;
      }
      runLayer(k, layer, weights, src, dst, batch, this.scratch);
      if (keep.has(layer.name)) out.set(layer.name, new Float32Array(this.memory.buffer, dst, outLen).slice());
      [src, dst] = [dst, src];
    }
    return out;
  }

  /**
   * The same run as `run`, without blocking this thread (threaded backends; others run
   * synchronously). Runs one at a time: a call waits for the ones before it.
   */
  runAsync(input: Float32Array, batch: number, keep: ReadonlySet<string>): Promise<Activations> {
    const turn = this.queue.then(() => this.runAsyncNow(input, batch, keep));
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async runAsyncNow(input: Float32Array, batch: number, keep: ReadonlySet<string>): Promise<Activations> {
    if (!this.pool) return this.run(input, batch, keep);
    this.checkLive();
    const inSize = this.arch.inputShape[0] * this.arch.inputShape[1] * this.arch.inputShape[2];
    if (!Number.isSafeInteger(batch) || batch < 1 || input.length !== batch * inSize) {
      fail(ErrorCodes.INPUT, `wasm backend: expected ${batch} x ${inSize} input values, got ${input.length}`);
    }
    this.place(batch);
    const out: Activations = new Map();
    let copy: (() => void) | undefined = () => this.copyIn(input);
    for (const segment of this.segments(batch, keep)) {
      if (segment.first > segment.last) copy?.();
      else if (this.mustRunAsync) await this.pool.runAsync(segment.first, segment.last, copy);
      else this.pool.run(segment.first, segment.last, copy);
      copy = undefined;
      this.checkLive();
      this.collect(segment, batch, keep, out);
    }
    return out;
  }

  /** Copies a run's input into activation buffer A. */
  private copyIn(input: Float32Array): void {
    new Float32Array(this.memory.buffer, this.bufA, input.length).set(input);
  }

  /**
   * Threaded: writes the step descriptors for `batch` (when it or the buffers changed) and cuts
   * the run into segments that end at each kept end point (whose activation a later step would
   * overwrite). The first segment's run copies the input in while the workers wake.
   */
  private segments(batch: number, keep: ReadonlySet<string>): Segment[] {
    this.describe(batch);
    const last = this.plan.reduce((acc, p, i) => (keep.has(p.layer.name) ? i : acc), -1);
    const segments: Segment[] = [];
    let first = 0;
    for (let i = 0; i <= last; i++) {
      if (!keep.has(this.plan[i]!.layer.name)) continue;
      const isSoftmax = this.plan[i]!.layer.kind === 'softmax';
      segments.push({ first, last: isSoftmax ? i - 1 : i, keep: i });
      first = isSoftmax ? i : i + 1;
    }
    return segments;
  }

  /** Threaded: the output of layer `segment.keep` (or the softmax of its input), copied out. */
  private collect(segment: Segment, batch: number, keep: ReadonlySet<string>, out: Activations): void {
    const { layer } = this.plan[segment.keep]!;
    const [outH, outW, outC] = layer.outShape;
    const outLen = batch * outH * outW * outC;
    // Layer i reads the buffer layer i - 1 wrote: layer 0 writes B, layer 1 writes A, ...; the softmax writes nothing.
    const written = (i: number) => (i % 2 === 0 ? this.bufB : this.bufA);
    if (layer.kind === 'softmax') {
      const logits = new Float32Array(this.memory.buffer, written(segment.keep - 1), outLen);
      if (keep.has(layer.name)) out.set(layer.name, softmaxRef(logits, batch * outH * outW, outC));
      return;
    }
    out.set(layer.name, new Float32Array(this.memory.buffer, written(segment.keep), outLen).slice());
  }

  /** Threaded: the step descriptors of every layer for `batch` images, in the buffers as placed now. */
  private describe(batch: number): void {
    if (this.described?.batch === batch && this.described.bufB === this.bufB) return;
    // A worker that fell behind may still read the old descriptors until it finishes the previous run.
    this.pool?.settle();
    const threads = this.threading!.threads;
    const steps = this.plan.length;
    let src = this.bufA;
    let dst = this.bufB;
    this.plan.forEach(({ layer, weights }, s) => {
      if (layer.kind === 'softmax') return;
      const desc = new Int32Array(this.memory.buffer, descAt(this.ctrl, steps, s), DESC_WORDS);
      const [lo, hi] = layer.kind === 'avgpool' ? [0, 0] : clampRange(layer.activation);
      describeStep(layer, { input: src, weights, output: dst, scratch: this.scratch, scratchStride: this.scratchStride }, batch, threads, lo, hi, desc);
      [src, dst] = [dst, src];
    });
    this.described = { batch, bufB: this.bufB };
  }

  /**
   * For benchmarks: one whole run of `input` to the model's last layer, each layer timed where
   * it runs (ms per layer, 0 for the softmax). Threaded: a step's time runs from the end of the
   * step before to the moment every thread is done with it, barrier included.
   */
  profileRun(input: Float32Array, batch = 1): number[] {
    this.checkLive();
    this.place(batch);
    const times = this.plan.map(() => 0);
    if (this.pool) {
      this.describe(batch);
      const last = this.plan.length - (this.plan.at(-1)!.layer.kind === 'softmax' ? 2 : 1);
      const profile = new Float64Array(this.plan.length + 1);
      this.pool.profile = profile;
      try {
        this.pool.run(0, last, () => this.copyIn(input));
      } finally {
        this.pool.profile = null;
      }
      for (let s = 0; s <= last; s++) times[s] = profile[s + 1]! - profile[s]!;
      return times;
    }
    this.copyIn(input);
    let src = this.bufA;
    let dst = this.bufB;
    this.plan.forEach(({ layer, weights }, i) => {
      if (layer.kind === 'softmax') return;
      const t0 = performance.now();
      runLayer(this.kernels, layer, weights, src, dst, batch, this.scratch);
      times[i] = performance.now() - t0;
      [src, dst] = [dst, src];
    });
    return times;
  }

  /** For benchmarks: the work items each layer is cut into on `batch` images (threaded; 1 per layer on one thread, 0 for the softmax). */
  workItems(batch = 1): number[] {
    this.checkLive();
    if (!this.pool) return this.plan.map((p) => (p.layer.kind === 'softmax' ? 0 : 1));
    this.place(batch);
    this.describe(batch);
    const i32 = new Int32Array(this.memory.buffer);
    return this.plan.map((p, s) => (p.layer.kind === 'softmax' ? 0 : i32[(descAt(this.ctrl, this.plan.length, s) >> 2) + 1]!));
  }

  /**
   * For benchmarks and profiles: a closure running layer `index` alone on `batch` images
   * (from activation buffer A into B; the contents are whatever is there). Threaded: the layer
   * as a one-step run on every thread (between the buffers its step reads and writes).
   */
  layerRunner(index: number, batch = 1): () => void {
    this.checkLive();
    this.place(batch);
    if (this.pool) {
      const pool = this.pool;
      if (this.mustRunAsync) fail(ErrorCodes.OPTION, 'wasm backend: layerRunner blocks, which this thread may not');
      if (this.plan[index]!.layer.kind === 'softmax') return () => {};
      return () => {
        this.describe(batch);
        pool.run(index, index);
      };
    }
    const { layer, weights } = this.plan[index]!;
    const { bufA, bufB, kernels, scratch } = this;
    return () => runLayer(kernels, layer, weights, bufA, bufB, batch, scratch);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool?.dispose();
    this.pool = null;
    // Nothing else references the memory or the instance: both are collectable now.
    this.memory = null as unknown as WebAssembly.Memory;
    this.kernels = null as unknown as KernelExports;
    this.module = null as unknown as WebAssembly.Module;
  }

  private checkLive(): void {
    if (this.disposed) fail(ErrorCodes.DISPOSED, 'wasm backend: used after dispose()');
  }
}

/**
 * Why a shared memory of up to `maxBytes` cannot be had, or null. A shared memory reserves its
 * maximum up front (it never moves), which an engine may refuse (a 32-bit or memory-tight device).
 */
function cannotReserveShared(maxBytes: number): string | null {
  try {
    new WebAssembly.Memory({ initial: 1, maximum: Math.ceil(maxBytes / WASM_PAGE_BYTES), shared: true });
    return null;
  } catch (error) {
    return `this engine cannot reserve a shared memory of up to ${maxBytes} bytes (${(error as Error)?.message ?? error}); a lower wasm.maxMemoryBytes may allow it`;
  }
}

/** A shared memory (threads); it reserves its maximum up front, which an engine may refuse. */
function sharedMemory(pages: { initial: number; maximum: number }, maxBytes: number): WebAssembly.Memory {
  try {
    return new WebAssembly.Memory({ ...pages, shared: true });
  } catch (error) {
    return fail(ErrorCodes.MEMORY_LIMIT, `wasm backend: cannot reserve a shared memory of up to ${maxBytes} bytes for threads (${(error as Error)?.message ?? error}); set wasm.maxMemoryBytes lower`, error);
  }
}

/**
 * Runs one layer (not the softmax) from `src` to `dst`: the only place kernels are chosen.
 * `scratch`: the GEMM scratch (see `gemm`); 0 runs the pointwise layers on A in place.
 */
export function runLayer(k: KernelExports, layer: Layer, weights: number, src: number, dst: number, batch: number, scratch = 0): void {
  const [inH, inW, inC] = layer.inShape;
  const [outH, outW, outC] = layer.outShape;
  if (layer.kind === 'softmax') return;
  if (layer.kind === 'avgpool') {
    k.f32_avgpool(batch, inH, inW, inC, outH, outW, layer.kernel[0], layer.kernel[1], layer.stride, src, dst);
    return;
  }
  const [lo, hi] = clampRange(layer.activation);
  const { top, left } = layer.padding;
  if (layer.kind === 'pointwise' || layer.kind === 'logits') {
    gemm(k, batch * outH * outW, outC, inC, src, weights, dst, lo, hi, scratch);
  } else if (layer.kind === 'depthwise') {
    if (layer.kernel[0] === 3 && layer.kernel[1] === 3) {
      k.f32_dwconv3x3_minmax(batch, inH, inW, inC, outH, outW, layer.stride, layer.dilation, top, left, src, weights, dst, lo, hi);
    } else {
      k.f32_dwconv_minmax(batch, inH, inW, inC, outH, outW, layer.kernel[0], layer.kernel[1], layer.stride, layer.dilation, top, left, src, weights, dst, lo, hi);
    }
  } else {
    k.f32_conv_minmax(batch, inH, inW, inC, outH, outW, outC, layer.kernel[0], layer.kernel[1], layer.stride, layer.dilation, top, left, src, weights, dst, lo, hi);
  }
}

/** Floats of a layer's packed weights (0 for layers without weights). */
export function packedLengthOf(layer: Layer): number {
  if (layer.kind === 'avgpool' || layer.kind === 'softmax') return 0;
  const [kh, kw] = layer.kernel;
  const inC = layer.inShape[2];
  const outC = layer.outShape[2];
  if (layer.kind === 'depthwise') return packedDepthwiseLength(kh, kw, inC);
  if (layer.kind === 'conv') return packedConvLength(kh, kw, inC, outC);
  return packedGemmLength(inC, outC);
}

/** Packs a layer's folded filter and bias into the layout its kernel reads. */
export function packLayer(layer: ConvLayer, filter: Float32Array, bias: Float32Array, out: Float32Array): void {
  const [kh, kw] = layer.kernel;
  const inC = layer.inShape[2];
  const outC = layer.outShape[2];
  if (layer.kind === 'depthwise') packDepthwise(filter, bias, kh, kw, inC, out);
  else if (layer.kind === 'conv') packConv(filter, bias, kh, kw, inC, outC, out);
  else packGemm(filter, bias, inC, outC, out);
}

/**
 * Builds a wasm backend for a model (what `createModel({ backend: 'wasm' })` calls). With
 * `threads` > 1 (already checked): the threads build over a shared memory and its workers; where
 * threads cannot run (threadsUnavailable) or their workers cannot start, one thread and a warning.
 * With `precision` fast: the relaxed SIMD builds; where the engine has none, exact and a warning.
 */
export async function createWasmBackend(
  arch: Architecture,
  folded: readonly FoldedLayer[],
  options: WasmOptions = {},
  threads = 1,
  precision: Precision = 'exact',
): Promise<WasmBackend> {
  const sources = kernelSources(options.source);
  let fast: { fused: boolean } | null = null;
  if (precision === 'fast') {
    const relaxed = relaxedSimd();
    if (typeof relaxed === 'string') warnExact(relaxed);
    else if (!platform.defaultFastKernels && sources[threads > 1 ? 'threadsRelaxed' : 'relaxed'] === undefined) warnExact('this runtime carries no fast build by default (pass { wasm: { source: { relaxed, threadsRelaxed } } })');
    else fast = relaxed;
  }
  const [oneBuild, threadsBuild] = fast ? (['relaxed', 'threadsRelaxed'] as const) : (['simd', 'threads'] as const);
  const max = options.maxMemoryBytes ?? WASM_MAX_BYTES;
  const checkMax = () => {
    if (!(max > 0 && max <= WASM_MAX_BYTES)) {
      fail(ErrorCodes.OPTION, `option maxMemoryBytes: expected 1 to ${WASM_MAX_BYTES}, got ${max}`);
    }
  };
  if (threads > 1) {
    checkMax();
    const reason = threadsUnavailable() ?? cannotReserveShared(max);
    if (reason !== null) {
      warnOneThread(threads, reason);
    } else {
      const module = sources[threadsBuild] !== undefined ? await compileKernels(sources[threadsBuild], threadsBuild) : await defaultKernels(threadsBuild);
      const backend = new WasmBackend(arch, folded, module, max, { threads, asyncHost: !canBlock() }, fast);
      try {
        await backend.startThreads();
        return backend;
      } catch (error) {
        backend.dispose();
        // Workers that cannot start (a Content-Security-Policy without blob: workers, a runtime's limit): one thread.
        warnOneThread(threads, `its thread workers could not start (${(error as Error)?.message ?? error})`);
      }
    }
  }
  const module = sources[oneBuild] !== undefined ? await compileKernels(sources[oneBuild], oneBuild) : await defaultKernels(oneBuild);
  checkMax();
  return new WasmBackend(arch, folded, module, max, null, fast);
}

