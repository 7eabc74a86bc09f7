/**
 * The integer path on N threads (the threads build's integer steps, assembly/q8/tiles.ts) gives
 * the integers of one thread and of the integer reference, on every end point: the three shared
 * uint8 models on the photos and int8 models from the test writer, batch 1 and 3, threads 2 and
 * 3 (3: more threads than this machine's cores, other item counts). Through `load`: threads: 2
 * runs threaded without the old one-thread warning. A worker that dies fails the run with
 * ERR_WORKER within the stall timeout (no hang); dispose ends the workers.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { platform } from '#platform';
import { load } from '../../src/index.js';
import { preprocessImage } from '../../src/image/pipeline.js';
import { pixelsToQuantizedInput, readTfliteQuantized, runQuantizedReference, type QuantizedEndpoint, type QuantizedModel } from '../../src/quant/index.js';
import { QuantWasmRunner, createQuantWasm } from '../../src/quant/wasm.js';
import { tuning, type ThreadPool } from '../../src/wasm/threads/pool.js';
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
const THREADS = [2, 3] as const;

const threaded = (model: QuantizedModel, threads: number) => createQuantWasm(model, { threading: { threads, spawn: platform.spawnThread! } });

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

/**
 * Every end point of `x` (batch 3) and of its first image (batch 1), and a few end points asked
 * for alone: threads 2 and 3 against one thread; batch 3 against the integer reference too.
 */
async function compare(model: QuantizedModel, x: Uint8Array | Int8Array): Promise<void> {
  const per = x.length / 3;
  const one = new QuantWasmRunner(model, await q8Module());
  const many = await Promise.all(THREADS.map((t) => threaded(model, t)));
  try {
    expect(many.map((r) => r.threads)).toEqual([...THREADS]);
    // Every convolution but the classifier (too few Mult-Adds with few classes) is cut into several items at batch 3.
    for (const r of many) {
      const items = r.workItems(3);
      const whole = model.layers.flatMap((l, i) => (l.type === 'conv' && l.name !== 'Logits' && items[i]! < 2 ? [l.name] : []));
      expect(whole, `threads ${r.threads}: layers in one item`).toEqual([]);
    }
    const reference = runQuantizedReference(model, x, 3);
    const single3 = one.run(x, 3);
    expect(differences(reference, single3)).toEqual([]);
    const first = x.subarray(0, per);
    const single1 = one.run(first, 1);
    const some = new Set([model.endpoints[0]!, model.endpoints[Math.floor(model.endpoints.length / 2)]!, model.endpoints.at(-1)!]);
    const singleSome = one.run(first, 1, some);
    for (const r of many) {
      expect(differences(single3, r.run(x, 3)), `threads ${r.threads} batch 3`).toEqual([]);
      expect(differences(single1, r.run(first, 1)), `threads ${r.threads} batch 1`).toEqual([]);
      expect(differences(singleSome, r.run(first, 1, some)), `threads ${r.threads} batch 1, ${[...some].join(', ')}`).toEqual([]);
      // Batch 3 again after batch 1 (descriptors rewritten, the memory as grown).
      expect(differences(single3, r.run(x, 3)), `threads ${r.threads} batch 3 again`).toEqual([]);
    }
  } finally {
    one.dispose();
    for (const r of many) r.dispose();
  }
}

describe.skipIf(!HAVE)('the shared uint8 models: threads 2 and 3 = one thread = the integer reference, every end point', () => {
  for (const m of MODELS) {
    it(`${m.name}: batch 3 and batch 1`, async () => {
      const model = readTfliteQuantized(read(`models/${m.name}/${m.name}.tflite`));
      const x = pixelsToQuantizedInput(model, PHOTOS.slice(0, 3).map((p) => preprocessImage(read(`images/${p}`), m.size, p)));
      await compare(model, x);
    }, 120_000);
  }
});

