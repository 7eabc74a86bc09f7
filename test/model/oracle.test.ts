/**
 * The reference path against independent engines: TensorFlow.js (a second MobileNet, written
 * from TF-Slim's Python, BatchNorm unfolded) and onnxruntime-node (the folded network as an
 * ONNX graph). Every end point must agree within max|a-b| / max|b| <= 1e-4.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { createModel } from '../../src/engine/create.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import type { ConvDef, MobileNetOptions } from '../../src/model/architecture.js';
import { buildArchitecture, layerWeights, type Architecture, type ConvLayer } from '../../src/model/architecture.js';
import { foldWeights } from '../../src/model/fold.js';
import { runReference } from '../../src/reference/backend.js';
import { mulberry32, randomWeights } from '../../src/model/random.js';
import type { WeightMap } from '../../src/model/weights.js';
import { Tensor } from '../../src/tensor.js';
import { runTfjsOracle, type TfjsBackendName } from '../../oracles/tfjs.js';
import { mobilenetToOnnx } from '../../oracles/onnx.js';

const TOLERANCE = 1e-4;

/** Uniform in [-1, 1): the range TF-Slim's preprocessing gives. */
function randomInput(batch: number, h: number, w: number, seed: number): Tensor {
  const next = mulberry32(seed);
  const data = new Float32Array(batch * h * w * 3).map(() => (next() / 2 ** 32) * 2 - 1);
  return new Tensor(data, [batch, h, w, 3]);
}

/** max|a-b| / max|b|, the error relative to the end point's scale. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

interface Case {
  name: string;
  options: MobileNetOptions;
  batch?: number;
  /** End points to compare; default every one. */
  outputs?: string[];
  /** Give the weights with BatchNorm already folded into biases. */
  folded?: boolean;
  tfjsBackend?: TfjsBackendName;
}

const sep = (kernel: number, stride: number, depth: number): ConvDef => ({ type: 'DepthSepConv', kernel: [kernel, kernel], stride, depth });
const conv = (kernel: number, stride: number, depth: number): ConvDef => ({ type: 'Conv', kernel: [kernel, kernel], stride, depth });
const CUSTOM: ConvDef[] = [conv(3, 2, 16), sep(5, 3, 32), sep(3, 1, 48), conv(5, 3, 64), sep(5, 1, 64)];

/** Non-square kernels: _fixed_padding pads from kernel_size[0] on both axes. */
const NON_SQUARE: ConvDef[] = [
  { type: 'Conv', kernel: [3, 1], stride: 2, depth: 16 },
  { type: 'DepthSepConv', kernel: [1, 3], stride: 1, depth: 24 },
  { type: 'DepthSepConv', kernel: [3, 5], stride: 2, depth: 32 },
];

const CASES: Case[] = [
  { name: 'alpha=1.0 224x224 Logits', options: {}, outputs: ['Logits', 'Predictions'] },
  { name: 'alpha=0.25 128x128 batch=2', options: { depthMultiplier: 0.25, inputSize: 128 }, batch: 2 },
  { name: 'alpha=0.5 160x160', options: { depthMultiplier: 0.5, inputSize: 160 } },
  { name: 'alpha=0.5 160x224 non-square', options: { depthMultiplier: 0.5, inputSize: [160, 224] } },
  { name: 'alpha=0.25 128x128 outputStride=8 globalPool', options: { depthMultiplier: 0.25, inputSize: 128, outputStride: 8, globalPool: true } },
  { name: 'alpha=0.25 160x160 outputStride=16 spatialSqueeze=false (2x2 logits)', options: { depthMultiplier: 0.25, inputSize: 160, outputStride: 16, spatialSqueeze: false } },
  { name: 'alpha=0.25 128x128 useExplicitPadding', options: { depthMultiplier: 0.25, inputSize: 128, useExplicitPadding: true } },
  { name: 'alpha=0.25 131x97 useExplicitPadding outputStride=16 globalPool', options: { depthMultiplier: 0.25, inputSize: [131, 97], useExplicitPadding: true, outputStride: 16, globalPool: true } },
  { name: 'alpha=0.25 300x300 globalPool', options: { depthMultiplier: 0.25, inputSize: 300, globalPool: true } },
  { name: 'custom convDefs k=5 s=3 100x100', options: { convDefs: CUSTOM, inputSize: 100 } },
  { name: 'custom convDefs k=5 s=3 101x88 useExplicitPadding', options: { convDefs: CUSTOM, inputSize: [101, 88], useExplicitPadding: true } },
  { name: 'non-square kernels 37x30 useExplicitPadding globalPool', options: { convDefs: NON_SQUARE, inputSize: [37, 30], useExplicitPadding: true, globalPool: true } },
  { name: 'non-square kernels 37x30 SAME globalPool', options: { convDefs: NON_SQUARE, inputSize: [37, 30], globalPool: true } },
  { name: "convDefs='conv' alpha=0.25 64x64", options: { convDefs: 'conv', depthMultiplier: 0.25, inputSize: 64 } },
  { name: "convDefs='shallow' alpha=0.5 96x96", options: { convDefs: 'shallow', depthMultiplier: 0.5, inputSize: 96 } },
  { name: 'finalEndpoint=Conv2d_5_depthwise', options: { depthMultiplier: 0.25, inputSize: 96, finalEndpoint: 'Conv2d_5_depthwise' } },
  { name: 'finalEndpoint=Conv2d_0 conv preset', options: { convDefs: 'conv', inputSize: 33, finalEndpoint: 'Conv2d_0' } },
  { name: 'numClasses=0 alpha=0.25 128x128', options: { depthMultiplier: 0.25, inputSize: 128, numClasses: 0 } },
  { name: "flavour='torch' alpha=0.25 224x224 batch=2", options: { flavour: 'torch', depthMultiplier: 0.25 }, batch: 2 },
  { name: "flavour='torch' alpha=0.5 225x230 outputStride=16 globalPool", options: { flavour: 'torch', depthMultiplier: 0.5, inputSize: [225, 230], outputStride: 16, globalPool: true } },
  { name: 'alpha=0.25 128x128 weights given folded', options: { depthMultiplier: 0.25, inputSize: 128 }, folded: true },
  { name: 'alpha=0.25 128x128 oracle on tfjs wasm', options: { depthMultiplier: 0.25, inputSize: 128 }, tfjsBackend: 'wasm' },
];

