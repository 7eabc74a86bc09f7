/**
 * Each integer kernel on tiny cases checked by hand (the arithmetic in the comments), and the
 * softmax against the float formula within its documented tolerance.
 */
import { describe, expect, it } from 'vitest';
import { quantizeMultiplier, softmaxParams } from '../../src/quant/fixedpoint.js';
import {
  averagePool2d,
  conv2d,
  depthwiseConv2d,
  dequantize,
  fullyConnected,
  offsetWeights,
  quantize,
  requantizeFp32,
  softmax,
  softmaxLut,
  type Requantization,
} from '../../src/quant/kernels.js';

function requant(multipliers: number[], o: { inputOffset: number; filterOffset: number; outputOffset: number; actMin: number; actMax: number }): Requantization {
  const q = multipliers.map(quantizeMultiplier);
  return {
    ...o,
    multiplier: Int32Array.from(q.map((m) => m.multiplier)),
    shift: Int32Array.from(q.map((m) => m.shift)),
    fp32Scale: Float32Array.from(multipliers),
  };
}

describe('CONV_2D (reference/conv.h, integer_ops/conv.h)', () => {
  it('a 2x2 uint8 convolution, two output channels', () => {
    // Input 2x2x1, zero point 128: x + input_offset = [130-128, 120-128, 128-128, 140-128] = [2, -8, 0, 12].
    const input = Uint8Array.from([130, 120, 128, 140]);
    // Filter OHWI [2, 2, 2, 1], zero point 15. Channel 0: [10, 20, 30, 0] - 15 = [-5, 5, 15, -15];
    // channel 1: all 15, i.e. all zero after the offset.
    const filter = Uint8Array.from([10, 20, 30, 0, 15, 15, 15, 15]);
    const bias = Int32Array.from([1000, -64]);
    // Channel 0: acc = 2*(-5) + (-8)*5 + 0*15 + 12*(-15) = -10 - 40 + 0 - 180 = -230; + 1000 = 770.
    //   Multiplier 0.0625 = 2^30 * 2^(-3 - 31): 770 * 0.0625 = 48.125 -> 48; + output zero point 3 = 51.
    // Channel 1: acc = -64; -64 * 0.0625 = -4; + 3 = -1 -> clamped to 0.
    const q = requant([0.0625, 0.0625], { inputOffset: -128, filterOffset: -15, outputOffset: 3, actMin: 0, actMax: 255 });
    const out = new Uint8Array(2);
    conv2d({ batch: 1, inH: 2, inW: 2, inC: 1, outH: 1, outW: 1, outC: 2, kernelH: 2, kernelW: 2, stride: 1, padTop: 0, padLeft: 0 }, input, offsetWeights(filter, -15), bias, q, out);
    expect([...out]).toEqual([51, 0]);
  });

  it('an int8 1x1 convolution with per-channel multipliers and a ReLU6 clamp', () => {
    // Two pixels, two input channels, zero point -1 (input_offset 1): x + 1 = [[3, -2], [0, 5]].
    const input = Int8Array.from([2, -3, -1, 4]);
    // Weights [2 out, 1, 1, 2 in], symmetric: [[1, 2], [-3, 1]]; bias [4, 0].
    const filter = Int8Array.from([1, 2, -3, 1]);
    const bias = Int32Array.from([4, 0]);
    // Pixel 0: ch0 = 3*1 + (-2)*2 + 4 = 3; ch1 = 3*(-3) + (-2)*1 = -11.
    // Pixel 1: ch0 = 0 + 5*2 + 4 = 14; ch1 = 0 + 5*1 = 5.
    // Multipliers 0.5 (ch0) and 4 (ch1 = 2^30 * 2^(3 - 31): a left shift of 3... 4 = 0.5 * 2^3).
    // ch0: 3 * 0.5 = 1.5 -> 2 (srdhm(3, 2^30) = 1.5 rounds up), 14 * 0.5 = 7.
    // ch1: -11 * 4 = -44, 5 * 4 = 20. Output zero point -5: [2-5, -44-5, 7-5, 20-5] = [-3, -49, 2, 15];
    // clamp [-5, 40] (ReLU6 at that scale): [-3, -5, 2, 15].
    const q = requant([0.5, 4], { inputOffset: 1, filterOffset: 0, outputOffset: -5, actMin: -5, actMax: 40 });
    const out = new Int8Array(4);
    conv2d({ batch: 1, inH: 1, inW: 2, inC: 2, outH: 1, outW: 2, outC: 2, kernelH: 1, kernelW: 1, stride: 1, padTop: 0, padLeft: 0 }, input, offsetWeights(filter, 0), bias, q, out);
    expect([...out]).toEqual([-3, -5, 2, 15]);
  });

  it('a 3x3 stride-2 convolution skips the taps in the SAME padding', () => {
    // 3x3x1 input of ones (zero point 0), a 3x3 filter of ones (zero point 0), stride 2,
    // TF SAME: out 2x2, total padding max((2-1)*2 + 3 - 3, 0) = 2: 1 before, 1 after.
    // Output (0,0) sees rows -1..1 x cols -1..1: 2x2 = 4 taps inside -> acc 4;
    // (0,1): rows -1..1, cols 1..3: 2x2 = 4; (1,1): rows 1..3, cols 1..3: 4. Multiplier 1/4: all 1.
    const input = new Uint8Array(9).fill(1);
    const filter = new Uint8Array(9).fill(1);
    const out = new Uint8Array(4);
    const q = requant([0.25], { inputOffset: 0, filterOffset: 0, outputOffset: 0, actMin: 0, actMax: 255 });
    conv2d({ batch: 1, inH: 3, inW: 3, inC: 1, outH: 2, outW: 2, outC: 1, kernelH: 3, kernelW: 3, stride: 2, padTop: 1, padLeft: 1 }, input, offsetWeights(filter, 0), new Int32Array(1), q, out);
    expect([...out]).toEqual([1, 1, 1, 1]);
    // Multiplier 1: the accumulators themselves, 4 each (a zero-valued padding would give 4 too,
    // but an input zero point of 1 tells them apart: padded taps must not count as -1).
    const q1 = requant([1], { inputOffset: -1, filterOffset: 0, outputOffset: 10, actMin: 0, actMax: 255 });
    conv2d({ batch: 1, inH: 3, inW: 3, inC: 1, outH: 2, outW: 2, outC: 1, kernelH: 3, kernelW: 3, stride: 2, padTop: 1, padLeft: 1 }, new Uint8Array(9).fill(2), offsetWeights(filter, 0), new Int32Array(1), q1, out);
    // (2 - 1) * 1 over 4 inside taps = 4; + 10 = 14 (a padded tap would have added (0 - 1) * 1 each).
    expect([...out]).toEqual([14, 14, 14, 14]);
  });
});

