/**
 * TFLite's reference integer kernels for the ops of a quantized MobileNet v1, in plain
 * TypeScript over NHWC integer arrays. Each function names the reference kernel it follows;
 * the integer results are exactly TFLite's (reference kernels, default build).
 *
 *   conv2d            reference/conv.h `Conv` (uint8) and reference/integer_ops/conv.h
 *                     `ConvPerChannel` (int8)
 *   depthwiseConv2d   reference/depthwiseconv_uint8.h `DepthwiseConv` (uint8, kUpward rounding =
 *                     MultiplyByQuantizedMultiplier in the default build) and
 *                     reference/integer_ops/depthwise_conv.h `DepthwiseConvPerChannel` (int8)
 *   fullyConnected    reference/fully_connected.h `FullyConnected` (uint8) and
 *                     reference/integer_ops/fully_connected.h (int8, per-tensor or per-channel)
 *   averagePool2d     reference/pooling.h `AveragePool` (uint8: (sum + count/2) / count) and
 *                     reference/integer_ops/pooling.h `AveragePool` (int8: the same for a positive
 *                     sum, (sum - count/2) / count otherwise, C division truncating toward zero)
 *   softmax           reference/softmax.h `Softmax<InputT, OutputT>` (uint8 and int8, gemmlowp
 *                     fixed point, output scale 1/256)
 *   quantize          reference/quantize.h `AffineQuantize` (float -> int)
 *   dequantize        reference/dequantize.h `Dequantize` (int -> float)
 *
 * The integer accumulation of every convolution (the contract the SIMD kernels follow):
 *
 *   acc = 0
 *   for ky, kx (taps outside the input are skipped: zero padding in the real domain),
 *     for ic:  acc += (x[iy][ix][ic] + input_offset) * (w[oc][ky][kx][ic] + filter_offset)
 *   acc += bias[oc]                                  (int32, wraps like C's int32)
 *   acc  = MultiplyByQuantizedMultiplier(acc, multiplier[oc], shift[oc])
 *   acc += output_offset;  out = clamp(acc, act_min, act_max)
 *
 * with input_offset = -input_zero_point, filter_offset = -filter_zero_point (uint8; 0 for int8,
 * whose weights are symmetric) and output_offset = output_zero_point. The order of the
 * additions does not change the integer result: every (x + io)(w + fo) is below 2^16 in
 * magnitude and a sum of at most 2^16 of them stays far below 2^53, so the double sum is exact,
 * and `| 0` after adding the bias gives C's int32 wrap-around (additions modulo 2^32 commute).
 * Depthwise: the same with ic = oc (depth multiplier 1) and the filter [1, kh, kw, C].
 *
 * For vector kernels: a skipped tap contributes exactly what a tap reading the input zero point
 * would ((zp + input_offset) * w' = 0), so padding the input with its zero point gives the same
 * integers; then acc = sum(x * w') + input_offset * sum(w') over the full window (w' = w +
 * filter_offset, sum(w') precomputed per output channel). Both x + input_offset and w' lie in
 * [-255, 255], so i16 lanes hold them and i32x4.dot_i16x8_s pairs (at most 2 * 65025) are exact.
 */
import {
  DTYPE_RANGE,
  SOFTMAX_ACCUMULATION_INTEGER_BITS,
  SOFTMAX_SCALED_DIFF_INTEGER_BITS,
  expOnNegativeValues,
  getReciprocal,
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierGreaterThanOne,
  multiplyByQuantizedMultiplierSingleRounding,
  rescale,
  roundHalfAwayFromZero,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
  type IntDType,
  type SoftmaxParams,
} from './fixedpoint.js';

export type IntArray = Uint8Array | Int8Array;

/** A new array of `dtype` with `length` elements. */
export function allocate(dtype: IntDType, length: number): IntArray {
  return dtype === 'uint8' ? new Uint8Array(length) : new Int8Array(length);
}

