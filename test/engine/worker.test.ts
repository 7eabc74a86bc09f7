// load(source, { worker: true }): the same answers as in this thread, bit for bit, for classify,
// classifyBatch and embed; transfer or copy of the caller's buffers; many calls at once; dispose;
// and a Node script with a worker exits by itself (checked in child processes).
//
// The worker runs the compiled package: its entry is dist/engine/worker/entry-node.js, which
// only exists after `npm run build`. Vitest maps `#spawn-worker` to src/platform/spawn-node.ts,
// which would look for entry-node.js beside the sources, so here it is mapped to the compiled
// one; the package itself is imported from dist/. Errors are checked by name and code (the
// package's MobilenetError is not the one in src/).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ndarray from 'ndarray';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as Package from '../../src/index.js';
import type { Classification, ImageModel } from '../../src/index.js';
import { repoRoot, requireShared, sharedDir, sharedPath } from '../helpers/shared.js';
import { DEFAULT_TFLITE, FLOAT_TFJS, expectSameClassifications, expectSameFloats, fileHandler, photoBytes, photoNames, rejection, startServer, type TestServer } from './helpers.js';

const DIST = join(repoRoot, 'dist');
if (!existsSync(join(DIST, 'index.js')) || !existsSync(join(DIST, 'engine', 'worker', 'entry-node.js'))) {
  throw new Error(`${DIST} is missing or incomplete: run \`npm run build\` before test/engine/worker.test.ts (the worker runs the compiled package)`);
}
const distUrl = (rel: string) => pathToFileURL(join(DIST, rel)).href;
vi.mock('#spawn-worker', () => import(/* @vite-ignore */ distUrl('platform/spawn-node.js')));

const HAVE = requireShared(DEFAULT_TFLITE, `${FLOAT_TFJS}/model.json`, 'images/chelsea.png', 'images/parrot.jpg');
const K = 1001;

/**
 * Runs an ES module script in a fresh Node process (from a file, or with `-e` and --input-type=module)
 * and resolves with its exit code, output and time; a null code when it had to be killed.
 */
function runNode(code: string, { evaluate = false, timeoutMs = 30_000 } = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  let args: string[];
  if (evaluate) args = ['--input-type=module', '-e', code];
  else {
    const file = join(mkdtempSync(join(tmpdir(), 'worker-exit-')), 'script.mjs');
    writeFileSync(file, code);
    args = [file];
  }
  return new Promise((resolve) => {
    const start = Date.now();
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, stdout, stderr, ms: Date.now() - start });
    });
  });
}

