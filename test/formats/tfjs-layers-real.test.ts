/**
 * TF.js layers models built and saved by TensorFlow.js Layers itself, not written by hand:
 * Keras' MobileNet v1 (keras_applications/mobilenet.py, Keras >= 2.2.x, and the older SAME
 * export) is rebuilt layer for layer with `tf.layers`, given seeded random weights (BatchNorm
 * statistics included), saved through `model.save(withSaveHandler)` and laid out as
 * tfjs-converter writes it (model.json + group1-shardNofM.bin) or as tfjs-layers' own file
 * save does. The oracle is tfjs-layers' `predict`: the conv_preds output (pre-softmax) against
 * our Logits, and the final softmax output against our Predictions, on both our backends.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../src/formats/index.js';
import { parseTfjsLayersModel } from '../../src/formats/tfjs-layers.js';
import type { LoadedModel } from '../../src/formats/index.js';
import { createModel } from '../../src/engine/create.js';
import type { BackendName } from '../../src/backend.js';
import { mulberry32 } from '../../src/model/random.js';
import { Tensor } from '../../src/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'mobilenet-layers-real-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

/** keras22: keras_applications (Keras 2.2.x); keras21: Keras 2.1.x; tfkeras: tf.keras >= 2.3 (same body as keras22, head order changed). */
type Style = 'keras22' | 'keras21' | 'tfkeras';

/**
 * keras_applications.mobilenet.MobileNet(include_top=True) in tf.layers.
 * keras22: Keras >= 2.2.1: ZeroPadding2D(((0,1),(0,1))) + 'valid' before every stride-2 conv,
 * ReLU(6.); head conv_preds, act_softmax, reshape_2. keras21: Keras 2.1.x: 'same' everywhere,
 * Activation(relu6), same head. tfkeras: the keras22 body, head conv_preds, reshape_2,
 * Activation('softmax', name='predictions').
 */
function kerasMobileNetV1(alpha: number, size: number, classes: number, style: Style): tfl.LayersModel {
  const L = tfl.layers;
  const relu6 = (name: string) => (style !== 'keras21' ? L.reLU({ maxValue: 6, name }) : L.activation({ activation: 'relu6', name }));
  const bn = (name: string) => L.batchNormalization({ axis: -1, momentum: 0.99, epsilon: 1e-3, name });
  const input = tfl.input({ shape: [size, size, 3], name: 'input_1' });
  let x: tfl.SymbolicTensor = input;
  const apply = (layer: { apply(t: tfl.SymbolicTensor): unknown }) => {
    x = layer.apply(x) as tfl.SymbolicTensor;
  };

  // _conv_block
  let padding: 'same' | 'valid' = 'same';
  if (style !== 'keras21') {
    apply(L.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'conv1_pad' }));
    padding = 'valid';
  }
  apply(L.conv2d({ filters: Math.trunc(32 * alpha), kernelSize: 3, strides: 2, padding, useBias: false, name: 'conv1' }));
  apply(bn('conv1_bn'));
  apply(relu6('conv1_relu'));

  // _depthwise_conv_block x 13
  const blocks: [number, number][] = [
    [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2],
    [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1],
  ];
  blocks.forEach(([filters, stride], i) => {
    const id = i + 1;
    let pad: 'same' | 'valid' = 'same';
    if (stride !== 1 && style !== 'keras21') {
      apply(L.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `conv_pad_${id}` }));
      pad = 'valid';
    }
    apply(L.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: pad, depthMultiplier: 1, useBias: false, name: `conv_dw_${id}` }));
    apply(bn(`conv_dw_${id}_bn`));
    apply(relu6(`conv_dw_${id}_relu`));
    apply(L.conv2d({ filters: Math.trunc(filters * alpha), kernelSize: 1, strides: 1, padding: 'same', useBias: false, name: `conv_pw_${id}` }));
    apply(bn(`conv_pw_${id}_bn`));
    apply(relu6(`conv_pw_${id}_relu`));
  });

  // include_top
  apply(L.globalAveragePooling2d({ name: 'global_average_pooling2d' }));
  apply(L.reshape({ targetShape: [1, 1, Math.trunc(1024 * alpha)], name: 'reshape_1' }));
  apply(L.dropout({ rate: 1e-3, name: 'dropout' }));
  apply(L.conv2d({ filters: classes, kernelSize: 1, padding: 'same', name: 'conv_preds' }));
  if (style === 'tfkeras') {
    apply(L.reshape({ targetShape: [classes], name: 'reshape_2' }));
    apply(L.activation({ activation: 'softmax', name: 'predictions' }));
  } else {
    apply(L.activation({ activation: 'softmax', name: 'act_softmax' }));
    apply(L.reshape({ targetShape: [classes], name: 'reshape_2' }));
  }
  return tfl.model({ inputs: input, outputs: x, name: `mobilenet_${alpha.toFixed(2)}_${size}` });
}