/**
 * How a convolution's int32 accumulator becomes an 8-bit value:
 * - 'reference': TFLite's reference kernels (and its builtin uint8 CONV_2D through gemmlowp's
 *   output pipeline, and its builtin DEPTHWISE_CONV_2D): MultiplyByQuantizedMultiplier, two
 *   roundings (SaturatingRoundingDoublingHighMul to 31 bits, then RoundingDivideByPOT);
 * - 'single-rounding': TFLite built with TFLITE_SINGLE_ROUNDING, and ruy, which TFLite's builtin
 *   int8 CONV_2D uses: (acc * m + 2^(30 - shift)) >> (31 - shift) in int64, one rounding,
 *   halves up (BigInt here, so slower);
 * - 'xnnpack-fp32': the XNNPACK delegate TFLite applies by default (QU8/QS8/QC8 "fp32"
 *   requantization): round-half-to-even(float32(float32(acc) * scale)) with scale =
 *   float32(float32(input_scale * filter_scale) / output_scale), one rounding. It differs from
 *   'reference' by one level where the double rounding of the reference lands on the other
 *   side of a half (e.g. real 157.4985 with an 8-bit right shift: 157.5 after the first
 *   rounding, 158 after the second; XNNPACK gives 157), and at exact ties of odd values.
 */
export type RequantizationMode = 'reference' | 'single-rounding' | 'xnnpack-fp32';

/**
 * The uint8/int8 SOFTMAX:
 * - 'reference': reference/softmax.h, gemmlowp fixed point (the default here);
 * - 'lut': the optimized kernel TFLite registers by default (optimized_ops.h `Softmax` with
 *   `PopulateSoftmaxLookupTable`): a 256-entry float32 table of expf(-input_scale * beta * d),
 *   a float32 sum, prob = table * (1 / (sum * output_scale)), then (int)(prob + 0.5f) for uint8
 *   (the non-aarch64 `QuantizeSoftmaxOutput`) or round(prob) - 128 for int8. It differs from
 *   'reference' by a level where the two approximations straddle a rounding boundary (rare:
 *   none of the 24 shared photo x model rows, about 1 row in several thousand random 10-class
 *   rows). expf is Math.fround(Math.exp(x)) here, the correctly rounded float; libm expf can
 *   differ in the last bit, which can only move a value sitting exactly at a boundary.
 */
export type SoftmaxMode = 'reference' | 'lut';

/** Requantization of a convolution's int32 accumulators (see the module comment). */
export interface Requantization {
  /** QuantizeMultiplier significands, one per output channel (a per-tensor multiplier repeated). */
  readonly multiplier: Int32Array;
  /** QuantizeMultiplier shifts, TFLite's convention (> 0: left), one per output channel. */
  readonly shift: Int32Array;
  readonly inputOffset: number;
  readonly filterOffset: number;
  readonly outputOffset: number;
  readonly actMin: number;
  readonly actMax: number;
  /** XNNPACK's float32 requantization scales, one per output channel ('xnnpack-fp32' only). */
  readonly fp32Scale: Float32Array;
}

export interface ConvGeometry {
  readonly batch: number;
  readonly inH: number;
  readonly inW: number;
  readonly inC: number;
  readonly outH: number;
  readonly outW: number;
  readonly outC: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly stride: number;
  /** TFLite's padding_values: the padding before (top, left); the padding after is implied by the bounds. */
  readonly padTop: number;
  readonly padLeft: number;
}

/** One accumulator through requantization: MultiplyByQuantizedMultiplier, + output_offset, clamp. */
export function requantize(acc: number, multiplier: number, shift: number, outputOffset: number, actMin: number, actMax: number): number {
  const v = multiplyByQuantizedMultiplier(acc, multiplier, shift) + outputOffset;
  return v < actMin ? actMin : v > actMax ? actMax : v;
}

/** Round half to even (the FPU's default mode, XNNPACK's magic-bias rounding, lrintf). */
export function roundHalfToEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** XNNPACK's fp32 requantization of one accumulator (see RequantizationMode). */
export function requantizeFp32(acc: number, scale: number, outputOffset: number, actMin: number, actMax: number): number {
  const v = roundHalfToEven(Math.fround(Math.fround(acc) * scale)) + outputOffset;
  return v < actMin ? actMin : v > actMax ? actMax : v;
}

/** A channel's requantization as a function of the accumulator, for the mode. */
function requantizer(q: Requantization, mode: RequantizationMode): (acc: number, channel: number) => number {
  const { multiplier, shift, outputOffset, actMin, actMax, fp32Scale } = q;
  if (mode === 'xnnpack-fp32') return (acc, c) => requantizeFp32(acc, fp32Scale[c]!, outputOffset, actMin, actMax);
  if (mode === 'single-rounding') {
    return (acc, c) => {
      const v = multiplyByQuantizedMultiplierSingleRounding(acc, multiplier[c]!, shift[c]!) + outputOffset;
      return v < actMin ? actMin : v > actMax ? actMax : v;
    };
  }
  if (mode !== 'reference') throw new RangeError(`requantization mode ${String(mode)}: expected 'reference', 'single-rounding' or 'xnnpack-fp32'`);
  return (acc, c) => requantize(acc, multiplier[c]!, shift[c]!, outputOffset, actMin, actMax);
}