describe('int8 models (the test writer): threads 2 and 3 = one thread = the integer reference', () => {
  for (const spec of [
    { alpha: 0.25, size: 96, classes: 101, logits: 'conv' as const, seed: 5 },
    { alpha: 0.25, size: 65, classes: 11, logits: 'fc' as const, seed: 9 },
    { alpha: 0.5, size: 64, classes: 17, logits: 'conv' as const, seed: 3, perTensor: true },
  ]) {
    it(`alpha ${spec.alpha} @ ${spec.size}, ${spec.classes} classes, logits by ${spec.logits}${'perTensor' in spec ? ', per-tensor weights' : ''}`, async () => {
      const calibration = new Uint8Array(spec.size * spec.size * 3).map((_, i) => (i * 37) % 256);
      const model = readTfliteQuantized(makeInt8MobileNet({ ...spec, calibration }));
      expect(model.dtype).toBe('int8');
      const images = [0, 1, 2].map((s) => new Uint8Array(spec.size * spec.size * 3).map((_, i) => (i * (s + 7) + s * 13) % 256));
      await compare(model, pixelsToQuantizedInput(model, images));
    }, 60_000);
  }
});

describe.skipIf(!HAVE)('load(uint8 TFLite, { dequantize: false, threads })', () => {
  const MODEL = 'models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite';
  const saved = { ...tuning };
  afterAll(() => Object.assign(tuning, saved));

  it('threads: 2 runs on 2 threads without a warning: classify, every end point, the integers of threads: 1', async () => {
    const warn = vi.spyOn(console, 'warn');
    const one = await load(sharedPath(MODEL), { dequantize: false });
    const two = await load(sharedPath(MODEL), { dequantize: false, threads: 2 });
    try {
      expect(warn).not.toHaveBeenCalled();
      expect([one.threads, two.threads]).toEqual([1, 2]);
      const photos = PHOTOS.slice(0, 3).map((p) => read(`images/${p}`));
      expect(await two.classifyBatch(photos, 5)).toEqual(await one.classifyBatch(photos, 5));
      const x = pixelsToQuantizedInput(readTfliteQuantized(read(MODEL)), photos.map((b, i) => preprocessImage(b, 128, PHOTOS[i]!))) as Uint8Array;
      const all = [...one.endpoints];
      const a = one.runIntegers(x, 3, all);
      const b = two.runIntegers(x, 3, all);
      for (const name of all) expect(Array.from(b[name]!.data), name).toEqual(Array.from(a[name]!.data));
    } finally {
      one.dispose();
      two.dispose();
      warn.mockRestore();
    }
  }, 60_000);

  it('a worker that dies fails a run with ERR_WORKER within the stall timeout; the model then refuses runs; dispose works', async () => {
    tuning.stallMs = 300;
    tuning.sliceMs = 20;
    const model = await load(sharedPath(MODEL), { dequantize: false, threads: 2 });
    const pool = (model as unknown as { backendImpl: { engine: { pool: ThreadPool } } }).backendImpl.engine.pool;
    expect(pool.workerCount).toBe(1);
    const x = new Uint8Array(128 * 128 * 3).map((_, i) => (i * 31) % 256);
    const expected = model.runIntegers(x, 1, ['Predictions']).Predictions!.data;
    pool.terminateWorker(0);
    let error: unknown;
    const t0 = performance.now();
    for (let run = 0; run < 3 && !error; run++) {
      try {
        expect(Array.from(model.runIntegers(x, 1, ['Predictions']).Predictions!.data)).toEqual(Array.from(expected));
      } catch (e) {
        error = e;
      }
    }
    expect(error).toMatchObject({ name: 'MobilenetError', code: 'ERR_WORKER' });
    expect(performance.now() - t0).toBeLessThan(3 * (300 + 2000));
    expect(() => model.runIntegers(x, 1, ['Predictions'])).toThrow(expect.objectContaining({ code: 'ERR_WORKER' }) as Error);
    model.dispose();
    expect(() => model.runIntegers(x, 1)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }) as Error);
  }, 60_000);
});
