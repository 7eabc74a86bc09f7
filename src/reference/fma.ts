/**
 * A correctly rounded float32 fused multiply-add in plain TypeScript: `fmaF32(a, b, c)` is
 * a * b + c computed exactly and rounded once to float32 (round to nearest, ties to even), what
 * an FMA unit gives for `f32x4.relaxed_madd` (the fast tier's kernels, assembly/f32/common.ts
 * `madd`). It is the fast tier's reference twin: the reference kernels with
 * fround(acc + fround(x * w)) replaced by fmaF32(x, w, acc) (src/reference/kernels.ts).
 *
 * How, for float32 a, b, c (any values; the results of Math.fround):
 *  1. p = a * b in double is exact (24 + 24 significant bits <= 53; exponents far inside double's).
 *  2. s = p + c in double may round; TwoSum gives its error e exactly (p + c = s + e), since
 *     finite float32 operands cannot overflow a double sum.
 *  3. Rounding s to float32 would round twice. Instead s is rounded to odd: when e != 0 and the
 *     last bit of s's significand is 0, s moves one double ulp towards e (the neighbour between
 *     which and s the exact sum lies has its last bit 1). A double with its last bit 1 is never a
 *     float32 value nor the midpoint of two (both have at most 25 significant bits), and the
 *     exact sum lies strictly between the same two consecutive "even" doubles as the odd
 *     result, so Math.fround of it rounds as the exact sum would (Boldo and Melquiond,
 *     "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to odd",
 *     IEEE Trans. Computers 57(4), 2008: round to odd in p + 2 bits or more, then to nearest in p).
 * Infinities and NaN take the plain double path (p + c is then inf or NaN as an FMA gives);
 * signed zeros follow from the double sum (-0 only when p and c are both -0).
 */
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** Index of the low 32 bits of a double in `u32` (little-endian everywhere JavaScript runs, but checked). */
const LO = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f ? 0 : 1;
const HI = 1 - LO;

export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (s - s !== 0) return Math.fround(s); // inf or NaN
  // TwoSum (Knuth): e = (p + c) - s exactly.
  const bb = s - p;
  const e = (p - (s - bb)) + (c - bb);
  if (e === 0) return Math.fround(s);
  f64[0] = s;
  const lo = u32[LO]!;
  if ((lo & 1) === 0) {
    // Towards e: the magnitude grows when e has s's sign, else shrinks (s != 0 here: s = 0 means p = -c, e = 0).
    if ((e > 0) === (s > 0)) {
      u32[LO] = lo + 1; // lo is even: no carry
    } else if (lo !== 0) {
      u32[LO] = lo - 1;
    } else {
      u32[LO] = 0xffffffff;
      u32[HI] = u32[HI]! - 1;
    }
  }
  return Math.fround(f64[0]!);
}
