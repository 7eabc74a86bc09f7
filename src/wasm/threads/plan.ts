/**
 * How a layer is cut into work items for the threads of a model, and the step descriptors the
 * tile dispatcher reads (assembly/tiles.ts, the layout is documented there).
 *
 * Every item computes whole outputs with the kernel the single thread uses, so each output keeps
 * its summation order (bias, then the taps or k ascending) whatever the split and whichever
 * thread runs it: a threaded run is bit-identical to `threads: 1`.
 *   pointwise, classifier  (row chunk, output-channel tiles): A's rows are cut into chunks (at
 *                          most the cache-sized chunk of the single thread), each chunk packed 4
 *                          rows by 4 into the scratch of the thread that takes it (once per chunk
 *                          per thread and step); when there are too few chunks to share, each
 *                          chunk's 8-channel tiles are split into groups;
 *   conv, depthwise, pool  ranges of output rows of one image: the kernel called on fewer rows,
 *                          with the input pointer at the image and padTop shifted by the rows
 *                          skipped (a negative padTop is an ordinary value for the kernels: the
 *                          first valid tap, the border and interior tests all use
 *                          oy * stride - padTop, which is unchanged).
 * Items are taken from an atomic counter, so a faster thread takes more of them.
 */
import type { ConvLayer, Layer } from '../../model/architecture.js';
import { TILES_ABI } from '../kernels.js';
import { gemmChunkRows } from '../pack.js';

export { TILES_ABI };
/** i32 words per step descriptor. */
export const DESC_WORDS = 32;

export const KIND = { gemm: 1, dwconv3x3: 2, dwconv: 3, conv: 4, avgpool: 5 } as const;

/** How steps are cut (measured on 2 cores; a knob for measurements). */
export const planTuning = {
  /** Items per thread a step aims at (dynamic scheduling evens out threads of different speeds). */
  itemsPerThread: 12,
  /** Least work of an item (Mult-Adds, or adds for pooling): below it the counter costs more than it shares. */
  minItemWork: 24_000,
  /** Most work of a row item: keeps items short beside the stall timeout whatever the batch. */
  maxItemWork: 8_000_000,
  /** Least rows of a GEMM chunk cut for sharing (the 4x8 tile loops rows inside a channel tile). */
  minChunkRows: 16,
};

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);
/** The bits of `v` as a float32, as an i32. */
function bitsOf(v: number): number {
  f32[0] = v;
  return f32Bits[0]!;
}

/** Where a step reads, what it writes, and the GEMM scratch of thread 0 and the stride between threads' scratches. */
export interface StepPointers {
  readonly input: number;
  readonly weights: number;
  readonly output: number;
  readonly scratch: number;
  readonly scratchStride: number;
}

/**
 * Writes the descriptor of `layer` (not the softmax) on `batch` images for `threads` threads
 * into `desc` (DESC_WORDS words); returns the number of items.
 */
export function describeStep(layer: Exclude<Layer, { kind: 'softmax' }>, p: StepPointers, batch: number, threads: number, lo: number, hi: number, desc: Int32Array): number {
  desc.fill(0);
  const { itemsPerThread, minItemWork, maxItemWork, minChunkRows } = planTuning;
  const target = threads * itemsPerThread;
  const [inH, inW, inC] = layer.inShape;
  const [outH, outW, outC] = layer.outShape;
  desc[2] = bitsOf(lo);
  desc[3] = bitsOf(hi);
  desc[4] = p.input;
  desc[5] = p.weights;
  desc[6] = p.output;
  if (layer.kind === 'pointwise' || layer.kind === 'logits') {
    const m = batch * outH * outW;
    const k = inC;
    const n = outC;
    const tiles = Math.ceil(n / 8);
    // At most the single thread's cache-sized chunk; more, smaller chunks when that gives too few items.
    const most = gemmChunkRows(k);
    let chunks = Math.min(Math.max(target, Math.ceil(m / most)), Math.max(1, Math.ceil(m / minChunkRows)));
    const chunkRows = Math.max(4, Math.ceil(Math.ceil(m / chunks) / 4) * 4);
    chunks = Math.ceil(m / chunkRows);
    const chunkWork = chunkRows * k * n;
    let groups = Math.min(tiles, Math.ceil(target / chunks), Math.max(1, Math.floor(chunkWork / minItemWork)));
    groups = Math.max(1, groups);
    const tilesPerGroup = Math.ceil(tiles / groups);
    groups = Math.ceil(tiles / tilesPerGroup);
    desc[0] = KIND.gemm;
    desc[1] = chunks * groups;
    desc.set([m, n, k, chunkRows, groups, tilesPerGroup, p.scratch, p.scratchStride], 7);
    return desc[1];
  }
  const conv = layer.kind === 'avgpool' ? null : (layer as ConvLayer);
  const [kh, kw] = layer.kernel;
  const kind = layer.kind === 'avgpool' ? KIND.avgpool : layer.kind === 'conv' ? KIND.conv : kh === 3 && kw === 3 ? KIND.dwconv3x3 : KIND.dwconv;
  const rowWork = outW * outC * kh * kw * (layer.kind === 'conv' ? inC : 1);
  let rowsPerItem = Math.max(1, Math.floor((batch * outH) / target), Math.ceil(minItemWork / rowWork));
  rowsPerItem = Math.min(outH, rowsPerItem, Math.max(1, Math.floor(maxItemWork / rowWork)));
  const perImage = Math.ceil(outH / rowsPerItem);
  desc[0] = kind;
  desc[1] = batch * perImage;
  desc.set([
    batch, inH, inW, inC, outH, outW, outC, kh, kw, layer.stride,
    conv ? conv.dilation : 1, conv ? conv.padding.top : 0, conv ? conv.padding.left : 0,
    rowsPerItem, perImage,
  ], 7);
  return desc[1];
}
