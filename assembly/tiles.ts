/**
 * The tile dispatcher of the threads build (build/kernels-threads.wasm): every thread of a model
 * (the calling thread and its workers, each with its own instance over one shared memory) calls
 * `run_tiles` on the same step; each call takes work items from the step's atomic counter until
 * none is left and runs each item with the ordinary kernels on a part of the layer's output.
 *
 * No item changes how any output is computed: an item is a range of output rows (convolutions,
 * depthwise, pooling: the same kernel on fewer rows, with the input pointer and padTop shifted) or
 * a (row chunk, output-channel tiles) block of a GEMM (the same per-lane order: bias, then k
 * ascending), so every output has the bits it has on one thread (src/wasm/threads/plan.ts).
 *
 * A step's descriptor (DESC_WORDS i32 words, written by the host, read-only during a run):
 *   0 kind  1 items  2 lo (f32 bits)  3 hi (f32 bits)  4 input  5 weights  6 output
 *   rows (conv, depthwise, pool): 7 n  8 inH  9 inW  10 C  11 outH  12 outW  13 Cout  14 kh  15 kw
 *       16 stride  17 dilation  18 padTop  19 padLeft  20 rows per item  21 items per image
 *     item i: image i / itemsPerImage, output rows [r * rowsPerItem, + rowsPerItem) of it;
 *   gemm: 7 m  8 n  9 k  10 chunk rows (a multiple of 4)  11 groups per chunk  12 8-channel tiles
 *       per group  13 scratch  14 scratch bytes per thread
 *     item i: chunk i / groups (its rows packed 4 by 4 into this thread's scratch, once per
 *     chunk per call), channel group i % groups.
 * The integer kinds (6-9: the q8 GEMM, depthwise, im2col convolution and pooling) are
 * assembly/q8/tiles.ts, with their words there; the fast (relaxed SIMD) threads build leaves them
 * out (the integer path runs exact SIMD only) and says so in Q8_TILES.
 * The step's counters: `counter` (i32, items taken) and `counter + 64` (i32, items done), on
 * their own cache lines.
 */
import { f32_avgpool } from './f32/pool';
import { f32_conv_minmax } from './f32/conv';
import { f32_dwconv3x3_minmax, f32_dwconv_minmax } from './f32/dwconv';
import { f32_gemm_1x8_minmax, f32_gemm_4x8_packed_minmax, f32_pack_a_4rows } from './f32/gemm';
import { KIND_Q8_GEMM, q8Item, q8ResetPacked } from './q8/tiles';

/** The layout version the host checks (src/wasm/threads/plan.ts TILES_ABI). */
export const TILES_ABI: i32 = 1;
/** 1 when run_tiles runs the integer kinds (the exact threads build), 0 in the relaxed one. */
export const Q8_TILES: i32 = ASC_FEATURE_RELAXED_SIMD ? 0 : 1;

const KIND_GEMM = 1;
const KIND_DWCONV3X3 = 2;
const KIND_DWCONV = 3;
const KIND_CONV = 4;
const KIND_AVGPOOL = 5;

/** The chunk of A packed in this thread's scratch in the current call (-1: none). Per instance, hence per thread. */
let packedChunk: i32 = -1;

// @ts-ignore: decorator
@inline
function word(desc: usize, index: i32): i32 {
  return load<i32>(desc + (<usize>index << 2));
}

