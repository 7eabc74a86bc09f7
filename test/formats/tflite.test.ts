/**
 * The three Coral uint8 TFLite models (shared/models, PROVENANCE.md section 2): structure,
 * labels, and our reference path on the shared photos against TensorFlow.js running the same
 * dequantized weights with its own ops (oracles/tfjs.ts: BatchNorm folded, TF SAME
 * padding decided by tf.js itself). Plus crafted bad files, each with its code.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { createModel } from '../../src/engine/create.js';
import { Tensor } from '../../src/tensor.js';
import { normalizePixels, preprocessImage } from '../../src/image/index.js';
import { loadModelFile } from '../../src/formats/index.js';
import { Flatbuffer, parseTflite, readTfliteModel } from '../../src/formats/tflite.js';
import { runTfjsOracle } from '../../oracles/tfjs.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { expectCode } from '../helpers/errors.js';

const MODELS = [
  { name: '0.25_128', alpha: 0.25, size: 128 },
  { name: '0.5_160', alpha: 0.5, size: 160 },
  { name: '0.75_192', alpha: 0.75, size: 192 },
] as const;
const modelPath = (m: string) => `models/mobilenet_v1_${m}_quant/mobilenet_v1_${m}_quant.tflite`;
const PHOTOS = ['chelsea.png', 'coffee.png', 'rocket.jpg', 'grace_hopper.png', 'cat.png', 'dog.png', 'bird.png', 'parrot.jpg'];
const HAVE = requireShared(...MODELS.map((m) => modelPath(m.name)), 'models/imagenet_labels_1001.txt', ...PHOTOS.map((p) => `images/${p}`));

const read = (rel: string) => new Uint8Array(readFileSync(sharedPath(rel)));


function topK(row: Float32Array, k: number): number[] {
  return [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, k);
}

describe.skipIf(!HAVE)('TFLite uint8 MobileNets (Coral)', () => {
  for (const m of MODELS) {
    it(`${m.name}: alpha ${m.alpha} @ ${m.size}, 1001 classes, 31 operators, labels from the appended zip`, () => {
      const parsed = parseTflite(read(modelPath(m.name)));
      expect(parsed.version).toBe(3);
      expect(parsed.operators.length).toBe(31);
      const loaded = readTfliteModel(read(modelPath(m.name)));
      expect(loaded.format).toBe('tflite');
      expect(loaded.options).toEqual({ depthMultiplier: m.alpha, inputSize: m.size, numClasses: 1001 });
      expect(loaded.pixelNormalization).toBe('tflite-uint8');
      const labels = readFileSync(sharedPath('models/imagenet_labels_1001.txt'), 'utf8').trimEnd().split('\n');
      expect(loaded.labels).toEqual(labels);
      expect(loaded.weights.size).toBe(28 * 2);
      const arch = buildArchitecture(loaded.options);
      expect(arch.layers.find((l) => l.kind === 'avgpool')!.kernel).toEqual([m.size / 32, m.size / 32]);
      // A folded model: biases, no BatchNorm vectors; layouts as the layer table says.
      expect(loaded.weights.get('MobilenetV1/Conv2d_0/weights')!.shape).toEqual([3, 3, 3, Math.max(8, 32 * m.alpha)]);
      expect(loaded.weights.get('MobilenetV1/Logits/Conv2d_1c_1x1/weights')!.shape).toEqual([1, 1, 1024 * m.alpha, 1001]);
    });
  }

  it('dequantizes as scale * (q - zero_point) into the TF layouts (spot check against the raw buffers)', () => {
    const bytes = read(modelPath('0.25_128'));
    const raw = parseTflite(bytes);
    const loaded = readTfliteModel(bytes);
    const conv0 = raw.operators[0]!;
    const filter = raw.tensors[conv0.inputs[1]!]!; // OHWI [8, 3, 3, 3]
    const bias = raw.tensors[conv0.inputs[2]!]!;
    const q = raw.buffers[filter.buffer]!;
    const w = loaded.weights.get('MobilenetV1/Conv2d_0/weights')!; // HWIO [3, 3, 3, 8]
    for (const [o, y, x, i] of [[0, 0, 0, 0], [7, 2, 1, 2], [3, 1, 2, 0]] as const) {
      const real = Math.fround(filter.scale[0]! * (q[((o * 3 + y) * 3 + x) * 3 + i]! - filter.zeroPoint[0]!));
      expect(w.data[((y * 3 + x) * 3 + i) * 8 + o]).toBe(real);
    }
    const b = raw.buffers[bias.buffer]!;
    const q5 = new DataView(b.buffer, b.byteOffset).getInt32(5 * 4, true);
    expect(loaded.weights.get('MobilenetV1/Conv2d_0/biases')!.data[5]).toBe(Math.fround(bias.scale[0]! * q5));
  });

  for (const m of MODELS) {
    it(`${m.name}: reference path = TensorFlow.js ops on the same dequantized weights (top-5, logits within 1e-4 of max|logit|)`, async () => {
      const loaded = await loadModelFile(sharedPath(modelPath(m.name)));
      const model = await createModel({ ...loaded.options, weights: loaded.weights, labels: loaded.labels });
      const photos = m.name === '0.25_128' ? PHOTOS : PHOTOS.slice(0, 4);
      const rgb = photos.map((p) => preprocessImage(read(`images/${p}`), m.size, p));
      const per = m.size * m.size * 3;
      const input = new Float32Array(photos.length * per);
      rgb.forEach((img, n) => input.set(normalizePixels([img], m.size, loaded.pixelNormalization).data, n * per));
      const ours = model.predict(new Tensor(input, [photos.length, m.size, m.size, 3])).data;
      const oracle = (await runTfjsOracle(model.architecture, loaded.weights, input, photos.length)).get('Logits')!;
      let worst = 0;
      const lines: string[] = [];
      photos.forEach((p, n) => {
        const a = ours.subarray(n * 1001, (n + 1) * 1001);
        const b = oracle.subarray(n * 1001, (n + 1) * 1001);
        let diff = 0;
        let scale = 0;
        for (let k = 0; k < 1001; k++) {
          diff = Math.max(diff, Math.abs(a[k]! - b[k]!));
          scale = Math.max(scale, Math.abs(b[k]!));
        }
        worst = Math.max(worst, diff / scale);
        expect(topK(a, 5)).toEqual(topK(b, 5));
        lines.push(`${p}: ${loaded.labels![topK(a, 1)[0]!]} (rel err ${(diff / scale).toExponential(2)})`);
      });
      // The uint8 model's own logits tensor (the SOFTMAX input) can represent only
      // scale * ([0, 255] - zero_point): dequantized float logits must fall inside it (a
      // wrong weight scale or zero point would blow them far outside).
      const raw = parseTflite(read(modelPath(m.name)));
      const softmax = raw.operators[raw.operators.length - 1]!;
      const q = raw.tensors[softmax.inputs[0]!]!;
      const [lo, hi] = [-q.zeroPoint[0]! * q.scale[0]!, (255 - q.zeroPoint[0]!) * q.scale[0]!];
      const [min, max] = [Math.min(...ours), Math.max(...ours)];
      lines.push(`logits in [${min.toFixed(2)}, ${max.toFixed(2)}], the uint8 logits tensor spans [${lo.toFixed(2)}, ${hi.toFixed(2)}]`);
      expect(min).toBeGreaterThan(lo - 0.05 * (hi - lo));
      expect(max).toBeLessThan(hi + 0.05 * (hi - lo));
      expect(max).toBeGreaterThan(0.5 * hi);
      console.log(`tflite ${m.name} vs tfjs: worst relative logit error ${worst.toExponential(2)}\n  ${lines.join('\n  ')}`);
      expect(worst).toBeLessThanOrEqual(1e-4);
      model.dispose();
    });
  }

  it('0.75_192 recognises the photos as PROVENANCE.md says (cat, espresso)', async () => {
    const loaded = readTfliteModel(read(modelPath('0.75_192')));
    const model = await createModel({ ...loaded.options, weights: loaded.weights, labels: loaded.labels });
    const x = normalizePixels([preprocessImage(read('images/chelsea.png'), 192)], 192, 'tflite-uint8').data;
    const top = (await model.classify(new Tensor(x, [1, 192, 192, 3]), 5)).map((c) => c.label);
    expect(top.join('|')).toMatch(/cat/);
    const y = normalizePixels([preprocessImage(read('images/coffee.png'), 192)], 192, 'tflite-uint8').data;
    expect((await model.classify(new Tensor(y, [1, 192, 192, 3]), 5)).map((c) => c.label)).toContain('espresso');
  });
});

describe.skipIf(!HAVE)('TFLite: bad files', () => {
  const good = () => read(modelPath('0.25_128'));

  it('empty or shorter than the 8-byte prefix: ERR_FILE_TOO_SHORT', () => {
    expectCode(() => readTfliteModel(new Uint8Array(0)), ErrorCodes.FILE_TOO_SHORT);
    expectCode(() => readTfliteModel(good().subarray(0, 7)), ErrorCodes.FILE_TOO_SHORT);
  });

  it('wrong file identifier', () => {
    const b = good();
    b[7] = 0x34; // TFL4
    expectCode(() => readTfliteModel(b), ErrorCodes.TFLITE, /identifier is "TFL4", expected "TFL3"/);
  });

  it('root offset past the end', () => {
    const b = good();
    new DataView(b.buffer).setUint32(0, b.length + 10, true);
    expectCode(() => readTfliteModel(b), ErrorCodes.TFLITE, /needs bytes .* the buffer has 525598/);
  });

  it('truncated inside the flatbuffer: offsets and vector lengths checked', () => {
    expectCode(() => readTfliteModel(good().subarray(0, 100_000)), ErrorCodes.TFLITE, /buffer has 100000/);
  });

  it('a vector length beyond the buffer', () => {
    const b = good();
    const model = new Flatbuffer(b, 'tflite').root('Model');
    const v = model.vector(4, 'buffers', 4)!; // buffers
    new DataView(b.buffer).setUint32(v.start - 4, 0x7fffffff, true);
    expectCode(() => readTfliteModel(b), ErrorCodes.TFLITE, /Model.buffers declares 2147483647 elements/);
  });

  it('an unsupported operator is named', () => {
    const b = good();
    const model = new Flatbuffer(b, 'tflite').root('Model');
    const pool = model.tables(1, 'operator_codes').find((oc) => oc.i8(0, 'x', 0) === 1)!; // AVERAGE_POOL_2D
    b[pool.field(0, 1, 'deprecated_builtin_code')!] = 17; // MAX_POOL_2D
    expectCode(() => readTfliteModel(b), ErrorCodes.TFLITE, /unsupported operator 27 \(MAX_POOL_2D\)/);
  });

  it('a pool with SAME padding, or a convolution without ReLU6, is not this MobileNet', () => {
    const b = good();
    const pool = parseTflite(b).operators[27]!; // AVERAGE_POOL_2D, padding VALID (SAME is the default, so left out of convolutions)
    b[pool.options!.field(0, 1, 'padding')!] = 0;
    expectCode(() => readTfliteModel(b), ErrorCodes.TFLITE, /operator 27 \(AVERAGE_POOL_2D\) has padding SAME, expected VALID/);
    const c = good();
    const act = parseTflite(c).operators[0]!.options!.field(3, 1, 'fused_activation_function')!;
    c[act] = 1; // RELU
    expectCode(() => readTfliteModel(c), ErrorCodes.TFLITE, /Conv2d_0\) fuses RELU; expected RELU6/);
    const d = good();
    const stride = parseTflite(d).operators[1]!.options!.field(1, 4, 'stride_w')!; // Conv2d_1_depthwise, stride 1
    new DataView(d.buffer).setInt32(stride, 2, true);
    expectCode(() => readTfliteModel(d), ErrorCodes.TFLITE, /strides 1x2/);
  });

  it('a weight buffer of the wrong size', () => {
    const b = good();
    const raw = parseTflite(b);
    const filter = raw.tensors[raw.operators[0]!.inputs[1]!]!;
    const model = new Flatbuffer(b, 'tflite').root('Model');
    const buf = model.tables(4, 'buffers')[filter.buffer]!;
    const v = buf.vector(0, 'data', 1)!;
    new DataView(b.buffer).setUint32(v.start - 4, v.length - 1, true);
    expectCode(() => readTfliteModel(b), ErrorCodes.TFLITE, /needs 216 bytes, buffer \d+ has 215/);
  });

  it('without the appended zip: loads, with no labels', () => {
    const b = good();
    const zipAt = b.length - 21_822; // the zip holds one stored 21686-byte file
    expect(new DataView(b.buffer).getUint32(zipAt, true)).toBe(0x04034b50);
    const loaded = readTfliteModel(b.subarray(0, zipAt));
    expect(loaded.labels).toBeUndefined();
    expect(loaded.options.numClasses).toBe(1001);
  });
});