/** Seeded weights for every variable, by what it is (He-scaled kernels, non-trivial BatchNorm). */
function setSeededWeights(model: tfl.LayersModel, seed: number): void {
  const next = mulberry32(seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * (next() / 2 ** 32);
  const normal = () => {
    const u = (next() + 1) / (2 ** 32 + 1);
    const v = next() / 2 ** 32;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const shape = w.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const field = w.originalName.split('/').pop()!;
      let gen: () => number;
      if (field === 'kernel' || field === 'depthwise_kernel') {
        const fanIn = shape[0]! * shape[1]! * (field === 'kernel' ? shape[2]! : 1);
        const std = Math.sqrt(2 / fanIn);
        gen = () => normal() * std;
      } else if (field === 'gamma') gen = () => uniform(0.5, 1.5);
      else if (field === 'beta') gen = () => uniform(-0.3, 0.5);
      else if (field === 'moving_mean') gen = () => uniform(-0.4, 0.4);
      else if (field === 'moving_variance') gen = () => uniform(0.3, 2.5);
      else if (field === 'bias') gen = () => uniform(-0.5, 0.5);
      else throw new Error(`unexpected weight ${w.originalName}`);
      return tf.tensor(Float32Array.from({ length: n }, gen), shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

interface Saved {
  /** As tfjs-converter writes it: modelTopology {keras_version, backend, model_config}, group1-shardNofM.bin. */
  converter: { json: Record<string, unknown>; shards: Map<string, Uint8Array> };
  /** As tfjs-layers' own file save writes it: modelTopology is the config, one model.weights.bin. */
  native: { json: Record<string, unknown>; shards: Map<string, Uint8Array> };
  specs: tf.io.WeightsManifestEntry[];
}

async function capture(model: tfl.LayersModel, shardBytes: number): Promise<Saved> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  const a = artifacts!;
  expect(a.format).toBe('layers-model');
  const data = a.weightData!;
  const all = new Uint8Array(Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data);
  const specs = a.weightSpecs!;
  const topology = a.modelTopology as Record<string, unknown>;
  const { keras_version, backend, ...modelConfig } = topology;

  // tfjs-converter: the bytes cut into shards of at most shardBytes, in manifest order.
  const count = Math.ceil(all.length / shardBytes);
  const shards = new Map<string, Uint8Array>();
  for (let s = 0; s < count; s++) shards.set(`group1-shard${s + 1}of${count}.bin`, all.slice(s * shardBytes, (s + 1) * shardBytes));
  const converter = {
    json: {
      format: 'layers-model',
      generatedBy: `${keras_version}`,
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: { keras_version, backend, model_config: modelConfig },
      weightsManifest: [{ paths: [...shards.keys()], weights: specs }],
    },
    shards,
  };
  const native = {
    json: {
      modelTopology: topology,
      format: a.format,
      generatedBy: a.generatedBy,
      convertedBy: a.convertedBy ?? null,
      weightsManifest: [{ paths: ['./model.weights.bin'], weights: specs }],
    },
    shards: new Map([['./model.weights.bin', all]]),
  };
  return { converter, native, specs };
}

function write(files: { json: Record<string, unknown>; shards: Map<string, Uint8Array> }, name: string): string {
  const d = join(dir, name);
  mkdirSync(d);
  writeFileSync(join(d, 'model.json'), JSON.stringify(files.json));
  for (const [file, bytes] of files.shards) writeFileSync(join(d, file), bytes);
  return d;
}

/** tfjs-layers' answers: conv_preds (pre-softmax, [N,1,1,K] flattened) and the model's own softmax output. */
function tfjsPredict(model: tfl.LayersModel, x: Float32Array, shape: [number, number, number, number]): { logits: Float32Array; probs: Float32Array } {
  const logitsModel = tfl.model({ inputs: model.inputs, outputs: model.getLayer('conv_preds').output as tfl.SymbolicTensor });
  return tf.tidy(() => {
    const input = tf.tensor4d(x, shape);
    const logits = (logitsModel.predict(input) as tf.Tensor).dataSync() as Float32Array;
    const probs = (model.predict(input) as tf.Tensor).dataSync() as Float32Array;
    return { logits: Float32Array.from(logits), probs: Float32Array.from(probs) };
  });
}

const top5 = (row: Float32Array) => [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, 5);

function relErr(ours: Float32Array, theirs: Float32Array): number {
  expect(ours.length).toBe(theirs.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < theirs.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
    scale = Math.max(scale, Math.abs(theirs[i]!));
  }
  return diff / scale;
}

function seededInput(seed: number, n: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (next() / 2 ** 32) * 2 - 1);
}

/** Our model (both backends) on the loaded weights against tfjs-layers, batch 2, a few inputs. */
async function compareWithTfjs(label: string, loaded: LoadedModel, model: tfl.LayersModel, size: number, classes: number): Promise<void> {
  const batch = 2;
  const shape: [number, number, number, number] = [batch, size, size, 3];
  for (const backend of ['reference', 'wasm'] as BackendName[]) {
    const ours = await createModel({ ...loaded.options, weights: loaded.weights, backend });
    expect(ours.architecture.inputShape).toEqual([size, size, 3]);
    for (const seed of [11, 12, 13]) {
      const x = seededInput(seed, batch * size * size * 3);
      const theirs = tfjsPredict(model, x, shape);
      const out = ours.run(new Tensor(x, shape), { outputs: ['Logits', 'Predictions'] });
      const logits = out.Logits!.data;
      const probs = out.Predictions!.data;
      const eLogits = relErr(logits, theirs.logits);
      const eProbs = relErr(probs, theirs.probs);
      for (let n = 0; n < batch; n++) {
        const ref = theirs.logits.subarray(n * classes, (n + 1) * classes);
        expect(top5(logits.subarray(n * classes, (n + 1) * classes))).toEqual(top5(ref));
        expect(top5(probs.subarray(n * classes, (n + 1) * classes))).toEqual(top5(ref));
      }
      console.log(`${label} [${backend}] input ${seed}: logits max|diff|/max|ref| ${eLogits.toExponential(2)}, softmax ${eProbs.toExponential(2)} (max|ref logit| ${Math.max(...theirs.logits.map(Math.abs)).toFixed(3)})`);
      expect(eLogits).toBeLessThanOrEqual(1e-4);
      expect(eProbs).toBeLessThanOrEqual(1e-4);
    }
    ours.dispose();
  }
}

describe('TF.js layers model saved by tfjs-layers (Keras MobileNet v1 rebuilt with tf.layers)', () => {
  it('Keras >= 2.2: ZeroPadding2D((0,1),(0,1)) + valid, ReLU(6.), conv_preds / act_softmax / reshape_2; alpha 0.25 @ 128', async () => {
    const size = 128;
    const classes = 1000;
    const model = kerasMobileNetV1(0.25, size, classes, 'keras22');
    setSeededWeights(model, 2024);
    const names = model.layers.map((l) => l.name);
    expect(names.slice(0, 5)).toEqual(['input_1', 'conv1_pad', 'conv1', 'conv1_bn', 'conv1_relu']);
    expect(names.slice(-6)).toEqual(['global_average_pooling2d', 'reshape_1', 'dropout', 'conv_preds', 'act_softmax', 'reshape_2']);
    expect(names).toContain('conv_pad_12');

    const saved = await capture(model, 256 * 1024);
    expect(saved.specs.map((s) => s.name)).toContain('conv_dw_13_bn/moving_variance');
    expect(saved.converter.shards.size).toBeGreaterThan(1);

    // In memory, converter layout.
    const loaded = parseTfjsLayersModel(saved.converter.json, [...saved.converter.shards.values()]);
    expect(loaded.format).toBe('tfjs-layers');
    expect(loaded.pixelNormalization).toBe('unit-signed');
    expect(loaded.options).toEqual({ depthMultiplier: 0.25, inputSize: 128, numClasses: 1000, activation: 'relu6', batchNormEpsilon: 0.001 });
    await compareWithTfjs('keras22 converter layout', loaded, model, size, classes);

    // The comparison has teeth: the two images differ, and symmetric instead of Keras' (0,1)
    // padding (or unit BatchNorm statistics) would be far outside the tolerance.
    const x0 = seededInput(11, 2 * size * size * 3);
    const ref = tfjsPredict(model, x0, [2, size, size, 3]).logits;
    expect(relErr(ref.subarray(0, classes), ref.subarray(classes))).toBeGreaterThan(1e-2);
    const wrongPad = await createModel({ ...loaded.options, padding: 'symmetric', weights: loaded.weights, backend: 'reference' });
    const ePad = relErr(wrongPad.predict(new Tensor(x0, [2, size, size, 3])).data, ref);
    const plain = new Map(loaded.weights);
    for (const k of plain.keys()) {
      if (k.endsWith('/moving_mean')) plain.set(k, { shape: plain.get(k)!.shape, data: new Float32Array(plain.get(k)!.data.length) });
      if (k.endsWith('/moving_variance')) plain.set(k, { shape: plain.get(k)!.shape, data: new Float32Array(plain.get(k)!.data.length).fill(1) });
    }
    const noStats = await createModel({ ...loaded.options, weights: plain, backend: 'reference' });
    const eStats = relErr(noStats.predict(new Tensor(x0, [2, size, size, 3])).data, ref);
    console.log(`mutants: symmetric padding ${ePad.toExponential(2)}, BatchNorm statistics ignored ${eStats.toExponential(2)}; image 0 vs 1 ${relErr(ref.subarray(0, classes), ref.subarray(classes)).toExponential(2)}`);
    expect(ePad).toBeGreaterThan(1e-2);
    expect(eStats).toBeGreaterThan(1e-2);

    // From disk, both layouts, through the format sniffing entry; same weights as in memory.
    for (const [name, files] of [['converter', saved.converter], ['native', saved.native]] as const) {
      const fromDisk = await loadModelFile(write(files, `keras22-${name}`));
      expect(fromDisk.options).toEqual(loaded.options);
      expect([...fromDisk.weights.keys()].sort()).toEqual([...loaded.weights.keys()].sort());
      for (const [k, v] of loaded.weights) expect(fromDisk.weights.get(k)!.data).toEqual(v.data);
    }

    // The converter-layout model.json is one tfjs-layers itself loads back, with the same outputs.
    const back = await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: saved.converter.json.modelTopology as object,
        weightSpecs: saved.specs,
        weightData: tf.io.concatenateArrayBuffers([...saved.converter.shards.values()].map((s) => s.slice().buffer)),
      }),
    );
    const x = seededInput(99, size * size * 3);
    const p1 = tf.tidy(() => (model.predict(tf.tensor4d(x, [1, size, size, 3])) as tf.Tensor).dataSync());
    const p2 = tf.tidy(() => (back.predict(tf.tensor4d(x, [1, size, size, 3])) as tf.Tensor).dataSync());
    expect(Array.from(p2)).toEqual(Array.from(p1));
    back.dispose();
    model.dispose();
  });

  it('older Keras (2.1.x): padding "same" on stride-2 layers, no ZeroPadding2D, Activation(relu6); alpha 0.25 @ 112 (odd 7x7 map at conv_dw_12)', async () => {
    const size = 112;
    const classes = 1000;
    const model = kerasMobileNetV1(0.25, size, classes, 'keras21');
    setSeededWeights(model, 7);
    expect(model.layers.some((l) => l.getClassName() === 'ZeroPadding2D')).toBe(false);
    const saved = await capture(model, 4 * 1024 * 1024);
    const loaded = await loadModelFile(write(saved.converter, 'keras21-converter'));
    expect(loaded.options).toEqual({ depthMultiplier: 0.25, inputSize: 112, numClasses: 1000, activation: 'relu6', batchNormEpsilon: 0.001 });
    await compareWithTfjs('keras21 converter layout', loaded, model, size, classes);
    model.dispose();
  });

  it('tf.keras >= 2.3 head order: conv_preds, reshape_2, Activation softmax "predictions"; alpha 0.25 @ 128, tfjs-layers file layout', async () => {
    const model = kerasMobileNetV1(0.25, 128, 1000, 'tfkeras');
    setSeededWeights(model, 31);
    expect(model.layers.map((l) => l.name).slice(-3)).toEqual(['conv_preds', 'reshape_2', 'predictions']);
    const saved = await capture(model, 4 * 1024 * 1024);
    const loaded = await loadModelFile(write(saved.native, 'tfkeras-native'));
    expect(loaded.options).toEqual({ depthMultiplier: 0.25, inputSize: 128, numClasses: 1000, activation: 'relu6', batchNormEpsilon: 0.001 });
    await compareWithTfjs('tfkeras tfjs-layers layout', loaded, model, 128, 1000);
    model.dispose();
  });
});
