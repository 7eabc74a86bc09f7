/**
 * The integer path on the wasm kernels (assembly/q8/): a `QuantizedModel` run in TFLite's
 * reference integer arithmetic with WebAssembly SIMD, bit-identical to `runQuantizedReference`
 * (./reference.ts) on every end point (test/quant/simd-*.test.ts).
 *
 * Memory, planned once per model (one WebAssembly.Memory, TypeScript owns it, wasm only computes):
 *   [0, 64)        unused (no kernel pointer is ever 0)
 *   weights        per convolution, 64-byte aligned, written once: per tile of 8 output
 *                  channels a 192-byte requantization header (bias, then the multipliers and
 *                  shifts of TFLite's QuantizeMultiplier), then the weights as bytes (GEMM,
 *                  convolution: 1 byte per weight) or i16 (depthwise: the taps with the filter
 *                  offset applied, 2 bytes per weight, 1-2% of the weights of a MobileNet)
 *   scratch        one chunk of A rows packed as i16 pairs (pointwise) or one chunk of patches
 *                  (the full convolution, im2col)
 *   activations    two ping-pong buffers of bytes, each the largest activation times the batch
 *                  (+ 64 bytes for the channel-tail over-reads)
 * The softmax runs in TypeScript (src/quant/kernels.ts `softmax`, the reference's integers).
 *
 * With threads (N > 1): the memory is shared, the kernels are the threads build
 * (kernels-threads.wasm, whose tile dispatcher runs the integer kernels: assembly/q8/tiles.ts),
 * the plan has the threads' control block after the weights and one scratch per thread, and the
 * layers run as steps cut into items (`describeQ8Step`) that the threads take from a counter
 * (src/wasm/threads/pool.ts). An item computes whole outputs with the one-thread kernels, and
 * every output is an int32 accumulation and one requantization: the same integers as one thread.
 *
 * Only TFLite's reference requantization ('reference' in QuantRunOptions) runs here: the
 * interpreter's XNNPACK emulations stay on the reference path.
 */
import type { WasmSource } from '../backend.js';
import type { WasmMemoryLike, WasmModuleLike } from '../dom-types.js';
import { ErrorCodes, describe, fail, typeNameOf } from '../errors.js';
import { DTYPE_RANGE } from './fixedpoint.js';
import { allocate, softmax, type IntArray } from './kernels.js';
import type { QuantConvLayer, QuantizedModel } from './model.js';
import { MAX_QUANT_BATCH, type QuantizedEndpoint } from './reference.js';
import { compileKernels, defaultKernels } from '../wasm/loader.js';
import type { ThreadKernelExports } from '../wasm/kernels.js';
import { DESC_WORDS, planTuning } from '../wasm/threads/plan.js';
import { ThreadPool, controlBytes, descAt } from '../wasm/threads/pool.js';
import type { ThreadPort } from '../platform/types.js';

type Ptr = number;
type Gemm = (m: number, n: number, k2: number, ap: Ptr, w: Ptr, c: Ptr, cStride: number, outOffset: number, actMin: number, actMax: number, shifts: number, signed: number) => void;
type Dwconv = (n: number, inH: number, inW: number, C: number, outH: number, outW: number, kh: number, kw: number, stride: number, dilation: number, padTop: number, padLeft: number, input: Ptr, w: Ptr, output: Ptr, inputOffset: number, outOffset: number, actMin: number, actMax: number, shifts: number, signed: number) => void;

/** The integer kernels' exports (assembly/q8/index.ts), in build/kernels.wasm beside the f32 ones. */
export interface Q8KernelExports {
  q8_gemm_4x8c2_minmax: Gemm;
  q8_gemm_4x8c2_minmax_scalar: Gemm;
  q8_dwconv_minmax: Dwconv;
  q8_dwconv_minmax_scalar: Dwconv;
  /** Packs rows of A as i16 pairs and their zero-point corrections (data movement and row sums: no twin). */
  q8_pack_a_4rows(m: number, k: number, a: Ptr, aStride: number, inputOffset: number, wZero: number, signed: number, out: Ptr): void;
  /** The patches of a convolution, packed as q8_pack_a_4rows packs (no twin). */
  q8_im2col_4rows(m0: number, rows: number, inH: number, inW: number, C: number, outW: number, kh: number, kw: number, stride: number, dilation: number, padTop: number, padLeft: number, image: Ptr, inputOffset: number, wZero: number, signed: number, out: Ptr): void;
  /** Scalar (the one pooling layer is tiny): no twin. */
  q8_avgpool(n: number, inH: number, inW: number, C: number, outH: number, outW: number, kh: number, kw: number, stride: number, padTop: number, padLeft: number, input: Ptr, output: Ptr, actMin: number, actMax: number, signed: number): void;
}
export type Q8KernelName = keyof Q8KernelExports;