/** x + input_offset for every element: the input side of the accumulation, once per layer. */
function offsetInput(input: IntArray, offset: number): Int32Array {
  const out = new Int32Array(input.length);
  for (let i = 0; i < input.length; i++) out[i] = input[i]! + offset;
  return out;
}

/** w + filter_offset for every weight, in the file's layout. */
export function offsetWeights(weights: IntArray, offset: number): Int32Array {
  const out = new Int32Array(weights.length);
  for (let i = 0; i < weights.length; i++) out[i] = weights[i]! + offset;
  return out;
}

/**
 * CONV_2D: input NHWC, filter OHWI [outC, kh, kw, inC] already offset by filter_offset
 * (`offsetWeights`), bias int32 [outC]; output NHWC in `out`.
 */
export function conv2d(g: ConvGeometry, input: IntArray, filterOffset: Int32Array, bias: Int32Array, q: Requantization, out: IntArray, mode: RequantizationMode = 'reference'): void {
  const x = offsetInput(input, q.inputOffset);
  const { inH, inW, inC, outH, outW, outC, kernelH, kernelW, stride, padTop, padLeft } = g;
  const pointwise = kernelH === 1 && kernelW === 1 && stride === 1 && padTop === 0 && padLeft === 0;
  const rq = requantizer(q, mode);
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const o = ((b * outH + oy) * outW + ox) * outC;
        if (pointwise) {
          const xi = ((b * inH + oy) * inW + ox) * inC;
          for (let oc = 0; oc < outC; oc++) {
            let acc = 0;
            const wi = oc * inC;
            for (let ic = 0; ic < inC; ic++) acc += x[xi + ic]! * filterOffset[wi + ic]!;
            out[o + oc] = rq((acc + bias[oc]!) | 0, oc);
          }
          continue;
        }
        const iy0 = oy * stride - padTop;
        const ix0 = ox * stride - padLeft;
        for (let oc = 0; oc < outC; oc++) {
          let acc = 0;
          for (let ky = 0; ky < kernelH; ky++) {
            const iy = iy0 + ky;
            if (iy < 0 || iy >= inH) continue;
            for (let kx = 0; kx < kernelW; kx++) {
              const ix = ix0 + kx;
              if (ix < 0 || ix >= inW) continue;
              const xi = ((b * inH + iy) * inW + ix) * inC;
              const wi = ((oc * kernelH + ky) * kernelW + kx) * inC;
              for (let ic = 0; ic < inC; ic++) acc += x[xi + ic]! * filterOffset[wi + ic]!;
            }
          }
          out[o + oc] = rq((acc + bias[oc]!) | 0, oc);
        }
      }
    }
  }
}

/**
 * DEPTHWISE_CONV_2D with depth multiplier 1: input NHWC, filter [1, kh, kw, C] already offset,
 * bias int32 [C]; g.inC === g.outC.
 */
export function depthwiseConv2d(g: ConvGeometry, input: IntArray, filterOffset: Int32Array, bias: Int32Array, q: Requantization, out: IntArray, mode: RequantizationMode = 'reference'): void {
  if (g.inC !== g.outC) throw new RangeError(`depthwiseConv2d: ${g.inC} input channels, ${g.outC} output channels (depth multiplier 1 only)`);
  const x = offsetInput(input, q.inputOffset);
  const { inH, inW, outH, outW, outC: C, kernelH, kernelW, stride, padTop, padLeft } = g;
  const rq = requantizer(q, mode);
  const acc = new Float64Array(C);
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        acc.fill(0);
        const iy0 = oy * stride - padTop;
        const ix0 = ox * stride - padLeft;
        for (let ky = 0; ky < kernelH; ky++) {
          const iy = iy0 + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernelW; kx++) {
            const ix = ix0 + kx;
            if (ix < 0 || ix >= inW) continue;
            const xi = ((b * inH + iy) * inW + ix) * C;
            const wi = (ky * kernelW + kx) * C;
            for (let c = 0; c < C; c++) acc[c] += x[xi + c]! * filterOffset[wi + c]!;
          }
        }
        const o = ((b * outH + oy) * outW + ox) * C;
        for (let c = 0; c < C; c++) out[o + c] = rq((acc[c]! + bias[c]!) | 0, c);
      }
    }
  }
}

