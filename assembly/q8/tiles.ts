/**
 * The integer work items of the tile dispatcher (assembly/tiles.ts `run_tiles`, the threads
 * build): the same kernels as the one-thread integer path (src/quant/wasm.ts `runConv`) on a part
 * of a layer's output. Every output is a whole int32 accumulation and one requantization,
 * whatever the split and the thread, so a threaded run gives the integers of one thread.
 *
 * Descriptor words (i32, written by src/quant/wasm.ts `describeQ8Step`), beside the f32 ones:
 *   0 kind  1 items  3 conv: rows of patches per im2col chunk  4 input  5 weights  6 output
 *   gemm (pointwise, logits, FULLY_CONNECTED): 7 m  8 n  9 k  10 chunk rows  11 groups per chunk
 *       12 8-channel tiles per group; item i: chunk i / groups (its rows packed into this
 *       thread's scratch, once per chunk per call), channel group i % groups;
 *   rows (depthwise, im2col conv, pool): 7 n  8 inH  9 inW  10 C  11 outH  12 outW  13 Cout  14 kh
 *       15 kw  16 stride  17 dilation  18 padTop  19 padLeft  20 rows per item  21 items per image;
 *       item i: image i / itemsPerImage, output rows [r * rowsPerItem, + rowsPerItem) of it;
 *   all: 22 inputOffset  23 wZero  24 signed input  25 outputOffset  26 actMin  27 actMax
 *       28 shifts  29 signed output  30 scratch  31 scratch bytes per thread.
 */
import { HDR } from './common';
import { q8_dwconv_minmax } from './dwconv';
import { q8_gemm_4x8c2_minmax, q8_im2col_4rows, q8_pack_a_4rows } from './gemm';
import { q8_avgpool } from './pool';

export const KIND_Q8_GEMM = 6;
export const KIND_Q8_DWCONV = 7;
export const KIND_Q8_CONV = 8;
export const KIND_Q8_AVGPOOL = 9;

/** The chunk of A packed in this thread's scratch in the current call (-1: none). Per instance, hence per thread. */
let packedChunk: i32 = -1;

// @ts-ignore: decorator
@inline
function word(desc: usize, index: i32): i32 {
  return load<i32>(desc + (<usize>index << 2));
}

/** Forgets the packed chunk: called at the start of every `run_tiles` call. */
export function q8ResetPacked(): void {
  packedChunk = -1;
}

function gemmItem(desc: usize, item: i32, thread: i32): void {
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
  const k2 = (k + 1) >> 1;
  const tileBytes = HDR + (<usize>k2 << 4);
  const scratch = <usize>word(desc, 30) + <usize>thread * <usize>word(desc, 31);
  if (packedChunk != chunk) {
    q8_pack_a_4rows(rows, k, a + <usize>m0 * <usize>k, <usize>k, word(desc, 22), word(desc, 23), word(desc, 24), scratch);
    packedChunk = chunk;
  }
  q8_gemm_4x8c2_minmax(
    rows, nc, k2, scratch, w + <usize>(group * tilesPerGroup) * tileBytes, c + <usize>m0 * <usize>n + <usize>n0, <usize>n,
    word(desc, 25), word(desc, 26), word(desc, 27), word(desc, 28), word(desc, 29),
  );
}

function rowsItem(desc: usize, kind: i32, item: i32, thread: i32): void {
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
  const image = <usize>word(desc, 4) + <usize>b * <usize>inH * <usize>inW * <usize>C;
  const w = <usize>word(desc, 5);
  const outImage = <usize>word(desc, 6) + <usize>b * <usize>outH * <usize>outW * <usize>Cout;
  const io = word(desc, 22);
  const outOffset = word(desc, 25);
  const actMin = word(desc, 26);
  const actMax = word(desc, 27);
  const shifts = word(desc, 28);
  const signedOut = word(desc, 29);
  if (kind == KIND_Q8_CONV) {
    // The patches of output pixels [oy0 * outW, (oy0 + rows) * outW), im2col'd chunk by chunk into this thread's scratch.
    const K = kh * kw * C;
    const k2 = (K + 1) >> 1;
    const chunk = word(desc, 3);
    const scratch = <usize>word(desc, 30) + <usize>thread * <usize>word(desc, 31);
    const p1 = (oy0 + rows) * outW;
    for (let m0 = oy0 * outW; m0 < p1; m0 += chunk) {
      const r = min(chunk, p1 - m0);
      q8_im2col_4rows(m0, r, inH, inW, C, outW, kh, kw, stride, dilation, padTop, padLeft, image, io, word(desc, 23), word(desc, 24), scratch);
      q8_gemm_4x8c2_minmax(r, Cout, k2, scratch, w, outImage + <usize>m0 * <usize>Cout, <usize>Cout, outOffset, actMin, actMax, shifts, signedOut);
    }
    return;
  }
  // Output row oy0 + r reads input rows from (oy0 + r) * stride - padTop: the kernel on `rows`
  // rows, with the image's pointer and padTop shifted by the rows skipped.
  const pad = padTop - oy0 * stride;
  const out = outImage + <usize>oy0 * <usize>outW * <usize>Cout;
  if (kind == KIND_Q8_DWCONV) {
    q8_dwconv_minmax(1, inH, inW, C, rows, outW, kh, kw, stride, dilation, pad, padLeft, image, w, out, io, outOffset, actMin, actMax, shifts, signedOut);
  } else {
    q8_avgpool(1, inH, inW, C, rows, outW, kh, kw, stride, pad, padLeft, image, out, actMin, actMax, word(desc, 24));
  }
}

/** Runs integer item `item` of the step at `desc` (kind KIND_Q8_*) on thread `thread`. */
export function q8Item(desc: usize, kind: i32, item: i32, thread: i32): void {
  if (kind == KIND_Q8_GEMM) gemmItem(desc, item, thread);
  else rowsItem(desc, kind, item, thread);
}
