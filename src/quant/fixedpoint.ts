/**
 * TFLite's integer arithmetic, bit for bit, in plain JavaScript numbers: the requantization
 * helpers, gemmlowp's fixed-point `exp` and reciprocal, and the parameter set-up the kernels'
 * Prepare functions do. Every function names the TFLite / gemmlowp function it follows.
 *
 * Sources (read from tensorflow/tensorflow and tensorflow/tflite-micro, which carries the same
 * files, and google/gemmlowp):
 *   tensorflow/lite/kernels/internal/quantization_util.cc  QuantizeMultiplier, PreprocessSoftmaxScaling,
 *                                                          CalculateInputRadius
 *   tensorflow/lite/kernels/internal/common.h / common.cc  MultiplyByQuantizedMultiplier (the default,
 *                                                          double-rounding build: TFLITE_SINGLE_ROUNDING
 *                                                          off), MultiplyByQuantizedMultiplierGreaterThanOne,
 *                                                          GetReciprocal, CountLeadingZeros
 *   tensorflow/lite/kernels/kernel_util.cc                 CalculateActivationRangeQuantized(Impl),
 *                                                          PopulateConvolutionQuantizationParams,
 *                                                          GetQuantizedConvolutionMultipler
 *   gemmlowp fixedpoint/fixedpoint.h                       SaturatingRoundingDoublingHighMul,
 *                                                          RoundingDivideByPOT, SaturatingRoundingMultiplyByPOT,
 *                                                          RoundingHalfSum, exp_on_negative_values,
 *                                                          exp_on_interval_between_negative_one_quarter_and_0_excl,
 *                                                          one_over_one_plus_x_for_x_in_0_1
 *
 * No number silently loses bits. int32 values are JavaScript numbers holding int32 values;
 * the only product that can exceed 2^53 is SaturatingRoundingDoublingHighMul's int32 x int32,
 * computed exactly by splitting both factors into 16-bit halves (every partial product and
 * partial sum stays below 2^49). C's int32 wrap-around where TFLite relies on it (`x * (1 <<
 * left_shift)`, additions in gemmlowp's int32 fixed point) is Math.imul / `| 0`, which is what
 * two's-complement targets (wasm's i32.mul, x86, ARM) do.
 */

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
const TWO_31 = 2147483648;

/**
 * gemmlowp `SaturatingRoundingDoublingHighMul(int32 a, int32 b)` (ARM's VQRDMULH): ab / 2^31
 * rounded to nearest, computed as `(ab + (ab >= 0 ? 2^30 : 1 - 2^30)) / 2^31` truncated toward
 * zero, so halves go up on both sides (0.5 -> 1, -0.5 -> 0, -1.5 -> -1); INT32_MIN * INT32_MIN
 * (2^31, not an int32) saturates to INT32_MAX.
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  // a = ah * 2^16 + al with al in [0, 2^16) (ah signed); likewise b. Then
  // ab = H * 2^32 + M * 2^16 + L, each term exact in a double.
  const ah = a >> 16;
  const al = a & 0xffff;
  const bh = b >> 16;
  const bl = b & 0xffff;
  const H = ah * bh; // |H| <= 2^30
  const M = ah * bl + al * bh; // |M| < 2^32
  const L = al * bl; // < 2^32
  const nonNegative = a === 0 || b === 0 || (a < 0) === (b < 0);
  const nudge = nonNegative ? 1 << 30 : 1 - (1 << 30);
  // ab + nudge = 2H * 2^31 + R, |R| < 2^49: exact.
  const R = M * 65536 + L + nudge;
  const q = Math.floor(R / TWO_31);
  const floorDiv = 2 * H + q; // floor((ab + nudge) / 2^31)
  // C's division truncates toward zero: for a negative dividend, floor + 1 unless exact.
  if (nonNegative || R - q * TWO_31 === 0) return floorDiv;
  return floorDiv + 1;
}

/**
 * gemmlowp `RoundingDivideByPOT(int32 x, int exponent)`: x / 2^exponent rounded to nearest,
 * ties away from zero (the threshold is one higher for negative x), exponent in [0, 31].
 */
