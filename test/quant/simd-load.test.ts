/**
 * `load(file)` (the default; `dequantize: false` says it explicitly): a uint8 or int8 TFLite file computed in integers, on the
 * wasm integer kernels and on the integer reference, against the oracle (the integer reference
 * run here on the same pixels: `preprocessImage`, `pixelsToQuantizedInput`,
 * `runQuantizedReference`): classify's probability = the softmax integer / 256 exactly, its logit
 * the dequantized logit, every class; embed and run dequantized; runIntegers as TFLite's
 * tensors. The arena against the float path's on the same file.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import { loadModelFile } from '../../src/formats/index.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { preprocessImage } from '../../src/image/pipeline.js';
import { dequantizeEndpoint, pixelsToQuantizedInput, readTfliteQuantized, runQuantizedReference, type QuantizedModel } from '../../src/quant/index.js';
import { expectCode } from '../helpers/errors.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { makeInt8MobileNet } from './helpers/int8-mobilenet.js';

const MODEL = 'models/mobilenet_v1_0.5_160_quant/mobilenet_v1_0.5_160_quant.tflite';
const PHOTOS = ['chelsea.png', 'parrot.jpg', 'grace_hopper.png'];
const HAVE = requireShared(MODEL, ...PHOTOS.map((p) => `images/${p}`));
const read = (rel: string) => new Uint8Array(readFileSync(sharedPath(rel)));

/** The oracle's top-K: the integer reference's Predictions / 256 and dequantized Logits, ordered by logit, ties by index. */
function oracleClassify(q: QuantizedModel, image: Uint8Array, name: string, topK: number) {
  const size = q.input.shape[1]!;
  const x = pixelsToQuantizedInput(q, [preprocessImage(image, size, name)]);
  const out = runQuantizedReference(q, x, 1, new Set(['Logits', 'Predictions']));
  const logits = dequantizeEndpoint(out.get('Logits')!);
  const p = out.get('Predictions')!;
  const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  return order.slice(0, topK).map((index) => ({ index, probability: (p.data[index]! - p.zeroPoint) / 256, logit: logits[index]! }));
}