function gemmItem(desc: usize, item: i32, thread: i32, lo: f32, hi: f32): void {
  const a = <usize>word(desc, 4);
  const w = <usize>word(desc, 5);
  const c = <usize>word(desc, 6);
  const m = word(desc, 7);
  const n = word(desc, 8);
  const k = word(desc, 9);
  const chunkRows = word(desc, 10);
  const groups = word(desc, 11);
  const tilesPerGroup = word(desc, 12);
  const chunk = item / groups;
  const group = item - chunk * groups;
  const m0 = chunk * chunkRows;
  const rows = min(chunkRows, m - m0);
  const n0 = group * tilesPerGroup * 8;
  const nc = min(tilesPerGroup * 8, n - n0);
  const kB = <usize>k << 2;
  const ar = a + <usize>m0 * kB;
  const wg = w + <usize>(group * tilesPerGroup) * ((<usize>(k + 1)) << 5);
  const cr = c + ((<usize>m0 * <usize>n + <usize>n0) << 2);
  const cStride = <usize>n << 2;
  const rows4 = rows & ~3;
  if (rows4 > 0) {
    const scratch = <usize>word(desc, 13) + <usize>thread * <usize>word(desc, 14);
    if (packedChunk != chunk) {
      f32_pack_a_4rows(rows4, k, ar, kB, scratch);
      packedChunk = chunk;
    }
    f32_gemm_4x8_packed_minmax(rows4, nc, k, scratch, wg, cr, cStride, lo, hi);
  }
  if (rows4 < rows) {
    f32_gemm_1x8_minmax(rows - rows4, nc, k, ar + <usize>rows4 * kB, kB, wg, cr + <usize>rows4 * cStride, cStride, lo, hi);
  }
}

function rowsItem(desc: usize, kind: i32, item: i32, lo: f32, hi: f32): void {
  const inH = word(desc, 8);
  const inW = word(desc, 9);
  const C = word(desc, 10);
  const outH = word(desc, 11);
  const outW = word(desc, 12);
  const Cout = word(desc, 13);
  const kh = word(desc, 14);
  const kw = word(desc, 15);
  const stride = word(desc, 16);
  const dilation = word(desc, 17);
  const padTop = word(desc, 18);
  const padLeft = word(desc, 19);
  const rowsPerItem = word(desc, 20);
  const perImage = word(desc, 21);
  const b = item / perImage;
  const oy0 = (item - b * perImage) * rowsPerItem;
  const rows = min(rowsPerItem, outH - oy0);
  const image = <usize>word(desc, 4) + ((<usize>b * <usize>inH * <usize>inW * <usize>C) << 2);
  const w = <usize>word(desc, 5);
  const out = <usize>word(desc, 6) + ((<usize>(b * outH + oy0) * <usize>outW * <usize>Cout) << 2);
  // Output row oy0 + r reads input rows from (oy0 + r) * stride - padTop: the same rows, the
  // same taps, the same per-pixel path as in the whole-layer call.
  const pad = padTop - oy0 * stride;
  if (kind == KIND_DWCONV3X3) {
    f32_dwconv3x3_minmax(1, inH, inW, C, rows, outW, stride, dilation, pad, padLeft, image, w, out, lo, hi);
  } else if (kind == KIND_DWCONV) {
    f32_dwconv_minmax(1, inH, inW, C, rows, outW, kh, kw, stride, dilation, pad, padLeft, image, w, out, lo, hi);
  } else if (kind == KIND_CONV) {
    f32_conv_minmax(1, inH, inW, C, rows, outW, Cout, kh, kw, stride, dilation, pad, padLeft, image, w, out, lo, hi);
  } else {
    // VALID windows: the item's first window starts at input row oy0 * stride.
    f32_avgpool(1, inH, inW, C, rows, outW, kh, kw, stride, image + ((<usize>(oy0 * stride) * <usize>inW * <usize>C) << 2), out);
  }
}

/**
 * Runs items of the step described at `desc` until its counter at `counter` runs out. Returns 1
 * when this call finished the step's last item (the caller then wakes the threads waiting on
 * the done counter), else 0.
 */
export function run_tiles(desc: usize, counter: usize, thread: i32): i32 {
  const kind = word(desc, 0);
  const items = word(desc, 1);
  const lo = load<f32>(desc, 8);
  const hi = load<f32>(desc, 12);
  let last = 0;
  packedChunk = -1;
  if (!ASC_FEATURE_RELAXED_SIMD) q8ResetPacked();
  while (true) {
    const item = atomic.add<i32>(counter, 1);
    if (item >= items) break;
    if (kind == KIND_GEMM) gemmItem(desc, item, thread, lo, hi);
    else if (kind < KIND_Q8_GEMM) rowsItem(desc, kind, item, lo, hi);
    else if (!ASC_FEATURE_RELAXED_SIMD) q8Item(desc, kind, item, thread);
    if (atomic.add<i32>(counter, 1, 64) + 1 == items) last = 1;
  }
  return last;
}
