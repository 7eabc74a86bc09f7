/**
 * The requantization helpers at their edges, each expected value derived by hand here (the
 * arithmetic written out in the comment beside it), not taken from the code under test; then
 * the same helpers against an independent BigInt transcription of the C (int64) formulas on
 * random int32 values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  INT32_MAX,
  INT32_MIN,
  calculateActivationRangeQuantized,
  convolutionMultiplier,
  expOnNegativeValues,
  frexp,
  getReciprocal,
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierGreaterThanOne,
  oneOverOnePlusXForXIn01,
  quantizeMultiplier,
  roundHalfAwayFromZero,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul as srdhm,
  softmaxParams,
} from '../../src/quant/fixedpoint.js';
import { requantizeFp32, roundHalfToEven } from '../../src/quant/kernels.js';

const P30 = 2 ** 30;
const P31 = 2 ** 31;

describe('SaturatingRoundingDoublingHighMul (gemmlowp): round(a * b / 2^31), halves up, one saturation', () => {
  it('exact products', () => {
    // 0.5 * 0.5 in Q0.31: a = b = 2^30; ab = 2^60; (2^60 + 2^30) / 2^31 = 2^29 + 1/2 -> trunc 2^29.
    expect(srdhm(P30, P30)).toBe(2 ** 29);
    // 3 * 2^30 / 2^31 = 1.5: (3 * 2^30 + 2^30) / 2^31 = 2 exactly.
    expect(srdhm(3, P30)).toBe(2);
    // 0 * anything: (0 + 2^30) / 2^31 = 0.5 -> trunc 0.
    expect(srdhm(0, INT32_MIN)).toBe(0);
    expect(srdhm(INT32_MAX, 0)).toBe(0);
  });

  it('ties: +0.5 goes to 1, -0.5 to 0, -1.5 to -1 (toward +infinity, as VQRDMULH)', () => {
    // 1 * 2^30 / 2^31 = 0.5: (2^30 + 2^30) / 2^31 = 1.
    expect(srdhm(1, P30)).toBe(1);
    // -1 * 2^30: nudge 1 - 2^30; (-2^30 + 1 - 2^30) / 2^31 = -1 + 2^-31 -> trunc 0.
    expect(srdhm(-1, P30)).toBe(0);
    expect(srdhm(P30, -1)).toBe(0);
    // -3 * 2^30 (value -1.5): (-3 * 2^30 + 1 - 2^30) / 2^31 = -2 + 2^-31 -> trunc -1.
    expect(srdhm(-3, P30)).toBe(-1);
    // -1 * 3 * 2^29 (value -0.75): (-3 * 2^29 + 1 - 2^30) / 2^31 = (-5 * 2^29 + 1) / 2^31 = -1.25 + 2^-31 -> trunc -1.
    expect(srdhm(-1, 3 * 2 ** 29)).toBe(-1);
  });

  it('negative products and the extremes', () => {
    // INT32_MIN * INT32_MIN = 2^62 -> 2^62 / 2^31 = 2^31, not an int32: saturates to INT32_MAX.
    expect(srdhm(INT32_MIN, INT32_MIN)).toBe(INT32_MAX);
    // INT32_MIN * INT32_MAX = -2^62 + 2^31; + (1 - 2^30) = -2^62 + 2^30 + 1;
    // / 2^31 = -2^31 + 1/2 + 2^-31 -> trunc toward zero: -2^31 + 1.
    expect(srdhm(INT32_MIN, INT32_MAX)).toBe(INT32_MIN + 1);
    // INT32_MAX * INT32_MAX = 2^62 - 2^32 + 1; + 2^30 -> / 2^31 = 2^31 - 2 + (2^30 + 1) / 2^31 -> trunc 2^31 - 2.
    expect(srdhm(INT32_MAX, INT32_MAX)).toBe(INT32_MAX - 1);
    // INT32_MIN * 2^30 = -2^61; + 1 - 2^30 -> / 2^31 = -2^30 - 1/2 + 2^-31 -> trunc -2^30.
    expect(srdhm(INT32_MIN, P30)).toBe(-P30);
    // INT32_MIN * -1 = 2^31; + 2^30 -> / 2^31 = 1.5 -> trunc 1.
    expect(srdhm(INT32_MIN, -1)).toBe(1);
  });
});

describe('RoundingDivideByPOT (gemmlowp): x / 2^e rounded to nearest, halves away from zero', () => {
  it('positive and negative halves', () => {
    // 5 / 2 = 2.5: remainder 1 > threshold 0 -> (5 >> 1) + 1 = 3.
    expect(roundingDivideByPOT(5, 1)).toBe(3);
    // -5 / 2 = -2.5: -5 >> 1 = -3; remainder (-5 & 1) = 1, threshold 0 + 1 = 1; 1 > 1 false -> -3.
    expect(roundingDivideByPOT(-5, 1)).toBe(-3);
    // -3 / 2 = -1.5: -3 >> 1 = -2; remainder 1, threshold 1 -> -2.
    expect(roundingDivideByPOT(-3, 1)).toBe(-2);
    // -6 / 4 = -1.5: -6 >> 2 = -2; remainder (-6 & 3) = 2, threshold 1 + 1 = 2 -> -2.
    expect(roundingDivideByPOT(-6, 2)).toBe(-2);
    // -5 / 4 = -1.25: -5 >> 2 = -2; remainder 3 > 2 -> -1.
    expect(roundingDivideByPOT(-5, 2)).toBe(-1);
    // -7 / 4 = -1.75: -7 >> 2 = -2; remainder 1 -> -2.
    expect(roundingDivideByPOT(-7, 2)).toBe(-2);
    // 6 / 4 = 1.5 -> 2; 5 / 4 = 1.25 -> 1.
    expect(roundingDivideByPOT(6, 2)).toBe(2);
    expect(roundingDivideByPOT(5, 2)).toBe(1);
  });

  it('exponents 0 and 31', () => {
    expect(roundingDivideByPOT(-7, 0)).toBe(-7);
    // INT32_MAX / 2^31 = 1 - 2^-31 -> 1; INT32_MIN / 2^31 = -1 exactly -> -1.
    expect(roundingDivideByPOT(INT32_MAX, 31)).toBe(1);
    expect(roundingDivideByPOT(INT32_MIN, 31)).toBe(-1);
    // 2^30 / 2^31 = 0.5 -> 1; -2^30 / 2^31 = -0.5 -> -1 (away from zero).
    expect(roundingDivideByPOT(P30, 31)).toBe(1);
    expect(roundingDivideByPOT(-P30, 31)).toBe(-1);
    // (2^30 - 1) / 2^31 just under 0.5 -> 0.
    expect(roundingDivideByPOT(P30 - 1, 31)).toBe(0);
    expect(() => roundingDivideByPOT(1, 32)).toThrow(RangeError);
  });
});

describe('MultiplyByQuantizedMultiplier (double rounding, the default build)', () => {
  it('right shifts', () => {
    // 1000 * 0.5 * 2^-1: srdhm(1000, 2^30) = (1000 * 2^30 + 2^30) / 2^31 = 500.5 -> 500; 500 / 2 = 250.
    expect(multiplyByQuantizedMultiplier(1000, P30, -1)).toBe(250);
    // -1000: srdhm = (-1000 * 2^30 + 1 - 2^30) / 2^31 = -500.5 + 2^-31 -> -500; -500 / 2 = -250.
    expect(multiplyByQuantizedMultiplier(-1000, P30, -1)).toBe(-250);
    // -3 * 0.5 * 2^-1 = -0.75: srdhm(-3, 2^30) = -1 (see the ties above); -1 / 2 = -0.5 -> -1 (away).
    expect(multiplyByQuantizedMultiplier(-3, P30, -1)).toBe(-1);
  });

  it('double rounding: the reference rounds 0.4921875 up to 1 where one rounding gives 0', () => {
    // m = 0.5625 = 9/16 -> significand 0.5625 * 2^31 = 1207959552, shift -3 (real 0.0703125).
    // 7 * 0.5625 = 3.9375 -> srdhm rounds to 4; 4 / 2^3 = 0.5 -> 1 (away from zero).
    // Exactly 7 * 0.0703125 = 0.4921875, which one rounding (XNNPACK's fp32) takes to 0.
    expect(multiplyByQuantizedMultiplier(7, 1207959552, -3)).toBe(1);
    expect(requantizeFp32(7, 0.0703125, 0, -128, 127)).toBe(0);
    // The tie in the first step: 11 * 0.5 = 5.5 -> 6; 6 / 4 = 1.5 -> 2; exactly 11 / 8 = 1.375.
    expect(multiplyByQuantizedMultiplier(11, P30, -2)).toBe(2);
  });

  it('left shifts, and the int32 wrap of x * (1 << left_shift)', () => {
    // 3 * 2^2 = 12; srdhm(12, 2^30) = (12 * 2^30 + 2^30) / 2^31 = 6.5 -> 6; no right shift.
    expect(multiplyByQuantizedMultiplier(3, P30, 2)).toBe(6);
    // 2^30 * 2^2 = 2^32 wraps to 0 in int32 (C's two's-complement overflow, wasm's i32.mul).
    expect(multiplyByQuantizedMultiplier(P30, P30, 2)).toBe(0);
    // Shifts outside [-31, 30] are refused (C's 1 << 31 and beyond are undefined).
    expect(() => multiplyByQuantizedMultiplier(1, P30, 31)).toThrow(RangeError);
    expect(() => multiplyByQuantizedMultiplier(1, P30, -32)).toThrow(RangeError);
  });

  it('GreaterThanOne: srdhm(x * 2^left, m)', () => {
    // -5 * 2^4 = -80; srdhm(-80, 3 * 2^29) = -80 * 0.75 = -60 exactly.
    expect(multiplyByQuantizedMultiplierGreaterThanOne(-5, 3 * 2 ** 29, 4)).toBe(-60);
    // Left shift 31: 0 * (1 << 31) is 0; odd x wraps to INT32_MIN as in C.
    expect(multiplyByQuantizedMultiplierGreaterThanOne(0, INT32_MAX, 31)).toBe(0);
  });
});

describe('QuantizeMultiplier: frexp, q * 2^31 rounded half away from zero, the 2^31 case, the flush', () => {
  it('zero, powers of two, plain values', () => {
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    // 0.5 = 0.5 * 2^0 -> 0.5 * 2^31 = 2^30.
    expect(quantizeMultiplier(0.5)).toEqual({ multiplier: P30, shift: 0 });
    // 1 = 0.5 * 2^1.
    expect(quantizeMultiplier(1)).toEqual({ multiplier: P30, shift: 1 });
    // 0.75 * 2^31 = 1610612736.
    expect(quantizeMultiplier(0.75)).toEqual({ multiplier: 1610612736, shift: 0 });
    // 0.0625 = 0.5 * 2^-3.
    expect(quantizeMultiplier(0.0625)).toEqual({ multiplier: P30, shift: -3 });
    // -0.75 -> q = -0.75, -0.75 * 2^31 = -1610612736.
    expect(quantizeMultiplier(-0.75)).toEqual({ multiplier: -1610612736, shift: 0 });
  });

  it('q * 2^31 rounding up to 2^31: halved, shift + 1', () => {
    // m = 1 - 2^-33 is in [0.5, 1): q = m, shift 0; q * 2^31 = 2^31 - 1/4 rounds to 2^31,
    // which is not an int32: q_fixed = 2^30, shift = 1 (i.e. exactly 1.0).
    expect(quantizeMultiplier(1 - 2 ** -33)).toEqual({ multiplier: P30, shift: 1 });
    // m = 1 - 2^-31: q * 2^31 = 2^31 - 1 exactly, no rounding up.
    expect(quantizeMultiplier(1 - 2 ** -31)).toEqual({ multiplier: INT32_MAX, shift: 0 });
  });

  it('ties round away from zero', () => {
    // m = 0.5 + 2^-32: q * 2^31 = 2^30 + 0.5 -> 2^30 + 1.
    expect(quantizeMultiplier(0.5 + 2 ** -32)).toEqual({ multiplier: P30 + 1, shift: 0 });
    // m = -(0.5 + 2^-32): -2^30 - 0.5 -> -2^30 - 1.
    expect(quantizeMultiplier(-(0.5 + 2 ** -32))).toEqual({ multiplier: -P30 - 1, shift: 0 });
  });

  it('tiny multipliers flush to zero below 2^-32, huge ones keep their shift', () => {
    // 2^-32 = 0.5 * 2^-31: shift -31 is the last kept.
    expect(quantizeMultiplier(2 ** -32)).toEqual({ multiplier: P30, shift: -31 });
    // 2^-33 = 0.5 * 2^-32: shift -32 < -31 -> 0, 0.
    expect(quantizeMultiplier(2 ** -33)).toEqual({ multiplier: 0, shift: 0 });
    expect(quantizeMultiplier(1e-300)).toEqual({ multiplier: 0, shift: 0 });
    // 2^40 = 0.5 * 2^41.
    expect(quantizeMultiplier(2 ** 40)).toEqual({ multiplier: P30, shift: 41 });
    expect(() => quantizeMultiplier(Infinity)).toThrow(RangeError);
  });

  it('frexp is exact, subnormals included', () => {
    expect(frexp(8)).toEqual([0.5, 4]);
    expect(frexp(-3)).toEqual([-0.75, 2]);
    expect(frexp(Number.MAX_VALUE)).toEqual([1 - 2 ** -53, 1024]);
    expect(frexp(5e-324)).toEqual([0.5, -1073]); // 2^-1074 = 0.5 * 2^-1073
  });
});

describe('Prepare-time parameters', () => {
  it('convolution multipliers: uint8 rounds input x filter scale to float32 first, int8 stays in double', () => {
    // 0.1f * 0.3f: the double product of the two floats is 0.030000000894069672...;
    // float32 rounds it to 0.030000001192092896 (the nearest float).
    const a = Math.fround(0.1);
    const b = Math.fround(0.3);
    const o = Math.fround(0.7);
    expect(convolutionMultiplier(a, b, o, 'per-tensor-float-product')).toBe(0.030000001192092896 / o);
    expect(convolutionMultiplier(a, b, o, 'per-channel-double')).toBe((a * b) / o);
    expect(0.030000001192092896 / o).not.toBe((a * b) / o);
  });

  it('CalculateActivationRangeQuantized: zero_point + round(f / scale), ties away from zero', () => {
    // uint8, scale 0.023528477 (a Coral activation), zp 0: 6 / scale = 255.0089 -> 255; [0, 255].
    expect(calculateActivationRangeQuantized('relu6', 'uint8', 0.023528477, 0)).toEqual([0, 255]);
    // int8, scale 0.05, zp -10: quantize(0) = -10, quantize(6) = -10 + 6 / 0.05f = -10 + 120 (119.99999821 -> 120).
    expect(calculateActivationRangeQuantized('relu6', 'int8', 0.05, -10)).toEqual([-10, 110]);
    // scale 0.48f = 0.4799999892711639: 6 / that = 12.50000028 -> float32 12.5 exactly -> 13 (away);
    // XNNPACK's lrintf would give 12.
    expect(calculateActivationRangeQuantized('relu6', 'int8', 0.48, 0)).toEqual([0, 13]);
    // ReLU: [max(qmin, zp), qmax]; none: the whole range; zero point -128 -> ReLU6 min -128.
    expect(calculateActivationRangeQuantized('relu', 'uint8', 0.1, 3)).toEqual([3, 255]);
    expect(calculateActivationRangeQuantized('none', 'int8', 0.1, 3)).toEqual([-128, 127]);
    // quantize(6) = -128 + 6 / (6/255) = -128 + 255 = 127: int8 saturates at 127.
    expect(calculateActivationRangeQuantized('relu6', 'int8', 6 / 255, -128)).toEqual([-128, 127]);
  });

  it('softmax scaling: PreprocessSoftmaxScaling and CalculateInputRadius', () => {
    // beta 1, input scale 0.13083284f (the 0.25_128 logits): real = s * 2^(31 - 5) = s * 2^26,
    // about 8.78e6, in [2^23, 2^24): frexp exponent 24, q = s * 2^26 / 2^24 = 4s;
    // multiplier = round(4s * 2^31) = round(s * 2^33); radius = floor(31 * 2^26 / 2^24) = 124.
    const s = Math.fround(0.13083284);
    expect(softmaxParams(1, 0.13083284)).toEqual({ inputMultiplier: Math.round(s * 2 ** 33), inputLeftShift: 24, diffMin: -124 });
    // input scale 0.5, beta 1: real = 2^25 = 0.5 * 2^26: multiplier 2^30, left shift 26;
    // radius = floor(31 * 2^26 / 2^26) = 31.
    expect(softmaxParams(1, 0.5)).toEqual({ inputMultiplier: P30, inputLeftShift: 26, diffMin: -31 });
    // input scale 64: 2^32 > 2^31 - 1 -> clamped to 2^31 - 1 = (1 - 2^-31) * 2^31: multiplier
    // 2^31 - 1, left shift 31; radius floor(31 * 2^26 / 2^31) = floor(0.96875) = 0.
    expect(softmaxParams(1, 64)).toEqual({ inputMultiplier: INT32_MAX, inputLeftShift: 31, diffMin: 0 });
  });

  it('round half away from zero vs half to even', () => {
    expect([2.5, -2.5, 0.5, -0.5, 1.4999].map(roundHalfAwayFromZero)).toEqual([3, -3, 1, -1, 1]);
    expect([2.5, -2.5, 0.5, -0.5, 3.5, -3.5, 1.6].map(roundHalfToEven)).toEqual([2, -2, 0, -0, 4, -4, 2]);
  });
});

describe('gemmlowp fixed point: exp and 1 / (1 + x)', () => {
  it('exp_on_negative_values: exp(0) is One(), far below -32 is 0', () => {
    // exp(0) is gemmlowp's One() of Q0.31: INT32_MAX (1.0 is not representable).
    expect(expOnNegativeValues(0, 5)).toBe(INT32_MAX);
    // The most negative Q5.26 value, about -32: every barrel-shifter bit multiplies in, down to
    // exp(-16) = 242 / 2^31; the product underflows Q0.31 to 0.
    expect(expOnNegativeValues(-(2 ** 31) + 1, 5)).toBe(0);
  });

  it('exp_on_negative_values against Math.exp within 2^-22 over the Q5.26 range (the polynomial error is about 1.2e-7)', () => {
    let worst = 0;
    for (let v = 0; v >= -31.9; v -= 0.037) {
      const raw = Math.round(v * 2 ** 26);
      worst = Math.max(worst, Math.abs(expOnNegativeValues(raw, 5) / 2 ** 31 - Math.exp(raw / 2 ** 26)));
    }
    expect(worst).toBeLessThan(2 ** -22);
  });

  it('one_over_one_plus_x and GetReciprocal', () => {
    // x = 0.5 (2^30): 1 / 1.5 = 0.6667 in Q0.31 within a few units.
    expect(Math.abs(oneOverOnePlusXForXIn01(P30) - Math.round(P31 / 1.5))).toBeLessThan(4);
    // GetReciprocal of 3.0 in Q12.19 (3 * 2^19): clz(3 * 2^19) = 11 -> num_bits_over_unit = 12 - 11 = 1;
    // shifted = (3 * 2^19 << 11) - 2^31 = 3 * 2^30 - 2^31 = 2^30 (0.5): 1 / 1.5 -> the result
    // means 1/3 = (2/3) * 2^-1.
    const r = getReciprocal(3 * 2 ** 19, 12);
    expect(r.numBitsOverUnit).toBe(1);
    expect(Math.abs(r.reciprocal - Math.round(P31 / 1.5))).toBeLessThan(4);
  });
});

// ---------------------------------------------------------------------------------------------
// Against BigInt transcriptions of the C code (int64 arithmetic, C's truncating division).

const big = BigInt;
const cdiv = (a: bigint, b: bigint) => a / b; // BigInt division truncates toward zero, as C's
function srdhmBig(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const ab = big(a) * big(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number(cdiv(ab + nudge, 1n << 31n));
}
function rdbpotBig(x: number, e: number): number {
  // round(x / 2^e), ties away from zero, in exact rationals.
  const num = big(x);
  const den = 1n << big(e);
  const q = cdiv(num, den);
  const r = num - q * den; // same sign as num
  const twice = 2n * (r < 0n ? -r : r);
  return Number(twice >= den && den > 1n ? q + (num < 0n ? -1n : 1n) : q);
}
const int32 = fc.integer({ min: INT32_MIN, max: INT32_MAX });

describe('exact against BigInt (fast-check)', () => {
  it('SaturatingRoundingDoublingHighMul on random and extreme int32 pairs', () => {
    const edge = fc.constantFrom(INT32_MIN, INT32_MIN + 1, -1, 0, 1, P30, -P30, INT32_MAX, 65535, 65536, -65536);
    fc.assert(fc.property(fc.oneof(int32, edge), fc.oneof(int32, edge), (a, b) => srdhm(a, b) === srdhmBig(a, b)), { numRuns: 20000 });
  });

  it('RoundingDivideByPOT on random int32 values and every exponent', () => {
    fc.assert(fc.property(int32, fc.integer({ min: 0, max: 31 }), (x, e) => roundingDivideByPOT(x, e) === rdbpotBig(x, e)), { numRuns: 20000 });
  });

  it('MultiplyByQuantizedMultiplier = RDBPOT(SRDHM(x, m), -shift) for realistic multipliers', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 24), max: 2 ** 24 }), fc.integer({ min: P30, max: INT32_MAX }), fc.integer({ min: -31, max: 0 }), (x, m, shift) =>
        multiplyByQuantizedMultiplier(x, m, shift) === rdbpotBig(srdhmBig(x, m), -shift)),
      { numRuns: 20000 },
    );
  });

  it('QuantizeMultiplier reproduces the multiplier to 2^-31 relative', () => {
    fc.assert(
      fc.property(fc.double({ min: 2 ** -30, max: 2 ** 20, noNaN: true }), (m) => {
        const { multiplier, shift } = quantizeMultiplier(m);
        return multiplier >= P30 && multiplier <= INT32_MAX && Math.abs(multiplier * 2 ** (shift - 31) - m) <= m * 2 ** -31;
      }),
      { numRuns: 5000 },
    );
  });
});