export function roundingDivideByPOT(x: number, exponent: number): number {
  if (!(exponent >= 0 && exponent <= 31 && Number.isInteger(exponent))) throw new RangeError(`RoundingDivideByPOT: exponent ${exponent} outside [0, 31]`);
  const mask = exponent === 31 ? 0x7fffffff : (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * tensorflow/lite/kernels/internal/common.cc `MultiplyByQuantizedMultiplier(int32 x, int32
 * quantized_multiplier, int shift)`, the default (double-rounding) build:
 * `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * (1 << left_shift), m), right_shift)`
 * with left_shift = max(shift, 0), right_shift = max(-shift, 0). `x * (1 << left_shift)` wraps
 * as int32 (Math.imul). shift must lie in [-31, 30] (QuantizeMultiplier's range for any sane
 * scale; the model reader refuses others).
 */
export function multiplyByQuantizedMultiplier(x: number, quantizedMultiplier: number, shift: number): number {
  if (!(shift >= -31 && shift <= 30)) throw new RangeError(`MultiplyByQuantizedMultiplier: shift ${shift} outside [-31, 30]`);
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  const shifted = left === 0 ? x : Math.imul(x, 1 << left);
  return roundingDivideByPOT(saturatingRoundingDoublingHighMul(shifted, quantizedMultiplier), right);
}

/**
 * common.cc `MultiplyByQuantizedMultiplier` as built with TFLITE_SINGLE_ROUNDING, and ruy's
 * (the GEMM behind TFLite's builtin int8 CONV_2D): one rounding,
 * `(x * m + (1 << (total_shift - 1))) >> total_shift` with total_shift = 31 - shift in int64
 * (halves go up), clamped to int32. Exact in BigInt (the product needs 62 bits).
 */
export function multiplyByQuantizedMultiplierSingleRounding(x: number, quantizedMultiplier: number, shift: number): number {
  if (!(shift >= -31 && shift <= 30)) throw new RangeError(`MultiplyByQuantizedMultiplier (single rounding): shift ${shift} outside [-31, 30]`);
  const total = BigInt(31 - shift);
  const r = Number((BigInt(x) * BigInt(quantizedMultiplier) + (1n << (total - 1n))) >> total);
  return r < INT32_MIN ? INT32_MIN : r > INT32_MAX ? INT32_MAX : r;
}

/**
 * common.h `MultiplyByQuantizedMultiplierGreaterThanOne(x, m, left_shift)` (double rounding):
 * `SaturatingRoundingDoublingHighMul(x * (1 << left_shift), m)`, used by the softmax.
 */
export function multiplyByQuantizedMultiplierGreaterThanOne(x: number, quantizedMultiplier: number, leftShift: number): number {
  // 31 happens for a softmax input scale above 32 (the multiplier clamped to 2^31 - 1); only
  // x = 0 is then multiplied (diff_min is 0), and `0 * (1 << 31)` is 0 as in C.
  if (!(leftShift >= 0 && leftShift <= 31)) throw new RangeError(`MultiplyByQuantizedMultiplierGreaterThanOne: left shift ${leftShift} outside [0, 31]`);
  return saturatingRoundingDoublingHighMul(Math.imul(x, 1 << leftShift), quantizedMultiplier);
}

/** C's `std::frexp`: [q, e] with d = q * 2^e, |q| in [0.5, 1); [d, 0] for 0, NaN and infinities. Exact. */
export function frexp(d: number): [number, number] {
  if (d === 0 || !Number.isFinite(d)) return [d, 0];
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, d);
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  if (biased === 0) {
    // Subnormal: scale into the normal range first (exact).
    const [q, e] = frexp(d * 2 ** 64);
    return [q, e - 64];
  }
  // Same sign and mantissa, exponent field 1022: a value in [0.5, 1).
  view.setUint32(0, (hi & 0x800fffff) | (1022 << 20));
  return [view.getFloat64(0), biased - 1022];
}

/** tensorflow/lite/kernels/internal/cppmath.h `TfLiteRound` = std::round: halves away from zero. */
export function roundHalfAwayFromZero(v: number): number {
  return v >= 0 ? Math.round(v) : -Math.round(-v);
}

export interface QuantizedMultiplier {
  /** The int32 significand, q * 2^31 rounded, in [2^30, 2^31) for positive multipliers (0 for 0). */
  readonly multiplier: number;
  /** The power of two: real = multiplier * 2^(shift - 31). Positive means a left shift (TFLite's convention). */
  readonly shift: number;
}

/**
 * quantization_util.cc `QuantizeMultiplier(double, int32* quantized_multiplier, int* shift)`
 * (the default build: neither TFLITE_EMULATE_FLOAT nor TFLITE_SINGLE_ROUNDING):
 *   q, shift = frexp(m); q_fixed = TfLiteRound(q * 2^31);
 *   q_fixed == 2^31 (q rounded up to 1): q_fixed = 2^30, ++shift;
 *   shift < -31 (|m| below about 2^-32): flushed to q_fixed = 0, shift = 0.
 */
export function quantizeMultiplier(realMultiplier: number): QuantizedMultiplier {
  if (!Number.isFinite(realMultiplier)) throw new RangeError(`QuantizeMultiplier: ${realMultiplier} is not finite`);
  if (realMultiplier === 0) return { multiplier: 0, shift: 0 };
  const [q, e] = frexp(realMultiplier);
  let shift = e;
  let qFixed = roundHalfAwayFromZero(q * TWO_31); // q * 2^31 is exact
  if (qFixed === TWO_31) {
    qFixed /= 2;
    shift++;
  }
  if (shift < -31) {
    shift = 0;
    qFixed = 0;
  }
  return { multiplier: qFixed, shift };
}

/** quantization_util.cc `QuantizeMultiplierGreaterThanOne`: QuantizeMultiplier of a multiplier > 1 (left shift >= 0). */
export function quantizeMultiplierGreaterThanOne(realMultiplier: number): { multiplier: number; leftShift: number } {
  if (!(realMultiplier > 1)) throw new RangeError(`QuantizeMultiplierGreaterThanOne: ${realMultiplier} is not > 1`);
  const { multiplier, shift } = quantizeMultiplier(realMultiplier);
  return { multiplier, leftShift: shift };
}

export type IntDType = 'uint8' | 'int8';
export type FusedActivation = 'none' | 'relu' | 'relu6';

export const DTYPE_RANGE: Record<IntDType, readonly [number, number]> = { uint8: [0, 255], int8: [-128, 127] };

/**
 * kernel_util.cc `CalculateActivationRangeQuantized` / `CalculateActivationRangeQuantizedImpl`:
 * quantize(f) = zero_point + (int32) TfLiteRound(f / scale), with f / scale in float32 (both are
 * floats in C++); ReLU: [max(qmin, quantize(0)), qmax]; ReLU6: [max(qmin, quantize(0)),
 * min(qmax, quantize(6))]; none: [qmin, qmax].
 */
export function calculateActivationRangeQuantized(activation: FusedActivation, dtype: IntDType, scale: number, zeroPoint: number): [number, number] {
  const [qmin, qmax] = DTYPE_RANGE[dtype];
  const s = Math.fround(scale);
  const quantize = (f: number) => zeroPoint + roundHalfAwayFromZero(Math.fround(f / s));
  switch (activation) {
    case 'relu':
      return [Math.max(qmin, quantize(0)), qmax];
    case 'relu6':
      return [Math.max(qmin, quantize(0)), Math.min(qmax, quantize(6))];
    default:
      return [qmin, qmax];
  }
}

/**
 * The real multiplier of a convolution's output, as kernel_util.cc computes it:
 * - per-tensor uint8 (`GetQuantizedConvolutionMultipler`, the scalar `output_multiplier` the
 *   uint8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED kernels use):
 *   `static_cast<double>(input_scale * filter_scale) / static_cast<double>(output_scale)`: the
 *   product of the two floats is rounded to float32 first;
 * - int8 (`PopulateConvolutionQuantizationParams`' per-channel loop, used by the int8 CONV_2D
 *   and DEPTHWISE_CONV_2D even for per-tensor weights, broadcast):
 *   `double(input_scale) * double(filter_scale[c]) / double(output_scale)` in double throughout.
 */
export function convolutionMultiplier(inputScale: number, filterScale: number, outputScale: number, scheme: 'per-tensor-float-product' | 'per-channel-double'): number {
  if (scheme === 'per-tensor-float-product') return Math.fround(Math.fround(inputScale) * Math.fround(filterScale)) / Math.fround(outputScale);
  return (Math.fround(inputScale) * Math.fround(filterScale)) / Math.fround(outputScale);
}

// ---------------------------------------------------------------------------------------------
// gemmlowp fixed point (FixedPoint<int32, IntegerBits>: raw int32, 31 - IntegerBits fractional bits)

/** gemmlowp `SaturatingRoundingMultiplyByPOT<exponent>` for exponent > 0: a saturating left shift. */
export function saturatingRoundingMultiplyByPOT(x: number, exponent: number): number {
  if (exponent === 0) return x;
  if (exponent < 0) return roundingDivideByPOT(x, -exponent);
  const threshold = (1 << (31 - exponent)) - 1;
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return x << exponent;
}

/** gemmlowp `Rescale<dstIntegerBits>(FixedPoint<int32, srcIntegerBits>)`. */
export function rescale(raw: number, srcIntegerBits: number, dstIntegerBits: number): number {
  return saturatingRoundingMultiplyByPOT(raw, srcIntegerBits - dstIntegerBits);
}

/** gemmlowp `RoundingHalfSum(int32 a, int32 b)`: (a + b + sign) / 2 in int64, truncated toward zero. */
export function roundingHalfSum(a: number, b: number): number {
  const sum = a + b; // exact: |sum| < 2^32
  const sign = sum >= 0 ? 1 : -1;
  return Math.trunc((sum + sign) / 2);
}

const srdhm = saturatingRoundingDoublingHighMul;

/**
 * gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl(FixedPoint<int32, 0> a)`:
 * a Taylor expansion around -1/8.
 */
export function expOnIntervalBetweenNegativeOneQuarterAnd0Excl(a: number): number {
  const constantTerm = 1895147668; // exp(-1/8) in Q0.31
  const constant1Over3 = 715827883; // 1/3 in Q0.31
  const x = (a + (1 << 28)) | 0; // a + 1/8
  const x2 = srdhm(x, x);
  const x3 = srdhm(x2, x);
  const x4 = srdhm(x2, x2);
  const x4Over4 = saturatingRoundingMultiplyByPOT(x4, -2);
  const x4Over24PlusX3Over6PlusX2Over2 = saturatingRoundingMultiplyByPOT((srdhm((x4Over4 + x3) | 0, constant1Over3) + x2) | 0, -1);
  return (constantTerm + srdhm(constantTerm, (x + x4Over24PlusX3Over6PlusX2Over2) | 0)) | 0;
}

/** The barrel shifter's multipliers of `exp_on_negative_values`: exp(-2^k) in Q0.31, k = -2..4. */
const EXP_BARREL: readonly (readonly [number, number])[] = [
  [-2, 1672461947], // exp(-1/4)
  [-1, 1302514674], // exp(-1/2)
  [0, 790015084], // exp(-1)
  [1, 290630308], // exp(-2)
  [2, 39332535], // exp(-4)
  [3, 720401], // exp(-8)
  [4, 242], // exp(-16)
];

/**
 * gemmlowp `exp_on_negative_values(FixedPoint<int32, integerBits> a)`: exp(a) for a <= 0, as a
 * FixedPoint<int32, 0> raw value (exp(0) = INT32_MAX, gemmlowp's `One()` of Q0.31).
 */
export function expOnNegativeValues(a: number, integerBits: number): number {
  const fractionalBits = 31 - integerBits;
  const oneQuarter = 1 << (fractionalBits - 2);
  const mask = oneQuarter - 1;
  const aModQuarterMinusOneQuarter = ((a & mask) - oneQuarter) | 0;
  let result = expOnIntervalBetweenNegativeOneQuarterAnd0Excl(rescale(aModQuarterMinusOneQuarter, integerBits, 0));
  const remainder = (aModQuarterMinusOneQuarter - a) | 0;
  for (const [exponent, multiplier] of EXP_BARREL) {
    if (integerBits > exponent) {
      const shiftAmount = fractionalBits + exponent;
      if ((remainder & (1 << shiftAmount)) !== 0) result = srdhm(result, multiplier);
    }
  }
  if (integerBits > 5) {
    const clamp = -(1 << (36 - integerBits)); // -32 in this format
    if (a < clamp) result = 0;
  }
  return a === 0 ? INT32_MAX : result;
}

/**
 * gemmlowp `one_over_one_plus_x_for_x_in_0_1(FixedPoint<int32, 0> a)`: 1 / (1 + a) by three
 * Newton-Raphson steps in Q2.29, returned in Q0.31.
 */
export function oneOverOnePlusXForXIn01(a: number): number {
  const halfDenominator = roundingHalfSum(a, INT32_MAX); // (a + 1) / 2, Q0.31
  const constant48Over17 = 1515870810; // Q2.29
  const constantNeg32Over17 = -1010580540; // Q2.29
  const oneQ2 = 1 << 29;
  let x = (constant48Over17 + srdhm(halfDenominator, constantNeg32Over17)) | 0;
  for (let i = 0; i < 3; i++) {
    const halfDenominatorTimesX = srdhm(halfDenominator, x); // Q2.29
    const oneMinusHalfDenominatorTimesX = (oneQ2 - halfDenominatorTimesX) | 0;
    x = (x + rescale(srdhm(x, oneMinusHalfDenominatorTimesX), 4, 2)) | 0; // Q4 product back to Q2
  }
  // ExactMulByPot<-1> (Q2 -> Q1, same raw), then Rescale<0> from Q1.
  return rescale(x, 1, 0);
}

/**
 * common.h `GetReciprocal(int32 x, int x_integer_digits, int* num_bits_over_unit)`: 1 / x for a
 * positive fixed-point x with x_integer_digits integer bits, as a Q0.31 raw value and the
 * power of two it is off by.
 */
export function getReciprocal(x: number, xIntegerDigits: number): { reciprocal: number; numBitsOverUnit: number } {
  const headroomPlusOne = Math.clz32(x);
  const numBitsOverUnit = xIntegerDigits - headroomPlusOne;
  // (uint32(x) << headroom_plus_one) - (1u << 31), as int32
  const shiftedSumMinusOne = ((((x << headroomPlusOne) >>> 0) - TWO_31) | 0);
  return { reciprocal: oneOverOnePlusXForXIn01(shiftedSumMinusOne), numBitsOverUnit };
}

/** The softmax's fixed-point formats (reference/softmax.h): Q5.26 scaled differences, Q12.19 sums. */
export const SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5;
export const SOFTMAX_ACCUMULATION_INTEGER_BITS = 12;

export interface SoftmaxParams {
  readonly inputMultiplier: number;
  readonly inputLeftShift: number;
  /** The most negative input difference (in input levels) that still contributes; below it exp is taken as 0. */
  readonly diffMin: number;
}

/**
 * The uint8/int8 softmax's parameters, as the reference kernel takes them:
 * quantization_util.cc `PreprocessSoftmaxScaling(beta, input_scale, 5)`:
 *   real = min(beta * input_scale * 2^(31 - 5), 2^31 - 1) in double, then
 *   QuantizeMultiplierGreaterThanOne(real) -> input_multiplier, input_left_shift;
 * `CalculateInputRadius(5, input_left_shift, 31)`:
 *   floor((2^5 - 1) * 2^(31 - 5) / 2^input_left_shift) (in double), diff_min = -radius.
 * (activations.cc's SoftmaxPrepare computes these for the reference kernel type; the optimized
 * kernel TFLite registers by default uses a float lookup table instead: see src/quant/index.ts.)
 */
export function softmaxParams(beta: number, inputScale: number): SoftmaxParams {
  const maxRealMultiplier = 2 ** 31 - 1;
  const real = Math.min(Math.fround(beta) * Math.fround(inputScale) * 2 ** (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS), maxRealMultiplier);
  const { multiplier, leftShift } = quantizeMultiplierGreaterThanOne(real);
  const radius = Math.floor((((1 << SOFTMAX_SCALED_DIFF_INTEGER_BITS) - 1) * 2 ** (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS)) / 2 ** leftShift);
  return { inputMultiplier: multiplier, inputLeftShift: leftShift, diffMin: radius === 0 ? 0 : -radius };
}
