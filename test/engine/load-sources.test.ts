// load() from every kind of source: the float TF.js model by path (labels found beside it) and
// by URL (with progress and abort), the TFLite file as a URL, Blob, Response, ArrayBuffer; the
// labels option; alpha as depthMultiplier. Expected answers come from loadModelFile +
// createModel + preprocessImage + normalizePixels + run (helpers.ts), or from the files.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import type { Classification, MobileNet } from '../../src/engine/mobilenet.js';
import type { LoadProgress } from '../../src/fetch.js';
import { normalizePixels, preprocessImage } from '../../src/image/index.js';
import { Tensor } from '../../src/tensor.js';
import { mulberry32 } from '../../src/model/random.js';
import { requireShared, sharedDir, sharedPath } from '../helpers/shared.js';
import {
  DEFAULT_TFLITE,
  FLOAT_TFJS,
  expectSameClassifications,
  expectSameFloats,
  fileHandler,
  oracle,
  photoBytes,
  rejection,
  startServer,
  type Oracle,
  type TestServer,
} from './helpers.js';

const HAVE = requireShared(DEFAULT_TFLITE, `${FLOAT_TFJS}/model.json`, `${FLOAT_TFJS}/group1-shard1of1.bin`, 'models/imagenet_labels_1001.txt', 'images/chelsea.png', 'images/parrot.jpg');
const PHOTOS = ['chelsea.png', 'parrot.jpg'];
const sharedLabels = () => readFileSync(sharedPath('models/imagenet_labels_1001.txt'), 'utf8').replace(/\n$/, '').split('\n');

