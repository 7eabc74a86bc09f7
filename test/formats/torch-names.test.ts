/**
 * The seed's PyTorch state_dict in safetensors (what `safetensors.torch.save_file(
 * model.state_dict())` writes): mapped to TF-Slim names and layouts, run by our reference path,
 * and checked against the seed's network written directly in TensorFlow.js ops on the PyTorch
 * tensors themselves (NCHW kernels transposed by tf.transpose, BatchNorm unfolded, eps 1e-5,
 * padding 1, ReLU, AvgPool2d(7), x.view(-1, C) then fc).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { buildArchitecture, MOBILENET_V1_CONV_DEFS, type MobileNetOptions } from '../../src/model/architecture.js';
import { createModel } from '../../src/engine/create.js';
import { mulberry32, randomWeights } from '../../src/model/random.js';
import { Tensor } from '../../src/tensor.js';
import { readSafetensorsModel, writeSafetensors } from '../../src/formats/safetensors.js';
import { hwioToOihw, isTorchStateDict, oihwToHwio, slimToTorch, torchToSlim } from '../../src/formats/torch-names.js';
import { useTfjsBackend } from '../../oracles/tfjs.js';
import { craftSafetensors, f32Bytes, i64Bytes, type RawEntry } from '../fixtures-gen/safetensors.js';
import { expectCode } from '../helpers/errors.js';


const TORCH: MobileNetOptions = { flavour: 'torch', depthMultiplier: 0.25 };

/** The state_dict as the seed's module names it, with num_batches_tracked (I64) after each BatchNorm. */
function stateDict(options: MobileNetOptions, seed = 3, prefix = ''): RawEntry[] {
  const torch = slimToTorch(randomWeights(buildArchitecture(options), seed));
  const entries: RawEntry[] = [];
  for (const [name, t] of torch) {
    entries.push({ name: prefix + name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) });
    if (name.endsWith('.running_var')) entries.push({ name: prefix + name.replace('running_var', 'num_batches_tracked'), dtype: 'I64', shape: [], bytes: i64Bytes([1234]) });
  }
  return entries;
}

/** The seed's forward pass in tf ops, from the PyTorch tensors. */
function torchForward(entries: RawEntry[], x: tf.Tensor4D): Float32Array {
  const p = new Map(entries.map((e) => [e.name, e]));
  const t = (name: string) => {
    const e = p.get(name)!;
    return tf.tensor(new Float32Array(e.bytes.buffer.slice(e.bytes.byteOffset, e.bytes.byteOffset + e.bytes.length)), e.shape);
  };
  const bnRelu = (y: tf.Tensor4D, k: string) =>
    tf.relu(tf.batchNorm(y, t(`${k}.running_mean`) as tf.Tensor1D, t(`${k}.running_var`) as tf.Tensor1D, t(`${k}.bias`) as tf.Tensor1D, t(`${k}.weight`) as tf.Tensor1D, 1e-5)) as tf.Tensor4D;
  const pad1 = (y: tf.Tensor4D) => tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  return tf.tidy(() => {
    let y = bnRelu(tf.conv2d(pad1(x), tf.transpose(t('model.0.0.weight'), [2, 3, 1, 0]) as tf.Tensor4D, 2, 'valid'), 'model.0.1');
    for (let k = 1; k < MOBILENET_V1_CONV_DEFS.length; k++) {
      const stride = MOBILENET_V1_CONV_DEFS[k]!.stride;
      const dw = tf.transpose(t(`model.${k}.0.weight`), [2, 3, 0, 1]) as tf.Tensor4D; // [C,1,3,3] -> [3,3,C,1]
      y = bnRelu(tf.depthwiseConv2d(pad1(y), dw, stride as 1 | 2, 'valid'), `model.${k}.1`);
      y = bnRelu(tf.conv2d(y, tf.transpose(t(`model.${k}.3.weight`), [2, 3, 1, 0]) as tf.Tensor4D, 1, 'valid'), `model.${k}.4`);
    }
    const pooled = tf.avgPool(y, 7, 7, 'valid');
    const flat = tf.reshape(pooled, [-1, y.shape[3]]);
    return tf.add(tf.matMul(flat, t('fc.weight'), false, true), t('fc.bias')).dataSync() as Float32Array;
  });
}

