/**
 * f32 GEMM with bias and clamp: the pointwise (1x1) convolutions and the classifier.
 *
 *   C[m, n] = clamp(bias[n] + sum_k A[m, k] * W[k, n], lo, hi)
 *
 * Packed weights (see src/wasm/pack.ts `packGemm`), per tile of NR = 8 output channels:
 *   bias[8], then for k = 0..K-1: W[k, n0..n0+7]   (columns past N are zero)
 * so the inner loop walks the packed weights linearly.
 *
 * Vectorised across OUTPUT channels: each f32x4 lane holds one output channel and sums
 * bias first, then k ascending, with a separate mul and add (no FMA), i.e. exactly the
 * reference's fround(acc + fround(x * w)) order: the results are bit-identical to
 * `pointwiseConv2dRef` and to the scalar twin. In the fast builds (`madd`, common.ts) each
 * mul and add is one relaxed_madd, in the same order: `pointwiseConv2dRef(..., fused)`.
 *
 * Three kernels share that packing and order:
 *  - f32_gemm_4x8_packed_minmax: the backend's path. The host packs each chunk of A 4 rows by
 *    4 (f32_pack_a_4rows, k-major) into a scratch, so the 4 broadcasts of a k step are
 *    v128.load32_splat at constant offsets from one pointer: no per-row address arithmetic.
 *  - f32_gemm_4x8_minmax: A read in place (rows `aStride` apart), any m; the leftover rows
 *    (m % 4) go to f32_gemm_1x8_minmax.
 *  - f32_gemm_1x8_minmax: one row at a time, 16 then 8 channels per pass (the classifier has
 *    m = 1; the packed path's leftover rows).
 * The 4x8 tile: 8 f32x4 accumulators, one k per iteration (two weight loads, per row one
 * load32_splat and two mul + add), loop bounded by the weight pointer. Keep these loops this
 * simple and alone in their function: with more values live V8 spills or schedules worse.
 * The variants measured and why they lost: docs/benchmarks.md, "The GEMM kernel".
 *
 * Contract (f32_gemm_4x8_minmax, f32_gemm_1x8_minmax): m >= 1, n >= 1, k >= 1; `a` holds
 * m rows of k floats, `aStride` bytes apart; `c` receives m rows of n floats, `cStride` bytes
 * apart; only those m x n floats are written. Loop order: output-channel tiles outer, row
 * tiles inner (the host splits m into chunks whose rows stay in cache: src/wasm/backend.ts `gemm`).
 */
import { clampMode, clampv, clamps, madd, madds, storeRow8 } from './common';