/** The SIMD kernels and the scalar twin each must match bit for bit. */
export const Q8_KERNEL_FAMILIES = {
  gemm: { simd: ['q8_gemm_4x8c2_minmax'], scalar: 'q8_gemm_4x8c2_minmax_scalar' },
  dwconv: { simd: ['q8_dwconv_minmax'], scalar: 'q8_dwconv_minmax_scalar' },
} as const satisfies Record<string, { simd: readonly Q8KernelName[]; scalar: Q8KernelName }>;

/** Every integer kernel a module must export. */
export const Q8_KERNEL_NAMES: readonly Q8KernelName[] = [
  ...Object.values(Q8_KERNEL_FAMILIES).flatMap((f) => [...f.simd, f.scalar]),
  'q8_pack_a_4rows', 'q8_im2col_4rows', 'q8_avgpool',
];

/** The scalar twins under the SIMD names (same bits): for tests and benchmarks. */
export function scalarQ8Kernels(k: Q8KernelExports): Q8KernelExports {
  const out = { ...k };
  for (const f of Object.values(Q8_KERNEL_FAMILIES)) {
    for (const name of f.simd) (out as Record<Q8KernelName, unknown>)[name] = k[f.scalar];
  }
  return out;
}

/** Checks that a compiled module has the integer kernels (a kernels.wasm older than them does not). */
export function checkQ8Module(module: WasmModuleLike): void {
  const exported = new Set(WebAssembly.Module.exports(module as WebAssembly.Module).map((e) => e.name));
  const missing = Q8_KERNEL_NAMES.filter((n) => !exported.has(n));
  if (missing.length > 0) fail(ErrorCodes.WASM_BYTES, `kernels: the module lacks the integer kernels ${missing.join(', ')} (a kernels.wasm from before them?)`);
}

const ALIGN = 64;
const SLACK = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
const WASM_PAGE_BYTES = 65536;
const WASM_MAX_BYTES = 65536 * 65536;

/** Bytes of the requantization header per tile of 8 channels (assembly/q8/common.ts). */
export const Q8_HEADER_BYTES = 192;
/** Bytes of packed A rows one GEMM call keeps in cache. */
const Q8_CHUNK_BYTES = 96 * 1024;
/** Rows of A per GEMM call for depth `k` (a multiple of 4): packed, a row takes 4 * (ceil(k / 2) + 1) bytes. */
export const q8ChunkRows = (k: number) => Math.max(4, Math.floor(Q8_CHUNK_BYTES / (4 * (Math.ceil(k / 2) + 1))) & ~3);
/** Bytes of packed A for `rows` rows of depth `k`: per 4 rows, the i16 pairs and 4 int32 corrections. */
export const q8PackedBytes = (rows: number, k: number) => Math.ceil(rows / 4) * (Math.ceil(k / 2) + 1) * 16;

/** Per-channel requantization as the kernels read it, and the uniform right shift (or -1). */
function writeHeader(view: DataView, at: number, layer: QuantConvLayer, c0: number, count: number): void {
  const { multiplier, shift } = layer.requant;
  const bias = layer.bias.data;
  for (let j = 0; j < 8; j++) {
    const c = c0 + j;
    const inside = j < count;
    const s = inside ? shift[c]! : 0;
    const left = s > 0 ? s : 0;
    const right = s > 0 ? 0 : -s;
    view.setInt32(at + 4 * j, inside ? bias[c]! : 0, true);
    view.setInt32(at + 32 + 4 * j, 2 ** left | 0, true);
    view.setInt32(at + 64 + 4 * j, inside ? multiplier[c]! : 0, true);
    view.setInt32(at + 96 + 4 * j, (2 ** right - 1) | 0, true);
    view.setFloat64(at + 128 + 8 * j, 2 ** -right, true);
  }
}

/**
 * The kernels' `shifts` argument (assembly/q8/common.ts `requant4`): bits 0-5 the right shift
 * every channel shares, or 32 when they differ (lane by lane); bit 6 when some channel shifts left.
 */
export function shiftFlags(layer: QuantConvLayer): number {
  const right = uniformRightShift(layer);
  return (right >= 0 ? right : 32) | (layer.requant.shift.some((s) => s > 0) ? 64 : 0);
}

/** The right shift every channel of `layer` shares, or -1 (then the kernels shift lane by lane). */
export function uniformRightShift(layer: QuantConvLayer): number {
  const shifts = layer.requant.shift;
  const right = (s: number) => (s > 0 ? 0 : -s);
  const first = right(shifts[0]!);
  for (let i = 1; i < shifts.length; i++) if (right(shifts[i]!) !== first) return -1;
  return first;
}

/** How a convolution runs on the kernels. */
type ConvKind = 'gemm' | 'conv' | 'dwconv';

interface ConvGeom {
  readonly kind: ConvKind;
  readonly inH: number; readonly inW: number; readonly inC: number;
  readonly outH: number; readonly outW: number; readonly outC: number;
  readonly kh: number; readonly kw: number;
  /** GEMM depth (kh * kw * inC). */
  readonly K: number;
}

