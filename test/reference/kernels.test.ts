// Reference kernels against cases small enough to compute by hand.
import { describe, expect, it } from 'vitest';
import {
  avgPoolRef, conv2dRef, depthwiseConv2dRef, expDeterministic, pointwiseConv2dRef, softmaxRef,
  type ConvGeometry,
} from '../../src/reference/kernels.js';

const f32 = (...v: number[]) => new Float32Array(v);
const geometry = (g: Partial<ConvGeometry>): ConvGeometry => ({
  batch: 1, inH: 1, inW: 1, inC: 1, outH: 1, outW: 1, outC: 1, kernelH: 1, kernelW: 1,
  stride: 1, dilation: 1, padTop: 0, padLeft: 0, activation: 'none', ...g,
});

describe('conv2dRef', () => {
  it('H=3 W=3 C=1 k=3 s=1 pad=same: a 3x3 sum filter counts the neighbours inside the image', () => {
    // Input 1..9, all-ones filter: each output is the sum of the in-image 3x3 neighbourhood.
    const x = f32(1, 2, 3, 4, 5, 6, 7, 8, 9);
    const out = conv2dRef(x, new Float32Array(9).fill(1), f32(0), geometry({ inH: 3, inW: 3, outH: 3, outW: 3, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1 }));
    expect([...out]).toEqual([12, 21, 16, 27, 45, 33, 24, 39, 28]);
  });

  it('H=4 W=4 k=3 s=2 pad=same(0 before, 1 after): TF SAME on an even input', () => {
    // TF SAME for 4 -> 2 with k=3, s=2 pads 0 before and 1 after: windows start at 0 and 2.
    const x = new Float32Array(16).map((_, i) => i + 1);
    const out = conv2dRef(x, new Float32Array(9).fill(1), f32(0), geometry({ inH: 4, inW: 4, outH: 2, outW: 2, kernelH: 3, kernelW: 3, stride: 2 }));
    // Top-left window rows 0..2, cols 0..2: 1+2+3+5+6+7+9+10+11 = 54.
    // Top-right window rows 0..2, cols 2..3 (col 4 is padding): 3+4+7+8+11+12 = 45.
    // Bottom-left rows 2..3, cols 0..2: 9+10+11+13+14+15 = 72; bottom-right: 11+12+15+16 = 54.
    expect([...out]).toEqual([54, 45, 72, 54]);
  });

  it('H=5 W=5 k=3 dilation=2 pad=2: taps two pixels apart', () => {
    const x = new Float32Array(25).map((_, i) => i);
    const w = new Float32Array(9).fill(0);
    w[0] = 1; // top-left tap only: reads (y-2, x-2)
    w[8] = 10; // bottom-right tap: reads (y+2, x+2)
    const out = conv2dRef(x, w, f32(0.5), geometry({ inH: 5, inW: 5, outH: 5, outW: 5, kernelH: 3, kernelW: 3, dilation: 2, padTop: 2, padLeft: 2 }));
    // Centre (2,2): x(0,0)*1 + x(4,4)*10 + 0.5 = 0 + 240 + 0.5.
    expect(out[12]).toBe(240.5);
    // (0,0): the top-left tap is padding, bottom-right reads x(2,2)=12.
    expect(out[0]).toBe(120.5);
  });

  it('two input and two output channels: HWIO indexing and per-channel bias', () => {
    // One pixel, 1x1 kernel: out[co] = bias[co] + sum_ci x[ci] * w[ci][co].
    const out = conv2dRef(f32(2, 3), f32(1, 10, 100, 1000), f32(0.25, -1), geometry({ inC: 2, outC: 2 }));
    expect([...out]).toEqual([2 * 1 + 3 * 100 + 0.25, 2 * 10 + 3 * 1000 - 1]);
  });

  it('relu6 clamps to [0, 6] and relu only below; NaN stays NaN', () => {
    const g = geometry({ inH: 1, inW: 4, outH: 1, outW: 4 });
    const x = f32(-3, 2, 9, NaN);
    expect([...conv2dRef(x, f32(1), f32(0), { ...g, activation: 'relu6' })]).toEqual([0, 2, 6, NaN]);
    expect([...conv2dRef(x, f32(1), f32(0), { ...g, activation: 'relu' })]).toEqual([0, 2, 9, NaN]);
  });

  it('rounds to float32 after every product and sum', () => {
    // 1 + 2^-24 is not a float32: the sum rounds back to 1 (a float64 sum would keep it).
    const out = conv2dRef(f32(1, 1), f32(1, 2 ** -24), f32(0), geometry({ inC: 2 }));
    expect(out[0]).toBe(1);
  });
});

