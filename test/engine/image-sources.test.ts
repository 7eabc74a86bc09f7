// Every kind of image `classify` takes gives the same bits as the encoded bytes in a Uint8Array
// (which give the same bits as the long way: preprocessImage + normalizePixels + run), on the
// shared photos; classifyBatch over mixed kinds equals one classify per image, whatever the
// batch size; a batch with a broken file reports it by index and keeps the other results.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import ndarray from 'ndarray';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load } from '../../src/engine/load.js';
import type { Classification, MobileNet } from '../../src/engine/mobilenet.js';
import type { ImageInput } from '../../src/image/sources.js';
import { decodeImage, normalizePixels, preprocessImage } from '../../src/image/index.js';
import { mulberry32 } from '../../src/model/random.js';
import { Tensor } from '../../src/tensor.js';
import { requireShared, sharedDir, sharedPath } from '../helpers/shared.js';
import { DEFAULT_TFLITE, classificationDiff, expectSameClassifications, expectSameFloats, fileHandler, oracle, photoBytes, photoNames, rejection, startServer, type Oracle, type TestServer } from './helpers.js';

const HAVE = requireShared(DEFAULT_TFLITE, 'images/chelsea.png', 'images/parrot.jpg');
const K = 1001;

describe.skipIf(!HAVE)('classify: every image source kind, the same bits', () => {
  let model: MobileNet;
  let ref: Oracle;
  let server: TestServer;
  let photos: string[];
  const expected: Record<string, Classification[]> = {};

  beforeAll(async () => {
    [model, ref, server] = await Promise.all([load(), oracle(DEFAULT_TFLITE, 'tflite-uint8'), startServer(fileHandler(sharedDir, 64 << 10))]);
    photos = photoNames();
    for (const photo of photos) expected[photo] = ref.classifyBytes(photoBytes(photo), K, photo);
  });
  afterAll(async () => {
    model?.dispose();
    ref?.dispose();
    await server?.close();
  });

  const rgbaOf = (photo: string) => {
    const rgb = decodeImage(photoBytes(photo), photo);
    const data = new Uint8ClampedArray(rgb.width * rgb.height * 4);
    for (let i = 0; i < rgb.width * rgb.height; i++) {
      data.set(rgb.data.subarray(3 * i, 3 * i + 3), 4 * i);
      data[4 * i + 3] = (i * 37) & 255; // alpha is dropped, whatever it is
    }
    return { data, width: rgb.width, height: rgb.height };
  };

  /** One image of each kind, from a photo's file. */
  const KINDS: Record<string, (photo: string) => ImageInput> = {
    Uint8Array: (p) => photoBytes(p),
    ArrayBuffer: (p) => photoBytes(p).buffer,
    Buffer: (p) => readFileSync(sharedPath(`images/${p}`)),
    'Buffer at an offset in a larger ArrayBuffer': (p) => {
      const bytes = photoBytes(p);
      const backing = new ArrayBuffer(bytes.length + 13);
      const view = Buffer.from(backing, 5, bytes.length);
      view.set(bytes);
      new Uint8Array(backing).fill(0xee, 0, 5);
      return view;
    },
    Blob: (p) => new Blob([photoBytes(p)]),
    File: (p) => new File([photoBytes(p)], p, { type: p.endsWith('.png') ? 'image/png' : 'image/jpeg' }),
    'path string': (p) => sharedPath(`images/${p}`),
    'file: URL': (p) => pathToFileURL(sharedPath(`images/${p}`)),
    'file: URL string': (p) => pathToFileURL(sharedPath(`images/${p}`)).href,
    'http URL string': (p) => `${server.base}images/${p}`,
    'http URL object': (p) => new URL(`images/${p}`, server.base),
    'raw RGBA (Uint8ClampedArray)': (p) => rgbaOf(p),
    'raw RGB (Uint8Array)': (p) => decodeImage(photoBytes(p), p),
    'Tensor, normalised': (p) => normalizePixels([preprocessImage(photoBytes(p), 160, p)], 160, 'tflite-uint8'),
    ndarray: (p) => {
      const t = normalizePixels([preprocessImage(photoBytes(p), 160, p)], 160, 'tflite-uint8');
      return ndarray(Array.from(t.data), [1, 160, 160, 3]);
    },
    'ndarray, a transposed view (NCHW storage)': (p) => {
      const t = normalizePixels([preprocessImage(photoBytes(p), 160, p)], 160, 'tflite-uint8');
      const nchw = new Float32Array(t.size);
      for (let i = 0; i < 160 * 160; i++) for (let c = 0; c < 3; c++) nchw[c * 160 * 160 + i] = t.data[3 * i + c]!;
      return ndarray(nchw, [1, 3, 160, 160]).transpose(0, 2, 3, 1);
    },
  };

  for (const [kind, make] of Object.entries(KINDS)) {
    it(`${kind}: the same bits as the Uint8Array bytes on every shared photo`, async () => {
      expect(photos).toHaveLength(8);
      for (const photo of photos) {
        expectSameClassifications(await model.classify(make(photo), K), expected[photo]!, `${kind}: ${photo}`);
      }
    });
  }

  it('the baseline itself: Uint8Array bytes give a different answer per photo (the comparison can fail)', () => {
    expect(classificationDiff(expected['chelsea.png']!, expected['parrot.jpg']!)).not.toBeNull();
  });

  it('an http URL is read from the server, once per call', async () => {
    const before = server.requests.length;
    await model.classify(`${server.base}images/rocket.jpg`, 1);
    expect(server.requests.slice(before)).toEqual(['/images/rocket.jpg']);
  });

  it('raw pixels already at 160x160 pass through unchanged: the run of exactly those pixels, normalised', async () => {
    const random = mulberry32(7);
    const rgb = Uint8Array.from({ length: 160 * 160 * 3 }, () => Math.floor(random() * 256));
    const want = ref.top(normalizePixels([rgb], 160, 'tflite-uint8'), K)[0]!;
    expectSameClassifications(await model.classify({ data: rgb, width: 160, height: 160 }, K), want, 'RGB 160x160');
    const rgba = new Uint8ClampedArray(160 * 160 * 4);
    for (let i = 0; i < 160 * 160; i++) rgba.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, 255 - (i & 255)], 4 * i);
    expectSameClassifications(await model.classify({ data: rgba, width: 160, height: 160 }, K), want, 'RGBA 160x160');
    // And not a crop or resize of them: one pixel changed in a corner changes the answer's bits.
    const other = rgb.slice();
    other[0] = 255 - other[0]!;
    expect(classificationDiff(await model.classify({ data: other, width: 160, height: 160 }, K), want)).not.toBeNull();
  });

  it('classifyBatch over mixed kinds: one list per image, equal to classify, with batchSize 1, 3 and 8', async () => {
    const kinds = Object.values(KINDS);
    const images = photos.map((p, i) => kinds[(i * 3) % kinds.length]!(p));
    images.push(KINDS['Tensor, normalised']!('chelsea.png'), KINDS['path string']!('dog.png'), KINDS['raw RGB (Uint8Array)']!('rocket.jpg'));
    const names = [...photos, 'chelsea.png', 'dog.png', 'rocket.jpg'];
    const single = names.map((p) => expected[p]!.slice(0, 3));
    for (const batchSize of [1, 3, 8]) {
      const got = await model.classifyBatch(images, 3, { batchSize });
      expect(got, `batchSize ${batchSize}`).toHaveLength(images.length);
      got.forEach((top, i) => expectSameClassifications(top, single[i]!, `batchSize ${batchSize}, image ${i} (${names[i]})`));
    }
    expect(await model.classifyBatch([])).toEqual([]);
  });

  it('classifyBatch of a Tensor [N, 160, 160, 3]: one list per row', async () => {
    const rows = ['bird.png', 'coffee.png', 'grace_hopper.png'].map((p) => preprocessImage(photoBytes(p), 160, p));
    const got = await model.classifyBatch(normalizePixels(rows, 160, 'tflite-uint8'), 4);
    expect(got).toHaveLength(3);
    ['bird.png', 'coffee.png', 'grace_hopper.png'].forEach((p, i) => expectSameClassifications(got[i]!, expected[p]!.slice(0, 4), p));
  });

  it('classifyBatch with one broken file: rejects with its code, and carries .results and .failures', async () => {
    const truncated = photoBytes('parrot.jpg').subarray(0, 600);
    const images: ImageInput[] = [photoBytes('bird.png'), sharedPath('images/cat.png'), truncated, photoBytes('coffee.png')];
    const e = await rejection(model.classifyBatch(images, 2, { batchSize: 3 }), 'ERR_IMAGE_DECODE', /1 of 4 images failed/);
    const { results, failures } = e as unknown as { results: (Classification[] | null)[]; failures: { index: number; code: string; message: string }[] };
    expect(results).toHaveLength(4);
    expect(results[2]).toBeNull();
    for (const [i, p] of [[0, 'bird.png'], [1, 'cat.png'], [3, 'coffee.png']] as const) expectSameClassifications(results[i]!, expected[p]!.slice(0, 2), p);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toEqual({ index: 2, code: 'ERR_IMAGE_DECODE', message: expect.stringMatching(/^images\[2\]: /) });
    expect(e.message).toContain(failures[0]!.message);
  });

  it('classifyBatch with a missing path and a non-image: every failure by index, in order', async () => {
    const missing = sharedPath('images/no-such-photo.png');
    const images: ImageInput[] = [missing, photoBytes('dog.png'), new Uint8Array(10)];
    const e = await rejection(model.classifyBatch(images, 1, { batchSize: 2 }), 'ERR_IO', /2 of 3 images failed/);
    const { results, failures } = e as unknown as { results: (Classification[] | null)[]; failures: { index: number; code: string; message: string }[] };
    expect(results[0]).toBeNull();
    expectSameClassifications(results[1]!, expected['dog.png']!.slice(0, 1), 'dog.png');
    expect(results[2]).toBeNull();
    expect(failures.map((f) => [f.index, f.code])).toEqual([
      [0, 'ERR_IO'],
      [2, 'ERR_IMAGE_DECODE'],
    ]);
    expect(failures[0]!.message).toContain('no-such-photo.png');
  });

  it('the Tensor given is not modified, nor the pixels', async () => {
    const t = KINDS['Tensor, normalised']!('cat.png') as Tensor;
    const copy = t.data.slice();
    await model.classify(t, 1);
    expectSameFloats(t.data, copy, 'the Tensor');
    const raw = decodeImage(photoBytes('cat.png'));
    const before = raw.data.slice();
    await model.classify(raw, 1);
    expect(Buffer.compare(raw.data, before), 'the pixels').toBe(0);
  });
});