describe('DEPTHWISE_CONV_2D (reference/depthwiseconv_uint8.h, integer_ops/depthwise_conv.h)', () => {
  it('a 3x3 depthwise with SAME padding, uint8', () => {
    // Input 3x3x1 = 1..9, zero point 5: x + input_offset = [[-4, -3, -2], [-1, 0, 1], [2, 3, 4]].
    const input = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Filter [1, 3, 3, 1], zero point 100: all 101 (1 after the offset) but the centre 102 (2).
    const filter = Uint8Array.from([101, 101, 101, 101, 102, 101, 101, 101, 101]);
    // Stride 1, pad 1. Bias 20, multiplier 0.5, output zero point 10.
    // (0,0): inside taps input (0,0)(0,1)(1,0)(1,1) with filter (1,1)=2,(1,2),(2,1),(2,2):
    //        -4*2 + -3 + -1 + 0 = -12; + 20 = 8; * 0.5 = 4; + 10 = 14.
    // (0,1): input rows 0-1, cols 0-2, filter rows 1-2: -4 + -3*2 + -2 + -1 + 0 + 1 = -12 -> 14.
    // (1,1): all nine: sum of -4..4 = 0, centre 0 * 2 = 0: acc 0; + 20 = 20 -> 10 + 10 = 20.
    // (2,2): input (1,1)(1,2)(2,1)(2,2), filter (0,0)(0,1)(1,0)(1,1)=2: 0 + 1 + 3 + 4*2 = 12; + 20 = 32 -> 16 + 10 = 26.
    const q = requant([0.5], { inputOffset: -5, filterOffset: -100, outputOffset: 10, actMin: 0, actMax: 255 });
    const out = new Uint8Array(9);
    depthwiseConv2d({ batch: 1, inH: 3, inW: 3, inC: 1, outH: 3, outW: 3, outC: 1, kernelH: 3, kernelW: 3, stride: 1, padTop: 1, padLeft: 1 }, input, offsetWeights(filter, -100), Int32Array.from([20]), q, out);
    expect(out[0]).toBe(14);
    expect(out[1]).toBe(14);
    expect(out[4]).toBe(20);
    expect(out[8]).toBe(26);
  });

  it('int8, two channels with their own multipliers, batch 2', () => {
    // One pixel per image, 1x1 filter [1, 1, 1, 2] = [3, -2], zero point 0 both sides.
    // Image 0: x = [10, 7] -> ch0 30 * 0.5 = 15, ch1 -14 * 0.25 = -3.5 -> srdhm(-14, 2^30) = -7
    //   (exact), RoundingDivideByPOT(-7, 1) = -3.5 -> -4 (away from zero).
    // Image 1: x = [-3, -8] -> ch0 -9 * 0.5 = -4.5: srdhm(-9, 2^30) = -4.5 -> -4 (halves up), then
    //   no right shift (0.5 = 2^30 * 2^(0 - 31)): -4; ch1 16 * 0.25 = 4.
    const q = requant([0.5, 0.25], { inputOffset: 0, filterOffset: 0, outputOffset: 0, actMin: -128, actMax: 127 });
    const out = new Int8Array(4);
    depthwiseConv2d({ batch: 2, inH: 1, inW: 1, inC: 2, outH: 1, outW: 1, outC: 2, kernelH: 1, kernelW: 1, stride: 1, padTop: 0, padLeft: 0 }, Int8Array.from([10, 7, -3, -8]), offsetWeights(Int8Array.from([3, -2]), 0), new Int32Array(2), q, out);
    expect([...out]).toEqual([15, -4, -4, 4]);
  });
});