/**
 * FULLY_CONNECTED: input [batch, inC], filter [outC, inC] already offset, bias int32 [outC]:
 * acc = sum_d (x[b][d] + input_offset) * (w[oc][d] + filter_offset) + bias[oc], then as a convolution.
 */
export function fullyConnected(batch: number, inC: number, outC: number, input: IntArray, filterOffset: Int32Array, bias: Int32Array, q: Requantization, out: IntArray, mode: RequantizationMode = 'reference'): void {
  conv2d({ batch, inH: 1, inW: 1, inC, outH: 1, outW: 1, outC, kernelH: 1, kernelW: 1, stride: 1, padTop: 0, padLeft: 0 }, input, filterOffset, bias, q, out, mode);
}

export interface PoolGeometry {
  readonly batch: number;
  readonly inH: number;
  readonly inW: number;
  readonly C: number;
  readonly outH: number;
  readonly outW: number;
  readonly filterH: number;
  readonly filterW: number;
  readonly stride: number;
  readonly padTop: number;
  readonly padLeft: number;
}

/**
 * AVERAGE_POOL_2D, no requantization (input and output share scale and zero point), the window
 * clamped to the input: uint8 `(sum + count / 2) / count`; int8 `sum > 0 ? (sum + count / 2) /
 * count : (sum - count / 2) / count` with C's truncating division (so -2.5 rounds to -3: ties
 * away from zero on both sides, where the uint8 formula applied to a negative sum would not).
 */
export function averagePool2d(g: PoolGeometry, dtype: IntDType, input: IntArray, actMin: number, actMax: number, out: IntArray): void {
  const { inH, inW, C, outH, outW, filterH, filterW, stride, padTop, padLeft } = g;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const iy0 = oy * stride - padTop;
        const ix0 = ox * stride - padLeft;
        const y0 = Math.max(0, -iy0);
        const y1 = Math.min(filterH, inH - iy0);
        const x0 = Math.max(0, -ix0);
        const x1 = Math.min(filterW, inW - ix0);
        const count = Math.max(0, y1 - y0) * Math.max(0, x1 - x0);
        if (count === 0) throw new RangeError('averagePool2d: a window with no input (TFLite returns an error)');
        const half = Math.trunc(count / 2);
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let fy = y0; fy < y1; fy++) {
            for (let fx = x0; fx < x1; fx++) sum += input[((b * inH + iy0 + fy) * inW + ix0 + fx) * C + c]!;
          }
          const avg = dtype === 'uint8' || sum > 0 ? Math.trunc((sum + half) / count) : Math.trunc((sum - half) / count);
          out[((b * outH + oy) * outW + ox) * C + c] = avg < actMin ? actMin : avg > actMax ? actMax : avg;
        }
      }
    }
  }
}

/**
 * SOFTMAX over the last axis (rows of `depth`), reference/softmax.h `Softmax<InputT, OutputT>`
 * with InputT = OutputT = dtype, output scale 1/256 and zero point 0 (uint8) or -128 (int8):
 *
 *   max = the row's largest input
 *   for each c with diff = x[c] - max >= diff_min:
 *     e[c] = exp_on_negative_values(Q5.26 raw MultiplyByQuantizedMultiplierGreaterThanOne(diff,
 *            input_multiplier, input_left_shift))                      (Q0.31)
 *     sum += Rescale<12>(e[c])                                          (Q12.19)
 *   shifted_scale, num_bits_over_unit = GetReciprocal(sum, 12)
 *   out[c] = clamp(RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(shifted_scale, e[c]),
 *                  num_bits_over_unit + 31 - 8) + qmin, qmin, qmax)
 *   (qmin for entries below diff_min)
 * The reference aborts (TFLITE_CHECK) when num_bits_over_unit + 23 > 31; this returns qmin for
 * the whole row there (see the comment in the loop).
 */