/** A model's folded weights as a TF-Slim WeightMap with `<scope>/biases`. */
function foldedWeightMap(model: MobileNet): WeightMap {
  const map: WeightMap = new Map();
  for (const { layer, filter, bias } of model.folded) {
    const [weights] = layerWeights(layer, true);
    map.set(weights!.name, { shape: [...weights!.shape], data: filter });
    map.set(`${layer.scope}/biases`, { shape: [bias.length], data: bias });
  }
  return map;
}

describe('reference path vs the TensorFlow.js oracle (every end point, rel. error <= 1e-4)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const model = await createModel({ ...c.options, backend: 'reference', seed: 7 });
      // The oracle gets the same seeded weights, unfolded (or folded, then both get those).
      const weights = c.folded ? foldedWeightMap(model) : randomWeights(model.architecture, 7);
      const subject = c.folded ? await createModel({ ...c.options, weights, backend: 'reference' }) : model;
      const batch = c.batch ?? 1;
      const [h, w] = model.architecture.inputShape;
      const input = randomInput(batch, h, w, 11);
      const outputs = c.outputs ?? [...model.endpoints];
      const ours = subject.run(input, { outputs });
      const theirs = await runTfjsOracle(model.architecture, weights, input.data, batch, c.tfjsBackend ?? 'cpu');
      expect([...theirs.keys()]).toEqual([...model.endpoints]);
      let worst = { name: '', error: 0 };
      for (const name of outputs) {
        const error = relativeError(ours[name]!.data, theirs.get(name)!);
        if (error >= worst.error) worst = { name, error };
        expect(error, `${name}: relative error`).toBeLessThanOrEqual(TOLERANCE);
      }
      console.log(`oracle tfjs-${c.tfjsBackend ?? 'cpu'} | ${c.name}: ${outputs.length} end points, worst rel. error ${worst.error.toExponential(2)} at ${worst.name}`);
    });
  }
});

describe('the oracle is a real witness', () => {
  it('catches a layer table that puts the SAME odd pixel before instead of after', async () => {
    const arch = buildArchitecture({ depthMultiplier: 0.25, inputSize: 128 });
    const conv0 = arch.layers[0] as ConvLayer;
    expect(conv0.padding).toEqual({ top: 0, bottom: 1, left: 0, right: 1 });
    // The same table with Conv2d_0's padding flipped: shapes unchanged, values shifted.
    const wrong: Architecture = { ...arch, layers: [{ ...conv0, padding: { top: 1, bottom: 0, left: 1, right: 0 } }, ...arch.layers.slice(1)] };
    const weights = randomWeights(arch, 7);
    const input = randomInput(1, 128, 128, 11);
    const ours = runReference(wrong, foldWeights(wrong, weights), input.data, 1, new Set(['Conv2d_0']));
    const theirs = await runTfjsOracle(arch, weights, input.data, 1);
    expect(relativeError(ours.get('Conv2d_0')!, theirs.get('Conv2d_0')!)).toBeGreaterThan(1e-2);
  });
});

describe('reference path vs onnxruntime-node (the network output, rel. error <= 1e-4)', () => {
  const cases: Case[] = [
    { name: 'alpha=0.25 128x128 batch=2', options: { depthMultiplier: 0.25, inputSize: 128 }, batch: 2 },
    { name: 'alpha=0.25 131x97 useExplicitPadding outputStride=16 globalPool', options: { depthMultiplier: 0.25, inputSize: [131, 97], useExplicitPadding: true, outputStride: 16, globalPool: true } },
    { name: 'custom convDefs k=5 s=3 100x100', options: { convDefs: CUSTOM, inputSize: 100 } },
    { name: "flavour='torch' alpha=0.25 224x224", options: { flavour: 'torch', depthMultiplier: 0.25 } },
    { name: 'alpha=0.25 160x160 outputStride=16 spatialSqueeze=false', options: { depthMultiplier: 0.25, inputSize: 160, outputStride: 16, spatialSqueeze: false } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const model = await createModel({ ...c.options, backend: 'reference', seed: 7 });
      const batch = c.batch ?? 1;
      const [h, w] = model.architecture.inputShape;
      const input = randomInput(batch, h, w, 11);
      const output = model.architecture.output;
      const ours = model.run(input, { outputs: [output] })[output]!;
      const session = await ort.InferenceSession.create(mobilenetToOnnx(model.architecture, model.folded, batch));
      const result = await session.run({ input: new ort.Tensor('float32', input.data, [batch, h, w, 3]) });
      await session.release();
      const error = relativeError(ours.data, result['output']!.data as Float32Array);
      console.log(`oracle onnxruntime-node | ${c.name}: ${output} rel. error ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(TOLERANCE);
    });
  }
});