describe('FULLY_CONNECTED (reference/fully_connected.h)', () => {
  it('uint8: sum_d (x + io) * (w + fo) + bias, requantized', () => {
    // x = [130, 126] - 128 = [2, -2]; w rows (zero point 8): [[10, 6], [8, 11]] - 8 = [[2, -2], [0, 3]].
    // out0 = 2*2 + (-2)*(-2) + 0 = 8 -> * 1.5 = 12; out1 = 0 + (-2)*3 + 1 = -5 -> * 1.5 = -7.5 ->
    // srdhm(-5, 0.75 * 2^31) = -3.75 -> -4, then RoundingDivideByPOT(-4, 0)... 1.5 = 0.75 * 2^1: a
    // left shift: -5 * 2 = -10, srdhm(-10, 0.75 * 2^31) = -7.5 -> -7 (halves up). + zp 100.
    const q = requant([1.5, 1.5], { inputOffset: -128, filterOffset: -8, outputOffset: 100, actMin: 0, actMax: 255 });
    const out = new Uint8Array(2);
    fullyConnected(1, 2, 2, Uint8Array.from([130, 126]), offsetWeights(Uint8Array.from([10, 6, 8, 11]), -8), Int32Array.from([0, 1]), q, out);
    expect([...out]).toEqual([112, 93]);
  });
});