export function f32_gemm_4x8_minmax(
  m: i32, n: i32, k: i32,
  a: usize, aStride: usize,
  w: usize,
  c: usize, cStride: usize,
  lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const mode = clampMode(lo, hi);
  const tileBytes = (<usize>(k + 1)) << 5;
  const m4 = m & ~3;
  for (let n0 = 0; n0 < n; n0 += 8) {
    const wt = w + (<usize>(n0 >> 3)) * tileBytes;
    const nr = min(8, n - n0);
    for (let m0 = 0; m0 < m4; m0 += 4) {
      const a0 = a + <usize>m0 * aStride;
      const a1 = a0 + aStride;
      const a2 = a1 + aStride;
      const a3 = a2 + aStride;
      let acc00 = v128.load(wt);
      let acc01 = v128.load(wt, 16);
      let acc10 = acc00, acc11 = acc01;
      let acc20 = acc00, acc21 = acc01;
      let acc30 = acc00, acc31 = acc01;
      // One k per iteration, the loop bounded by the weight pointer: with 8 accumulators,
      // 2 weight vectors and one splat live, everything stays in registers (see the header).
      let wp = wt + 32;
      const wEnd = wp + (<usize>k << 5);
      let off: usize = 0;
      while (wp < wEnd) {
        const b0 = v128.load(wp);
        const b1 = v128.load(wp, 16);
        const x0 = v128.load32_splat(a0 + off);
        acc00 = madd(x0, b0, acc00); acc01 = madd(x0, b1, acc01);
        const x1 = v128.load32_splat(a1 + off);
        acc10 = madd(x1, b0, acc10); acc11 = madd(x1, b1, acc11);
        const x2 = v128.load32_splat(a2 + off);
        acc20 = madd(x2, b0, acc20); acc21 = madd(x2, b1, acc21);
        const x3 = v128.load32_splat(a3 + off);
        acc30 = madd(x3, b0, acc30); acc31 = madd(x3, b1, acc31);
        wp += 32;
        off += 4;
      }
      const c0 = c + <usize>m0 * cStride + (<usize>n0 << 2);
      storeRow8(c0, clampv(acc00, vlo, vhi, mode), clampv(acc01, vlo, vhi, mode), nr);
      storeRow8(c0 + cStride, clampv(acc10, vlo, vhi, mode), clampv(acc11, vlo, vhi, mode), nr);
      storeRow8(c0 + 2 * cStride, clampv(acc20, vlo, vhi, mode), clampv(acc21, vlo, vhi, mode), nr);
      storeRow8(c0 + 3 * cStride, clampv(acc30, vlo, vhi, mode), clampv(acc31, vlo, vhi, mode), nr);
    }
  }
  if (m4 < m) {
    f32_gemm_1x8_minmax(m - m4, n, k, a + <usize>m4 * aStride, aStride, w, c + <usize>m4 * cStride, cStride, lo, hi);
  }
}

/**
 * Same contract and order as `f32_gemm_4x8_minmax`, one row at a time (16 channels, 4 chains,
 * per pass): the rows left over by the 4-row tile, and the classifier (m = 1). A separate
 * function so that V8 allocates registers for the 4x8 loop alone (inlined, it was slower).
 */
export function f32_gemm_1x8_minmax(
  m: i32, n: i32, k: i32,
  a: usize, aStride: usize,
  w: usize,
  c: usize, cStride: usize,
  lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const mode = clampMode(lo, hi);
  const tileBytes = (<usize>(k + 1)) << 5;
  for (let r = 0; r < m; r++) {
    const ar = a + <usize>r * aStride;
    const cr = c + <usize>r * cStride;
    let n0 = 0;
    for (; n0 + 16 <= n; n0 += 16) {
      const wt = w + (<usize>(n0 >> 3)) * tileBytes;
      const wu = wt + tileBytes;
      let acc0 = v128.load(wt), acc1 = v128.load(wt, 16);
      let acc2 = v128.load(wu), acc3 = v128.load(wu, 16);
      let wp = wt + 32;
      let wq = wu + 32;
      const end = ar + (<usize>k << 2);
      for (let ap = ar; ap < end; ap += 4) {
        const x = v128.load32_splat(ap);
        acc0 = madd(x, v128.load(wp), acc0);
        acc1 = madd(x, v128.load(wp, 16), acc1);
        acc2 = madd(x, v128.load(wq), acc2);
        acc3 = madd(x, v128.load(wq, 16), acc3);
        wp += 32;
        wq += 32;
      }
      const cp = cr + (<usize>n0 << 2);
      storeRow8(cp, clampv(acc0, vlo, vhi, mode), clampv(acc1, vlo, vhi, mode), 8);
      storeRow8(cp + 32, clampv(acc2, vlo, vhi, mode), clampv(acc3, vlo, vhi, mode), 8);
    }
    for (; n0 < n; n0 += 8) {
      const wt = w + (<usize>(n0 >> 3)) * tileBytes;
      let acc0 = v128.load(wt), acc1 = v128.load(wt, 16);
      let wp = wt + 32;
      const end = ar + (<usize>k << 2);
      for (let ap = ar; ap < end; ap += 4) {
        const x = v128.load32_splat(ap);
        acc0 = madd(x, v128.load(wp), acc0);
        acc1 = madd(x, v128.load(wp, 16), acc1);
        wp += 32;
      }
      storeRow8(cr + (<usize>n0 << 2), clampv(acc0, vlo, vhi, mode), clampv(acc1, vlo, vhi, mode), min(8, n - n0));
    }
  }
}

