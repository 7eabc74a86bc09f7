// `load()` with no argument: the model shipped in assets/ (MobileNet v1 0.5 @ 160, uint8 TFLite),
// computed in integers (TFLite's arithmetic), its labels and normalisation found without being
// asked. Every answer is checked against the long way: loadModelFile + the integer reference
// (readTfliteQuantized, backend 'reference') + preprocessImage + normalizePixels + run, top-K
// sorted here. `embed` against run(x, { outputs }). `dequantize: true`: the float path, against
// loadModelFile + createModel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load } from '../../src/engine/load.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { repoRoot, requireShared, sharedPath } from '../helpers/shared.js';
import { DEFAULT_TFLITE, expectSameClassifications, expectSameFloats, oracle, photoBytes, photoNames, type Oracle } from './helpers.js';

const HAVE = requireShared(DEFAULT_TFLITE, 'images/chelsea.png', 'images/parrot.jpg');

describe.skipIf(!HAVE)('load() with no argument', () => {
  let model: MobileNet;
  let ref: Oracle;
  beforeAll(async () => {
    model = await load();
    ref = await oracle(DEFAULT_TFLITE, 'tflite-uint8');
  });
  afterAll(() => {
    model?.dispose();
    ref?.dispose();
  });

  it('loads the file in assets/, which is the shared MobileNet v1 0.5 @ 160 uint8 TFLite', () => {
    const asset = readFileSync(join(repoRoot, 'assets', 'mobilenet_v1_0.5_160_quant.tflite'));
    expect(asset.equals(readFileSync(sharedPath(DEFAULT_TFLITE)))).toBe(true);
    expect(model.inputShape).toEqual([160, 160, 3]);
    expect(model.architecture.options.depthMultiplier).toBe(0.5);
    expect(model.normalization).toBe('tflite-uint8');
    expect(model.backend).toBe('wasm');
    expect(model.inWorker).toBe(false);
    expect(model.numClasses).toBe(1001);
    expect(model.dtype).toBe('uint8');
    expect(model.precision).toBe('exact');
  });

  it("has the TFLite file's embedded 1001 labels, background first", () => {
    expect(ref.loaded.labels).toHaveLength(1001);
    expect(model.labels).toHaveLength(1001);
    expect(model.labels![0]).toBe('background');
    expect(model.labels).toEqual(ref.loaded.labels);
  });

  it('classifies every shared photo with the same bits as the long way (all 1001 classes)', async () => {
    const photos = photoNames();
    expect(photos).toHaveLength(8);
    for (const photo of photos) {
      const bytes = photoBytes(photo);
      const got = await model.classify(bytes, 1001);
      expectSameClassifications(got, ref.classifyBytes(bytes, 1001, photo), photo);
      console.log(`default model, ${photo}: top-1 ${got[0]!.label} (p = ${got[0]!.probability.toFixed(4)})`);
    }
  });

  it('topK defaults to 5 and cuts the same ordered list', async () => {
    const bytes = photoBytes('chelsea.png');
    const five = await model.classify(bytes);
    expect(five).toHaveLength(5);
    expectSameClassifications(five, ref.classifyBytes(bytes, 5, 'chelsea.png'), 'default topK');
    expectSameClassifications(await model.classify(bytes, 2000), ref.classifyBytes(bytes, 1001, 'chelsea.png'), 'topK above the class count');
  });

  it('embed(image): the 512 pooled features, equal to run(x, { outputs: [AvgPool_1a] })', async () => {
    for (const photo of ['chelsea.png', 'parrot.jpg']) {
      const bytes = photoBytes(photo);
      const features = await model.embed(bytes);
      expect(features).toHaveLength(512);
      const expected = ref.model.run(ref.input(bytes, photo), { outputs: ['AvgPool_1a'] }).AvgPool_1a!;
      expect(expected.shape).toEqual([1, 1, 1, 512]);
      expectSameFloats(features, expected.data, photo);
    }
  });

  it('embed(image, { endpoint: Conv2d_13_pointwise }): the flattened 5x5x512 activation', async () => {
    const bytes = photoBytes('parrot.jpg');
    const features = await model.embed(bytes, { endpoint: 'Conv2d_13_pointwise' });
    const expected = ref.model.run(ref.input(bytes), { outputs: ['Conv2d_13_pointwise'] }).Conv2d_13_pointwise!;
    expect(expected.shape).toEqual([1, 5, 5, 512]);
    expectSameFloats(features, expected.data, 'Conv2d_13_pointwise');
  });

  it('dequantize: true: the float path on the dequantized weights, against loadModelFile + createModel', async () => {
    const float = await load(undefined, { dequantize: true });
    const floatRef = await oracle(DEFAULT_TFLITE, 'tflite-uint8', { float: true });
    try {
      expect(float.dtype).toBe('float32');
      for (const photo of ['chelsea.png', 'parrot.jpg']) {
        const bytes = photoBytes(photo);
        expectSameClassifications(await float.classify(bytes, 1001), floatRef.classifyBytes(bytes, 1001, photo), `${photo}, dequantize: true`);
      }
    } finally {
      float.dispose();
      floatRef.dispose();
    }
  });
});
