/**
 * The integer wasm kernels (assembly/q8/) against the integer reference kernels
 * (src/quant/kernels.ts), bit for bit, each SIMD kernel and its scalar twin: one-layer models run
 * by QuantWasmRunner (the packing, the im2col, the GEMM, the depthwise kernel, the pooling and
 * the requantization as a model uses them) beside runQuantizedReference. Seeded random cases
 * sweep the channel counts around the tiles (8 output channels, pairs of k, 4 rows), odd
 * sizes, strides 1 and 2, every padding, uint8 per-tensor and int8 per-channel weights, uniform
 * and per-channel shifts (right shifts 0..31, left shifts), biases that make the int32
 * accumulator wrap, narrow clamps; batch 1 to 3.
 */
import { describe, expect, it } from 'vitest';
import { quantizeMultiplier } from '../../src/quant/fixedpoint.js';
import { offsetWeights, type IntArray, type Requantization } from '../../src/quant/kernels.js';
import type { IntDType, QuantConvLayer, QuantConvOp, QuantLayer, QuantPoolLayer, QuantTensor, QuantizedModel } from '../../src/quant/model.js';
import { runQuantizedReference } from '../../src/quant/reference.js';
import { QuantWasmRunner, shiftFlags, uniformRightShift } from '../../src/quant/wasm.js';
import { q8Module } from './helpers/q8.js';

/** mulberry32 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RANGE: Record<IntDType, [number, number]> = { uint8: [0, 255], int8: [-128, 127] };

interface Case {
  op: QuantConvOp | 'AVERAGE_POOL_2D';
  dtype: IntDType;
  batch: number;
  inH: number; inW: number; inC: number; outC: number;
  kh: number; kw: number; stride: number; padTop: number; padLeft: number; padBottom: number; padRight: number;
  shifts: 'uniform' | 'mixed' | 'left' | 'extreme';
  bigBias: boolean;
}

const name = (c: Case) =>
  `${c.op} ${c.dtype} N=${c.batch} H=${c.inH} W=${c.inW} C=${c.inC}${c.op === 'CONV_2D' || c.op === 'FULLY_CONNECTED' ? ` O=${c.outC}` : ''} k=${c.kh}x${c.kw} s=${c.stride} pad=${c.padTop},${c.padLeft},${c.padBottom},${c.padRight} shifts=${c.shifts}${c.bigBias ? ' wrapping' : ''}`;

/** A one-layer model for the case, with random integers drawn from `rand`. */
function oneLayer(c: Case, rand: () => number): { model: QuantizedModel; input: IntArray } {
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const [qmin, qmax] = RANGE[c.dtype];
  const fc = c.op === 'FULLY_CONNECTED';
  const outH = fc ? 1 : Math.floor((c.inH + c.padTop + c.padBottom - c.kh) / c.stride) + 1;
  const outW = fc ? 1 : Math.floor((c.inW + c.padLeft + c.padRight - c.kw) / c.stride) + 1;
  const inZero = int(qmin, qmax);
  const outZero = int(qmin, qmax);
  const tensor = (n: string, index: number, shape: number[], zeroPoint: number): QuantTensor => ({ name: n, index, shape, dtype: c.dtype, scale: 0.5, zeroPoint });
  const inShape = fc ? [1, c.inC] : [1, c.inH, c.inW, c.inC];
  const perImage = inShape.slice(1).reduce((a, d) => a * d, 1);
  const input = c.dtype === 'uint8' ? new Uint8Array(c.batch * perImage) : new Int8Array(c.batch * perImage);
  for (let i = 0; i < input.length; i++) input[i] = int(qmin, qmax);
  // A third of the inputs at the zero point: rows whose sums cancel, padding-like values.
  for (let i = 0; i < input.length; i += 3) input[i] = inZero;
  let layer: QuantLayer;
  if (c.op === 'AVERAGE_POOL_2D') {
    const lo = int(qmin, qmin + 40);
    layer = {
      type: 'avgpool', op: 'AVERAGE_POOL_2D', name: 'L', operatorIndex: 0,
      input: tensor('in', 0, inShape, inZero), output: tensor('out', 1, [1, outH, outW, c.inC], inZero),
      filter: [c.kh, c.kw], stride: c.stride, padTop: c.padTop, padLeft: c.padLeft, actMin: lo, actMax: int(lo, qmax),
    } satisfies QuantPoolLayer;
  } else {
    const dw = c.op === 'DEPTHWISE_CONV_2D';
    const outC = dw ? c.inC : c.outC;
    const fShape = fc ? [outC, c.inC] : dw ? [1, c.kh, c.kw, c.inC] : [outC, c.kh, c.kw, c.inC];
    const count = fShape.reduce((a, d) => a * d, 1);
    const wZero = c.dtype === 'uint8' ? int(0, 255) : 0;
    const data = c.dtype === 'uint8' ? new Uint8Array(count) : new Int8Array(count);
    for (let i = 0; i < count; i++) data[i] = int(qmin, qmax);
    const bias = Int32Array.from({ length: outC }, () => (c.bigBias ? int(-(2 ** 31), 2 ** 31 - 1) : int(-(2 ** 16), 2 ** 16)));
    const multipliers = Array.from({ length: outC }, () => {
      const m = rand() < 0.05 ? 0 : int(2 ** 30, 2 ** 31 - 1);
      return m;
    });
    const shiftOf = (): number => {
      switch (c.shifts) {
        case 'uniform': return 0;
        case 'mixed': return -int(0, 14);
        case 'left': return int(-3, 4);
        case 'extreme': return [-31, -30, -24, -17, 0, 1, 30][int(0, 6)]!;
      }
    };
    const uniform = c.shifts === 'uniform' ? -int(0, 14) : 0;
    const shift = Int32Array.from({ length: outC }, () => (c.shifts === 'uniform' ? uniform : shiftOf()));
    const filterOffset = -wZero;
    const lo = int(qmin, qmax - 20);
    const requant: Requantization = {
      multiplier: Int32Array.from(multipliers), shift, inputOffset: -inZero, filterOffset, outputOffset: outZero,
      actMin: rand() < 0.3 ? qmin : lo, actMax: rand() < 0.3 ? qmax : int(lo, qmax), fp32Scale: new Float32Array(outC),
    };
    layer = {
      type: 'conv', op: c.op, kind: dw ? 'depthwise' : fc ? 'logits' : c.kh === 1 && c.kw === 1 ? 'pointwise' : 'conv', name: 'L', operatorIndex: 0,
      input: tensor('in', 0, inShape, inZero), output: tensor('out', 1, fc ? [1, outC] : [1, outH, outW, outC], outZero),
      filter: { name: 'w', dtype: c.dtype, shape: fShape, data, scales: new Float32Array(outC).fill(1), zeroPoints: new Int32Array(outC).fill(wZero), quantizedDimension: dw ? 3 : 0 },
      bias: { name: 'b', data: bias, scales: new Float32Array(outC) },
      kernel: [c.kh, c.kw], stride: c.stride, padTop: c.padTop, padLeft: c.padLeft, activation: 'none',
      filterOffsetData: offsetWeights(data, filterOffset), requant,
    } satisfies QuantConvLayer;
  }
  const model = {
    format: 'tflite', dtype: c.dtype, options: {}, architecture: {}, input: layer.input, output: layer.output,
    layers: [layer], endpoints: ['L'], pixelNormalization: 'tflite-uint8',
  } as unknown as QuantizedModel;
  return { model, input };
}