/**
 * Packs the first m & ~3 rows of A for `f32_gemm_4x8_packed_minmax`: per group of 4 rows,
 * for k = 0..K-1: A[r0..r0+3, k] (16 bytes), i.e. out[g][k][r]. Rows past m & ~3 are not
 * touched (the caller runs them through `f32_gemm_1x8_minmax` from A itself). A plain copy:
 * the values, hence the results, do not change.
 *
 * Contract: m >= 0, k >= 1; `out` holds (m & ~3) * k floats and does not overlap A.
 */
export function f32_pack_a_4rows(m: i32, k: i32, a: usize, aStride: usize, out: usize): void {
  const k4 = k & ~3;
  let o = out;
  for (let m0 = 0; m0 < (m & ~3); m0 += 4) {
    const a0 = a + <usize>m0 * aStride;
    const a1 = a0 + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
    let off: usize = 0;
    const end4 = <usize>k4 << 2;
    for (; off < end4; off += 16) {
      // 4x4 transpose: rows (k..k+3) of 4 A rows -> 4 vectors of (r0..r3) at k, k+1, k+2, k+3.
      const v0 = v128.load(a0 + off), v1 = v128.load(a1 + off);
      const v2 = v128.load(a2 + off), v3 = v128.load(a3 + off);
      const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5); // a0k0 a1k0 a0k1 a1k1
      const t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5); // a2k0 a3k0 a2k1 a3k1
      const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7); // a0k2 a1k2 a0k3 a1k3
      const t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7); // a2k2 a3k2 a2k3 a3k3
      v128.store(o, i64x2.shuffle(t0, t1, 0, 2));
      v128.store(o, i64x2.shuffle(t0, t1, 1, 3), 16);
      v128.store(o, i64x2.shuffle(t2, t3, 0, 2), 32);
      v128.store(o, i64x2.shuffle(t2, t3, 1, 3), 48);
      o += 64;
    }
    const end = <usize>k << 2;
    for (; off < end; off += 4) {
      store<f32>(o, load<f32>(a0 + off));
      store<f32>(o, load<f32>(a1 + off), 4);
      store<f32>(o, load<f32>(a2 + off), 8);
      store<f32>(o, load<f32>(a3 + off), 12);
      o += 16;
    }
  }
}

/**
 * `f32_gemm_4x8_minmax` on A packed by `f32_pack_a_4rows` (`ap`: m / 4 groups of k x 4 floats):
 * the 4 broadcasts of a k step come from one pointer at constant offsets, so the loop has no
 * per-row address arithmetic (faster than reading A in place). Same weights
 * packing, same per-lane order (bias, then k ascending, mul then add): bit-identical.
 *
 * Contract: m >= 4 and a multiple of 4, n >= 1, k >= 1; `c` receives m rows of n floats,
 * `cStride` bytes apart.
 */