function convGeom(layer: QuantConvLayer): ConvGeom {
  const outShape = layer.output.shape;
  const outC = outShape[outShape.length - 1]!;
  if (layer.op === 'FULLY_CONNECTED') {
    const inC = layer.filter.shape[1]!;
    return { kind: 'gemm', inH: 1, inW: 1, inC, outH: 1, outW: 1, outC, kh: 1, kw: 1, K: inC };
  }
  const [, inH, inW, inC] = layer.input.shape as [number, number, number, number];
  const [kh, kw] = layer.kernel;
  const [outH, outW] = [outShape[1]!, outShape[2]!];
  if (layer.op === 'DEPTHWISE_CONV_2D') return { kind: 'dwconv', inH, inW, inC, outH, outW, outC, kh, kw, K: kh * kw };
  const pointwise = kh === 1 && kw === 1 && layer.stride === 1 && layer.padTop === 0 && layer.padLeft === 0 && outH === inH && outW === inW;
  return { kind: pointwise ? 'gemm' : 'conv', inH, inW, inC, outH, outW, outC, kh, kw, K: kh * kw * inC };
}

/** Bytes of a convolution's packed weights. */
function packedBytes(g: ConvGeom): number {
  const tiles = Math.ceil(g.outC / 8);
  if (g.kind === 'dwconv') return tiles * (Q8_HEADER_BYTES + g.kh * g.kw * 16);
  return tiles * (Q8_HEADER_BYTES + Math.ceil(g.K / 2) * 16);
}

/**
 * What a stored weight byte (i8) is off by: w + filter_offset = stored - wZero. uint8 weights
 * are stored as w - 128 (so they fit an i8), int8 weights as they are. The packing of A turns
 * wZero into one correction per row (-wZero * sum_k (x + io)).
 */
function weightZero(layer: QuantConvLayer): { bias8: number; wZero: number } {
  const bias8 = layer.filter.dtype === 'uint8' ? 128 : 0;
  return { bias8, wZero: -layer.requant.filterOffset - bias8 };
}

/** GEMM / convolution weights: per 8 output channels the header, then per pair of k the 8 channels' (w(2p), w(2p+1)) as i8. */
export function packGemmQ8(layer: QuantConvLayer, g: ConvGeom, out: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const data = layer.filter.data;
  const { bias8, wZero } = weightZero(layer);
  const k2 = Math.ceil(g.K / 2);
  const tileBytes = Q8_HEADER_BYTES + k2 * 16;
  const N = g.outC;
  for (let t = 0; t * 8 < N; t++) {
    const at = t * tileBytes;
    const count = Math.min(8, N - t * 8);
    writeHeader(view, at, layer, t * 8, count);
    const w = at + Q8_HEADER_BYTES;
    for (let p = 0; p < k2; p++) {
      for (let j = 0; j < 8; j++) {
        const o = t * 8 + j;
        for (let h = 0; h < 2; h++) {
          const k = 2 * p + h;
          const v = j < count && k < g.K ? data[o * g.K + k]! - bias8 : wZero;
          view.setInt8(w + p * 16 + 2 * j + h, v);
        }
      }
    }
  }
}

/** Depthwise weights: per 8 channels the header, then per tap (ky, kx) w + filter_offset as i16[8]. */
export function packDepthwiseQ8(layer: QuantConvLayer, g: ConvGeom, out: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const w = layer.filterOffsetData; // [1, kh, kw, C]
  const C = g.outC;
  const taps = g.kh * g.kw;
  const tileBytes = Q8_HEADER_BYTES + taps * 16;
  for (let t = 0; t * 8 < C; t++) {
    const at = t * tileBytes;
    const count = Math.min(8, C - t * 8);
    writeHeader(view, at, layer, t * 8, count);
    for (let tap = 0; tap < taps; tap++) {
      for (let j = 0; j < 8; j++) view.setInt16(at + Q8_HEADER_BYTES + tap * 16 + 2 * j, j < count ? w[tap * C + t * 8 + j]! : 0, true);
    }
  }
}

interface PlannedConv {
  readonly type: 'conv';
  readonly layer: QuantConvLayer;
  readonly g: ConvGeom;
  readonly weights: number;
  readonly shifts: number;
  readonly wZero: number;
  readonly signedIn: number;
  readonly signedOut: number;
}

type PlannedStep = PlannedConv | { readonly type: 'other'; readonly layer: QuantizedModel['layers'][number] };

/** The integer step kinds of the tile dispatcher (assembly/q8/tiles.ts). */
export const Q8_KIND = { gemm: 6, dwconv: 7, conv: 8, avgpool: 9 } as const;

/** Where a step reads and writes, and thread 0's scratch and the bytes between threads' scratches. */
interface Q8StepPointers {
  readonly input: number;
  readonly output: number;
  readonly scratch: number;
  readonly scratchStride: number;
}

/**
 * Writes the descriptor (assembly/q8/tiles.ts) of a convolution or the pooling layer on `batch`
 * images for `threads` threads into `desc` (DESC_WORDS words); returns the number of items. The
 * cut follows the f32 steps' (src/wasm/threads/plan.ts `describeStep`): GEMMs by (row chunk,
 * 8-channel tile group), the rest by output rows of one image.
 */
