/**
 * fmaF32 (src/reference/fma.ts), the fast tier's reference multiply-add, against an exact
 * implementation: the operands as integers times powers of two (BigInt), the exact sum, one
 * rounding to float32 (nearest, ties to even, subnormals, overflow to infinity) done by hand.
 * Random float32 triples over every exponent (fast-check's `float`: subnormals, zeros of both
 * signs, infinities, NaN), products near half an ulp of the addend (the double-rounding
 * cases), and named edge cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fmaF32 } from '../../src/reference/fma.js';

const view = new DataView(new ArrayBuffer(8));

/** A finite float32 as (negative, integer m, exponent e): value = (-1)^neg * m * 2^e. */
function decompose(x: number): { neg: boolean; m: bigint; e: number } {
  view.setFloat32(0, x);
  const bits = view.getUint32(0);
  const neg = bits >>> 31 === 1;
  const E = (bits >>> 23) & 0xff;
  const F = bits & 0x7fffff;
  return E === 0 ? { neg, m: BigInt(F), e: -149 } : { neg, m: BigInt(F | 0x800000), e: E - 150 };
}

/** 2^q as a double (q within the double's normal range). */
function pow2(q: number): number {
  view.setUint32(0, (q + 1023) << 20);
  view.setUint32(4, 0);
  return view.getFloat64(0);
}

/** a * b + c with one rounding to float32, from exact integers. */
function fmaExact(a: number, b: number, c: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(c)) return Math.fround(a * b + c);
  const A = decompose(a), B = decompose(b), C = decompose(c);
  const pNeg = A.neg !== B.neg;
  const pm = A.m * B.m;
  const pe = A.e + B.e;
  const emin = Math.min(pe, C.e);
  const X = (pNeg ? -pm : pm) * (1n << BigInt(pe - emin)) + (C.neg ? -C.m : C.m) * (1n << BigInt(C.e - emin));
  if (X === 0n) return pNeg && C.neg ? -0 : 0; // an exact zero: -0 only from -0 + -0
  const neg = X < 0n;
  const M = neg ? -X : X;
  const L = M.toString(2).length;
  const q = Math.max(L - 1 + emin - 23, -149); // the exponent of the result's ulp
  const shift = q - emin;
  let R: bigint;
  if (shift <= 0) {
    R = M << BigInt(-shift);
  } else {
    R = M >> BigInt(shift);
    const rem = M - (R << BigInt(shift));
    const half = 1n << BigInt(shift - 1);
    if (rem > half || (rem === half && (R & 1n) === 1n)) R += 1n;
  }
  const magnitude = Number(R) * pow2(q); // exact: R < 2^25
  const rounded = magnitude >= 2 ** 128 ? Infinity : magnitude;
  return neg ? -rounded : rounded;
}

const f32 = (x: number) => Math.fround(x);
const ulpHalf = (c: number) => {
  const { e, m } = decompose(c);
  // For a normal c with m in [2^23, 2^24): ulp = 2^e; half = 2^(e-1).
  return m >= 0x800000n ? pow2(e - 1) : pow2(-150);
};

function check(a: number, b: number, c: number): void {
  const expected = fmaExact(a, b, c);
  const actual = fmaF32(a, b, c);
  if (!Object.is(actual, expected)) {
    throw new Error(`fmaF32(${a}, ${b}, ${c}) = ${actual}, exact ${expected}`);
  }
}

