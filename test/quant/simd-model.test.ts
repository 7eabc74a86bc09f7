/**
 * The integer path on the wasm kernels against the integer reference, bit for bit: the three
 * shared uint8 models (Coral's MobileNet v1 0.25 @ 128, 0.5 @ 160, 0.75 @ 192) on the photos,
 * batch 1 and batch > 1, every end point; an int8 per-channel model written by the test writer;
 * the SIMD kernels and their scalar twins.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { preprocessImage } from '../../src/image/pipeline.js';
import { pixelsToQuantizedInput, readTfliteQuantized, runQuantizedReference, type QuantizedEndpoint } from '../../src/quant/index.js';
import { QuantWasmRunner } from '../../src/quant/wasm.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { makeInt8MobileNet } from './helpers/int8-mobilenet.js';
import { q8Module } from './helpers/q8.js';

const MODELS = [
  { name: 'mobilenet_v1_0.25_128_quant', size: 128 },
  { name: 'mobilenet_v1_0.5_160_quant', size: 160 },
  { name: 'mobilenet_v1_0.75_192_quant', size: 192 },
] as const;
const PHOTOS = ['bird.png', 'cat.png', 'chelsea.png', 'coffee.png', 'dog.png', 'grace_hopper.png', 'parrot.jpg', 'rocket.jpg'];
const HAVE = requireShared(...MODELS.map((m) => `models/${m.name}/${m.name}.tflite`), ...PHOTOS.map((p) => `images/${p}`));
const read = (rel: string) => new Uint8Array(readFileSync(sharedPath(rel)));

/** The first few differing entries of every end point (empty: identical). */
function differences(expected: Map<string, QuantizedEndpoint>, actual: Map<string, QuantizedEndpoint>): string[] {
  const out: string[] = [];
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    expect(a.shape).toEqual(e.shape);
    expect(a.data.constructor).toBe(e.data.constructor);
    expect([a.scale, a.zeroPoint, a.dtype]).toEqual([e.scale, e.zeroPoint, e.dtype]);
    let shown = 0;
    for (let i = 0; i < e.data.length && shown < 3; i++) {
      if (a.data[i] !== e.data[i]) {
        out.push(`${name}[${i}]: expected ${e.data[i]}, got ${a.data[i]}`);
        shown++;
      }
    }
  }
  return out;
}

describe.skipIf(!HAVE)('the shared uint8 models: wasm integer kernels = the integer reference', () => {
  const REFERENCE = new Map<string, Map<string, QuantizedEndpoint>>();
  for (const m of MODELS) {
    for (const scalar of [false, true]) {
      it(`${m.name}, ${scalar ? 'scalar twins' : 'SIMD'}: every end point, 8 photos in a batch of 8, and one by one`, async () => {
        const model = readTfliteQuantized(read(`models/${m.name}/${m.name}.tflite`));
        const x = pixelsToQuantizedInput(model, PHOTOS.map((p) => preprocessImage(read(`images/${p}`), m.size, p)));
        const runner = new QuantWasmRunner(model, await q8Module(), undefined, scalar);
        // The reference's answer on the 8 photos, once per model (the slow part).
        let batch = REFERENCE.get(m.name);
        if (!batch) REFERENCE.set(m.name, (batch = runQuantizedReference(model, x, PHOTOS.length)));
        expect(differences(batch, runner.run(x, PHOTOS.length))).toEqual([]);
        const per = x.length / PHOTOS.length;
        for (let i = 0; i < (scalar ? 1 : 3); i++) {
          const one = x.subarray(i * per, (i + 1) * per);
          const keep = new Set(['Conv2d_13_pointwise', 'Logits', 'Predictions']);
          expect(differences(runQuantizedReference(model, one, 1, keep), runner.run(one, 1, keep))).toEqual([]);
        }
        runner.dispose();
      });
    }
  }
});

describe('int8 models (the test writer): wasm integer kernels = the integer reference', () => {
  for (const spec of [
    { alpha: 0.25, size: 96, classes: 101, logits: 'conv' as const, seed: 5 },
    { alpha: 0.25, size: 65, classes: 11, logits: 'fc' as const, seed: 9 },
    { alpha: 0.5, size: 64, classes: 17, logits: 'conv' as const, seed: 3, perTensor: true },
    { alpha: 0.25, size: 72, classes: 5, logits: 'fc' as const, seed: 4, floatIO: true },
  ]) {
    it(`alpha ${spec.alpha} @ ${spec.size}, ${spec.classes} classes, logits by ${spec.logits}${'perTensor' in spec ? ', per-tensor weights' : ''}${'floatIO' in spec ? ', float input and output (QUANTIZE, DEQUANTIZE)' : ''}, batch 3`, async () => {
      const calibration = new Uint8Array(spec.size * spec.size * 3).map((_, i) => (i * 37) % 256);
      const model = readTfliteQuantized(makeInt8MobileNet({ ...spec, calibration }));
      expect(model.dtype).toBe('int8');
      const images = [0, 1, 2].map((s) => new Uint8Array(spec.size * spec.size * 3).map((_, i) => (i * (s + 7) + s * 13) % 256));
      const x = pixelsToQuantizedInput(model, images);
      for (const scalar of [false, true]) {
        const runner = new QuantWasmRunner(model, await q8Module(), undefined, scalar);
        expect(differences(runQuantizedReference(model, x, 3), runner.run(x, 3))).toEqual([]);
        runner.dispose();
      }
    });
  }
});
