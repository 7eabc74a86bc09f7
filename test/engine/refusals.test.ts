// What load() and the image API refuse, each with its code and a message naming what was given
// and what is accepted. Nothing here may fail with a TypeError or a RangeError, or answer NaN.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { loadModelFile } from '../../src/formats/index.js';
import { normalizePixels, preprocessImage } from '../../src/image/index.js';
import type { ImageInput } from '../../src/image/sources.js';
import type { WeightMap } from '../../src/model/weights.js';
import { Tensor } from '../../src/tensor.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { DEFAULT_TFLITE, photoBytes, rejection, startServer, type TestServer } from './helpers.js';

const HAVE = requireShared(DEFAULT_TFLITE, 'images/chelsea.png');
const ACCEPTED = /expected encoded PNG or JPEG bytes .* or a Tensor \/ ndarray/;

describe.skipIf(!HAVE)('load() refuses', () => {
  for (const [given, named] of [
    [null, /got null$/],
    [42, /got number$/],
    [{}, /got Object$/],
    ['', /got an empty string$/],
    [[1, 2], /got Array$/],
  ] as const) {
    it(`load(${JSON.stringify(given)}): ERR_INPUT naming it and what is accepted`, async () => {
      const e = await rejection(load(given as never), 'ERR_INPUT', named);
      expect(e.message).toMatch(/^load: expected a path, a URL, bytes \(Uint8Array, ArrayBuffer\), a Blob or File, or a Response, or nothing for the default model/);
    });
  }

  it('a path that does not exist: ERR_IO naming the path', async () => {
    const missing = join(tmpdir(), 'no-such-folder-mobilenet', 'model.tflite');
    await rejection(load(missing), 'ERR_IO', new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read \\(ENOENT\\)`));
  });

  it('an unknown option: ERR_OPTION naming it and listing the options', async () => {
    const e = await rejection(load(undefined, { lables: ['a'] } as never), 'ERR_OPTION', /^option lables: expected one of the load options /);
    expect(e.message).toMatch(/labels, normalization, backend/);
    expect(e.message).toContain('got ["a"]');
  });

  it('options that are not an object, and bad values of known options', async () => {
    await rejection(load(undefined, null as never), 'ERR_OPTION', /option load options: expected an object, got null/);
    await rejection(load(undefined, { worker: 'yes' } as never), 'ERR_OPTION', /option worker: expected true or false, got "yes"/);
    await rejection(load(undefined, { normalization: 'imagenet' } as never), 'ERR_OPTION', /option normalization: expected one of unit-signed, tflite-uint8, torch-imagenet, got "imagenet"/);
    await rejection(load(undefined, { onProgress: 3 } as never), 'ERR_OPTION', /option onProgress: expected a function, got 3/);
    await rejection(load(undefined, { labels: 7 } as never), 'ERR_OPTION', /option labels: expected a list of class names, or the path or URL of a labels file, got 7/);
    await rejection(load(undefined, { labels: ['only', 'three', 'labels'] }), 'ERR_OPTION', /option labels: expected 1001 labels \(one per class\), got 3/);
  });

  it("decoder: 'platform' in Node: ERR_OPTION, at load and per call", async () => {
    await rejection(load(undefined, { decoder: 'platform' }), 'ERR_OPTION', /option decoder: expected "auto" or "js" \(this runtime has no image decoder of its own\), got "platform"/);
    await rejection(load(undefined, { decoder: 'sharp' } as never), 'ERR_OPTION', /option decoder: expected "auto", "js", "platform", got "sharp"/);
  });

  it('a fetch that returns null: ERR_IO naming the URL, not a TypeError', async () => {
    const nullFetch = (async () => null) as unknown as typeof fetch;
    await rejection(load('http://127.0.0.1:9/model.tflite', { fetch: nullFetch }), 'ERR_IO', /^http:\/\/127\.0\.0\.1:9\/model\.tflite: fetch returned null, not a Response/);
    await rejection(load('http://127.0.0.1:9/folder/', { fetch: nullFetch }), 'ERR_IO', /127\.0\.0\.1:9\/folder\/model\.json: fetch returned null/);
    await rejection(load(undefined, { labels: 'http://127.0.0.1:9/labels.txt', fetch: nullFetch }), 'ERR_IO', /labels\.txt: fetch returned null/);
    await rejection(load('http://127.0.0.1:9/model.tflite', { fetch: (() => ({})) as unknown as typeof fetch }), 'ERR_IO', /fetch returned object, not a Response/);
    await rejection(load('http://127.0.0.1:9/model.tflite', { fetch: (async () => { throw new TypeError('boom'); }) as typeof fetch }), 'ERR_IO', /model\.tflite: boom/);
  });
});

describe.skipIf(!HAVE)('the model refuses', () => {
  let model: MobileNet;
  let server: TestServer;
  let good: Uint8Array;
  beforeAll(async () => {
    model = await load();
    good = photoBytes('chelsea.png');
    server = await startServer(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 300));
      res.writeHead(200).end(Buffer.from(good));
    });
  });
  afterAll(async () => {
    model?.dispose();
    await server?.close();
  });

  for (const [given, named, code] of [
    [undefined, /got undefined$/, 'ERR_INPUT'],
    [null, /got null$/, 'ERR_INPUT'],
    [42, /got a number \(42\)$/, 'ERR_INPUT'],
    [{}, /got a Object$/, 'ERR_INPUT'],
    [{ data: [1, 2, 3], width: 1, height: 1 }, /got a Object$/, 'ERR_INPUT'],
    [true, /got a boolean \(true\)$/, 'ERR_INPUT'],
  ] as const) {
    it(`classify(${JSON.stringify(given) ?? 'undefined'}): ${code} naming it and what is accepted`, async () => {
      await rejection(model.classify(given as never), code, named);
      await rejection(model.classify(given as never), code, ACCEPTED);
      await rejection(model.embed(given as never), code, named);
    });
  }

  it("classify(''): ERR_INPUT, an empty string is neither a path nor a URL", async () => {
    await rejection(model.classify(''), 'ERR_INPUT', /^image: an empty string is not a path or URL; expected encoded PNG/);
  });

  it('classify(new Uint8Array(10)): ERR_IMAGE_DECODE with the first bytes', async () => {
    await rejection(model.classify(new Uint8Array(10)), 'ERR_IMAGE_DECODE', /^image bytes: not a PNG or JPEG file \(starts with 00 00 00 00 00 00 00 00\)/);
    await rejection(model.classify(new Uint8Array(0)), 'ERR_IMAGE_DECODE', /the file is empty/);
    await rejection(model.classify(new Blob([new Uint8Array(10)])), 'ERR_IMAGE_DECODE', /^Blob: not a PNG or JPEG file/);
    await rejection(model.classify(new File([new Uint8Array(10)], 'x.png')), 'ERR_IMAGE_DECODE', /^x\.png: not a PNG or JPEG file/);
  });

  it('a truncated PNG or JPEG: ERR_IMAGE_DECODE naming the format', async () => {
    await rejection(model.classify(good.subarray(0, 400)), 'ERR_IMAGE_DECODE', /image bytes: cannot decode PNG/);
    await rejection(model.classify(photoBytes('parrot.jpg').subarray(0, 400)), 'ERR_IMAGE_DECODE', /image bytes: cannot decode JPEG/);
  });

  const header = (text: string, length: number, at = 0, more: [number, string][] = []) => {
    const b = new Uint8Array(length);
    b.set([...text].map((c) => c.charCodeAt(0)), at);
    for (const [i, t] of more) b.set([...t].map((c) => c.charCodeAt(0)), i);
    return b;
  };
  for (const [format, bytes] of [
    ['GIF', header('GIF89a', 64)],
    ['WEBP', header('RIFF', 64, 0, [[8, 'WEBPVP8 ']])],
    ['BMP', header('BM', 64)],
    ['AVIF', header('ftypavif', 64, 4)],
  ] as const) {
    it(`a ${format} in Node: ERR_IMAGE_FORMAT naming the format and what to do`, async () => {
      const m = new RegExp(`^image bytes: a ${format} image; this runtime decodes PNG and JPEG only .*convert it, or decode it yourself and pass \\{ data, width, height \\}`);
      await rejection(model.classify(bytes), 'ERR_IMAGE_FORMAT', m);
      // By content, never by name: a GIF called .png is a GIF.
      const path = join(mkdtempSync(join(tmpdir(), 'refusals-')), 'photo.png');
      writeFileSync(path, bytes);
      await rejection(model.classify(path), 'ERR_IMAGE_FORMAT', new RegExp(`photo\\.png: a ${format} image`));
    });
  }

  it('raw pixels of the wrong length or size: ERR_INPUT with the numbers', async () => {
    await rejection(model.classify({ data: new Uint8Array(301), width: 10, height: 10 }), 'ERR_INPUT', /^pixels: 10x10 pixels need 400 bytes \(RGBA\) or 300 \(RGB\), data has 301$/);
    await rejection(model.classify({ data: new Uint8ClampedArray(0), width: 0, height: 0 }), 'ERR_INPUT', /width and height must be positive integers, got 0x0/);
    await rejection(model.classify({ data: new Uint8Array(300), width: 10.5, height: 10 }), 'ERR_INPUT', /got 10\.5x10/);
  });

  it('a Tensor of the wrong shape: ERR_INPUT with the shape expected and given', async () => {
    const t224 = new Tensor(new Float32Array(224 * 224 * 3), [1, 224, 224, 3]);
    await rejection(model.classify(t224), 'ERR_INPUT', /^classify: expected a tensor of shape \[N, 160, 160, 3\], got \[1, 224, 224, 3\]$/);
    await rejection(model.embed(t224), 'ERR_INPUT', /^embed: expected a tensor of shape \[N, 160, 160, 3\], got \[1, 224, 224, 3\]$/);
    await rejection(model.classify(new Tensor(new Float32Array(160 * 160 * 3), [160, 160, 3])), 'ERR_INPUT', /got \[160, 160, 3\]/);
    const two = new Tensor(new Float32Array(2 * 160 * 160 * 3), [2, 160, 160, 3]);
    await rejection(model.classify(two), 'ERR_INPUT', /classify: expected one image, got a batch of 2; use classifyBatch/);
  });

  it('a Tensor of the wrong shape inside a classifyBatch list: that image fails by index, the others are answered', async () => {
    const x = normalizePixels([preprocessImage(good, 160)], 160, 'tflite-uint8');
    for (const shape of [[1, 100, 100, 3], [1, 224, 224, 3]]) {
      const bad = new Tensor(new Float32Array(shape.reduce((a, b) => a * b)), shape);
      const e = await rejection(model.classifyBatch([x, bad, good], 1), 'ERR_INPUT', /1 of 3 images failed/);
      const { results, failures } = e as unknown as { results: unknown[]; failures: { index: number; code: string; message: string }[] };
      expect(results[1]).toBeNull();
      expect(results[0]).toEqual(results[2]);
      expect(failures).toEqual([{ index: 1, code: 'ERR_INPUT', message: `images[1]: expected a tensor of shape [N, 160, 160, 3], got [${shape.join(', ')}]` }]);
    }
  });

  it('topK 0, 1.5, -1, NaN, "5": ERR_OPTION', async () => {
    for (const k of [0, 1.5, -1, NaN, '5']) {
      await rejection(model.classify(good, k as number), 'ERR_OPTION', new RegExp(`^option topK: expected a positive integer, got ${typeof k === 'string' ? '"5"' : String(k).replace('.', '\\.')}$`));
      await rejection(model.classifyBatch([good], k as number), 'ERR_OPTION', /option topK: expected a positive integer/);
    }
  });

  it('classifyBatch options and inputs: batchSize, a non-list', async () => {
    for (const b of [0, 2.5, 5000]) await rejection(model.classifyBatch([good], 1, { batchSize: b }), 'ERR_OPTION', /option batchSize: expected an integer from 1 to 4096/);
    await rejection(model.classifyBatch(good as never), 'ERR_INPUT', /^classifyBatch: expected a list of images or a Tensor \[N, H, W, 3\], got a Uint8Array$/);
  });

  it('call options: decoder platform, a bad orientation, an unknown end point, options that are not an object', async () => {
    await rejection(model.classify(good, 1, { decoder: 'platform' }), 'ERR_OPTION', /option decoder: expected "auto" or "js" \(this runtime has no image decoder of its own\)/);
    await rejection(model.classify(good, 1, { orientation: 'yes' as never }), 'ERR_OPTION', /option orientation: expected true or false, got "yes"/);
    await rejection(model.embed(good, { endpoint: 'Conv2d_99' }), 'ERR_OPTION', /^option endpoint: expected one of Conv2d_0, .*AvgPool_1a, .*Predictions, got "Conv2d_99"$/);
    await rejection(model.classify(good, 1, null as never), 'ERR_OPTION', /option classify options: expected an object, got null/);
  });

  it('a fetch option that returns null: ERR_IO, not a TypeError', async () => {
    await rejection(model.classify('http://127.0.0.1:9/cat.png', 1, { fetch: (async () => null) as never }), 'ERR_IO', /^http:\/\/127\.0\.0\.1:9\/cat\.png: fetch returned null, not a Response$/);
    await rejection(model.embed(new URL('http://127.0.0.1:9/cat.png'), { fetch: (() => undefined) as never }), 'ERR_IO', /fetch returned undefined, not a Response/);
  });

  it('an AbortSignal already fired: ERR_ABORTED, whatever the image', async () => {
    for (const image of [good, `${server.base}slow.png`, sharedPath('images/chelsea.png')]) {
      await rejection(model.classify(image, 1, { signal: AbortSignal.abort() }), 'ERR_ABORTED', /aborted$/);
    }
    await rejection(model.classifyBatch([good, good], 1, { signal: AbortSignal.abort() }), 'ERR_ABORTED', /^images\[0\]: aborted$/);
    await rejection(model.embed(good, { signal: AbortSignal.abort() }), 'ERR_ABORTED', /^embed: aborted$/);
    await rejection(model.classify(good, 1, { signal: 'now' as never }), 'ERR_OPTION', /option signal: expected an AbortSignal, got "now"/);
  });

  it('an http error status: ERR_IO with the status', async () => {
    const s = await startServer((_req, res) => void res.writeHead(404).end('nope'));
    try {
      await rejection(model.classify(`${s.base}cat.png`), 'ERR_IO', /cat\.png: HTTP 404 Not Found$/);
    } finally {
      await s.close();
    }
  });

  it('any call after dispose: ERR_DISPOSED; one already reading its image when disposed too', async () => {
    const m = await load();
    const pending = m.classify(`${server.base}slow.png`, 1);
    await new Promise((r) => setTimeout(r, 50));
    m.dispose();
    await rejection(pending, 'ERR_DISPOSED', /model: used after dispose\(\)/);
    await rejection(m.classify(good), 'ERR_DISPOSED');
    await rejection(m.classifyBatch([good]), 'ERR_DISPOSED');
    await rejection(m.embed(good), 'ERR_DISPOSED');
    await rejection(m.classify(undefined as never), 'ERR_DISPOSED');
    expect(() => m.run(new Tensor(new Float32Array(160 * 160 * 3), [1, 160, 160, 3]))).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    m.dispose(); // twice is fine
  });
});

describe.skipIf(!HAVE)('models that cannot classify, or whose outputs overflow', () => {
  let weights: WeightMap;
  let options: Awaited<ReturnType<typeof loadModelFile>>['options'];
  beforeAll(async () => {
    ({ weights, options } = await loadModelFile(sharedPath(DEFAULT_TFLITE)));
  });

  it('classify on a model without classifier (numClasses 0): ERR_OPTION pointing to embed; embed works', async () => {
    const m = await createModel({ depthMultiplier: 0.25, inputSize: 32, numClasses: 0, seed: 1 });
    expect(m.numClasses).toBe(0);
    await rejection(m.classify({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 }), 'ERR_OPTION', /classify: this model has no classifier .*; use embed/);
    await rejection(m.classifyBatch([]), 'ERR_OPTION', /no classifier/);
    const features = await m.embed({ data: new Uint8Array(32 * 32 * 3).fill(90), width: 32, height: 32 });
    expect(features).toHaveLength(256);
    m.dispose();
  });

  const scaled = (factor: (v: number) => number) => {
    const w = new Map(weights);
    const name = 'MobilenetV1/Logits/Conv2d_1c_1x1/weights';
    const t = w.get(name)!;
    w.set(name, { ...t, data: t.data.map(factor) });
    return w;
  };

  it('weights scaled until the logits overflow float32: ERR_OUTPUT_NONFINITE, never NaN probabilities', async () => {
    // Every weight finite (|w| <= 3e38), but 512 pooled features times them overflow.
    const w = scaled((v) => (v >= 0 ? 3e38 : -3e38));
    const m = await createModel({ ...options, weights: w, normalization: 'tflite-uint8' });
    const image = photoBytes('chelsea.png');
    await rejection(m.classify(image), 'ERR_OUTPUT_NONFINITE', /^Logits: element \d+ is (-?Infinity|NaN); the inputs or weights overflow float32 in this model$/);
    await rejection(m.classifyBatch([image, image]), 'ERR_OUTPUT_NONFINITE');
    await rejection(m.embed(image, { endpoint: 'Logits' }), 'ERR_OUTPUT_NONFINITE');
    // The pooled features, before the overflow, are still fine.
    expect((await m.embed(image)).every(Number.isFinite)).toBe(true);
    m.dispose();
  });

  it('large but finite logits: finite probabilities that sum to 1 (the softmax does not overflow)', async () => {
    const m = await createModel({ ...options, weights: scaled((v) => v * 1e4), normalization: 'tflite-uint8' });
    const top = await m.classify(photoBytes('chelsea.png'), 1001);
    expect(Math.abs(top[0]!.logit)).toBeGreaterThan(1e3);
    expect(top.every((c) => Number.isFinite(c.probability) && Number.isFinite(c.logit))).toBe(true);
    expect(Math.abs(top.reduce((s, c) => s + c.probability, 0) - 1)).toBeLessThan(1e-5);
    m.dispose();
  });
});

describe('classifyBatch names each bad value by its index', () => {
  it('a non-image value inside classifyBatch is named by index', async () => {
    const m = await createModel({ depthMultiplier: 0.25, inputSize: 32, numClasses: 3, seed: 2, normalization: 'tflite-uint8' });
    const px: ImageInput = { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 };
    const e = await rejection(m.classifyBatch([px, 42 as never, px], 1), 'ERR_INPUT', /1 of 3 images failed; the first: images\[1\]: expected encoded PNG/);
    expect((e as unknown as { failures: unknown[] }).failures).toEqual([{ index: 1, code: 'ERR_INPUT', message: expect.stringMatching(/^images\[1\]: expected .* got a number \(42\)$/) }]);
    m.dispose();
  });
});