export function describeQ8Step(step: PlannedStep, p: Q8StepPointers, batch: number, threads: number, desc: Int32Array): number {
  desc.fill(0);
  const layer = step.layer;
  if (layer.type !== 'conv' && layer.type !== 'avgpool') return 0;
  const { itemsPerThread, minItemWork, maxItemWork, minChunkRows } = planTuning;
  const target = threads * itemsPerThread;
  desc[4] = p.input;
  desc[6] = p.output;
  desc[30] = p.scratch;
  desc[31] = p.scratchStride;
  if (step.type === 'conv') {
    const { g, shifts, wZero, signedIn, signedOut } = step;
    const q = step.layer.requant;
    desc[5] = step.weights;
    desc.set([q.inputOffset, wZero, signedIn, q.outputOffset, q.actMin, q.actMax, shifts, signedOut], 22);
    if (g.kind === 'gemm') {
      const m = batch * g.outH * g.outW;
      const tiles = Math.ceil(g.outC / 8);
      const most = q8ChunkRows(g.K);
      let chunks = Math.min(Math.max(target, Math.ceil(m / most)), Math.max(1, Math.ceil(m / minChunkRows)));
      const chunkRows = Math.min(most, Math.max(4, Math.ceil(Math.ceil(m / chunks) / 4) * 4));
      chunks = Math.ceil(m / chunkRows);
      let groups = Math.min(tiles, Math.ceil(target / chunks), Math.max(1, Math.floor((chunkRows * g.K * g.outC) / minItemWork)));
      groups = Math.max(1, groups);
      const tilesPerGroup = Math.ceil(tiles / groups);
      groups = Math.ceil(tiles / tilesPerGroup);
      desc[0] = Q8_KIND.gemm;
      desc[1] = chunks * groups;
      desc.set([m, g.outC, g.K, chunkRows, groups, tilesPerGroup], 7);
      return desc[1];
    }
    desc[0] = g.kind === 'conv' ? Q8_KIND.conv : Q8_KIND.dwconv;
    desc[3] = q8ChunkRows(g.K);
    return describeRows(desc, batch, target, minItemWork, maxItemWork, [g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.kh, g.kw, step.layer.stride, 1, step.layer.padTop, step.layer.padLeft], g.outW * g.outC * g.K);
  }
  if (layer.type !== 'avgpool') return 0;
  const [, inH, inW, C] = layer.input.shape as [number, number, number, number];
  const [, outH, outW] = layer.output.shape as [number, number, number, number];
  desc[0] = Q8_KIND.avgpool;
  desc.set([0, 0, layer.input.dtype === 'int8' ? 1 : 0, 0, layer.actMin, layer.actMax, 0, 0], 22);
  return describeRows(desc, batch, target, minItemWork, maxItemWork, [inH, inW, C, outH, outW, C, layer.filter[0], layer.filter[1], layer.stride, 1, layer.padTop, layer.padLeft], outW * C * layer.filter[0] * layer.filter[1]);
}

/** The rows words (7-21) of a step over output rows; `dims`: inH inW C outH outW Cout kh kw stride dilation padTop padLeft. */
function describeRows(desc: Int32Array, batch: number, target: number, minItemWork: number, maxItemWork: number, dims: readonly number[], rowWork: number): number {
  const outH = dims[3]!;
  let rowsPerItem = Math.max(1, Math.floor((batch * outH) / target), Math.ceil(minItemWork / rowWork));
  rowsPerItem = Math.min(outH, rowsPerItem, Math.max(1, Math.floor(maxItemWork / rowWork)));
  const perImage = Math.ceil(outH / rowsPerItem);
  desc[1] = batch * perImage;
  desc.set([batch, ...dims, rowsPerItem, perImage], 7);
  return desc[1];
}

/** How a runner runs threaded: `threads` compute (the calling thread and threads - 1 workers it blocks beside). */
export interface Q8Threading {
  readonly threads: number;
  readonly spawn: (body: string) => Promise<ThreadPort>;
}

/** Checks that an instance of a threads build runs the integer steps (an older one, or the relaxed one, does not). */
function checkQ8Threads(exports: Partial<ThreadKernelExports>): void {
  if (typeof exports.run_tiles !== 'function' || exports.Q8_TILES?.value !== 1) {
    fail(ErrorCodes.WASM_BYTES, 'kernels: this threads build does not run the integer steps (Q8_TILES is not 1: a kernels-threads.wasm from before them, or the relaxed one?)');
  }
}

export interface QuantWasmOptions {
  /** The kernels: bytes, a path, a URL or a compiled WebAssembly.Module (default: the package's kernels.wasm). */
  source?: WasmSource;
  /** Refuse a plan above this many bytes (ERR_MEMORY_LIMIT). Default: the wasm32 limit, 4 GiB. */
  maxMemoryBytes?: number;
  /** Run the scalar twins instead of the SIMD kernels (tests, benchmarks). */
  scalar?: boolean;
  /**
   * Threads (threads > 1, already checked; the calling thread must be one that may block):
   * `source` is then the threads build (default: the package's kernels-threads.wasm).
   */
  threading?: Q8Threading;
}