export function f32_gemm_4x8_packed_minmax(
  m: i32, n: i32, k: i32,
  ap: usize,
  w: usize,
  c: usize, cStride: usize,
  lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const mode = clampMode(lo, hi);
  const tileBytes = (<usize>(k + 1)) << 5;
  const groupBytes = <usize>k << 4;
  for (let n0 = 0; n0 < n; n0 += 8) {
    const wt = w + (<usize>(n0 >> 3)) * tileBytes;
    const nr = min(8, n - n0);
    let ag = ap;
    for (let m0 = 0; m0 < m; m0 += 4) {
      let acc00 = v128.load(wt);
      let acc01 = v128.load(wt, 16);
      let acc10 = acc00, acc11 = acc01;
      let acc20 = acc00, acc21 = acc01;
      let acc30 = acc00, acc31 = acc01;
      let wp = wt + 32;
      const wEnd = wp + (<usize>k << 5);
      let x = ag;
      while (wp < wEnd) {
        const b0 = v128.load(wp);
        const b1 = v128.load(wp, 16);
        const x0 = v128.load32_splat(x);
        acc00 = madd(x0, b0, acc00); acc01 = madd(x0, b1, acc01);
        const x1 = v128.load32_splat(x, 4);
        acc10 = madd(x1, b0, acc10); acc11 = madd(x1, b1, acc11);
        const x2 = v128.load32_splat(x, 8);
        acc20 = madd(x2, b0, acc20); acc21 = madd(x2, b1, acc21);
        const x3 = v128.load32_splat(x, 12);
        acc30 = madd(x3, b0, acc30); acc31 = madd(x3, b1, acc31);
        wp += 32;
        x += 16;
      }
      const c0 = c + <usize>m0 * cStride + (<usize>n0 << 2);
      storeRow8(c0, clampv(acc00, vlo, vhi, mode), clampv(acc01, vlo, vhi, mode), nr);
      storeRow8(c0 + cStride, clampv(acc10, vlo, vhi, mode), clampv(acc11, vlo, vhi, mode), nr);
      storeRow8(c0 + 2 * cStride, clampv(acc20, vlo, vhi, mode), clampv(acc21, vlo, vhi, mode), nr);
      storeRow8(c0 + 3 * cStride, clampv(acc30, vlo, vhi, mode), clampv(acc31, vlo, vhi, mode), nr);
      ag += groupBytes;
    }
  }
}

/** Scalar twin of `f32_gemm_4x8_packed_minmax` (packed A, same order, no SIMD). */
export function f32_gemm_4x8_packed_minmax_scalar(
  m: i32, n: i32, k: i32,
  ap: usize,
  w: usize,
  c: usize, cStride: usize,
  lo: f32, hi: f32,
): void {
  const tileBytes = (<usize>(k + 1)) << 5;
  for (let n0 = 0; n0 < n; n0 += 8) {
    const wt = w + (<usize>(n0 >> 3)) * tileBytes;
    const nr = min(8, n - n0);
    for (let r = 0; r < m; r++) {
      const ar = ap + <usize>(r >> 2) * (<usize>k << 4) + (<usize>(r & 3) << 2);
      const cr = c + <usize>r * cStride + (<usize>n0 << 2);
      for (let j = 0; j < nr; j++) {
        let acc = load<f32>(wt + (<usize>j << 2));
        let wp = wt + 32 + (<usize>j << 2);
        for (let kk = 0; kk < k; kk++) {
          acc = madds(load<f32>(ar + (<usize>kk << 4)), load<f32>(wp), acc);
          wp += 32;
        }
        store<f32>(cr + (<usize>j << 2), clamps(acc, lo, hi));
      }
    }
  }
}

/** Scalar twin of `f32_gemm_4x8_minmax` and `f32_gemm_1x8_minmax`: same packing, same per-lane order, no SIMD. */
export function f32_gemm_4x8_minmax_scalar(
  m: i32, n: i32, k: i32,
  a: usize, aStride: usize,
  w: usize,
  c: usize, cStride: usize,
  lo: f32, hi: f32,
): void {
  const tileBytes = (<usize>(k + 1)) << 5;
  for (let n0 = 0; n0 < n; n0 += 8) {
    const wt = w + (<usize>(n0 >> 3)) * tileBytes;
    const nr = min(8, n - n0);
    for (let r = 0; r < m; r++) {
      const ar = a + <usize>r * aStride;
      const cr = c + <usize>r * cStride + (<usize>n0 << 2);
      for (let j = 0; j < nr; j++) {
        let acc = load<f32>(wt + (<usize>j << 2));
        let wp = wt + 32 + (<usize>j << 2);
        for (let kk = 0; kk < k; kk++) {
          acc = madds(load<f32>(ar + (<usize>kk << 2)), load<f32>(wp), acc);
          wp += 32;
        }
        store<f32>(cr + (<usize>j << 2), clamps(acc, lo, hi));
      }
    }
  }
}
