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
 */
import { ErrorCodes, fail } from '../errors.js';
import type { Architecture, ConvLayer, Layer } from '../model/architecture.js';
import type { FoldedLayer } from '../model/fold.js';
import type { Activations, InferenceBackend, WasmOptions } from '../backend.js';
import { softmaxRef } from '../reference/kernels.js';
import { WASM_MAX_BYTES, WASM_PAGE_BYTES, compileKernels, defaultKernels, instantiateKernels } from './loader.js';
import type { KernelExports } from './kernels.js';
import { packConv, packDepthwise, packGemm, packedConvLength, packedDepthwiseLength, packedGemmLength } from './pack.js';

const ALIGN = 64;
const SLACK = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Bytes of rows of A a GEMM call keeps in cache: the host splits M into chunks of this size. */
const GEMM_CHUNK_BYTES = 96 * 1024;

export function clampRange(activation: ConvLayer['activation']): [number, number] {
  return activation === 'relu6' ? [0, 6] : activation === 'relu' ? [0, Infinity] : [-Infinity, Infinity];
}

interface Planned {
  readonly layer: Layer;
  /** Byte offset of the packed weights (conv layers). */
  readonly weights: number;
}

/** Rows of A per GEMM call for depth `k` (a multiple of 4). */
const gemmChunkRows = (k: number) => Math.max(4, Math.floor(GEMM_CHUNK_BYTES / (4 * k)) & ~3);
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

export class WasmBackend implements InferenceBackend {
  readonly name = 'wasm' as const;
  // Dropped by dispose(): the arena and the instance become garbage at once.
  private memory: WebAssembly.Memory;
  private kernels: KernelExports;
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

  constructor(
    private readonly arch: Architecture,
    folded: readonly FoldedLayer[],
    module: WebAssembly.Module,
    private readonly maxBytes = WASM_MAX_BYTES,
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
    this.scratch = scratchBytes > 0 ? offset : 0;
    offset += align(scratchBytes);
    this.weightsEnd = offset;
    const size = (s: readonly number[]) => s[0]! * s[1]! * s[2]!;
    this.maxActivation = Math.max(size(arch.inputShape), ...arch.layers.map((l) => Math.max(size(l.inShape), size(l.outShape))));
    const bytes = this.bytesFor(1);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE_BYTES), maximum: Math.ceil(this.maxBytes / WASM_PAGE_BYTES) });
    this.kernels = instantiateKernels(module, this.memory).kernels;
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
  }

  run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Activations {
    this.checkLive();
    const inSize = this.arch.inputShape[0] * this.arch.inputShape[1] * this.arch.inputShape[2];
    if (!Number.isSafeInteger(batch) || batch < 1 || input.length !== batch * inSize) {
      fail(ErrorCodes.INPUT, `wasm backend: expected ${batch} x ${inSize} input values, got ${input.length}`);
    }
    this.place(batch);
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
   * For benchmarks and profiles: a closure running layer `index` alone on `batch` images
   * (from activation buffer A into B; the contents are whatever is there).
   */
  layerRunner(index: number, batch = 1): () => void {
    this.checkLive();
    this.place(batch);
    const { layer, weights } = this.plan[index]!;
    const { bufA, bufB, kernels, scratch } = this;
    return () => runLayer(kernels, layer, weights, bufA, bufB, batch, scratch);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // Nothing else references the memory or the instance: both are collectable now.
    this.memory = null as unknown as WebAssembly.Memory;
    this.kernels = null as unknown as KernelExports;
  }

  private checkLive(): void {
    if (this.disposed) fail(ErrorCodes.DISPOSED, 'wasm backend: used after dispose()');
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

/** Builds a wasm backend for a model (what `createModel({ backend: 'wasm' })` calls). */
export async function createWasmBackend(
  arch: Architecture,
  folded: readonly FoldedLayer[],
  options: WasmOptions = {},
): Promise<WasmBackend> {
  const module = options.source !== undefined ? await compileKernels(options.source) : await defaultKernels();
  const max = options.maxMemoryBytes ?? WASM_MAX_BYTES;
  if (!(max > 0 && max <= WASM_MAX_BYTES)) {
    fail(ErrorCodes.OPTION, `option maxMemoryBytes: expected 1 to ${WASM_MAX_BYTES}, got ${max}`);
  }
  return new WasmBackend(arch, folded, module, max);
}