describe('fmaF32: a correctly rounded float32 a * b + c', () => {
  it('equals the exact rounding on random float32 triples (every exponent, subnormals, zeros, inf, NaN)', () => {
    const float = fc.float();
    fc.assert(fc.property(float, float, float, (a, b, c) => check(a, b, c)), { numRuns: 100_000 });
  });

  it('equals the exact rounding where a * b is near half an ulp of c (the double-rounding cases)', () => {
    const normal = fc.float({ noNaN: true, noDefaultInfinity: true, min: f32(-3e38), max: f32(3e38) }).filter((c) => c !== 0 && Math.abs(c) >= 2 ** -100);
    const near = fc.integer({ min: -4, max: 4 });
    const sign = fc.constantFrom(1, -1);
    fc.assert(
      fc.property(normal, near, near, sign, (c, i, j, s) => {
        const h = ulpHalf(c);
        const a = f32(s * h * (1 + i * 2 ** -23));
        const b = f32(1 + j * 2 ** -23 * (j < 0 ? 0.5 : 1));
        check(a, b, c);
        check(b, a, c);
        check(a, b, -c);
      }),
      { numRuns: 50_000 },
    );
  });

  it('operands whose products and sums are exact in float32 give the plain result', () => {
    fc.assert(fc.property(fc.integer({ min: -2048, max: 2048 }), fc.integer({ min: -2048, max: 2048 }), fc.integer({ min: -1 << 20, max: 1 << 20 }), (a, b, c) => {
      expect(fmaF32(a, b, c)).toBe(a * b + c);
    }));
  });

  it('mends the double rounding of a plain double sum (named cases)', () => {
    // 1 + 2^-23 (odd significand) plus just under half its ulp: the double sum lands on the
    // midpoint, which a plain fround rounds to even (up); the exact sum is below it.
    const a = f32(2 ** -24 * (1 + 2 ** -23));
    const b = f32(1 - 2 ** -23);
    const c = f32(1 + 2 ** -23);
    expect(Math.fround(a * b + c)).toBe(f32(1 + 2 ** -22));
    expect(fmaF32(a, b, c)).toBe(c);
    expect(fmaExact(a, b, c)).toBe(c);
    // The mirror case, just above the midpoint of an even significand: up, where fround(double) stays.
    const c2 = f32(1 + 2 ** -22);
    const a2 = f32(2 ** -24 * (1 + 2 ** -23));
    const b2 = f32(1 + 2 ** -23);
    check(a2, b2, c2);
    check(-a2, b2, -c2);
  });

  it('edge cases: signed zeros, subnormals, overflow, infinities, NaN', () => {
    const MAX = f32(3.4028234663852886e38);
    const TINY = 2 ** -149;
    const cases: [number, number, number][] = [
      [0, 0, 0], [-0, 0, 0], [-0, 0, -0], [0, -1, -0], [1, -0, -0], [2, 3, -6], [-2, 3, 6],
      [TINY, 0.5, 0], [TINY, 0.5, -0], [TINY, -0.5, 0], [TINY, 1.5, 0], [TINY, 2.5, TINY], [2 ** -75, 2 ** -75, 0], [2 ** -75, 2 ** -75, TINY],
      [2 ** -126, 0.5, 2 ** -149], [f32(1.5 * 2 ** -75), f32(1.5 * 2 ** -75), -TINY],
      [MAX, 2, -MAX], [MAX, 1, MAX], [MAX, 1, -MAX], [2 ** 103, 1, MAX], [2 ** 103, f32(1 - 2 ** -24), MAX], [2 ** 103, f32(1 + 2 ** -23), MAX],
      [-(2 ** 103), 1, -MAX], [2 ** 64, 2 ** 64, 0], [2 ** 64, 2 ** 64, -Infinity],
      [Infinity, 0, 1], [Infinity, 1, -Infinity], [Infinity, -1, -Infinity], [1, 1, Infinity], [NaN, 1, 1], [1, NaN, 0], [1, 1, NaN],
    ];
    for (const [a, b, c] of cases) check(f32(a), f32(b), f32(c));
    expect(Object.is(fmaF32(-0, 1, -0), -0)).toBe(true);
    expect(Object.is(fmaF32(1, -1, 1), 0)).toBe(true);
    expect(fmaF32(2 ** 103, 1, MAX)).toBe(Infinity); // the tie past MAX rounds to the even 2^128: infinity
    expect(fmaF32(2 ** 103, f32(1 - 2 ** -24), MAX)).toBe(MAX);
  });
});