/** A quantized model planned in one wasm memory; `run` is `runQuantizedReference` with the same integers. */
export class QuantWasmRunner {
  private memory!: WebAssembly.Memory;
  private kernels: Q8KernelExports;
  private module: WebAssembly.Module;
  private disposed = false;
  private readonly steps: PlannedStep[];
  private readonly scratch: number;
  private readonly weightsEnd: number;
  private readonly maxActivation: number;
  private batchCapacity = 0;
  private bufA = 0;
  private bufB = 0;
  /** Threaded: the control block, the bytes between threads' scratches, the pool, each step's buffers, and the batch the descriptors were written for. */
  private readonly ctrl: number = 0;
  private readonly scratchStride: number = 0;
  private pool: ThreadPool | null = null;
  private io: { src: number; dst: number }[] = [];
  private described: { batch: number; bufB: number } | null = null;
  /** Bytes of the packed weights (headers included). */
  readonly weightBytes: number;

  constructor(
    readonly model: QuantizedModel,
    module: WasmModuleLike,
    private readonly maxBytes = WASM_MAX_BYTES,
    scalar = false,
    /** Threaded: `module` is the threads build (kernels-threads.wasm); start the workers with `startThreads`. */
    private readonly threading: Q8Threading | null = null,
  ) {
    if (!threading) checkQ8Module(module);
    let offset = ALIGN;
    let scratchBytes = 0;
    const size = (s: readonly number[]) => s.slice(1).reduce((a, d) => a * d, 1);
    let maxActivation = size(model.input.shape);
    this.steps = model.layers.map((layer): PlannedStep => {
      if (layer.type !== 'reshape') maxActivation = Math.max(maxActivation, size(layer.input.shape), size(layer.output.shape));
      if (layer.type !== 'conv') return { type: 'other', layer };
      const g = convGeom(layer);
      if (layer.requant.actMin < DTYPE_RANGE[layer.output.dtype][0] || layer.requant.actMax > DTYPE_RANGE[layer.output.dtype][1]) {
        fail(ErrorCodes.TFLITE, `wasm integer path: layer ${layer.name} clamps to [${layer.requant.actMin}, ${layer.requant.actMax}], outside ${layer.output.dtype}`);
      }
      const weights = offset;
      offset += align(packedBytes(g));
      if (g.kind !== 'dwconv') scratchBytes = Math.max(scratchBytes, q8PackedBytes(q8ChunkRows(g.K), g.K));
      return {
        type: 'conv', layer, g, weights, shifts: shiftFlags(layer), wZero: weightZero(layer).wZero,
        signedIn: layer.input.dtype === 'int8' ? 1 : 0, signedOut: layer.output.dtype === 'int8' ? 1 : 0,
      };
    });
    this.weightBytes = offset - ALIGN;
    if (threading) {
      this.ctrl = offset;
      offset += align(controlBytes(this.steps.length));
      this.scratchStride = align(scratchBytes);
    }
    this.scratch = offset;
    offset += align(scratchBytes) * (threading?.threads ?? 1);
    this.weightsEnd = offset;
    this.maxActivation = maxActivation;
    const bytes = this.bytesFor(1);
    const pages = { initial: Math.ceil(bytes / WASM_PAGE_BYTES), maximum: Math.ceil(this.maxBytes / WASM_PAGE_BYTES) };
    try {
      this.memory = new WebAssembly.Memory(threading ? { ...pages, shared: true } : pages);
    } catch (error) {
      fail(ErrorCodes.MEMORY_LIMIT, `wasm integer path: cannot reserve a ${threading ? 'shared ' : ''}memory of up to ${this.maxBytes} bytes (${(error as Error)?.message ?? error}); set wasm.maxMemoryBytes lower`, error);
    }
    this.module = module as WebAssembly.Module;
    const instance = new WebAssembly.Instance(module as WebAssembly.Module, { env: { memory: this.memory as WasmMemoryLike } });
    const exports = instance.exports as unknown as Q8KernelExports;
    if (threading) checkQ8Threads(instance.exports as unknown as Partial<ThreadKernelExports>);
    this.kernels = scalar ? scalarQ8Kernels(exports) : exports;
    this.place(1);
    for (const step of this.steps) {
      if (step.type !== 'conv') continue;
      const view = new Uint8Array(this.memory.buffer, step.weights, packedBytes(step.g));
      if (step.g.kind === 'dwconv') packDepthwiseQ8(step.layer, step.g, view);
      else packGemmQ8(step.layer, step.g, view);
    }
  }

  /** Bytes of the arena (the WebAssembly.Memory) as planned now. */
  get memoryBytes(): number {
    return this.disposed ? 0 : this.memory.buffer.byteLength;
  }