export function softmax(rows: number, depth: number, dtype: IntDType, input: IntArray, p: SoftmaxParams, out: IntArray): void {
  const [qmin, qmax] = DTYPE_RANGE[dtype];
  const exps = new Int32Array(depth);
  for (let r = 0; r < rows; r++) {
    const base = r * depth;
    let max = qmin;
    for (let c = 0; c < depth; c++) max = Math.max(max, input[base + c]!);
    let sum = 0;
    for (let c = 0; c < depth; c++) {
      const diff = input[base + c]! - max;
      if (diff >= p.diffMin) {
        const scaled = multiplyByQuantizedMultiplierGreaterThanOne(diff, p.inputMultiplier, p.inputLeftShift);
        const e = expOnNegativeValues(scaled, SOFTMAX_SCALED_DIFF_INTEGER_BITS);
        exps[c] = e;
        sum = (sum + rescale(e, 0, SOFTMAX_ACCUMULATION_INTEGER_BITS)) | 0;
      }
    }
    const { reciprocal, numBitsOverUnit } = getReciprocal(sum, SOFTMAX_ACCUMULATION_INTEGER_BITS);
    const exponent = numBitsOverUnit + 31 - 8;
    for (let c = 0; c < depth; c++) {
      const diff = input[base + c]! - max;
      // exponent > 31 (a sum of exps of 512 or more times the largest: 512+ entries within a few
      // levels of the row's maximum) fails the reference's TFLITE_CHECK(exponent <= 31); every
      // probability is then at most 1/512, under half a level: we continue with the limit of
      // RoundingDivideByPOT (x / 2^exponent < 1/2 rounds to 0), i.e. qmin, where TFLite aborts.
      if (diff >= p.diffMin && exponent <= 31) {
        const v = roundingDivideByPOT(saturatingRoundingDoublingHighMul(reciprocal, exps[c]!), exponent) + qmin;
        out[base + c] = v < qmin ? qmin : v > qmax ? qmax : v;
      } else {
        out[base + c] = qmin;
      }
    }
  }
}

/**
 * SOFTMAX as TFLite's default optimized kernel computes it (SoftmaxMode 'lut'): see SoftmaxMode.
 * `inputScale` and `beta` are the float32 values from the file.
 */
export function softmaxLut(rows: number, depth: number, dtype: IntDType, input: IntArray, inputScale: number, beta: number, out: IntArray): void {
  const fround = Math.fround;
  const table = new Float32Array(256);
  const s = fround(-fround(inputScale) * fround(beta));
  for (let v = 0; v <= 255; v++) table[255 - v] = fround(Math.exp(fround(s * v)));
  const [qmin, qmax] = DTYPE_RANGE[dtype];
  const invScale = 256; // 1 / output scale (1/256), exact
  for (let r = 0; r < rows; r++) {
    const base = r * depth;
    let max = qmin;
    for (let c = 0; c < depth; c++) max = Math.max(max, input[base + c]!);
    const offset = 255 - max;
    let sum = 0;
    for (let c = 0; c < depth; c++) sum = fround(sum + table[offset + input[base + c]!]!);
    const inv = fround(1 / fround(sum / invScale)); // 1.0f / (sum_exp * params.scale), scale = 2^-8 exactly
    for (let c = 0; c < depth; c++) {
      const p = fround(table[offset + input[base + c]!]! * inv);
      const q = dtype === 'uint8' ? Math.trunc(fround(p + 0.5)) : roundHalfAwayFromZero(p) + qmin;
      out[base + c] = q < qmin ? qmin : q > qmax ? qmax : q;
    }
  }
}

/**
 * QUANTIZE (float32 -> int), reference/quantize.h `AffineQuantize`:
 * clamp((int32) TfLiteRound(value / scale) + zero_point), the division in float32.
 */
export function quantize(values: Float32Array, dtype: IntDType, scale: number, zeroPoint: number): IntArray {
  const [qmin, qmax] = DTYPE_RANGE[dtype];
  const s = Math.fround(scale);
  const out = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    const q = roundHalfAwayFromZero(Math.fround(values[i]! / s)) + zeroPoint;
    out[i] = q < qmin ? qmin : q > qmax ? qmax : q;
  }
  return out;
}

/** DEQUANTIZE (int -> float32), reference/dequantize.h: `static_cast<float>(double(scale) * (q - zero_point))`. */
export function dequantize(values: IntArray, scale: number, zeroPoint: number): Float32Array {
  const s = Math.fround(scale);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = s * (values[i]! - zeroPoint);
  return out;
}
