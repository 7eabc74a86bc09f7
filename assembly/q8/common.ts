/**
 * Helpers shared by the integer kernels: TFLite's requantization (MultiplyByQuantizedMultiplier,
 * the default double-rounding build) on i32x4 lanes and on one i32, the clamp and the 8-bit
 * stores. Every result is exactly src/quant/fixedpoint.ts `multiplyByQuantizedMultiplier` (the
 * tests compare them on random and edge values).
 *
 * Per output channel the host packs (src/quant/wasm.ts `packHeader`), per tile of 8 channels,
 * a 192-byte header: bias i32[8], leftMul i32[8] (1 << max(shift, 0)), multiplier i32[8],
 * mask i32[8] ((1 << max(-shift, 0)) - 1), recip f64[8] (2^-max(-shift, 0)).
 *
 * The arithmetic, with x the int32 accumulator (bias included, wrapped like C's int32):
 *   x <<= left                                     (i32 multiply by leftMul: wraps as C does)
 *   s = SaturatingRoundingDoublingHighMul(x, m)    = (x * m + 2^30) >> 31 in int64
 *       (gemmlowp's nudge 1 - 2^30 for a negative product and its truncating division give the
 *       same floor; m in [0, 2^31) is never INT32_MIN, so the saturating case cannot occur; the
 *       result fits int32, so the low 32 bits of a logical shift are the value)
 *   RoundingDivideByPOT(s, e) = (s >> e) + ((s & mask) > (mask >> 1) + (s < 0))
 *       s >> e: one i32x4.shr_s when every lane shifts alike (`shifts` & 63 below 32, per-tensor
 *       multipliers); otherwise per lane as floor(s * 2^-e) in float64 (exact: a power-of-two
 *       scaling of an int32, floored, converted back).
 * Then + output offset, clamp [actMin, actMax]: in i16 lanes with saturation (narrowing and the
 * saturating add keep any out-of-range value on its side of the clamp), then to 8 bits.
 */

/** Bytes of the per-tile requantization header (8 channels). */
export const HDR: usize = 192;

/**
 * Requantizes 4 accumulators (lanes `lane`..`lane`+3 of the tile at `h`; lane 0 or 4). `shifts`
 * (src/quant/wasm.ts `shiftFlags`): bits 0-5 the right shift every channel shares (0..31), or
 * 32 when they differ (then lane by lane); bit 6 set when some channel shifts left.
 */
// @ts-ignore: decorator
@inline
export function requant4(acc: v128, h: usize, lane: usize, shifts: i32): v128 {
  const lb = lane << 2;
  // A left shift only where some channel has one (an i32x4.mul is not cheap).
  const x = shifts & 64 ? i32x4.mul(acc, v128.load(h + 32 + lb)) : acc;
  const m = v128.load(h + 64 + lb);
  const half = i64x2.splat(0x40000000);
  const lo = i64x2.shr_u(i64x2.add(i64x2.extmul_low_i32x4_s(x, m), half), 31);
  const hi = i64x2.shr_u(i64x2.add(i64x2.extmul_high_i32x4_s(x, m), half), 31);
  const s = i32x4.shuffle(lo, hi, 0, 2, 4, 6);
  const mask = v128.load(h + 96 + lb);
  let fl: v128;
  const rshift = shifts & 63;
  if (rshift < 32) {
    fl = i32x4.shr_s(s, rshift);
  } else {
    const r = h + 128 + (lane << 3);
    const d0 = f64x2.floor(f64x2.mul(f64x2.convert_low_i32x4_s(s), v128.load(r)));
    const d1 = f64x2.floor(f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(s, s, 2, 3, 2, 3)), v128.load(r, 16)));
    fl = i32x4.shuffle(i32x4.trunc_sat_f64x2_s_zero(d0), i32x4.trunc_sat_f64x2_s_zero(d1), 0, 1, 4, 5);
  }
  const thr = i32x4.sub(i32x4.shr_u(mask, 1), i32x4.shr_s(s, 31));
  return i32x4.sub(fl, i32x4.gt_s(v128.and(s, mask), thr));
}

/** Two requantized i32x4 (8 channels) + offset, clamped, as 8 bytes in lanes 0..7. */
// @ts-ignore: decorator
@inline
export function pack8(r0: v128, r1: v128, voff: v128, vmin: v128, vmax: v128, signed: i32): v128 {
  let v = i16x8.add_sat_s(i16x8.narrow_i32x4_s(r0, r1), voff);
  v = i16x8.min_s(i16x8.max_s(v, vmin), vmax);
  return signed ? i8x16.narrow_i16x8_s(v, v) : i8x16.narrow_i16x8_u(v, v);
}

/** Stores the first `count` (1..8) bytes of `v` at `p`. */
// @ts-ignore: decorator
@inline
export function storeBytes(p: usize, v: v128, count: i32): void {
  if (count >= 8) {
    v128.store64_lane(p, v, 0);
    return;
  }
  let lo = i64x2.extract_lane(v, 0);
  let q = p;
  if (count & 4) {
    store<u32>(q, <u32>lo);
    q += 4;
    lo >>>= 32;
  }
  if (count & 2) {
    store<u16>(q, <u16>lo);
    q += 2;
    lo >>>= 16;
  }
  if (count & 1) store<u8>(q, <u8>lo);
}

/** One accumulator of channel `j` of the tile at `h`, requantized (scalar twin of requant4), before the offset. */
// @ts-ignore: decorator
@inline
export function requant1(acc: i32, h: usize, j: usize): i32 {
  const jb = j << 2;
  const x = acc * load<i32>(h + 32 + jb);
  const s = <i32>((<i64>x * <i64>load<i32>(h + 64 + jb) + 0x40000000) >> 31);
  const mask = load<i32>(h + 96 + jb);
  const e = popcnt<i32>(mask);
  return (s >> e) + select<i32>(1, 0, (s & mask) > (mask >> 1) + select<i32>(1, 0, s < 0));
}

/** + output offset, clamp, as an integer (scalar twins). */
// @ts-ignore: decorator
@inline
export function clampOut(r: i32, outOffset: i32, actMin: i32, actMax: i32): i32 {
  const v = <i64>r + <i64>outOffset;
  return v < <i64>actMin ? actMin : v > <i64>actMax ? actMax : <i32>v;
}

/** 8 input bytes widened to i16 lanes, signed (int8) or not (uint8), resolved at compile time. */
// @ts-ignore: decorator
@inline
export function load8x8<T>(p: usize): v128 {
  if (isSigned<T>()) return v128.load8x8_s(p);
  return v128.load8x8_u(p);
}

/** One input byte as i32, signed (int8) or not (uint8). */
// @ts-ignore: decorator
@inline
export function load1<T>(p: usize): i32 {
  if (isSigned<T>()) return <i32>load<i8>(p);
  return <i32>load<u8>(p);
}

/** One input byte as i32, signed (int8) or not (uint8), chosen at run time (cold paths: one instance, less code). */
// @ts-ignore: decorator
@inline
export function loadByte(p: usize, signed: i32): i32 {
  return signed ? <i32>load<i8>(p) : <i32>load<u8>(p);
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
