/**
 * TF.js layers models (Keras MobileNet through tfjs-converter): crafted variants and refusals.
 * These fixtures are written programmatically (test/fixtures-gen/keras-mobilenet.ts) and the
 * oracle executes their Keras topology layer by layer in TensorFlow.js ops. The fixture built by
 * @tensorflow/tfjs-layers itself, with its own predict as the oracle, is in
 * tfjs-layers-real.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes, MobilenetError } from '../../src/errors.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { createModel } from '../../src/engine/create.js';
import { mulberry32 } from '../../src/model/random.js';
import { Tensor } from '../../src/tensor.js';
import { loadModelFile } from '../../src/formats/index.js';
import { parseTfjsLayersModel } from '../../src/formats/tfjs-layers.js';
import { readSafetensorsModel, writeSafetensors } from '../../src/formats/safetensors.js';
import { kerasMobileNet, runKerasTopology, type KerasFixture, type KerasFixtureOptions } from '../fixtures-gen/keras-mobilenet.js';
import { useTfjsBackend } from '../../oracles/tfjs.js';

const dir = mkdtempSync(join(tmpdir(), 'mobilenet-layers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

function save(f: KerasFixture, json: unknown = f.modelJson): string {
  const d = join(dir, `m${count++}`);
  mkdirSync(d);
  writeFileSync(join(d, 'model.json'), typeof json === 'string' ? json : JSON.stringify(json));
  for (const [name, bytes] of f.shards) writeFileSync(join(d, name), bytes);
  return d;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, message?: RegExp): Promise<void> {
  let thrown: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(MobilenetError);
  expect((thrown as MobilenetError).code).toBe(code);
  if (message) expect((thrown as Error).message).toMatch(message);
}

const top5 = (row: Float32Array) => [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, 5);

async function compare(o: KerasFixtureOptions, batch = 2): Promise<number> {
  const fixture = kerasMobileNet(o);
  const loaded = await loadModelFile(save(fixture));
  expect(loaded.format).toBe('tfjs-layers');
  expect(loaded.pixelNormalization).toBe('unit-signed');
  const [h, w] = buildArchitecture(loaded.options).inputShape;
  const next = mulberry32(5);
  const x = new Float32Array(batch * h * w * 3).map(() => (next() / 2 ** 32) * 2 - 1);
  const model = await createModel({ ...loaded.options, weights: loaded.weights });
  const ours = model.predict(new Tensor(x, [batch, h, w, 3])).data;
  await useTfjsBackend('cpu');
  const theirs = runKerasTopology(fixture.modelJson, [...fixture.shards.values()], tf.tensor4d(x, [batch, h, w, 3]));
  expect(ours.length).toBe(theirs.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < theirs.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
    scale = Math.max(scale, Math.abs(theirs[i]!));
  }
  const k = loaded.options.numClasses!;
  for (let n = 0; n < batch; n++) expect(top5(ours.subarray(n * k, (n + 1) * k))).toEqual(top5(theirs.subarray(n * k, (n + 1) * k)));
  console.log(`layers ${JSON.stringify(o)} vs Keras topology in tf ops: ${(diff / scale).toExponential(2)}`);
  expect(diff / scale).toBeLessThanOrEqual(1e-4);
  return diff / scale;
}

describe('TF.js layers model (Keras MobileNet)', () => {
  it('Keras >= 2.2: ZeroPadding2D((0,1),(0,1)) + VALID, ReLU(6), conv_preds head, 2 shards, alpha 0.25 @ 96', async () => {
    await compare({ alpha: 0.25, size: 96, shards: 2 });
    const loaded = parseTfjsLayersModel(kerasMobileNet({ alpha: 0.25, size: 96 }).modelJson, [...kerasMobileNet({ alpha: 0.25, size: 96 }).shards.values()]);
    expect(loaded.options).toEqual({ depthMultiplier: 0.25, inputSize: 96, numClasses: 1000, activation: 'relu6', batchNormEpsilon: 0.001 });
    expect(loaded.weights.get('MobilenetV1/Conv2d_3_depthwise/BatchNorm/moving_variance')!.shape).toEqual([32]);
  });

  it('older export: SAME everywhere, Activation(relu6), Dense head, odd maps fine (alpha 0.5 @ 112, 10 classes)', async () => {
    await compare({ alpha: 0.5, size: 112, style: 'keras21', head: 'dense', classes: 10 });
  });

  it('ZeroPadding2D((1,1)) + VALID: symmetric padding (alpha 0.25 @ 64), weight names with a prefix', async () => {
    await compare({ alpha: 0.25, size: 64, style: 'symmetric', prefix: 'mobilenet_0.25_64/' });
  });

  it('open input shape: 224 assumed; 256 with the Keras pads still pools globally', async () => {
    const open = parseTfjsLayersModel(kerasMobileNet({ alpha: 0.25, size: null, classes: 3 }).modelJson, [...kerasMobileNet({ alpha: 0.25, size: null, classes: 3 }).shards.values()]);
    expect(open.options.inputSize).toBe(224);
    const big = parseTfjsLayersModel(kerasMobileNet({ alpha: 0.25, size: 256, classes: 3 }).modelJson, [...kerasMobileNet({ alpha: 0.25, size: 256, classes: 3 }).shards.values()]);
    expect(big.options.globalPool).toBe(true);
  });

  it('Keras pads with an odd input at a stride-2 layer are refused (alpha 0.25 @ 112: conv_dw_12 gets 7x7)', async () => {
    const f = kerasMobileNet({ alpha: 0.25, size: 112 });
    await expectCode(loadModelFile(save(f)), ErrorCodes.OPTION, /conv_dw_12's input even.*gets 7x7/);
  });

  it('round trip through safetensors: same logits bit for bit', async () => {
    const f = kerasMobileNet({ alpha: 0.25, size: 96 });
    const loaded = await loadModelFile(join(save(f), 'model.json'));
    const back = readSafetensorsModel(writeSafetensors(loaded));
    const x = new Tensor(new Float32Array(96 * 96 * 3).map((_, i) => Math.sin(i)), [1, 96, 96, 3]);
    const a = (await createModel({ ...loaded.options, weights: loaded.weights })).predict(x).data;
    const b = (await createModel({ ...back.options, weights: back.weights })).predict(x).data;
    expect(b).toEqual(a);
  });
});

describe('TF.js layers model: bad inputs', () => {
  const f = () => kerasMobileNet({ alpha: 0.25, size: 64, classes: 5, seed: 2 });
  const json = (fx: KerasFixture) => JSON.parse(JSON.stringify(fx.modelJson));
  const layersOf = (j: any) => j.modelTopology.model_config.config.layers as any[];

  it('a missing shard, an HTML page as shard, short shards', async () => {
    const a = f();
    const d = save(a);
    rmSync(join(d, 'group1-shard1of1.bin'));
    await expectCode(loadModelFile(d), ErrorCodes.IO, /group1-shard1of1.bin/);
    const b = f();
    b.shards.set('group1-shard1of1.bin', new TextEncoder().encode('<!DOCTYPE html><html><body>404 Not Found</body></html>'));
    await expectCode(loadModelFile(save(b)), ErrorCodes.MANIFEST, /HTML page/);
    const c = f();
    const s = c.shards.get('group1-shard1of1.bin')!;
    c.shards.set('group1-shard1of1.bin', s.subarray(0, s.length - 4));
    await expectCode(loadModelFile(save(c)), ErrorCodes.BYTE_LENGTH, /needs \d+ bytes, has \d+; tensor conv_preds\/bias ends at byte/);
  });

  it('quantized, non-float32 or duplicated manifest entries', async () => {
    const j = json(f());
    j.weightsManifest[0].weights[0].quantization = { dtype: 'uint8', scale: 0.1, min: -1 };
    await expectCode(() => parseTfjsLayersModel(j, [...f().shards.values()]), ErrorCodes.MANIFEST, /quantized weights/);
    const k = json(f());
    k.weightsManifest[0].weights[0].dtype = 'int32';
    await expectCode(() => parseTfjsLayersModel(k, [...f().shards.values()]), ErrorCodes.DTYPE, /conv1\/kernel: dtype "int32"/);
    const l = json(f());
    l.weightsManifest[0].weights[1].name = 'conv1/kernel';
    await expectCode(() => parseTfjsLayersModel(l, [...f().shards.values()]), ErrorCodes.DUPLICATE_TENSOR);
  });

  it('an unsupported layer, a broken chain, a missing or extra weight', async () => {
    const j = json(f());
    const ls = layersOf(j);
    ls.splice(5, 0, { class_name: 'MaxPooling2D', config: { name: 'pool' }, inbound_nodes: [[[ls[4].name, 0, 0, {}]]] });
    ls[6].inbound_nodes = [[['pool', 0, 0, {}]]];
    await expectCode(() => parseTfjsLayersModel(j, [...f().shards.values()]), ErrorCodes.MANIFEST, /unsupported layer pool \(MaxPooling2D\)/);
    const k = json(f());
    layersOf(k)[10].inbound_nodes = [[['conv1', 0, 0, {}]]];
    await expectCode(() => parseTfjsLayersModel(k, [...f().shards.values()]), ErrorCodes.MANIFEST, /not a chain/);
    const m = json(f());
    m.weightsManifest[0].weights[0].name = 'conv1/kernel_renamed';
    await expectCode(() => parseTfjsLayersModel(m, [...f().shards.values()]), ErrorCodes.WEIGHT_MISSING, /conv1\/kernel/);
    const n = json(f());
    const shard = f().shards.get('group1-shard1of1.bin')!;
    n.weightsManifest[0].weights.push({ name: 'extra/kernel', shape: [1], dtype: 'float32' });
    const longer = new Uint8Array(shard.length + 4);
    longer.set(shard);
    await expectCode(() => parseTfjsLayersModel(n, [longer]), ErrorCodes.WEIGHT_UNEXPECTED, /extra\/kernel/);
  });

  it('a wrong stride or a channels_first layer is not this MobileNet; a graph model is not a layers model', async () => {
    const j = json(f());
    const dw = layersOf(j).find((l) => l.name === 'conv_dw_3');
    dw.config.strides = [2, 2];
    await expectCode(() => parseTfjsLayersModel(j, [...f().shards.values()]), ErrorCodes.MANIFEST);
    const k = json(f());
    layersOf(k).find((l) => l.name === 'conv_pw_1').config.data_format = 'channels_first';
    await expectCode(() => parseTfjsLayersModel(k, [...f().shards.values()]), ErrorCodes.MANIFEST, /channels_first/);
    await expectCode(() => parseTfjsLayersModel({ ...json(f()), format: 'graph-model' }, []), ErrorCodes.MANIFEST, /not "layers-model"/);
    await expectCode(() => parseTfjsLayersModel('<html>', []), ErrorCodes.HEADER_FORMAT, /HTML/);
  });
});