describe.skipIf(!HAVE)('load() from every kind of source', () => {
  let server: TestServer;
  let floatRef: Oracle;
  let tfliteRef: Oracle;
  let tmp: string;
  let stalledClosed: Promise<boolean> | null = null;
  const floatExpected: Record<string, Classification[]> = {};
  const tfliteExpected: Record<string, Classification[]> = {};

  beforeAll(async () => {
    const files = fileHandler(sharedDir, 32 << 10);
    server = await startServer(async (req, res) => {
      if (req.url!.startsWith('/stall/')) {
        // model.json as it is; the shard's first 64 KiB, then nothing more until the client goes.
        if (req.url!.endsWith('model.json')) {
          res.writeHead(200).end(readFileSync(sharedPath(`${FLOAT_TFJS}/model.json`)));
          return;
        }
        res.writeHead(200, { 'content-length': 1870388 });
        res.write(readFileSync(sharedPath(`${FLOAT_TFJS}/group1-shard1of1.bin`)).subarray(0, 65536));
        stalledClosed = new Promise((resolve) => res.once('close', () => resolve(true)));
        return;
      }
      return files(req, res);
    });
    floatRef = await oracle(FLOAT_TFJS, 'unit-signed');
    tfliteRef = await oracle(DEFAULT_TFLITE, 'tflite-uint8');
    for (const p of PHOTOS) {
      floatExpected[p] = floatRef.top(floatRef.input(photoBytes(p), p), 1001, sharedLabels())[0]!;
      tfliteExpected[p] = tfliteRef.classifyBytes(photoBytes(p), 1001, p);
    }
    tmp = mkdtempSync(join(tmpdir(), 'load-sources-'));
  });
  afterAll(async () => {
    floatRef?.dispose();
    tfliteRef?.dispose();
    await server?.close();
  });

  const expectClassifies = async (model: MobileNet, expected: Record<string, Classification[]>, what: string) => {
    for (const p of PHOTOS) expectSameClassifications(await model.classify(photoBytes(p), 1001), expected[p]!, `${what}: ${p}`);
  };

  it('the float TF.js folder by path: [-1, 1] input, 224, and the 1001 labels of the file one folder above', async () => {
    const model = await load(sharedPath(FLOAT_TFJS));
    expect(model.inputShape).toEqual([224, 224, 3]);
    expect(model.normalization).toBe('unit-signed');
    expect(model.labels).toHaveLength(1001);
    expect(model.labels).toEqual(sharedLabels());
    await expectClassifies(model, floatExpected, 'folder path');
    model.dispose();
    const byJson = await load(sharedPath(`${FLOAT_TFJS}/model.json`));
    expect(byJson.labels).toEqual(sharedLabels());
    await expectClassifies(byJson, floatExpected, 'model.json path');
    byJson.dispose();
  });

  it('labels beside the model are the ones found: in its folder first, then the one above; a file with the wrong count is passed over', async () => {
    const root = join(tmp, 'beside');
    const folder = join(root, 'my-model');
    mkdirSync(folder, { recursive: true });
    for (const f of ['model.json', 'group1-shard1of1.bin']) copyFileSync(sharedPath(`${FLOAT_TFJS}/${f}`), join(folder, f));
    const names = (tag: string) => Array.from({ length: 1001 }, (_, i) => `${tag} ${i}`).join('\n') + '\n';
    writeFileSync(join(root, 'a_labels.txt'), 'too\nfew\n'); // sorted first, the wrong count
    writeFileSync(join(root, 'imagenet_labels.txt'), names('above'));
    const above = await load(folder, { backend: 'reference' });
    expect(above.labels![0]).toBe('above 0');
    expect(above.labels![1000]).toBe('above 1000');
    const top = await above.classify(photoBytes('chelsea.png'), 1);
    expect(top[0]!.label).toBe(`above ${top[0]!.index}`);
    above.dispose();
    writeFileSync(join(folder, 'labels.txt'), names('inside'));
    const inside = await load(join(folder, 'model.json'), { backend: 'reference' });
    expect(inside.labels![7]).toBe('inside 7');
    inside.dispose();
  });

  it("a TFLite file's own labels come before a labels file beside it", async () => {
    const folder = join(tmp, 'tflite-beside');
    mkdirSync(folder, { recursive: true });
    copyFileSync(sharedPath(DEFAULT_TFLITE), join(folder, 'm.tflite'));
    writeFileSync(join(folder, 'labels.txt'), Array.from({ length: 1001 }, (_, i) => `x${i}`).join('\n'));
    const model = await load(join(folder, 'm.tflite'));
    expect(model.labels).toEqual(tfliteRef.loaded.labels);
    model.dispose();
  });

  for (const suffix of ['', 'model.json']) {
    it(`the float TF.js model by URL ending in '/${suffix}': the same answers, progress with increasing loaded`, async () => {
      const url = `${server.base}models/mobilenet_v1_0.25_224/${suffix}`;
      const progress: LoadProgress[] = [];
      const model = await load(url, { onProgress: (p) => progress.push(p) });
      expect(model.labels).toEqual(sharedLabels()); // the ImageNet labels shipped in the package
      await expectClassifies(model, floatExpected, url);
      model.dispose();
      const byUrl = new Map<string, LoadProgress[]>();
      for (const p of progress) byUrl.set(p.url, [...(byUrl.get(p.url) ?? []), p]);
      const shardUrl = `${server.base}models/mobilenet_v1_0.25_224/group1-shard1of1.bin`;
      expect([...byUrl.keys()]).toEqual([`${server.base}models/mobilenet_v1_0.25_224/model.json`, shardUrl]);
      const shard = byUrl.get(shardUrl)!;
      expect(shard.length).toBeGreaterThan(5);
      for (const events of byUrl.values()) {
        for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThan(events[i - 1]!.loaded);
      }
      expect(shard.at(-1)).toEqual({ url: shardUrl, loaded: 1870388, total: 1870388 });
    });
  }

  it('an AbortSignal fired mid-load: ERR_ABORTED, and the connection is dropped', async () => {
    const controller = new AbortController();
    let seen = 0;
    const e = await rejection(
      load(`${server.base}stall/`, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.url.endsWith('.bin') && ++seen === 1) controller.abort();
        },
      }),
      'ERR_ABORTED',
      /stall\/group1-shard1of1\.bin: aborted/,
    );
    expect(seen).toBe(1);
    expect(e.message).not.toMatch(/TypeError/);
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000));
    expect(await Promise.race([stalledClosed!, timeout]), 'the stalled response was closed by the client').toBe(true);
    // Aborted before it starts: nothing is requested.
    const before = server.requests.length;
    await rejection(load(`${server.base}models/mobilenet_v1_0.25_224/`, { signal: AbortSignal.abort() }), 'ERR_ABORTED');
    expect(server.requests.length).toBe(before);
  });

  it('the default TFLite file as an http URL, a file: URL, a Blob, a File, a Response, an ArrayBuffer, a Uint8Array: identical answers', async () => {
    const bytes = readFileSync(sharedPath(DEFAULT_TFLITE));
    const ab = () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const sources: [string, () => unknown][] = [
      ['http URL string', () => `${server.base}${DEFAULT_TFLITE}`],
      ['http URL object', () => new URL(DEFAULT_TFLITE, server.base)],
      ['file: URL', () => pathToFileURL(sharedPath(DEFAULT_TFLITE))],
      ['Blob', () => new Blob([bytes])],
      ['File', () => new File([bytes], 'model.tflite')],
      ['Response', () => new Response(bytes)],
      ['fetched Response', () => fetch(`${server.base}${DEFAULT_TFLITE}`)],
      ['ArrayBuffer', ab],
      ['Uint8Array', () => new Uint8Array(ab())],
      ['Buffer', () => bytes],
    ];
    for (const [kind, make] of sources) {
      const model = await load((await make()) as never);
      expect(model.labels, kind).toEqual(tfliteRef.loaded.labels);
      expect(model.normalization, kind).toBe('tflite-uint8');
      await expectClassifies(model, tfliteExpected, kind);
      model.dispose();
    }
  });

  it('labels given as a list, a path or a URL override the file; a bad labels file is refused with its path', async () => {
    const custom = Array.from({ length: 1001 }, (_, i) => `class #${i}`);
    const fromList = await load(undefined, { labels: custom });
    expect(fromList.labels).toEqual(custom);
    const top = await fromList.classify(photoBytes('parrot.jpg'), 3);
    expect(top.map((c) => c.label)).toEqual(tfliteExpected['parrot.jpg']!.slice(0, 3).map((c) => `class #${c.index}`));
    fromList.dispose();
    const path = join(tmp, 'custom.txt');
    writeFileSync(path, custom.map((l) => l.toUpperCase()).join('\r\n') + '\r\n');
    for (const labels of [path, pathToFileURL(path), `${server.base}models/imagenet_labels_1001.txt`]) {
      const model = await load(undefined, { labels });
      expect(model.labels, String(labels)).toEqual(typeof labels === 'string' && labels.startsWith('http') ? sharedLabels() : custom.map((l) => l.toUpperCase()));
      model.dispose();
    }
    writeFileSync(join(tmp, 'blank.txt'), 'a\n\nb\n');
    await rejection(load(undefined, { labels: join(tmp, 'blank.txt') }), 'ERR_HEADER_FORMAT', /blank\.txt: labels: line 2 is empty/);
    await rejection(load(undefined, { labels: join(tmp, 'no-such-labels.txt') }), 'ERR_IO', /no-such-labels\.txt: cannot read/);
  });

  it('normalization and backend overrides: the model answers as asked', async () => {
    const model = await load(undefined, { normalization: 'unit-signed', backend: 'reference' });
    expect(model.backend).toBe('reference');
    expect(model.normalization).toBe('unit-signed');
    const bytes = photoBytes('chelsea.png');
    const x = normalizePixels([preprocessImage(bytes, 160)], 160, 'unit-signed');
    const want = tfliteRef.top(x, 1)[0]![0]!;
    const got = (await model.classify(bytes, 1))[0]!;
    expect(got.index).toBe(want.index);
    expect(Math.abs(got.logit - want.logit)).toBeLessThan(1e-3);
    model.dispose();
  });
});

