/**
 * Integer GEMM with TFLite's requantization: the pointwise (1x1) convolutions, the classifier
 * (CONV_2D 1x1 or FULLY_CONNECTED) and, after `q8_im2col_4rows`, the full convolution.
 *
 *   acc[m, n] = bias[n] + sum_k (x[m, k] + input_offset) * (w[n, k] + filter_offset)   (int32, wrapping)
 *   out[m, n] = clamp(MultiplyByQuantizedMultiplier(acc, M[n], shift[n]) + output_offset, actMin, actMax)
 *
 * exactly src/quant/kernels.ts `conv2d` (the integer result does not depend on the order of the
 * additions: every step is int32 arithmetic modulo 2^32).
 *
 * A, packed by `q8_pack_a_4rows` / `q8_im2col_4rows`: groups of 4 rows; per group, for each
 * pair of k (k2 = ceil(K / 2) pairs, an odd K padded with 0): 4 x [x(2p) + io, x(2p+1) + io] as
 * i16 (16 bytes); then the 4 rows' zero-point corrections -wZero * sum_k (x + io) as i32 (16
 * bytes). Rows past m in the last group are 0.
 * Weights (src/quant/wasm.ts `packGemmQ8`), per tile of 8 output channels: the 192-byte
 * requantization header (./common.ts, bias first), then per pair p: for channel j = 0..7 the
 * stored bytes s(2p), s(2p+1) as i8 (16 bytes), with w + filter_offset = s - wZero: uint8
 * weights stored as w - 128 (wZero = filter zero point - 128), int8 as they are (wZero = 0).
 * Weights stay bytes in memory: 1 byte per weight. So
 *   acc = bias + sum_k (x + io) * s - wZero * sum_k (x + io),
 * the last term per row, from the packing: the loop has no zero point in it (with one, V8 ran
 * out of xmm registers and kept an accumulator on the stack, half the speed).
 *
 * The 4x8 tile: per pair, two weight loads widened to i16 (8 channels x 2 k), four 32-bit
 * broadcasts of a row's pair, eight i32x4.dot_i16x8_s (x(2p) s(2p) + x(2p+1) s(2p+1) per lane:
 * factors in [-255, 255] and [-128, 127], exact in i32) and eight adds: 64 multiply-adds.
 *
 * Contract: m >= 1, n >= 1, k2 >= 1; `ap` holds ceil(m / 4) groups; `c` receives m rows of n
 * bytes, `cStride` bytes apart (only those are written); `shifts`: see `requant4` (./common.ts);
 * `signed`: 1 for int8 outputs, 0 for uint8.
 */
import { HDR, clampOut, load1, load8x8, loadByte, pack8, requant1, requant4, storeBytes } from './common';

/**
 * 8 accumulators (two i32x4 of the tile at `h`) requantized, offset, clamped, as 8 bytes: one
 * function, called once per 8 outputs (inlined at every call it made the module 2x larger; not exported: a v128 signature may not cross modules).
 */
function requant8(acc0: v128, acc1: v128, h: usize, shifts: i32, voff: v128, vmin: v128, vmax: v128, signed: i32): v128 {
  return pack8(requant4(acc0, h, 0, shifts), requant4(acc1, h, 4, shifts), voff, vmin, vmax, signed);
}