describe('depthwiseConv2dRef', () => {
  it('H=3 W=3 C=2 k=3 s=1: each channel uses its own filter', () => {
    const x = new Float32Array(18);
    for (let i = 0; i < 9; i++) {
      x[i * 2] = 1;
      x[i * 2 + 1] = 2;
    }
    const w = new Float32Array(18);
    for (let t = 0; t < 9; t++) {
      w[t * 2] = 1;
      w[t * 2 + 1] = -1;
    }
    const out = depthwiseConv2dRef(x, w, f32(0, 100), geometry({ inH: 3, inW: 3, inC: 2, outH: 1, outW: 1, outC: 2, kernelH: 3, kernelW: 3 }));
    expect([...out]).toEqual([9, 100 - 18]);
  });

  it('stride 2 with TF SAME on odd input pads one pixel each side', () => {
    // 5 -> 3 with k=3 s=2: total padding 2, 1 before and 1 after.
    const x = new Float32Array(25).fill(1);
    const out = depthwiseConv2dRef(x, new Float32Array(9).fill(1), f32(0), geometry({ inH: 5, inW: 5, outH: 3, outW: 3, kernelH: 3, kernelW: 3, stride: 2, padTop: 1, padLeft: 1 }));
    expect([...out]).toEqual([4, 6, 4, 6, 9, 6, 4, 6, 4]);
  });
});

describe('pointwiseConv2dRef', () => {
  it('is a matrix product plus bias over every pixel', () => {
    // Two pixels x 3 channels times a 3x2 filter.
    const x = f32(1, 2, 3, 4, 5, 6);
    const w = f32(1, 0, 0, 1, 1, 1);
    const out = pointwiseConv2dRef(x, w, f32(10, 20), 2, 3, 2, 'none');
    expect([...out]).toEqual([1 + 3 + 10, 2 + 3 + 20, 4 + 6 + 10, 5 + 6 + 20]);
  });
});

describe('avgPoolRef', () => {
  it('7x7 window, stride 2, VALID on a 7x7 map is the mean', () => {
    const x = new Float32Array(49).map((_, i) => i);
    const out = avgPoolRef(x, { batch: 1, inH: 7, inW: 7, channels: 1, outH: 1, outW: 1, kernelH: 7, kernelW: 7, stride: 2 });
    expect(out[0]).toBe(24);
  });
  it('3x3 window stride 2 on 5x5 gives 2x2, batch 2 independent', () => {
    const x = new Float32Array(50).map((_, i) => (i < 25 ? 1 : 3));
    const out = avgPoolRef(x, { batch: 2, inH: 5, inW: 5, channels: 1, outH: 2, outW: 2, kernelH: 3, kernelW: 3, stride: 2 });
    expect([...out]).toEqual([1, 1, 1, 1, 3, 3, 3, 3]);
  });
});

describe('softmax and the deterministic exp', () => {
  it('exp matches Math.exp to a few ulp over a wide range', () => {
    for (let x = -700; x <= 700; x += 0.37) {
      const want = Math.exp(x);
      expect(Math.abs(expDeterministic(x) - want) / want).toBeLessThan(1e-15);
    }
    expect(expDeterministic(0)).toBe(1);
    expect(expDeterministic(-1000)).toBe(0);
  });
  it('softmax of [0, ln 3] is [1/4, 3/4]; rows are independent', () => {
    const out = softmaxRef(f32(0, Math.log(3), 5, 5), 2, 2);
    expect(out[0]).toBeCloseTo(0.25, 6);
    expect(out[1]).toBeCloseTo(0.75, 6);
    expect([out[2], out[3]]).toEqual([0.5, 0.5]);
  });
});