  /** Threads that compute a run. */
  get threads(): number {
    return this.threading?.threads ?? 1;
  }

  /** Threaded: starts the workers (ERR_WORKER if they cannot start). */
  async startThreads(): Promise<void> {
    if (!this.threading || this.pool) return;
    this.pool = await ThreadPool.start({
      module: this.module,
      memory: this.memory,
      kernels: this.kernels as unknown as ThreadKernelExports,
      ctrl: this.ctrl,
      steps: this.steps.length,
      threads: this.threading.threads,
      asyncHost: false,
      spawn: this.threading.spawn,
    });
  }

  private bytesFor(batch: number): number {
    const bytes = this.weightsEnd + 2 * align(this.maxActivation * batch + SLACK);
    if (bytes > this.maxBytes) {
      fail(ErrorCodes.MEMORY_LIMIT, `wasm integer path: batch ${batch} needs ${bytes} bytes of wasm memory (weights and scratch ${this.weightsEnd}, two activation buffers of ${this.maxActivation * batch}), above the limit of ${this.maxBytes} bytes`);
    }
    return bytes;
  }

  private place(batch: number): void {
    if (batch <= this.batchCapacity) return;
    const bytes = this.bytesFor(batch);
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      try {
        this.memory.grow(Math.ceil((bytes - have) / WASM_PAGE_BYTES));
      } catch (error) {
        fail(ErrorCodes.MEMORY_LIMIT, `wasm integer path: could not grow wasm memory to ${bytes} bytes for batch ${batch}: ${(error as Error).message}`, error);
      }
    }
    this.batchCapacity = batch;
    this.bufA = this.weightsEnd;
    this.bufB = this.weightsEnd + align(this.maxActivation * batch + SLACK);
    this.pool?.refreshViews();
  }

  /** Threaded: each step's buffers and descriptor for `batch` images, in the buffers as placed now. */
  private describe(batch: number): void {
    if (this.described?.batch === batch && this.described.bufB === this.bufB) return;
    this.pool?.settle();
    const threads = this.threading!.threads;
    let src = this.bufA;
    let dst = this.bufB;
    this.io = this.steps.map((step, s) => {
      const io = { src, dst };
      const desc = new Int32Array(this.memory.buffer, descAt(this.ctrl, this.steps.length, s), DESC_WORDS);
      describeQ8Step(step, { input: src, output: dst, scratch: this.scratch, scratchStride: this.scratchStride }, batch, threads, desc);
      if (step.layer.type !== 'reshape') [src, dst] = [dst, src];
      return io;
    });
    this.described = { batch, bufB: this.bufB };
  }

  /**
   * Threaded `run`: the steps between end points (and before the softmax) on every thread, the
   * softmax in TypeScript, the kept end points copied out as each is written.
   */
  private runThreaded(pool: ThreadPool, input: Uint8Array | Int8Array, batch: number, keep: ReadonlySet<string> | undefined, lastKept: number): Map<string, QuantizedEndpoint> {
    this.describe(batch);
    const out = new Map<string, QuantizedEndpoint>();
    let copy: (() => void) | undefined = () => new Uint8Array(this.memory.buffer, this.bufA, input.length).set(new Uint8Array(input.buffer, input.byteOffset, input.length));
    let first = 0;
    const runTo = (last: number) => {
      if (first <= last) pool.run(first, last, copy);
      else copy?.();
      copy = undefined;
      first = last + 1;
    };
    for (let i = 0; i <= lastKept; i++) {
      const layer = this.steps[i]!.layer;
      if (layer.type === 'reshape') continue;
      const { src, dst } = this.io[i]!;
      const outLen = batch * layer.output.shape.slice(1).reduce((a, d) => a * d, 1);
      if (layer.type === 'softmax') {
        runTo(i - 1);
        this.softmaxStep(layer, src, dst, outLen);
        first = i + 1;
      }
      if (!keep || keep.has(layer.name)) {
        runTo(i);
        this.collect(layer, dst, batch, outLen, out);
      }
    }
    return out;
  }

  /** The softmax of the integers at `src` into `dst` (TypeScript: the reference's integers). */
  private softmaxStep(layer: Extract<QuantizedModel['layers'][number], { type: 'softmax' }>, src: number, dst: number, outLen: number): void {
    const mem = this.memory.buffer;
    const depth = layer.input.shape[layer.input.shape.length - 1]!;
    const x = layer.input.dtype === 'uint8' ? new Uint8Array(mem, src, outLen) : new Int8Array(mem, src, outLen);
    const y = allocate(layer.output.dtype, outLen);
    softmax(outLen / depth, depth, layer.input.dtype, x, layer.params, y);
    new Uint8Array(mem, dst, outLen).set(new Uint8Array(y.buffer, y.byteOffset, outLen));
  }

  /** End point `layer`, written at `dst`, copied out. */
  private collect(layer: Exclude<QuantizedModel['layers'][number], { type: 'reshape' }>, dst: number, batch: number, outLen: number, out: Map<string, QuantizedEndpoint>): void {
    const mem = this.memory.buffer;
    const data: IntArray = layer.output.dtype === 'uint8' ? new Uint8Array(mem, dst, outLen).slice() : new Int8Array(mem, dst, outLen).slice();
    const shape = layer.name === 'Logits' || layer.type === 'softmax' ? [batch, layer.output.shape[layer.output.shape.length - 1]!] : [batch, ...layer.output.shape.slice(1)];
    out.set(layer.name, { name: layer.name, shape, data, dtype: layer.output.dtype, scale: layer.output.scale, zeroPoint: layer.output.zeroPoint });
  }

  private checkInput(input: Uint8Array | Int8Array, batch: number, keep?: ReadonlySet<string>): void {
    if (this.disposed) fail(ErrorCodes.DISPOSED, 'wasm integer path: used after dispose()');
    const want = this.model.input.dtype === 'uint8' ? Uint8Array : Int8Array;
    if (!(input instanceof want)) fail(ErrorCodes.INPUT, `quantized input: expected a ${want.name} (the model's input is ${this.model.input.dtype}), got ${typeNameOf(input)}`);
    if (!Number.isSafeInteger(batch) || batch < 1 || batch > MAX_QUANT_BATCH) fail(ErrorCodes.INPUT, `quantized input: batch ${describe(batch)}, expected an integer from 1 to ${MAX_QUANT_BATCH}`);
    const dims = this.model.input.shape.slice(1);
    const per = dims.reduce((a, d) => a * d, 1);
    if (input.length !== batch * per) fail(ErrorCodes.INPUT, `quantized input: ${input.length} values for batch ${batch}; expected ${[batch, ...dims].join(' x ')} = ${batch * per}`);
    if (keep) {
      for (const name of keep) {
        if (!this.model.endpoints.includes(name)) fail(ErrorCodes.OPTION, `quantized end point ${describe(name)}: expected one of ${this.model.endpoints.join(', ')}`);
      }
    }
  }

  /**
   * Runs the model on `batch` images (the model's input integers, NHWC) and returns the end
   * points named in `keep` (all when omitted), exactly as `runQuantizedReference` does.
   */
  run(input: Uint8Array | Int8Array, batch: number, keep?: ReadonlySet<string>): Map<string, QuantizedEndpoint> {
    this.checkInput(input, batch, keep);
    this.place(batch);
    const lastKept = keep ? this.steps.reduce((acc, s, i) => (s.layer.type !== 'reshape' && keep.has(s.layer.name) ? i : acc), -1) : this.steps.length - 1;
    if (this.pool) return this.runThreaded(this.pool, input, batch, keep, lastKept);
    const mem = this.memory.buffer;
    new Uint8Array(mem, this.bufA, input.length).set(new Uint8Array(input.buffer, input.byteOffset, input.length));
    const out = new Map<string, QuantizedEndpoint>();
    let src = this.bufA;
    let dst = this.bufB;
    for (let i = 0; i <= lastKept; i++) {
      const step = this.steps[i]!;
      const layer = step.layer;
      if (layer.type === 'reshape') continue;
      const outLen = batch * layer.output.shape.slice(1).reduce((a, d) => a * d, 1);
      if (step.type === 'conv') {
        this.runConv(step, src, dst, batch);
      } else if (layer.type === 'avgpool') {
        const [, inH, inW, C] = layer.input.shape as [number, number, number, number];
        const [, outH, outW] = layer.output.shape as [number, number, number, number];
        this.kernels.q8_avgpool(batch, inH, inW, C, outH, outW, layer.filter[0], layer.filter[1], layer.stride, layer.padTop, layer.padLeft, src, dst, layer.actMin, layer.actMax, layer.input.dtype === 'int8' ? 1 : 0);
      } else if (layer.type === 'softmax') {
        this.softmaxStep(layer, src, dst, outLen);
      }
      if (!keep || keep.has(layer.name)) this.collect(layer, dst, batch, outLen, out);
      [src, dst] = [dst, src];
    }
    return out;
  }

  private runConv(step: PlannedConv, src: number, dst: number, batch: number): void {
    const { layer, g, weights, shifts, wZero, signedIn, signedOut } = step;
    const k = this.kernels;
    const q = layer.requant;
    if (g.kind === 'dwconv') {
      k.q8_dwconv_minmax(batch, g.inH, g.inW, g.inC, g.outH, g.outW, g.kh, g.kw, layer.stride, 1, layer.padTop, layer.padLeft, src, weights, dst, q.inputOffset, q.outputOffset, q.actMin, q.actMax, shifts, signedOut);
      return;
    }
    const k2 = Math.ceil(g.K / 2);
    const chunk = q8ChunkRows(g.K);
    const N = g.outC;
    if (g.kind === 'gemm') {
      const m = batch * g.outH * g.outW;
      for (let m0 = 0; m0 < m; m0 += chunk) {
        const rows = Math.min(chunk, m - m0);
        k.q8_pack_a_4rows(rows, g.K, src + m0 * g.K, g.K, q.inputOffset, wZero, signedIn, this.scratch);
        k.q8_gemm_4x8c2_minmax(rows, N, k2, this.scratch, weights, dst + m0 * N, N, q.outputOffset, q.actMin, q.actMax, shifts, signedOut);
      }
      return;
    }
    const pixels = g.outH * g.outW;
    const inImage = g.inH * g.inW * g.inC;
    for (let b = 0; b < batch; b++) {
      for (let m0 = 0; m0 < pixels; m0 += chunk) {
        const rows = Math.min(chunk, pixels - m0);
        k.q8_im2col_4rows(m0, rows, g.inH, g.inW, g.inC, g.outW, g.kh, g.kw, layer.stride, 1, layer.padTop, layer.padLeft, src + b * inImage, q.inputOffset, wZero, signedIn, this.scratch);
        k.q8_gemm_4x8c2_minmax(rows, N, k2, this.scratch, weights, dst + (b * pixels + m0) * N, N, q.outputOffset, q.actMin, q.actMax, shifts, signedOut);
      }
    }
  }

  /**
   * For benchmarks: one whole run of `input`, each layer timed where it runs (ms per layer of
   * `model.layers`; 0 for reshapes).
   */
  profileRun(input: Uint8Array | Int8Array, batch = 1): number[] {
    this.checkInput(input, batch);
    if (this.pool) fail(ErrorCodes.OPTION, 'wasm integer path: profileRun times one thread; time run() with threads');
    this.place(batch);
    new Uint8Array(this.memory.buffer, this.bufA, input.length).set(new Uint8Array(input.buffer, input.byteOffset, input.length));
    const times = this.steps.map(() => 0);
    let src = this.bufA;
    let dst = this.bufB;
    this.steps.forEach((step, i) => {
      if (step.type !== 'conv') {
        if (step.layer.type === 'avgpool' || step.layer.type === 'softmax') [src, dst] = [dst, src];
        return;
      }
      const t0 = performance.now();
      this.runConv(step, src, dst, batch);
      times[i] = performance.now() - t0;
      [src, dst] = [dst, src];
    });
    return times;
  }

  /** For tests and benchmarks: the work items each layer is cut into on `batch` images (threaded; 1 per layer on one thread, 0 for reshapes and the softmax). */
  workItems(batch = 1): number[] {
    if (this.disposed) fail(ErrorCodes.DISPOSED, 'wasm integer path: used after dispose()');
    const computes = (s: PlannedStep) => s.layer.type === 'conv' || s.layer.type === 'avgpool';
    if (!this.pool) return this.steps.map((s) => (computes(s) ? 1 : 0));
    this.place(batch);
    this.describe(batch);
    const i32 = new Int32Array(this.memory.buffer);
    return this.steps.map((_, s) => i32[(descAt(this.ctrl, this.steps.length, s) >> 2) + 1]!);
  }

  /** For benchmarks: a closure running convolution `index` of `model.layers` alone on `batch` images (buffer A into B). */
  layerRunner(index: number, batch = 1): () => void {
    const step = this.steps[index];
    if (!step || step.type !== 'conv') fail(ErrorCodes.OPTION, `wasm integer path: layer ${index} is not a convolution`);
    this.place(batch);
    const pool = this.pool;
    if (pool) {
      // The layer as a one-step run on every thread (between the buffers its step reads and writes).
      return () => {
        this.describe(batch);
        pool.run(index, index);
      };
    }
    const { bufA, bufB } = this;
    return () => this.runConv(step, bufA, bufB, batch);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool?.dispose();
    this.pool = null;
    this.memory = null as unknown as WebAssembly.Memory;
    this.kernels = null as unknown as Q8KernelExports;
    this.module = null as unknown as WebAssembly.Module;
  }
}

/**
 * Plans `model` on the wasm kernels: the package's kernels.wasm (compiled once per process)
 * unless `options.source` names others.
 */
export async function createQuantWasm(model: QuantizedModel, options: QuantWasmOptions = {}): Promise<QuantWasmRunner> {
  const max = options.maxMemoryBytes ?? WASM_MAX_BYTES;
  if (!(max > 0 && max <= WASM_MAX_BYTES)) fail(ErrorCodes.OPTION, `option maxMemoryBytes: expected 1 to ${WASM_MAX_BYTES}, got ${max}`);
  if (options.scalar !== undefined && typeof options.scalar !== 'boolean') fail(ErrorCodes.OPTION, `option scalar: expected true or false, got ${describe(options.scalar)}`);
  const threading = options.threading && options.threading.threads > 1 ? options.threading : null;
  const build = threading ? 'threads' : 'simd';
  const module = options.source !== undefined ? await compileKernels(options.source, build) : await defaultKernels(build);
  const runner = new QuantWasmRunner(model, module, max, options.scalar ?? false, threading);
  try {
    await runner.startThreads();
  } catch (error) {
    runner.dispose();
    throw error;
  }
  return runner;
}