export function q8_gemm_4x8c2_minmax(
  m: i32, n: i32, k2: i32, ap: usize, w: usize, c: usize, cStride: usize,
  outOffset: i32, actMin: i32, actMax: i32, shifts: i32, signed: i32,
): void {
  const voff = i16x8.splat(<i16>outOffset);
  const vmin = i16x8.splat(<i16>actMin);
  const vmax = i16x8.splat(<i16>actMax);
  const pairBytes = <usize>k2 << 4;
  const groupBytes = pairBytes + 16;
  const tileBytes = HDR + pairBytes;
  for (let n0 = 0; n0 < n; n0 += 8) {
    const h = w + (<usize>(n0 >> 3)) * tileBytes;
    const nr = min(8, n - n0);
    let ag = ap;
    for (let m0 = 0; m0 < m; m0 += 4) {
      // bias + the row's zero-point correction (-wZero * sum_k (x + io), after the pairs).
      const bias0 = v128.load(h);
      const bias1 = v128.load(h, 16);
      const corr = ag + pairBytes;
      const r0 = v128.load32_splat(corr), r1 = v128.load32_splat(corr, 4);
      const r2 = v128.load32_splat(corr, 8), r3 = v128.load32_splat(corr, 12);
      let acc00 = i32x4.add(bias0, r0), acc01 = i32x4.add(bias1, r0);
      let acc10 = i32x4.add(bias0, r1), acc11 = i32x4.add(bias1, r1);
      let acc20 = i32x4.add(bias0, r2), acc21 = i32x4.add(bias1, r2);
      let acc30 = i32x4.add(bias0, r3), acc31 = i32x4.add(bias1, r3);
      let wp = h + HDR;
      const wEnd = wp + pairBytes;
      let x = ag;
      while (wp < wEnd) {
        const b0 = v128.load8x8_s(wp);
        const b1 = v128.load8x8_s(wp, 8);
        const x0 = v128.load32_splat(x);
        acc00 = i32x4.add(acc00, i32x4.dot_i16x8_s(x0, b0)); acc01 = i32x4.add(acc01, i32x4.dot_i16x8_s(x0, b1));
        const x1 = v128.load32_splat(x, 4);
        acc10 = i32x4.add(acc10, i32x4.dot_i16x8_s(x1, b0)); acc11 = i32x4.add(acc11, i32x4.dot_i16x8_s(x1, b1));
        const x2 = v128.load32_splat(x, 8);
        acc20 = i32x4.add(acc20, i32x4.dot_i16x8_s(x2, b0)); acc21 = i32x4.add(acc21, i32x4.dot_i16x8_s(x2, b1));
        const x3 = v128.load32_splat(x, 12);
        acc30 = i32x4.add(acc30, i32x4.dot_i16x8_s(x3, b0)); acc31 = i32x4.add(acc31, i32x4.dot_i16x8_s(x3, b1));
        wp += 16;
        x += 16;
      }
      const mr = m - m0;
      const c0 = c + <usize>m0 * cStride + <usize>n0;
      storeBytes(c0, requant8(acc00, acc01, h, shifts, voff, vmin, vmax, signed), nr);
      if (mr > 1) storeBytes(c0 + cStride, requant8(acc10, acc11, h, shifts, voff, vmin, vmax, signed), nr);
      if (mr > 2) storeBytes(c0 + 2 * cStride, requant8(acc20, acc21, h, shifts, voff, vmin, vmax, signed), nr);
      if (mr > 3) storeBytes(c0 + 3 * cStride, requant8(acc30, acc31, h, shifts, voff, vmin, vmax, signed), nr);
      ag += groupBytes;
    }
  }
}

/** Scalar twin of `q8_gemm_4x8c2_minmax`: the same packing and contract, one output at a time. */
export function q8_gemm_4x8c2_minmax_scalar(
  m: i32, n: i32, k2: i32, ap: usize, w: usize, c: usize, cStride: usize,
  outOffset: i32, actMin: i32, actMax: i32, shifts: i32, signed: i32,
): void {
  const pairBytes = <usize>k2 << 4;
  const groupBytes = pairBytes + 16;
  const tileBytes = HDR + pairBytes;
  for (let n0 = 0; n0 < n; n0 += 8) {
    const h = w + (<usize>(n0 >> 3)) * tileBytes;
    const nr = min(8, n - n0);
    for (let r = 0; r < m; r++) {
      const ar = ap + <usize>(r >> 2) * groupBytes + (<usize>(r & 3) << 2);
      const cr = c + <usize>r * cStride + <usize>n0;
      for (let j = 0; j < nr; j++) {
        let acc = load<i32>(h + (<usize>j << 2)) + load<i32>(ar + pairBytes);
        let wp = h + HDR + (<usize>j << 1);
        let x = ar;
        for (let p = 0; p < k2; p++) {
          acc += <i32>load<i16>(x) * <i32>load<i8>(wp) + <i32>load<i16>(x, 2) * <i32>load<i8>(wp, 1);
          wp += 16;
          x += 16;
        }
        store<u8>(cr + <usize>j, <u8>clampOut(requant1(acc, h, j), outOffset, actMin, actMax));
      }
    }
  }
}

