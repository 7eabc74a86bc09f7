/**
 * Arithmetic whose results every JavaScript engine defines exactly, for heads that train to the
 * same bits in Node, Deno, Bun, browsers and workerd.
 *
 * ECMAScript defines +, -, *, / on doubles (IEEE-754, round to nearest even), Math.fround,
 * Math.round / floor / abs / max / min, comparisons and Math.imul exactly; it leaves Math.exp,
 * Math.log and even Math.sqrt "implementation-approximated". So nothing in src/head/ calls
 * those: `exp` is the reference kernels' `expDeterministic` (a 13-term Taylor series after an
 * exact range reduction), `log` and `rsqrt` below are built the same way from the basic
 * operations alone. Every sum runs in index order, in float64, and nothing is fused (JS never
 * contracts a * b + c into an FMA).
 */
import { expDeterministic } from '../reference/kernels.js';

export { expDeterministic as exp };

const LN2_HI = 6.93147180369123816490e-1; // fdlibm's split of ln 2
const LN2_LO = 1.90821492927058770002e-10;
const SQRT2 = 1.4142135623730951;

const bits = new DataView(new ArrayBuffer(8));

/**
 * ln(x) from +, -, * and / alone: x = m * 2^e with m in [sqrt(1/2), sqrt(2)) (exact, from the
 * bits), then ln m = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.1716, by its odd series to
 * f^25 (the next term is below 2^-64). Relative error about 1e-16.
 */
export function log(x: number): number {
  if (x !== x || x < 0) return NaN;
  if (x === 0) return -Infinity;
  if (x === Infinity) return Infinity;
  let e = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984; // 2^54: subnormals become normal
    e = -54;
  }
  bits.setFloat64(0, x);
  const hi = bits.getUint32(0);
  e += ((hi >>> 20) & 0x7ff) - 1023;
  bits.setUint32(0, (hi & 0x000fffff) | 0x3ff00000); // the same mantissa with exponent 0: m in [1, 2)
  let m = bits.getFloat64(0);
  if (m > SQRT2) {
    m /= 2;
    e += 1;
  }
  const f = (m - 1) / (m + 1);
  const s = f * f;
  // Horner over 1/(2i+1), i = 12 .. 1.
  let p = 1 / 25;
  for (let i = 11; i >= 1; i--) p = 1 / (2 * i + 1) + s * p;
  const lnm = 2 * f + 2 * f * s * p;
  return e * LN2_HI + (lnm + e * LN2_LO);
}

/**
 * 1 / sqrt(x) for x > 0 from +, -, * alone: a first guess from the bits (halved exponent, the
 * classic magic constant, a few percent off), then six Newton steps y = y (1.5 - 0.5 x y^2),
 * each squaring the relative error (the last ones only settle the rounding). 0 gives 0 (a zero
 * vector stays zero), as do NaN and negative numbers.
 */
export function rsqrt(x: number): number {
  if (!(x > 0)) return 0;
  if (x === Infinity) return 0;
  let scale = 1;
  // Keep x normal and away from the ends of the range: scale by even powers of two.
  while (x < 1e-300) {
    x *= 2 ** 600;
    scale *= 2 ** 300;
  }
  while (x > 1e300) {
    x *= 2 ** -600;
    scale *= 2 ** -300;
  }
  bits.setFloat64(0, x);
  const hi = bits.getUint32(0);
  bits.setUint32(0, (0x5fe6eb50 - (hi >>> 1)) >>> 0);
  bits.setUint32(4, 0);
  let y = bits.getFloat64(0);
  const half = 0.5 * x;
  for (let i = 0; i < 6; i++) y = y * (1.5 - half * y * y);
  return y * scale;
}

/** Sum of squares in index order, in float64. */
export function sumOfSquares(v: ArrayLike<number>, offset = 0, length = v.length - offset): number {
  let s = 0;
  for (let i = 0; i < length; i++) {
    const x = v[offset + i]!;
    s += x * x;
  }
  return s;
}

/** `v` scaled to unit L2 norm, rounded to float32 (a zero vector stays zero). */
export function l2Normalize(v: ArrayLike<number>, out: Float32Array = new Float32Array(v.length), outOffset = 0): Float32Array {
  const r = rsqrt(sumOfSquares(v));
  for (let i = 0; i < v.length; i++) out[outOffset + i] = v[i]! * r;
  return out;
}

/**
 * Dot product of a float32 row with a float32 query, in float64: eight partial sums s_j over
 * i = j (mod 8), the last length mod 8 products added to s0, then ((s0 + s1) + (s2 + s3)) +
 * ((s4 + s5) + (s6 + s7)). The same bits everywhere, and the same as sims.wat (simd.ts).
 */
export function dot(a: Float32Array, aOffset: number, b: Float32Array, length: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  let i = 0;
  const end8 = length - (length & 7);
  for (; i < end8; i += 8) {
    const o = aOffset + i;
    s0 += a[o]! * b[i]!;
    s1 += a[o + 1]! * b[i + 1]!;
    s2 += a[o + 2]! * b[i + 2]!;
    s3 += a[o + 3]! * b[i + 3]!;
    s4 += a[o + 4]! * b[i + 4]!;
    s5 += a[o + 5]! * b[i + 5]!;
    s6 += a[o + 6]! * b[i + 6]!;
    s7 += a[o + 7]! * b[i + 7]!;
  }
  for (; i < length; i++) s0 += a[aOffset + i]! * b[i]!;
  return s0 + s1 + (s2 + s3) + (s4 + s5 + (s6 + s7));
}

/**
 * Softmax of `scores / temperature` in float64 with the deterministic exp; the maximum is
 * subtracted first; sums in index order. Entries where `use` is false get 0.
 */
export function softmax(scores: Float64Array, temperature: number, use?: (i: number) => boolean): Float64Array {
  const n = scores.length;
  const out = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) if ((!use || use(i)) && scores[i]! > max) max = scores[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (use && !use(i)) continue;
    out[i] = expDeterministic((scores[i]! - max) / temperature);
    sum += out[i]!;
  }
  for (let i = 0; i < n; i++) out[i] = out[i]! / sum;
  return out;
}

/** mulberry32 as a float in [0, 1): the project's seeded generator (src/model/random.ts). */
export function uniform(next: () => number): number {
  return next() / 4294967296;
}

/** Fisher-Yates with the seeded generator: the same order in every runtime. */
export function shuffle<T>(items: T[], next: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(uniform(next) * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

/** The q-quantile (0..1) of the values, the lower of the two middle ones (no interpolation). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))]!;
}