describe.skipIf(!HAVE)('alpha, a synonym of depthMultiplier', () => {
  it('createModel: the same architecture and the same bits, either name; both with one value accepted', async () => {
    const base = { inputSize: 32, numClasses: 7, seed: 11 };
    const a = await createModel({ ...base, alpha: 0.25 });
    const d = await createModel({ ...base, depthMultiplier: 0.25 });
    const both = await createModel({ ...base, alpha: 0.25, depthMultiplier: 0.25 });
    const half = await createModel({ ...base, alpha: 0.5 });
    expect(a.architecture.layers).toEqual(d.architecture.layers);
    expect(a.architecture.options.depthMultiplier).toBe(0.25);
    expect(half.architecture.layers).not.toEqual(d.architecture.layers);
    const random = mulberry32(3);
    const x = new Tensor(Float32Array.from({ length: 32 * 32 * 3 }, () => random() * 2 - 1), [1, 32, 32, 3]);
    expectSameFloats(a.predict(x).data, d.predict(x).data, 'alpha vs depthMultiplier');
    expectSameFloats(both.predict(x).data, d.predict(x).data, 'both');
    for (const m of [a, d, both, half]) m.dispose();
  });

  it('createModel: alpha and depthMultiplier that differ are refused, naming both', async () => {
    await rejection(createModel({ inputSize: 32, alpha: 0.25, depthMultiplier: 0.5 }), 'ERR_OPTION', /^option alpha: expected the same value as depthMultiplier \(0\.5\), or only one of the two, got 0\.25$/);
    await rejection(createModel({ inputSize: 32, alpha: 0 }), 'ERR_OPTION', /^option alpha: expected a finite number greater than zero, got 0$/);
  });

  it("load with dequantize: true (the float path): alpha replaces the file's depthMultiplier; the file's own value loads, another is refused by the weights, a conflict by the options", async () => {
    const same = await load(undefined, { alpha: 0.5, dequantize: true });
    expect(same.architecture.options.depthMultiplier).toBe(0.5);
    same.dispose();
    const e = await load(undefined, { alpha: 0.25, dequantize: true }).catch((err) => err);
    expect(e.name).toBe('MobilenetError');
    expect(e.code).toMatch(/^ERR_WEIGHT_/);
    await rejection(load(undefined, { alpha: 0.5, depthMultiplier: 0.25, dequantize: true }), 'ERR_OPTION', /option alpha: expected the same value as depthMultiplier \(0\.25\)/);
  });

  it('load of a quantized TFLite file in integers (the default): architecture options are refused, pointing to dequantize: true', async () => {
    await rejection(load(undefined, { alpha: 0.5 }), 'ERR_OPTION', /^option alpha: this quantized TFLite file computes in integers on its own architecture \(the default\); leave it out, or pass dequantize: true/);
    await rejection(load(undefined, { numClasses: 1001, inputSize: 160 }), 'ERR_OPTION', /^options numClasses, inputSize: .*pass dequantize: true/);
  });
});