describe('PyTorch names', () => {
  it('OIHW <-> HWIO transposes are inverse and match the table', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i);
    const hwio = oihwToHwio(data, [2, 3, 4, 5]);
    // element [o=1, i=2, h=3, w=4] lands at [h=3, w=4, i=2, o=1]
    expect(hwio[((3 * 5 + 4) * 3 + 2) * 2 + 1]).toBe(((1 * 3 + 2) * 4 + 3) * 5 + 4);
    expect(hwioToOihw(hwio, [4, 5, 3, 2])).toEqual(data);
    expect(isTorchStateDict(['model.0.0.weight'])).toBe(true);
    expect(isTorchStateDict(['MobilenetV1/Conv2d_0/weights'])).toBe(false);
  });

  it('a safetensors state_dict of the seed model (alpha 0.25): detected, mapped, flavour torch, same logits as the seed in tf ops', async () => {
    const entries = stateDict(TORCH);
    expect(entries.map((e) => e.name).slice(0, 6)).toEqual(['model.0.0.weight', 'model.0.1.weight', 'model.0.1.bias', 'model.0.1.running_mean', 'model.0.1.running_var', 'model.0.1.num_batches_tracked']);
    expect(entries.find((e) => e.name === 'model.1.0.weight')!.shape).toEqual([8, 1, 3, 3]);
    expect(entries.find((e) => e.name === 'model.13.3.weight')!.shape).toEqual([256, 256, 1, 1]);
    expect(entries.find((e) => e.name === 'fc.weight')!.shape).toEqual([1000, 256]);
    const loaded = readSafetensorsModel(craftSafetensors(entries));
    expect(loaded.options).toEqual({ flavour: 'torch', inputSize: 224, depthMultiplier: 0.25, numClasses: 1000 });
    expect(loaded.pixelNormalization).toBe('torch-imagenet');
    expect(loaded.weights.get('MobilenetV1/Conv2d_1_depthwise/depthwise_weights')!.shape).toEqual([3, 3, 8, 1]);
    expect(loaded.weights.get('MobilenetV1/Logits/Conv2d_1c_1x1/weights')!.shape).toEqual([1, 1, 256, 1000]);
    expect(loaded.weights.has('MobilenetV1/Conv2d_0/BatchNorm/moving_variance')).toBe(true);

    const next = mulberry32(11);
    const batch = 2;
    const x = new Float32Array(batch * 224 * 224 * 3).map(() => (next() / 2 ** 32) * 4 - 2);
    const model = await createModel({ ...loaded.options, weights: loaded.weights });
    const ours = model.predict(new Tensor(x, [batch, 224, 224, 3])).data;
    await useTfjsBackend('cpu');
    const theirs = torchForward(entries, tf.tensor4d(x, [batch, 224, 224, 3]));
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < theirs.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
      scale = Math.max(scale, Math.abs(theirs[i]!));
    }
    console.log(`torch state_dict vs the seed in tf ops: max|diff| / max|logit| = ${(diff / scale).toExponential(2)}`);
    expect(diff / scale).toBeLessThanOrEqual(1e-4);
  });

  it('alpha derived from the shapes (0.5), module. prefix accepted, written back with torch names', () => {
    const options: MobileNetOptions = { flavour: 'torch', depthMultiplier: 0.5 };
    const loaded = readSafetensorsModel(craftSafetensors(stateDict(options, 5, 'module.')));
    expect(loaded.options.depthMultiplier).toBe(0.5);
    const again = readSafetensorsModel(writeSafetensors(loaded, { torchNames: true }));
    expect(again.options).toMatchObject({ flavour: 'torch', depthMultiplier: 0.5, numClasses: 1000 });
    for (const [name, t] of loaded.weights) expect(Buffer.from(again.weights.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
  });

  it('refuses unknown names, integer weights, wrong ranks and duplicates', () => {
    const entries = stateDict(TORCH);
    expectCode(() => readSafetensorsModel(craftSafetensors([...entries, { name: 'model.0.2.weight', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }])), ErrorCodes.WEIGHT_UNEXPECTED, /model\.0\.2\.weight/);
    expectCode(() => readSafetensorsModel(craftSafetensors([...entries, { name: 'head.weight', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }])), ErrorCodes.WEIGHT_UNEXPECTED, /head\.weight/);
    const asInt = entries.map((e) => (e.name === 'fc.bias' ? { ...e, dtype: 'I32' } : e));
    expectCode(() => readSafetensorsModel(craftSafetensors(asInt)), ErrorCodes.DTYPE, /fc\.bias: dtype I32/);
    const flat = entries.map((e) => (e.name === 'model.1.0.weight' ? { ...e, shape: [8 * 9] } : e));
    expectCode(() => readSafetensorsModel(craftSafetensors(flat)), ErrorCodes.WEIGHT_SHAPE, /model\.1\.0\.weight: expected a depthwise kernel/);
    const twice = [...entries, { ...entries[0]!, name: 'module.model.0.0.weight' }];
    expectCode(() => readSafetensorsModel(craftSafetensors(twice)), ErrorCodes.DUPLICATE_TENSOR);
    const missing = entries.filter((e) => e.name !== 'model.5.4.running_var');
    expectCode(() => readSafetensorsModel(craftSafetensors(missing)), ErrorCodes.WEIGHT_MISSING, /Conv2d_5_pointwise\/BatchNorm\/moving_variance/);
    expectCode(() => torchToSlim(new Map([['fc.weight', { shape: [3, 4, 5], dtype: 'F32', data: new Float32Array(60) }]])), ErrorCodes.WEIGHT_SHAPE);
  });
});