describe('AVERAGE_POOL_2D (reference/pooling.h, integer_ops/pooling.h)', () => {
  const g = { batch: 1, inH: 2, inW: 2, C: 4, outH: 1, outW: 1, filterH: 2, filterW: 2, stride: 2, padTop: 0, padLeft: 0 };
  it('uint8: (sum + count / 2) / count', () => {
    // Channel sums over the 4 pixels (count 4, count / 2 = 2): [1,2,2,2] = 7 -> 9 / 4 = 2 (1.75 -> 2);
    // [1,1,0,0] = 2 -> 4 / 4 = 1 (0.5 -> 1); [1,0,0,0] = 1 -> 3 / 4 = 0 (0.25 -> 0); [255 x 4] -> 255.
    const px = [[1, 1, 1, 255], [2, 1, 0, 255], [2, 0, 0, 255], [2, 0, 0, 255]];
    const out = new Uint8Array(4);
    averagePool2d(g, 'uint8', Uint8Array.from(px.flat()), 0, 255, out);
    expect([...out]).toEqual([2, 1, 0, 255]);
  });

  it('int8: the sign decides (sum - count / 2) / count, truncating toward zero', () => {
    // [-1,-1,0,0] = -2 -> (-2 - 2) / 4 = -1 (-0.5 -> -1; the uint8 formula would give 0);
    // [-1,-2,-2,-2] = -7 -> -9 / 4 = -2.25 -> -2 (-1.75 -> -2);
    // [-1,0,0,0] = -1 -> -3 / 4 = -0.75 -> 0 (-0.25 -> 0); [3,3,3,-1] = 8 -> 10 / 4 = 2.
    const px = [[-1, -1, -1, 3], [-1, -2, 0, 3], [0, -2, 0, 3], [0, -2, 0, -1]];
    const out = new Int8Array(4);
    averagePool2d(g, 'int8', Int8Array.from(px.flat()), -128, 127, out);
    expect([...out]).toEqual([-1, -2, 0, 2]);
  });

  it('a window hanging over the edge counts only the pixels inside', () => {
    // 3x3x1 input 1..9, filter 2x2, stride 2, out 2x2 (TF SAME with the padding after):
    // (0,0) = (1+2+4+5 + 2)/4 = 14/4 = 3; (0,1) = pixels 3, 6: (9 + 1)/2 = 5;
    // (1,0) = pixels 7, 8: (15 + 1)/2 = 8; (1,1) = pixel 9 alone: 9.
    const out = new Uint8Array(4);
    averagePool2d({ batch: 1, inH: 3, inW: 3, C: 1, outH: 2, outW: 2, filterH: 2, filterW: 2, stride: 2, padTop: 0, padLeft: 0 }, 'uint8', Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 0, 255, out);
    expect([...out]).toEqual([3, 5, 8, 9]);
  });
});