/**
 * Packs rows of A (m rows of k bytes, `aStride` apart, uint8 or int8 per `signed`) for
 * `q8_gemm_4x8c2_minmax`, adding `inputOffset` (x - input zero point, in [-255, 255]): groups of
 * 4 rows; per pair of k the 4 rows' pairs as i16 (16 bytes), then per row the zero-point
 * correction -wZero * sum_k (x + io) as i32 (16 bytes). Rows past m in the last group and the
 * pad of an odd k are 0. Eight k at a time: four 8-byte loads widened to i16, a 4x4 transpose of
 * 32-bit pairs, the row sums by i32x4.extadd_pairwise_i16x8_s.
 *
 * Contract: m >= 1, k >= 1; `out` holds ceil(m / 4) * (ceil(k / 2) + 1) * 16 bytes, not
 * overlapping A.
 */
export function q8_pack_a_4rows(m: i32, k: i32, a: usize, aStride: usize, inputOffset: i32, wZero: i32, signed: i32, out: usize): void {
  if (signed) packA<i8>(m, k, a, aStride, inputOffset, wZero, out);
  else packA<u8>(m, k, a, aStride, inputOffset, wZero, out);
}

// @ts-ignore: decorator
@inline
function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

function packA<T>(m: i32, k: i32, a: usize, aStride: usize, inputOffset: i32, wZero: i32, out: usize): void {
  const vio = i16x8.splat(<i16>inputOffset);
  let o = out;
  for (let m0 = 0; m0 < m; m0 += 4) {
    const a0 = a + <usize>m0 * aStride;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    if (m0 + 4 <= m) {
      const a1 = a0 + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
      let q0 = i32x4.splat(0), q1 = q0, q2 = q0, q3 = q0;
      let kk = 0;
      for (; kk + 8 <= k; kk += 8) {
        const off = <usize>kk;
        const v0 = i16x8.add(load8x8<T>(a0 + off), vio);
        const v1 = i16x8.add(load8x8<T>(a1 + off), vio);
        const v2 = i16x8.add(load8x8<T>(a2 + off), vio);
        const v3 = i16x8.add(load8x8<T>(a3 + off), vio);
        q0 = i32x4.add(q0, i32x4.extadd_pairwise_i16x8_s(v0));
        q1 = i32x4.add(q1, i32x4.extadd_pairwise_i16x8_s(v1));
        q2 = i32x4.add(q2, i32x4.extadd_pairwise_i16x8_s(v2));
        q3 = i32x4.add(q3, i32x4.extadd_pairwise_i16x8_s(v3));
        // 32-bit elements are pairs (k, k+1): rows x pairs -> pairs x rows.
        const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
        const t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
        const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
        const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
        v128.store(o, i64x2.shuffle(t0, t1, 0, 2));
        v128.store(o, i64x2.shuffle(t0, t1, 1, 3), 16);
        v128.store(o, i64x2.shuffle(t2, t3, 0, 2), 32);
        v128.store(o, i64x2.shuffle(t2, t3, 1, 3), 48);
        o += 64;
      }
      s0 = hsum(q0);
      s1 = hsum(q1);
      s2 = hsum(q2);
      s3 = hsum(q3);
      for (; kk < k; kk += 2) {
        for (let r = 0; r < 4; r++) {
          const ar = a0 + <usize>r * aStride + <usize>kk;
          const x0 = load1<T>(ar) + inputOffset;
          const x1 = kk + 1 < k ? load1<T>(ar + 1) + inputOffset : 0;
          store<i16>(o + (<usize>r << 2), <i16>x0);
          store<i16>(o + (<usize>r << 2), <i16>x1, 2);
          const sum = x0 + x1;
          if (r == 0) s0 += sum;
          else if (r == 1) s1 += sum;
          else if (r == 2) s2 += sum;
          else s3 += sum;
        }
        o += 16;
      }
    } else {
      for (let kk = 0; kk < k; kk += 2) {
        for (let r = 0; r < 4; r++) {
          const ar = a0 + <usize>r * aStride + <usize>kk;
          const inside = m0 + r < m;
          const x0 = inside ? load1<T>(ar) + inputOffset : 0;
          const x1 = inside && kk + 1 < k ? load1<T>(ar + 1) + inputOffset : 0;
          store<i16>(o + (<usize>r << 2), <i16>x0);
          store<i16>(o + (<usize>r << 2), <i16>x1, 2);
          const sum = x0 + x1;
          if (r == 0) s0 += sum;
          else if (r == 1) s1 += sum;
          else if (r == 2) s2 += sum;
          else s3 += sum;
        }
        o += 16;
      }
    }
    store<i32>(o, -wZero * s0);
    store<i32>(o, -wZero * s1, 4);
    store<i32>(o, -wZero * s2, 8);
    store<i32>(o, -wZero * s3, 12);
    o += 16;
  }
}

