/**
 * Helpers shared by the f32 kernels: the fused clamp epilogue and partial stores.
 *
 * Semantics of the clamp: `min(max(acc, lo), hi)` with wasm's f32.max / f32.min (NaN
 * propagates, max(-0, +0) = +0), which is exactly the reference's `activate` (NaN stays NaN;
 * relu = v > 0 ? v : +0; relu6 = min(relu, 6)) for relu6 = [0, 6], relu = [0, +inf],
 * none = [-inf, +inf]. The scalar twins use f32.min / f32.max directly.
 *
 * f32x4.min / max cost about 8 instructions each on x86 (NaN and signed-zero fix-ups), so the
 * SIMD kernels pick, once per call, an equivalent built from f32x4.pmin / pmax (one minps /
 * maxps each), which is exact under these conditions:
 *   lo = -inf:  max(v, lo) = v, nothing to do;
 *   lo >= +0:   max(v, lo) = pmax(v + 0, lo)  (v + 0 turns -0 into +0 and changes nothing else;
 *               pmax(a, b) = a < b ? b : a keeps a NaN a);
 *   hi = +inf:  nothing to do;  hi not -0: min(v, hi) = pmin(v, hi) = hi < v ? hi : v.
 * Any other bound (a negative finite lo, hi = -0) takes the exact f32x4.min / max.
 */

/** Clamp mode for the SIMD epilogue: bit 0-1 the lower bound, bit 2-3 the upper bound. */
export function clampMode(lo: f32, hi: f32): i32 {
  const loMode = lo == -Infinity ? 0 : lo > 0 || (lo == 0 && 1 / lo > 0) ? 1 : 2;
  const hiMode = hi == Infinity ? 0 : hi != 0 || 1 / hi > 0 ? 4 : 8;
  return loMode | hiMode;
}

// @ts-ignore: decorator
@inline
export function clampv(v: v128, vlo: v128, vhi: v128, mode: i32): v128 {
  let r = v;
  const loMode = mode & 3;
  if (loMode == 1) r = f32x4.pmax(f32x4.add(r, f32x4.splat(0)), vlo);
  else if (loMode == 2) r = f32x4.max(r, vlo);
  const hiMode = mode & 12;
  if (hiMode == 4) r = f32x4.pmin(r, vhi);
  else if (hiMode == 8) r = f32x4.min(r, vhi);
  return r;
}

/**
 * The multiply-add of the GEMM and dense convolution loops: `c + a * b` per lane. The base builds
 * (kernels.wasm, kernels-threads.wasm) round twice (f32x4.mul, then f32x4.add: the reference's
 * fround(acc + fround(x * w))); the fast builds (compiled with relaxed SIMD: kernels-relaxed.wasm,
 * kernels-threads-relaxed.wasm; `precision: 'fast'`) use f32x4.relaxed_madd, one rounding where
 * the CPU has FMA (the reference's twin `fmaF32`, src/reference/fma.ts), two where it has none.
 * Chosen at compile time (ASC_FEATURE_RELAXED_SIMD): the base builds' code is byte for byte what
 * the mul and add written out give. The depthwise kernels keep mul and add in both builds: their
 * 9-tap chains are latency-bound, and a fused chain (an FMA's latency is longer than an add's on
 * x86) measured 10% slower there (docs/benchmarks.md, "The fast tier").
 */
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** `madd` for the scalar twins: lane 0 of the SIMD one in the fast builds, so that a twin matches its kernel there too. */
// @ts-ignore: decorator
@inline
export function madds(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  return c + a * b;
}

// @ts-ignore: decorator
@inline
export function clamps(v: f32, lo: f32, hi: f32): f32 {
  return min<f32>(max<f32>(v, lo), hi);
}

/** Stores the first `count` (0..4) lanes of `v` at `p`. */
// @ts-ignore: decorator
@inline
export function storePartial(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  if (count & 2) {
    v128.store64_lane(p, v, 0);
    if (count & 1) v128.store32_lane(p, v, 2, 8);
  } else if (count & 1) {
    v128.store32_lane(p, v, 0);
  }
}

/** Stores the first `nr` (1..8) lanes of the pair v0, v1 at `p`. */
// @ts-ignore: decorator
@inline
export function storeRow8(p: usize, v0: v128, v1: v128, nr: i32): void {
  if (nr >= 8) {
    v128.store(p, v0);
    v128.store(p, v1, 16);
  } else if (nr > 4) {
    v128.store(p, v0);
    storePartial(p + 16, v1, nr - 4);
  } else {
    storePartial(p, v0, nr);
  }
}

/** First valid tap index: smallest t in [0, k) with 0 <= i0 + t*d (k if none). */
// @ts-ignore: decorator
@inline
export function firstTap(i0: i32, d: i32, k: i32): i32 {
  let t = 0;
  while (t < k && i0 + t * d < 0) t++;
  return t;
}

/** One past the last valid tap: largest t with i0 + (t-1)*d < size. */
// @ts-ignore: decorator
@inline
export function endTap(i0: i32, d: i32, k: i32, size: i32, first: i32): i32 {
  let t = k;
  while (t > first && i0 + (t - 1) * d >= size) t--;
  return t;
}