describe('SOFTMAX (reference/softmax.h): output scale 1/256', () => {
  function floatSoftmax(x: ArrayLike<number>, scale: number, zeroPoint: number): number[] {
    const real = Array.from(x, (q) => Math.fround(scale) * (q - zeroPoint));
    const max = Math.max(...real);
    const e = real.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  it('a few values: [0, 1, 2, 3] (scale 0.1, levels 0..30) -> 256 * p within a level', () => {
    // p = e^[0,1,2,3] / sum = [0.0321, 0.0871, 0.2369, 0.6439]; x 256 = [8.21, 22.3, 60.6, 164.8].
    const x = Uint8Array.from([0, 10, 20, 30]);
    const out = new Uint8Array(4);
    softmax(1, 4, 'uint8', x, softmaxParams(1, 0.1), out);
    expect([...out]).toEqual([8, 22, 61, 165]);
  });

  it('random rows, uint8 and int8: |q - min(255, 256 p)| <= 0.51 level (rounding, plus the fixed point\'s ~1e-6 error)', () => {
    let seed = 99;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed / 0x7fffffff);
    let worst = 0;
    for (let r = 0; r < 400; r++) {
      const n = 2 + Math.floor(rnd() * 60);
      const scale = Math.fround(0.01 + rnd() * 0.5);
      const int8 = r % 2 === 1;
      const x = int8 ? new Int8Array(n) : new Uint8Array(n);
      for (let i = 0; i < n; i++) x[i] = (int8 ? -128 : 0) + Math.floor(rnd() * 256);
      const out = int8 ? new Int8Array(n) : new Uint8Array(n);
      softmax(1, n, int8 ? 'int8' : 'uint8', x, softmaxParams(1, scale), out);
      const p = floatSoftmax(x, scale, 0);
      // 256 * p is at most 256; the output's largest level is 255 (uint8 255, int8 127).
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(out[i]! - (int8 ? -128 : 0) - Math.min(255, 256 * p[i]!)));
    }
    expect(worst).toBeLessThanOrEqual(0.51);
  });

  it('the optimized kernel\'s float LUT (mode lut) agrees within the same tolerance', () => {
    const x = Uint8Array.from([0, 10, 20, 30]);
    const out = new Uint8Array(4);
    softmaxLut(1, 4, 'uint8', x, 0.1, 1, out);
    expect([...out]).toEqual([8, 22, 61, 165]);
  });

  it('512+ entries at the row maximum: the reference would abort; every probability is under half a level -> 0', () => {
    const x = new Uint8Array(600).fill(200);
    const out = new Uint8Array(600).fill(7);
    softmax(1, 600, 'uint8', x, softmaxParams(1, 0.1), out);
    expect(out.every((v) => v === 0)).toBe(true);
    // 1/600 of 256 = 0.43 level: the float answer rounds to 0 as well.
    softmaxLut(1, 600, 'uint8', x, 0.1, 1, out);
    expect(out.every((v) => v === 0)).toBe(true);
  });
});

describe('QUANTIZE / DEQUANTIZE and XNNPACK\'s rounding', () => {
  it('AffineQuantize: round(value / scale) half away from zero, + zero point, clamped', () => {
    // scale 0.5: 0.26 / 0.5 = 0.52 -> 1; -0.52 -> -1; 0.25 / 0.5 = 0.5 -> 1; -0.5 -> -1; 1000 / 0.5 -> 127.
    expect([...quantize(Float32Array.from([0.26, -0.26, 0.25, -0.25, 1000]), 'int8', 0.5, 0)]).toEqual([1, -1, 1, -1, 127]);
    // uint8, zero point 128: 0.25 -> 1 + 128 = 129; -1000 -> 0.
    expect([...quantize(Float32Array.from([0.25, -1000]), 'uint8', 0.5, 128)]).toEqual([129, 0]);
  });

  it('Dequantize: float32(scale * (q - zero_point))', () => {
    // 0.1f * (3 - 1) = 0.2000000029802322 -> float32 0.20000000298023224.
    expect([...dequantize(Int8Array.from([3, 1, -128]), 0.1, 1)]).toEqual([Math.fround(0.2000000029802322), 0, Math.fround(Math.fround(0.1) * -129)]);
  });

  it('requantizeFp32: one rounding, halves to even', () => {
    // 5 * 0.5 = 2.5 -> 2; 7 * 0.5 = 3.5 -> 4; -5 * 0.5 = -2.5 -> -2; + zero point 1; clamp [0, 3].
    expect([5, 7, -5].map((acc) => requantizeFp32(acc, 0.5, 1, -10, 10))).toEqual([3, 5, -1]);
    expect(requantizeFp32(100, 0.5, 1, 0, 3)).toBe(3);
  });
});