/**
 * The patches of a convolution as rows of A for `q8_gemm_4x8c2_minmax` (im2col, packed as
 * `q8_pack_a_4rows` packs, the zero-point corrections included): output pixels m0 .. m0 + rows - 1 of one image (pixel index oy *
 * outW + ox), K = kh * kw * C in the filter's (ky, kx, c) order, each value x + inputOffset, and
 * 0 for a tap in the padding (which the reference skips: the same integers).
 *
 * Contract: rows >= 1; `image` holds inH * inW * C bytes; `out` holds ceil(rows / 4) *
 * (ceil(K / 2) + 1) * 16 bytes.
 */
export function q8_im2col_4rows(
  m0: i32, rows: i32, inH: i32, inW: i32, C: i32, outW: i32, kh: i32, kw: i32,
  stride: i32, dilation: i32, padTop: i32, padLeft: i32, image: usize, inputOffset: i32, wZero: i32, signed: i32, out: usize,
): void {
  const K = kh * kw * C;
  const pairBytes = (<usize>((K + 1) >> 1)) << 4;
  const groupBytes = pairBytes + 16;
  const padded = (rows + 3) & ~3;
  for (let r = 0; r < padded; r++) {
    const base = out + <usize>(r >> 2) * groupBytes + (<usize>(r & 3) << 2);
    if (r >= rows) {
      for (let k = 0; k < K; k += 2) store<u32>(base + (<usize>(k >> 1) << 4), 0);
      store<i32>(base + pairBytes, 0);
      continue;
    }
    let sum = 0;
    const pix = m0 + r;
    const oy = pix / outW;
    const ox = pix - oy * outW;
    const iy0 = oy * stride - padTop;
    const ix0 = ox * stride - padLeft;
    let k = 0;
    for (let ky = 0; ky < kh; ky++) {
      const iy = iy0 + ky * dilation;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ix0 + kx * dilation;
        const inside = iy >= 0 && iy < inH && ix >= 0 && ix < inW;
        const p = image + <usize>(iy * inW + ix) * <usize>C;
        for (let ch = 0; ch < C; ch++) {
          const v = inside ? loadByte(p + <usize>ch, signed) + inputOffset : 0;
          sum += v;
          store<i16>(base + (<usize>(k >> 1) << 4) + (<usize>(k & 1) << 1), <i16>v);
          k++;
        }
      }
    }
    if (K & 1) store<i16>(base + (<usize>(K >> 1) << 4), 0, 2);
    store<i32>(base + pairBytes, -wZero * sum);
  }
}