describe.skipIf(!HAVE)('load(uint8 TFLite): integers by default', () => {
  let wasm: MobileNet;
  let reference: MobileNet;
  let float: MobileNet;
  let q: QuantizedModel;
  beforeAll(async () => {
    wasm = await load(sharedPath(MODEL));
    reference = await load(sharedPath(MODEL), { dequantize: false, backend: 'reference' });
    float = await load(sharedPath(MODEL), { dequantize: true });
    q = readTfliteQuantized(read(MODEL));
  });
  afterAll(() => {
    wasm?.dispose();
    reference?.dispose();
    float?.dispose();
  });

  it('says what computes: dtype uint8 on both backends (the default and dequantize: false); dequantize: true is float32', () => {
    expect([wasm.dtype, wasm.backend, reference.dtype, reference.backend, float.dtype]).toEqual(['uint8', 'wasm', 'uint8', 'reference', 'float32']);
    expect(wasm.labels).toEqual(float.labels);
    expect(wasm.normalization).toBe('tflite-uint8');
    expect(wasm.inputShape).toEqual([160, 160, 3]);
    expect(wasm.numClasses).toBe(1001);
  });

  it('plans an arena at most 0.35x the float path\'s on the same file (weights as bytes, activations as bytes)', () => {
    const ratio = wasm.memoryBytes! / float.memoryBytes!;
    console.log(`0.5 @ 160: integer arena ${wasm.memoryBytes} bytes, float ${float.memoryBytes} (x${ratio.toFixed(3)})`);
    expect(ratio).toBeLessThanOrEqual(0.35);
    expect(reference.memoryBytes).toBeNull();
  });

  it('classify: every class equal to the oracle (probability = integer / 256 exactly, logit dequantized), wasm and reference', async () => {
    for (const photo of PHOTOS) {
      const bytes = read(`images/${photo}`);
      const want = oracleClassify(q, bytes, photo, 1001);
      for (const model of [wasm, reference]) {
        const got = await model.classify(bytes, 1001);
        expect(got.map(({ index, probability, logit }) => ({ index, probability, logit })), `${photo} ${model.backend}`).toEqual(want);
        expect(got[0]!.label).toBe(wasm.labels![want[0]!.index]);
        for (const c of got) expect(Number.isInteger(c.probability * 256)).toBe(true);
      }
      const top = (await wasm.classify(bytes, 1))[0]!;
      const floatTop = (await float.classify(bytes, 1))[0]!;
      console.log(`${photo}: integer top-1 ${top.label} (p = ${top.probability}), float top-1 ${floatTop.label} (p = ${floatTop.probability.toFixed(4)})`);
    }
  });

  it('classifyBatch runs the images as one integer batch, the same answers', async () => {
    const images = PHOTOS.map((p) => read(`images/${p}`));
    const batch = await wasm.classifyBatch(images, 5, { batchSize: 3 });
    for (const [i, photo] of PHOTOS.entries()) expect(batch[i]).toEqual(await reference.classify(images[i]!, 5));
    expect(batch.map((b) => b[0]!.index)).toEqual(PHOTOS.map((p, i) => oracleClassify(q, images[i]!, p, 1)[0]!.index));
  });

  it('embed and run: the integer end points dequantized; runIntegers: the integers with scale and zero point', async () => {
    const bytes = read('images/parrot.jpg');
    const x = pixelsToQuantizedInput(q, [preprocessImage(bytes, 160, 'parrot.jpg')]);
    const ref = runQuantizedReference(q, x, 1);
    expect(await wasm.embed(bytes)).toEqual(dequantizeEndpoint(ref.get('AvgPool_1a')!));
    expect(await wasm.embed(bytes, { endpoint: 'Conv2d_13_pointwise' })).toEqual(dequantizeEndpoint(ref.get('Conv2d_13_pointwise')!));
    const ints = wasm.runIntegers(x as Uint8Array, 1, ['Conv2d_3_depthwise', 'Logits', 'Predictions']);
    for (const name of ['Conv2d_3_depthwise', 'Logits', 'Predictions']) {
      const e = ref.get(name)!;
      expect(ints[name]).toEqual(e);
    }
    expect(ints.Predictions!.scale).toBe(1 / 256);
    expectCode(() => float.runIntegers(x as Uint8Array, 1), 'ERR_OPTION');
    expectCode(() => wasm.runIntegers(new Int8Array(x.length), 1), 'ERR_INPUT');
    expectCode(() => wasm.runIntegers(x as Uint8Array, 1, ['Conv2d_99']), 'ERR_OPTION');
  });

  it('refuses a non-boolean dequantize and architecture options on the integer path (ERR_OPTION, pointing to dequantize: true)', async () => {
    await expect(load(sharedPath(MODEL), { dequantize: 'no' as unknown as boolean })).rejects.toMatchObject({ code: 'ERR_OPTION' });
    await expect(load(sharedPath(MODEL), { dequantize: false, alpha: 0.5 })).rejects.toMatchObject({ code: 'ERR_OPTION' });
    await expect(load(sharedPath(MODEL), { alpha: 0.5 })).rejects.toMatchObject({ code: 'ERR_OPTION', message: expect.stringMatching(/pass dequantize: true/) });
    const f = await load(sharedPath(MODEL), { alpha: 0.5, dequantize: true });
    expect(f.dtype).toBe('float32');
    f.dispose();
  });

  it("precision: 'fast' does not apply to integers: model.precision says exact, a note says why once", async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const m = await load(sharedPath(MODEL), { precision: 'fast', backend: 'reference' });
      expect([m.dtype, m.precision, m.fusedMultiplyAdd]).toEqual(['uint8', 'exact', false]);
      m.dispose();
      const said = warn.mock.calls.map((c) => String(c[0])).filter((s) => /computes in integers/.test(s));
      expect(said).toEqual(['mobilenet-wasm: precision: "fast" asked, running "exact": the model computes in integers (a uint8 or int8 TFLite file; load it with dequantize: true for the float path and its fast tier)']);
    } finally {
      warn.mockRestore();
    }
  });

  it('dequantize: true is the float path, the same answers as loadModelFile + createModel', async () => {
    const loaded = await loadModelFile(sharedPath(MODEL));
    const m = await createModel({ ...loaded.options, weights: loaded.weights, labels: loaded.labels!, normalization: loaded.pixelNormalization });
    expect(m.dtype).toBe('float32');
    const bytes = read('images/chelsea.png');
    expect(await float.classify(bytes, 3)).toEqual(await m.classify(bytes, 3));
    m.dispose();
  });
});

describe('load(int8 TFLite bytes, { dequantize: false })', () => {
  it('an int8 per-channel model (the test writer): dtype int8, classify equal to the oracle on both backends', async () => {
    const size = 96;
    const calibration = new Uint8Array(size * size * 3).map((_, i) => (i * 37) % 256);
    const file = makeInt8MobileNet({ alpha: 0.25, size, classes: 101, logits: 'conv', seed: 5, calibration });
    const q = readTfliteQuantized(file);
    const image = { data: new Uint8Array(size * size * 3).map((_, i) => (i * 11 + 7) % 256), width: size, height: size };
    const x = pixelsToQuantizedInput(q, [image.data]);
    const ref = runQuantizedReference(q, x, 1, new Set(['Logits', 'Predictions']));
    const logits = dequantizeEndpoint(ref.get('Logits')!);
    const p = ref.get('Predictions')!;
    for (const backend of ['wasm', 'reference'] as const) {
      const m = await load(file, { dequantize: false, backend });
      expect(m.dtype).toBe('int8');
      const got = await m.classify(image, 101);
      expect(got).toHaveLength(101);
      for (const c of got) {
        expect(c.logit).toBe(logits[c.index]);
        expect(c.probability).toBe((p.data[c.index]! + 128) / 256);
      }
      m.dispose();
    }
  });
});