function cases(op: Case['op'], seed: number, n: number): Case[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const CH = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33];
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const dtype = i % 2 === 0 ? 'uint8' : 'int8';
    const pointwise = op === 'CONV_2D' && i % 3 === 0;
    const kh = op === 'FULLY_CONNECTED' || pointwise ? 1 : pick([1, 2, 3, 3, 3, 5]);
    const kw = op === 'FULLY_CONNECTED' || pointwise ? 1 : pick([1, 3, 3, 3, 4]);
    const stride = pointwise || op === 'FULLY_CONNECTED' ? 1 : pick([1, 2]);
    const pad = (k: number) => (pointwise || op === 'FULLY_CONNECTED' ? 0 : op === 'AVERAGE_POOL_2D' ? Math.floor(rand() * Math.min(k, 2)) : Math.floor(rand() * k));
    const inH = pick([1, 2, 3, 5, 6, 7, 9, 12]);
    const inW = pick([1, 3, 4, 5, 7, 8, 11]);
    const c: Case = {
      op, dtype, batch: pick([1, 1, 2, 3]),
      inH: Math.max(inH, op === 'AVERAGE_POOL_2D' ? kh : 1), inW: Math.max(inW, op === 'AVERAGE_POOL_2D' ? kw : 1),
      inC: op === 'FULLY_CONNECTED' ? pick([1, 3, 8, 17, 64, 127]) : pick(CH), outC: pick([...CH, 40, 65, 101]),
      kh, kw, stride, padTop: pad(kh), padLeft: pad(kw), padBottom: pad(kh), padRight: pad(kw),
      shifts: pick(['uniform', 'mixed', 'left', 'extreme'] as const), bigBias: rand() < 0.25,
    };
    // Every output window must reach the input (a window of padding only has no average).
    if (Math.floor((c.inH + c.padTop + c.padBottom - c.kh) / c.stride) + 1 < 1 || Math.floor((c.inW + c.padLeft + c.padRight - c.kw) / c.stride) + 1 < 1) {
      c.padBottom = c.kh - 1;
      c.padRight = c.kw - 1;
    }
    out.push(c);
  }
  return out;
}

