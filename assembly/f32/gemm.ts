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
 * `pointwiseConv2dRef` and to the scalar twin.
 *
 * Main tile MR = 4 rows x NR = 8 output channels (8 f32x4 accumulators). A is read 4 k at a
 * time with one v128.load per row and broadcast with i32x4.shuffle (the "splat" variant: on
 * x86 it beat v128.load32_splat by ~10%, measured with the kernels stage of npm run bench). Rows left over (m % 4)
 * take a 1 x 16 / 1 x 8 path instead of recomputing duplicated rows (the classifier has m = 1).
 *
 * Contract: m >= 1, n >= 1, k >= 1; `a` holds m rows of k floats, `aStride` bytes apart;
 * `c` receives m rows of n floats, `cStride` bytes apart; only those m x n floats are written.
 * Loop order: output-channel tiles outer, row tiles inner (the host splits m into chunks
 * whose rows stay in cache).
 */
import { clampMode, clampv, clamps, storeRow8 } from './common';

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
  const k4 = k & ~3;
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
      let wp = wt + 32;
      let off: usize = 0;
      const end4 = <usize>k4 << 2;
      for (; off < end4; off += 16) {
        const va0 = v128.load(a0 + off);
        const va1 = v128.load(a1 + off);
        const va2 = v128.load(a2 + off);
        const va3 = v128.load(a3 + off);
        let b0 = v128.load(wp, 0);
        let b1 = v128.load(wp, 16);
        let x0 = i32x4.shuffle(va0, va0, 0, 0, 0, 0);
        let x1 = i32x4.shuffle(va1, va1, 0, 0, 0, 0);
        let x2 = i32x4.shuffle(va2, va2, 0, 0, 0, 0);
        let x3 = i32x4.shuffle(va3, va3, 0, 0, 0, 0);
        acc00 = f32x4.add(acc00, f32x4.mul(x0, b0)); acc01 = f32x4.add(acc01, f32x4.mul(x0, b1));
        acc10 = f32x4.add(acc10, f32x4.mul(x1, b0)); acc11 = f32x4.add(acc11, f32x4.mul(x1, b1));
        acc20 = f32x4.add(acc20, f32x4.mul(x2, b0)); acc21 = f32x4.add(acc21, f32x4.mul(x2, b1));
        acc30 = f32x4.add(acc30, f32x4.mul(x3, b0)); acc31 = f32x4.add(acc31, f32x4.mul(x3, b1));
        b0 = v128.load(wp, 32);
        b1 = v128.load(wp, 48);
        x0 = i32x4.shuffle(va0, va0, 1, 1, 1, 1);
        x1 = i32x4.shuffle(va1, va1, 1, 1, 1, 1);
        x2 = i32x4.shuffle(va2, va2, 1, 1, 1, 1);
        x3 = i32x4.shuffle(va3, va3, 1, 1, 1, 1);
        acc00 = f32x4.add(acc00, f32x4.mul(x0, b0)); acc01 = f32x4.add(acc01, f32x4.mul(x0, b1));
        acc10 = f32x4.add(acc10, f32x4.mul(x1, b0)); acc11 = f32x4.add(acc11, f32x4.mul(x1, b1));
        acc20 = f32x4.add(acc20, f32x4.mul(x2, b0)); acc21 = f32x4.add(acc21, f32x4.mul(x2, b1));
        acc30 = f32x4.add(acc30, f32x4.mul(x3, b0)); acc31 = f32x4.add(acc31, f32x4.mul(x3, b1));
        b0 = v128.load(wp, 64);
        b1 = v128.load(wp, 80);
        x0 = i32x4.shuffle(va0, va0, 2, 2, 2, 2);
        x1 = i32x4.shuffle(va1, va1, 2, 2, 2, 2);
        x2 = i32x4.shuffle(va2, va2, 2, 2, 2, 2);
        x3 = i32x4.shuffle(va3, va3, 2, 2, 2, 2);
        acc00 = f32x4.add(acc00, f32x4.mul(x0, b0)); acc01 = f32x4.add(acc01, f32x4.mul(x0, b1));
        acc10 = f32x4.add(acc10, f32x4.mul(x1, b0)); acc11 = f32x4.add(acc11, f32x4.mul(x1, b1));
        acc20 = f32x4.add(acc20, f32x4.mul(x2, b0)); acc21 = f32x4.add(acc21, f32x4.mul(x2, b1));
        acc30 = f32x4.add(acc30, f32x4.mul(x3, b0)); acc31 = f32x4.add(acc31, f32x4.mul(x3, b1));
        b0 = v128.load(wp, 96);
        b1 = v128.load(wp, 112);
        x0 = i32x4.shuffle(va0, va0, 3, 3, 3, 3);
        x1 = i32x4.shuffle(va1, va1, 3, 3, 3, 3);
        x2 = i32x4.shuffle(va2, va2, 3, 3, 3, 3);
        x3 = i32x4.shuffle(va3, va3, 3, 3, 3, 3);
        acc00 = f32x4.add(acc00, f32x4.mul(x0, b0)); acc01 = f32x4.add(acc01, f32x4.mul(x0, b1));
        acc10 = f32x4.add(acc10, f32x4.mul(x1, b0)); acc11 = f32x4.add(acc11, f32x4.mul(x1, b1));
        acc20 = f32x4.add(acc20, f32x4.mul(x2, b0)); acc21 = f32x4.add(acc21, f32x4.mul(x2, b1));
        acc30 = f32x4.add(acc30, f32x4.mul(x3, b0)); acc31 = f32x4.add(acc31, f32x4.mul(x3, b1));
        wp += 128;
      }
      const end = <usize>k << 2;
      for (; off < end; off += 4) {
        const b0 = v128.load(wp);
        const b1 = v128.load(wp, 16);
        const x0 = v128.load32_splat(a0 + off);
        const x1 = v128.load32_splat(a1 + off);
        const x2 = v128.load32_splat(a2 + off);
        const x3 = v128.load32_splat(a3 + off);
        acc00 = f32x4.add(acc00, f32x4.mul(x0, b0)); acc01 = f32x4.add(acc01, f32x4.mul(x0, b1));
        acc10 = f32x4.add(acc10, f32x4.mul(x1, b0)); acc11 = f32x4.add(acc11, f32x4.mul(x1, b1));
        acc20 = f32x4.add(acc20, f32x4.mul(x2, b0)); acc21 = f32x4.add(acc21, f32x4.mul(x2, b1));
        acc30 = f32x4.add(acc30, f32x4.mul(x3, b0)); acc31 = f32x4.add(acc31, f32x4.mul(x3, b1));
        wp += 32;
      }
      const c0 = c + <usize>m0 * cStride + (<usize>n0 << 2);
      storeRow8(c0, clampv(acc00, vlo, vhi, mode), clampv(acc01, vlo, vhi, mode), nr);
      storeRow8(c0 + cStride, clampv(acc10, vlo, vhi, mode), clampv(acc11, vlo, vhi, mode), nr);
      storeRow8(c0 + 2 * cStride, clampv(acc20, vlo, vhi, mode), clampv(acc21, vlo, vhi, mode), nr);
      storeRow8(c0 + 3 * cStride, clampv(acc30, vlo, vhi, mode), clampv(acc31, vlo, vhi, mode), nr);
    }
  }
  // Leftover rows, one at a time, two column tiles (16 channels, 4 chains) per pass.
  for (let r = m4; r < m; r++) {
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
        acc0 = f32x4.add(acc0, f32x4.mul(x, v128.load(wp)));
        acc1 = f32x4.add(acc1, f32x4.mul(x, v128.load(wp, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(x, v128.load(wq)));
        acc3 = f32x4.add(acc3, f32x4.mul(x, v128.load(wq, 16)));
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
        acc0 = f32x4.add(acc0, f32x4.mul(x, v128.load(wp)));
        acc1 = f32x4.add(acc1, f32x4.mul(x, v128.load(wp, 16)));
        wp += 32;
      }
      storeRow8(cr + (<usize>n0 << 2), clampv(acc0, vlo, vhi, mode), clampv(acc1, vlo, vhi, mode), min(8, n - n0));
    }
  }
}

/** Scalar twin of `f32_gemm_4x8_minmax`: same packing, same per-lane order, no SIMD. */
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
          acc = acc + load<f32>(ar + (<usize>kk << 2)) * load<f32>(wp);
          wp += 32;
        }
        store<f32>(cr + (<usize>j << 2), clamps(acc, lo, hi));
      }
    }
  }
}