describe.skipIf(!HAVE)('load(..., { worker: true }) from the built package', () => {
  let pkg: typeof Package;
  let inThread: Package.MobileNet;
  let worker: ImageModel;
  let server: TestServer;
  const expected: Record<string, Classification[]> = {};

  beforeAll(async () => {
    pkg = (await import(/* @vite-ignore */ distUrl('index.js'))) as typeof Package;
    [inThread, worker, server] = await Promise.all([pkg.load(), pkg.load(undefined, { worker: true }), startServer(fileHandler(sharedDir, 64 << 10))]);
    for (const p of photoNames()) expected[p] = await inThread.classify(photoBytes(p), K);
  });
  afterAll(async () => {
    inThread?.dispose();
    worker?.dispose();
    await server?.close();
  });

  it('describes the same model, and says it is in a worker', () => {
    expect(worker.inWorker).toBe(true);
    expect(inThread.inWorker).toBe(false);
    for (const key of ['labels', 'normalization', 'inputShape', 'numClasses', 'endpoints', 'backend', 'memoryBytes'] as const) {
      expect(worker[key], key).toEqual(inThread[key]);
    }
    expect(worker.inputShape).toEqual([160, 160, 3]);
  });

  it('classify: the same bits as in this thread on every shared photo', async () => {
    expect(Object.keys(expected)).toHaveLength(8);
    for (const [photo, want] of Object.entries(expected)) expectSameClassifications(await worker.classify(photoBytes(photo), K), want, photo);
  });

  it('classifyBatch over mixed kinds (bytes, path, file: URL, http URL, Blob, File, raw pixels, Tensor, ndarray): the same bits, batchSize 1, 3, 8', async () => {
    const rgb = pkg.decodeImage(photoBytes('coffee.png'));
    const rgba = new Uint8ClampedArray(rgb.width * rgb.height * 4);
    for (let i = 0; i < rgb.width * rgb.height; i++) rgba.set([...rgb.data.subarray(3 * i, 3 * i + 3), 17], 4 * i);
    const tensorOf = (p: string) => pkg.normalizePixels([pkg.preprocessImage(photoBytes(p), 160)], 160, 'tflite-uint8');
    const images: [string, unknown][] = [
      ['bird.png', photoBytes('bird.png')],
      ['cat.png', sharedPath('images/cat.png')],
      ['chelsea.png', pathToFileURL(sharedPath('images/chelsea.png'))],
      ['rocket.jpg', `${server.base}images/rocket.jpg`],
      ['dog.png', new Blob([photoBytes('dog.png')])],
      ['parrot.jpg', new File([photoBytes('parrot.jpg')], 'parrot.jpg')],
      ['coffee.png', { data: rgba, width: rgb.width, height: rgb.height }],
      ['grace_hopper.png', tensorOf('grace_hopper.png')],
      ['bird.png', ndarray(Array.from(tensorOf('bird.png').data), [1, 160, 160, 3])],
      ['coffee.png', photoBytes('coffee.png').buffer],
    ];
    for (const batchSize of [1, 3, 8]) {
      const fromWorker = await worker.classifyBatch(images.map(([, i]) => i) as never, 4, { batchSize });
      const here = await inThread.classifyBatch(images.map(([, i]) => i) as never, 4, { batchSize });
      expect(fromWorker).toHaveLength(images.length);
      images.forEach(([p], i) => {
        expectSameClassifications(fromWorker[i]!, here[i]!, `batchSize ${batchSize}, image ${i}`);
        expectSameClassifications(fromWorker[i]!, expected[p]!.slice(0, 4), `batchSize ${batchSize}, image ${i} (${p})`);
      });
    }
    // A Tensor of several images, as one argument.
    const batch = new pkg.Tensor(new Float32Array([...tensorOf('cat.png').data, ...tensorOf('dog.png').data]), [2, 160, 160, 3]);
    const two = await worker.classifyBatch(batch, 2);
    expectSameClassifications(two[0]!, expected['cat.png']!.slice(0, 2), 'tensor row 0');
    expectSameClassifications(two[1]!, expected['dog.png']!.slice(0, 2), 'tensor row 1');
  });

  it('embed: the same features, pooled and at another end point', async () => {
    for (const photo of ['chelsea.png', 'parrot.jpg']) {
      expectSameFloats(await worker.embed(photoBytes(photo)), await inThread.embed(photoBytes(photo)), photo);
      const options = { endpoint: 'Conv2d_11_pointwise' };
      expectSameFloats(await worker.embed(sharedPath(`images/${photo}`), options), await inThread.embed(photoBytes(photo), options), `${photo} Conv2d_11_pointwise`);
    }
  });

  it('load(path, { worker: true }) on the float TF.js model: the same labels and bits as load(path)', async () => {
    const path = sharedPath(FLOAT_TFJS);
    const [here, there] = await Promise.all([pkg.load(path), pkg.load(path, { worker: true })]);
    try {
      expect(there.labels).toEqual(here.labels);
      expect(there.inputShape).toEqual([224, 224, 3]);
      expect(there.normalization).toBe('unit-signed');
      for (const photo of ['chelsea.png', 'rocket.jpg']) {
        expectSameClassifications(await there.classify(photoBytes(photo), K), await here.classify(photoBytes(photo), K), photo);
        expectSameFloats(await there.embed(photoBytes(photo)), await here.embed(photoBytes(photo)), `${photo} embed`);
      }
      const batch = [photoBytes('dog.png'), sharedPath('images/cat.png')];
      const [a, b] = [await there.classifyBatch(batch, 3, { batchSize: 2 }), await here.classifyBatch(batch, 3, { batchSize: 2 })];
      a.forEach((top, i) => expectSameClassifications(top, b[i]!, `batch ${i}`));
    } finally {
      here.dispose();
      there.dispose();
    }
  });

  it('the default copies the caller\'s buffers; transfer: true detaches them (only buffers the view owns whole)', async () => {
    const bytes = photoBytes('chelsea.png');
    const ab = photoBytes('parrot.jpg').buffer;
    const pixels = pkg.decodeImage(photoBytes('dog.png'));
    await worker.classify(bytes, 1);
    await worker.classify(ab, 1);
    await worker.classify(pixels, 1);
    expect(bytes.buffer.byteLength).toBeGreaterThan(0);
    expect(ab.byteLength).toBeGreaterThan(0);
    expect(pixels.data.byteLength).toBeGreaterThan(0);
    expectSameClassifications(await worker.classify(bytes, K), expected['chelsea.png']!, 'the same bytes again');

    const moving = await pkg.load(undefined, { worker: true, transfer: true });
    try {
      const own = photoBytes('chelsea.png');
      expectSameClassifications(await moving.classify(own, K), expected['chelsea.png']!, 'transferred bytes');
      expect(own.byteLength).toBe(0);
      expect(own.buffer.byteLength).toBe(0);
      const buffer = photoBytes('parrot.jpg').buffer;
      expectSameClassifications(await moving.classify(buffer, K), expected['parrot.jpg']!, 'transferred ArrayBuffer');
      expect(buffer.byteLength).toBe(0);
      const raw = pkg.decodeImage(photoBytes('dog.png'));
      expectSameClassifications(await moving.classify(raw, K), expected['dog.png']!, 'transferred pixels');
      expect(raw.data.byteLength).toBe(0);
      const tensor = pkg.normalizePixels([pkg.preprocessImage(photoBytes('cat.png'), 160)], 160, 'tflite-uint8');
      expectSameFloats(await moving.embed(tensor), await inThread.embed(photoBytes('cat.png')), 'transferred tensor');
      expect(tensor.data.byteLength).toBe(0);
      // A view on part of a larger buffer is copied, never the whole buffer taken.
      const file = photoBytes('bird.png');
      const larger = new Uint8Array(file.length + 8);
      larger.set(file, 8);
      const part = larger.subarray(8);
      expectSameClassifications(await moving.classify(part, K), expected['bird.png']!, 'a view on part of a buffer');
      expect(larger.byteLength).toBe(file.length + 8);
      // In a batch, each buffer once.
      const twice = photoBytes('rocket.jpg');
      const both = await moving.classifyBatch([twice, twice], 2);
      expectSameClassifications(both[1]!, expected['rocket.jpg']!.slice(0, 2), 'the same buffer twice in a batch');
      expect(twice.byteLength).toBe(0);
    } finally {
      moving.dispose();
    }
  });

  it('20 calls posted at once all resolve with the right answer, in the order they were posted', async () => {
    const photos = Object.keys(expected);
    const order: number[] = [];
    const calls = Array.from({ length: 20 }, (_, i) => {
      const photo = photos[i % photos.length]!;
      return worker.classify(photoBytes(photo), K).then((top) => {
        order.push(i);
        return [photo, top] as const;
      });
    });
    const results = await Promise.all(calls);
    results.forEach(([photo, top], i) => expectSameClassifications(top, expected[photo]!, `call ${i} (${photo})`));
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('mixed kinds posted at once: each gets its own answer', async () => {
    const kinds = [(p: string) => photoBytes(p), (p: string) => sharedPath(`images/${p}`), (p: string) => `${server.base}images/${p}`, (p: string) => new Blob([photoBytes(p)])];
    const photos = Object.keys(expected);
    const calls = Array.from({ length: 16 }, (_, i) => worker.classify(kinds[i % 4]!(photos[i % 8]!) as never, 3));
    (await Promise.all(calls)).forEach((top, i) => expectSameClassifications(top, expected[photos[i % 8]!]!.slice(0, 3), `call ${i}`));
  });

  it('errors come back with their code and message, a batch with its results and failures', async () => {
    const here = await inThread.classify(new Uint8Array(10)).catch((e) => e);
    const there = await rejection(worker.classify(new Uint8Array(10)), 'ERR_IMAGE_DECODE');
    expect(there.message).toBe(here.message);
    await rejection(worker.classify(42 as never), 'ERR_INPUT', /got a number \(42\)/);
    await rejection(worker.classify(photoBytes('cat.png'), 0), 'ERR_OPTION', /option topK/);
    await rejection(worker.embed(photoBytes('cat.png'), { endpoint: 'nope' }), 'ERR_OPTION', /option endpoint/);
    await rejection(worker.classify(sharedPath('images/none.png')), 'ERR_IO', /none\.png: cannot read/);
    await rejection(worker.classify(photoBytes('cat.png'), 1, { fetch: globalThis.fetch }), 'ERR_OPTION', /option fetch: expected nothing when the model runs in a worker/);
    const images = [photoBytes('bird.png'), photoBytes('parrot.jpg').subarray(0, 500), sharedPath('images/cat.png')];
    const e = await rejection(worker.classifyBatch(images, 2), 'ERR_IMAGE_DECODE', /1 of 3 images failed/);
    const f = await inThread.classifyBatch(images, 2).catch((err) => err);
    expect((e as unknown as { failures: unknown }).failures).toEqual(f.failures);
    const results = (e as unknown as { results: (Classification[] | null)[] }).results;
    expect(results[1]).toBeNull();
    expectSameClassifications(results[0]!, expected['bird.png']!.slice(0, 2), 'batch result 0');
    expectSameClassifications(results[2]!, expected['cat.png']!.slice(0, 2), 'batch result 2');
    // The worker is still fine after all that.
    expectSameClassifications(await worker.classify(photoBytes('cat.png'), K), expected['cat.png']!, 'after errors');
  });

  it('load by URL in a worker: progress arrives here, an abort mid-load is ERR_ABORTED', async () => {
    const progress: { url: string; loaded: number }[] = [];
    const model = await pkg.load(`${server.base}models/mobilenet_v1_0.25_224/`, { worker: true, onProgress: (p) => progress.push(p) });
    const shard = progress.filter((p) => p.url.endsWith('.bin'));
    expect(shard.length).toBeGreaterThan(5);
    for (let i = 1; i < shard.length; i++) expect(shard[i]!.loaded).toBeGreaterThan(shard[i - 1]!.loaded);
    expect(shard.at(-1)!.loaded).toBe(readFileSync(sharedPath(`${FLOAT_TFJS}/group1-shard1of1.bin`)).length);
    model.dispose();
    const controller = new AbortController();
    // Aborted while the shard is read: rejected at once, whatever the worker is doing by then.
    await rejection(
      pkg.load(`${server.base}models/mobilenet_v1_0.25_224/`, { worker: true, signal: controller.signal, onProgress: (p) => p.url.endsWith('.bin') && controller.abort() }),
      'ERR_ABORTED',
      /^load: aborted$/,
    );
    await rejection(pkg.load(undefined, { worker: true, signal: AbortSignal.abort() }), 'ERR_ABORTED');
    await rejection(pkg.load(undefined, { worker: true, fetch: globalThis.fetch }), 'ERR_OPTION', /option fetch: expected nothing with \{ worker: true \}/);
    await rejection(pkg.load(sharedPath('models/none.tflite'), { worker: true }), 'ERR_IO', /none\.tflite: cannot read/);
  });

  it('a Response, a Blob and an ArrayBuffer as the model, in a worker', async () => {
    const bytes = readFileSync(sharedPath(DEFAULT_TFLITE));
    for (const source of [new Response(bytes), new Blob([bytes]), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)]) {
      const model = await pkg.load(source, { worker: true });
      expectSameClassifications(await model.classify(photoBytes('parrot.jpg'), K), expected['parrot.jpg']!, pkg.ErrorCodes ? source.constructor.name : '');
      model.dispose();
    }
  });

  it('a call aborted while the worker works on it is ERR_ABORTED at once, and the worker goes on', async () => {
    const controller = new AbortController();
    const call = worker.classify(photoBytes('parrot.jpg'), 1, { signal: controller.signal });
    controller.abort();
    await rejection(call, 'ERR_ABORTED', /^classify: aborted$/);
    await rejection(worker.embed(photoBytes('parrot.jpg'), { signal: AbortSignal.abort() }), 'ERR_ABORTED');
    await rejection(inThread.embed(photoBytes('parrot.jpg'), { signal: AbortSignal.abort() }), 'ERR_ABORTED');
    expectSameClassifications(await worker.classify(photoBytes('parrot.jpg'), K), expected['parrot.jpg']!, 'after the abort');
  });

  it('dispose ends the worker: calls pending then and every later call are ERR_DISPOSED', async () => {
    const model = await pkg.load(undefined, { worker: true });
    const pending = [model.classify(photoBytes('parrot.jpg')), model.embed(photoBytes('coffee.png'))];
    model.dispose();
    for (const p of pending) await rejection(p, 'ERR_DISPOSED', /used after dispose/);
    await rejection(model.classify(photoBytes('cat.png')), 'ERR_DISPOSED');
    await rejection(model.classifyBatch([photoBytes('cat.png')]), 'ERR_DISPOSED');
    await rejection(model.embed(photoBytes('cat.png')), 'ERR_DISPOSED');
    model.dispose(); // twice is fine
  });
});

describe.skipIf(!HAVE)('a Node script with a model in a worker exits by itself', () => {
  const script = (body: string) => `
    import { load } from ${JSON.stringify(distUrl('index.js'))};
    import { readFileSync } from 'node:fs';
    const photo = readFileSync(${JSON.stringify(sharedPath('images/parrot.jpg'))});
    ${body}
  `;

  it('load with worker: true, classify, dispose: exits 0', async () => {
    const r = await runNode(script(`
      const model = await load(undefined, { worker: true });
      const top = await model.classify(photo, 1);
      model.dispose();
      console.log(top[0].label);
    `));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('macaw');
  });

  it('an idle worker whose model was never disposed does not keep the script alive', async () => {
    const r = await runNode(script(`
      const model = await load(undefined, { worker: true });
      const tops = await Promise.all([model.classify(photo, 1), model.classifyBatch([photo, photo], 1), model.embed(photo)]);
      console.log(tops[0][0].label, tops[1].length, tops[2].length);
    `));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('macaw 2 512');
  });

  it('a worker loaded and never used, and one whose load failed, do not keep the script alive either', async () => {
    const r = await runNode(script(`
      await load(undefined, { worker: true });
      const e = await load('/no/such/model.tflite', { worker: true }).catch((e) => e);
      console.log(e.code);
    `));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('ERR_IO');
  });

  it('an input that cannot be sent to the worker is ERR_INPUT, and the script still exits', async () => {
    const r = await runNode(script(`
      const model = await load(undefined, { worker: true });
      const e = await model.classify({ f() {} }).catch((e) => e);
      console.log(e.code);
    `));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('ERR_INPUT');
  });

  it('a script given with -e and --input-type=module (options a worker inherits) can start the worker', async () => {
    const r = await runNode(script(`
      const model = await load(undefined, { worker: true });
      console.log((await model.classify(photo, 1))[0].label);
    `), { evaluate: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('macaw');
  });

  it('a worker still working keeps the script alive until its answer', async () => {
    const r = await runNode(script(`
      const model = await load(undefined, { worker: true });
      model.classify(photo, 1).then((top) => console.log('answered', top[0].label));
    `));
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('answered macaw');
  });
});