function firstDifferences(expected: IntArray, actual: IntArray): string[] {
  const out: string[] = [];
  if (expected.length !== actual.length) return [`length ${expected.length} vs ${actual.length}`];
  for (let i = 0; i < expected.length && out.length < 4; i++) if (expected[i] !== actual[i]) out.push(`[${i}] expected ${expected[i]}, got ${actual[i]}`);
  return out;
}

async function check(c: Case, seed: number): Promise<void> {
  const { model, input } = oneLayer(c, rng(seed));
  const expected = runQuantizedReference(model, input, c.batch).get('L')!.data;
  for (const scalar of [false, true]) {
    const runner = new QuantWasmRunner(model, await q8Module(), undefined, scalar);
    const actual = runner.run(input, c.batch).get('L')!.data;
    expect(firstDifferences(expected, actual), `${name(c)} ${scalar ? 'scalar twin' : 'SIMD'}`).toEqual([]);
    runner.dispose();
  }
}

describe('integer kernels = the integer reference, bit for bit (SIMD and scalar twins)', () => {
  for (const [op, n, seed] of [['CONV_2D', 60, 11], ['DEPTHWISE_CONV_2D', 60, 22], ['FULLY_CONNECTED', 24, 33], ['AVERAGE_POOL_2D', 30, 44]] as const) {
    describe(op, () => {
      cases(op, seed, n).forEach((c, i) => {
        it(name(c), async () => check(c, seed * 1000 + i));
      });
    });
  }

  it('the per-channel shifts take the lane-by-lane path, per-tensor ones the single shift', () => {
    const mk = (shifts: number[]) => ({ requant: { shift: Int32Array.from(shifts) } }) as unknown as QuantConvLayer;
    expect(uniformRightShift(mk([-7, -7, -7]))).toBe(7);
    expect(uniformRightShift(mk([2, 0, 1]))).toBe(0);
    expect(uniformRightShift(mk([-7, -8]))).toBe(-1);
    expect([shiftFlags(mk([-7, -7])), shiftFlags(mk([-7, -8])), shiftFlags(mk([2, 0, 1])), shiftFlags(mk([3, -2]))]).toEqual([7, 32, 64, 32 | 64]);
  });

  it('the requantization of every accumulator class: QuantizeMultiplier of real scales, accumulators near the int32 limits', async () => {
    // A 1x1 convolution over one input channel of value 0 (x = zero point): acc = bias exactly.
    const rand = rng(7);
    const outC = 64;
    const accs = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 30, -(2 ** 30), 12345, -12345, 127, -128, 255, -256];
    for (let round = 0; round < 20; round++) {
      const c: Case = { op: 'CONV_2D', dtype: round % 2 ? 'int8' : 'uint8', batch: 1, inH: 1, inW: 1, inC: 1, outC, kh: 1, kw: 1, stride: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, shifts: 'mixed', bigBias: false };
      const { model } = oneLayer(c, rand);
      const layer = model.layers[0] as QuantConvLayer;
      const zp = -layer.requant.inputOffset;
      const input = c.dtype === 'uint8' ? Uint8Array.of(zp) : Int8Array.of(zp);
      layer.bias.data.forEach((_, j) => (layer.bias.data[j] = j < accs.length ? accs[j]! : Math.floor(rand() * 2 ** 32) - 2 ** 31));
      const scales = Array.from({ length: outC }, () => 2 ** (-40 * rand() + 4) * (1 + rand()));
      scales.forEach((s, j) => {
        const q = quantizeMultiplier(s);
        layer.requant.multiplier[j] = q.multiplier;
        layer.requant.shift[j] = Math.max(-31, Math.min(30, q.shift));
      });
      const expected = runQuantizedReference(model, input, 1).get('L')!.data;
      for (const scalar of [false, true]) {
        const runner = new QuantWasmRunner(model, await q8Module(), undefined, scalar);
        expect(firstDifferences(expected, runner.run(input, 1).get('L')!.data), `round ${round} ${scalar ? 'scalar' : 'SIMD'}`).toEqual([]);
        runner.dispose();
      }
    }
  });
});
