/**
 * The heads' API on the default model: training from images and embeddings, predictions,
 * augmentation, save and load, the kNN's memory, the unknown answer, and every refusal.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { ErrorCodes, MobilenetError } from '../../src/errors.js';
import { loadModelFile } from '../../src/formats/index.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { UNKNOWN_LABEL, loadHead, modelIdentity, trainHead, type HeadExample, type KnnHead } from '../../src/head/index.js';
import { trainOnEmbedded } from '../../src/head/train.js';
import { mulberry32 } from '../../src/model/random.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { PHOTOS, decodePhoto, embedCrops, type Crops } from './dataset.js';

const HAVE = requireShared(...PHOTOS.map(([, f]) => `images/${f}`), 'models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite');

async function rejects(p: Promise<unknown> | (() => unknown), code: string, message?: RegExp): Promise<void> {
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

async function sha256(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)).toString('hex');
}

describe.skipIf(!HAVE)('classification heads', () => {
  let model: MobileNet;
  let crops: Crops[];
  let examples: HeadExample[];
  beforeAll(async () => {
    model = await load();
    crops = await embedCrops(model, 6);
    examples = crops.flatMap((c) => c.embeddings.map((embedding) => ({ embedding, label: c.label, group: c.photo })));
  });
  afterAll(() => model?.dispose());

  it('trains from images and embeddings, any class names, and predicts sorted probabilities that sum to 1', async () => {
    const mixed: HeadExample[] = [
      { image: sharedPath('images/cat.png'), label: 'Katze 🐱' },
      { image: new Uint8Array(readFileSync(sharedPath('images/chelsea.png'))), label: 'Katze 🐱' },
      { image: decodePhoto('dog.png'), label: 'a dog, "quoted"' },
      ...crops.filter((c) => c.label === 'rocket').flatMap((c) => c.embeddings.map((embedding) => ({ embedding, label: 'rocket' }))),
    ];
    for (const method of ['knn', 'linear'] as const) {
      const head = await trainHead(model, mixed, { method });
      expect(head.labels).toEqual(['Katze 🐱', 'a dog, "quoted"', 'rocket']);
      const top = await head.predict(sharedPath('images/chelsea.png'));
      expect(top.map((p) => p.label).sort()).toEqual([...head.labels].sort());
      expect(top[0]!.label).toBe('Katze 🐱');
      expect(top.reduce((a, p) => a + p.probability, 0)).toBeCloseTo(1, 12);
      for (let i = 1; i < top.length; i++) expect(top[i - 1]!.probability).toBeGreaterThanOrEqual(top[i]!.probability);
      expect(await head.predict(await model.embed(sharedPath('images/chelsea.png')))).toEqual(top);
      expect(await head.predict(sharedPath('images/chelsea.png'), { topK: 1 })).toEqual(top.slice(0, 1));
      const again = await loadHead(head.save(), model);
      expect(await again.predict(sharedPath('images/chelsea.png'))).toEqual(top);
      expect(again.save()).toEqual(head.save());
    }
  });

  it('kNN confidences are similarity-weighted, not vote shares', async () => {
    // Trained on four crops of each photo, asked about the two others.
    const head = await trainHead(model, crops.flatMap((c) => c.embeddings.slice(0, 4).map((embedding) => ({ embedding, label: c.label }))), { method: 'knn', k: 3 });
    const shares = new Set([0, 1 / 3, 2 / 3, 1]);
    const probabilities = crops.flatMap((c) => c.embeddings.slice(4)).flatMap((e) => head.predictEmbedding(e).map((p) => p.probability));
    // Saturated answers (probability 1 to float64 precision) aside, no vote shares.
    expect(probabilities.filter((p) => shares.has(p) && p !== 1 && p !== 0)).toEqual([]);
    expect(new Set(probabilities).size).toBeGreaterThan(probabilities.length / 2);
    // New photos (chelsea, the parrot) against a head that saw the other cat and bird: every class
    // keeps a share, graded by similarity.
    const other = await trainHead(model, examples.filter((e) => e.group !== 'chelsea.png' && e.group !== 'parrot.jpg'), { method: 'knn', k: 3 });
    for (const e of crops.filter((c) => c.photo === 'chelsea.png' || c.photo === 'parrot.jpg').flatMap((c) => c.embeddings)) {
      const p = other.predictEmbedding(e);
      expect(p).toHaveLength(6);
      expect(p[5]!.probability).toBeGreaterThan(0);
      expect(new Set(p.map((x) => x.probability)).size).toBe(6);
    }
    expect(head.temperature).toBeGreaterThan(0);
  });

  it('augmentation is seeded: the same seed gives the same bytes, another seed other bytes', async () => {
    const images: HeadExample[] = [
      { image: sharedPath('images/cat.png'), label: 'cat' },
      { image: sharedPath('images/dog.png'), label: 'dog' },
    ];
    const progress: string[] = [];
    const a = await trainHead(model, images, { method: 'linear', augment: { copies: 2 }, seed: 5, onProgress: (p) => progress.push(`${p.phase} ${p.done}/${p.total}`) });
    const b = await trainHead(model, images, { method: 'linear', augment: { copies: 2 }, seed: 5 });
    const c = await trainHead(model, images, { method: 'linear', augment: { copies: 2 }, seed: 6 });
    expect(a.training.examples).toBe(6);
    expect(progress).toEqual(['embed 3/6', 'embed 6/6', 'train 0/1', 'train 1/1']);
    expect(await sha256(a.save())).toBe(await sha256(b.save()));
    expect(await sha256(a.save())).not.toBe(await sha256(c.save()));
  });

  it('the kNN memory: examples added and removed one at a time, across chunks, as if trained on what remains', async () => {
    const next = mulberry32(3);
    const dim = 512;
    const vectors = Array.from({ length: 2500 }, () => Float32Array.from({ length: dim }, () => next() / 2 ** 32));
    const head = (await trainHead(model, [
      { embedding: vectors[0]!, label: 'a' },
      { embedding: vectors[1]!, label: 'b' },
    ], { method: 'knn', temperature: 0.05 })) as KnnHead;
    const ids: number[] = [head.exampleIds('a')[0]!, head.exampleIds('b')[0]!];
    for (let i = 2; i < vectors.length; i++) ids.push(head.addEmbedding(vectors[i]!, i % 3 === 0 ? 'c' : i % 2 ? 'a' : 'b'));
    expect(head.size).toBe(2500);
    // Remove a third of them, scattered over the three chunks (1024 rows each).
    const removed = new Set<number>();
    for (let i = 0; i < vectors.length; i += 3) {
      expect(head.removeExample(ids[i]!)).toBe(true);
      removed.add(i);
    }
    expect(head.removeExample(ids[0]!)).toBe(false);
    expect(head.size).toBe(2500 - removed.size);
    const kept = vectors.map((v, i) => ({ v, i })).filter(({ i }) => !removed.has(i));
    const fresh = await trainHead(model, kept.map(({ v, i }) => ({ embedding: v, label: i === 0 ? 'a' : i === 1 ? 'b' : i % 3 === 0 ? 'c' : i % 2 ? 'a' : 'b' })), { method: 'knn', temperature: 0.05 });
    for (const q of vectors.slice(0, 20)) expect(head.predictEmbedding(q)).toEqual(fresh.predictEmbedding(q));
    expect(head.removeClass('c')).toBe(0); // every c was at i % 3 === 0: removed already
    expect(head.labels).toEqual(['a', 'b']);
    const nA = head.exampleIds('a').length;
    expect(head.removeClass('a')).toBe(nA);
    expect(head.labels).toEqual(['b']);
  });

  it('a saved kNN holds its examples; removing and adding survives save and load', async () => {
    const head = (await trainHead(model, examples, { method: 'knn' })) as KnnHead;
    const id = head.addEmbedding(crops[0]!.embeddings[0]!, 'extra class');
    expect(head.labels).toContain('extra class');
    const loaded = (await loadHead(head.save(), model)) as KnnHead;
    expect(loaded.size).toBe(examples.length + 1);
    expect(loaded.labels).toEqual(head.labels);
    head.removeExample(id);
    const reloaded = (await loadHead(head.save(), model)) as KnnHead;
    expect(reloaded.labels).not.toContain('extra class');
    expect(reloaded.size).toBe(examples.length);
    expect(reloaded.k).toBe(3);
    expect(reloaded.temperature).toBe(head.temperature);
  });

  it('unknown: off by default; chosen on the training data when asked; a threshold at predict time', async () => {
    // cat, bird and dog only: rocket, coffee and person are unknown to the head.
    const some = examples.filter((e) => ['cat', 'bird', 'dog'].includes(e.label));
    const others = crops.filter((c) => !['cat', 'bird', 'dog'].includes(c.label)).flatMap((c) => c.embeddings);
    for (const method of ['knn', 'linear'] as const) {
      const plain = await trainHead(model, some, { method });
      expect(plain.threshold).toBeNull();
      expect(plain.predictEmbedding(others[0]!).map((p) => p.label)).not.toContain(UNKNOWN_LABEL);
      const head = await trainHead(model, some, { method, unknown: true });
      expect(head.threshold).not.toBeNull();
      const unknownShare = others.filter((e) => head.predictEmbedding(e)[0]!.label === UNKNOWN_LABEL).length / others.length;
      const knownShare = some.filter((e) => head.predictEmbedding(e.embedding!)[0]!.label === UNKNOWN_LABEL).length / some.length;
      console.log(`${method}: threshold ${head.threshold!.toFixed(4)}; <unknown> for ${(unknownShare * 100).toFixed(0)}% of the unseen classes' crops, ${(knownShare * 100).toFixed(0)}% of the training crops`);
      expect(unknownShare).toBeGreaterThan(knownShare);
      const p = head.predictEmbedding(others[0]!);
      expect(p).toHaveLength(4);
      expect(p.reduce((a, x) => a + x.probability, 0)).toBeCloseTo(1, 12);
      const unknown = p.find((x) => x.label === UNKNOWN_LABEL)!;
      expect(unknown.score).toBe(head.threshold);
      // Unknown comes first exactly when every class scores below the threshold.
      expect(p[0]!.label === UNKNOWN_LABEL).toBe(p.filter((x) => x.label !== UNKNOWN_LABEL).every((x) => x.score < head.threshold!));
      expect(head.predictEmbedding(others[0]!, { threshold: null }).map((x) => x.label)).not.toContain(UNKNOWN_LABEL);
      expect(head.predictEmbedding(some[0]!.embedding!, { threshold: 1e9 })[0]!.label).toBe(UNKNOWN_LABEL);
      expect((await loadHead(head.save(), model)).threshold).toBe(head.threshold);
      const fixed = await trainHead(model, some, { method, threshold: 0.25 });
      expect(fixed.threshold).toBe(0.25);
    }
  });

  it('class balance: a class with ten times fewer examples is still learnt (linear, balanced weights)', async () => {
    const cat = examples.filter((e) => e.label === 'cat');
    const dogs = examples.filter((e) => e.label === 'dog').slice(0, 1);
    const many = [...cat, ...cat, ...cat, ...cat, ...cat, ...dogs];
    const head = await trainHead(model, many, { method: 'linear' });
    for (const e of crops.find((c) => c.label === 'dog')!.embeddings) expect(head.predictEmbedding(e)[0]!.label).toBe('dog');
  });

  it('identity: the weights hashed after folding, so the float model and its safetensors copy are one base model; the integer model is another (its arithmetic)', async () => {
    const id = await modelIdentity(model);
    expect(id).toMatchObject({ alpha: 0.5, resolution: [160, 160], endpoint: 'AvgPool_1a', dim: 512, normalization: 'tflite-uint8', dtype: 'uint8' });
    expect(id.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    const float = await load(undefined, { dequantize: true });
    const floatId = await modelIdentity(float);
    // The same dequantized weights, folded: only the arithmetic differs.
    expect(floatId).toEqual({ ...id, dtype: 'float32' });
    const file = await loadModelFile(new URL('../../assets/mobilenet_v1_0.5_160_quant.tflite', import.meta.url).pathname);
    const copy = await load(writeSafetensors(file));
    expect(await modelIdentity(copy)).toEqual(floatId);
    const floatExamples = (await embedCrops(float, 2)).flatMap((c) => c.embeddings.map((embedding) => ({ embedding, label: c.label })));
    const head = await trainHead(float, floatExamples, { method: 'linear' });
    const loaded = await loadHead(head.save(), copy);
    expect(loaded.predictEmbedding(floatExamples[0]!.embedding!)).toEqual(head.predictEmbedding(floatExamples[0]!.embedding!));
    // A head trained on the float path's embeddings does not load against the integer model, and the other way round.
    await rejects(loadHead(head.save(), model, { name: 'float.safetensors' }), ErrorCodes.HEAD_MODEL, /^float\.safetensors: saved for another base model \(.*float32 arithmetic.*\); differs in arithmetic float32 \(this model: uint8; load the model with dequantize: true \(CLI: --dequantize\) for the float path\)$/);
    const integerHead = (await trainHead(model, examples, { method: 'knn' })).save();
    await rejects(loadHead(integerHead, copy), ErrorCodes.HEAD_MODEL, /differs in arithmetic uint8 \(this model: float32; load the quantized model without dequantize: true/);
    await loadHead(integerHead, model);
    float.dispose();
    copy.dispose();
  });

  it('a head file written before base_dtype existed is a float32 head: it loads against the float model, not the integer one', async () => {
    const float = await load(undefined, { dequantize: true });
    const floatExamples = (await embedCrops(float, 1)).flatMap((c) => c.embeddings.map((embedding) => ({ embedding, label: c.label })));
    const saved = (await trainHead(float, floatExamples, { method: 'knn' })).save();
    // Rewrite the file without base_dtype, as the first head format wrote it.
    const headerLength = Number(new DataView(saved.buffer, saved.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(saved.subarray(8, 8 + headerLength))) as { __metadata__: Record<string, string> };
    expect(header.__metadata__.base_dtype).toBe('float32');
    delete header.__metadata__.base_dtype;
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const old = new Uint8Array(8 + json.length + saved.length - 8 - headerLength);
    new DataView(old.buffer).setBigUint64(0, BigInt(json.length), true);
    old.set(new TextEncoder().encode(json), 8);
    old.set(saved.subarray(8 + headerLength), 8 + json.length);
    const head = await loadHead(old, float);
    expect(head.base.dtype).toBe('float32');
    await rejects(loadHead(old, model), ErrorCodes.HEAD_MODEL, /differs in arithmetic float32 \(this model: uint8/);
    float.dispose();
  });

  it('refuses a head saved for another base model, naming what differs', async () => {
    const head = await trainHead(model, examples, { method: 'knn' });
    const bytes = head.save();
    const small = await load(sharedPath('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite'));
    await rejects(loadHead(bytes, small, { name: 'cats.safetensors' }), ErrorCodes.HEAD_MODEL, /^cats\.safetensors: saved for another base model \(MobileNet v1 alpha 0\.5 @ 160, AvgPool_1a \(512 values\).*differs in alpha 0\.5 \(this model: 0\.25\); resolution 160x160 \(this model: 128x128\); embedding length 512 \(this model: 256\); weights SHA-256/);
    small.dispose();
    const a = await createModel({ alpha: 0.25, inputSize: 96, seed: 1, backend: 'reference' });
    const b = await createModel({ alpha: 0.25, inputSize: 96, seed: 2, backend: 'reference' });
    const next = mulberry32(9);
    const ex = Array.from({ length: 4 }, (_, i) => ({ embedding: Float32Array.from({ length: 256 }, () => next() / 2 ** 32), label: `c${i % 2}` }));
    const seeded = (await trainHead(a, ex, { method: 'linear' })).save();
    await rejects(loadHead(seeded, b), ErrorCodes.HEAD_MODEL, /differs in weights SHA-256 [0-9a-f]{64} \(this model: [0-9a-f]{64}\)$/);
    await loadHead(seeded, a);
    await rejects(loadHead(seeded, await createModel({ alpha: 0.25, inputSize: 96, seed: 1, backend: 'reference', normalization: 'torch-imagenet' })), ErrorCodes.HEAD_MODEL, /differs in pixel normalisation unit-signed \(this model: torch-imagenet\)$/);
  });

  it('bad input: coded errors naming what was expected', async () => {
    const e = examples[0]!.embedding as Float32Array;
    await rejects(trainHead(model, [{ embedding: e.subarray(0, 256), label: 'a' }, { embedding: e, label: 'b' }]), ErrorCodes.EMBEDDING, /^examples\[0\]\.embedding: expected 512 values \(the AvgPool_1a features of MobileNet v1 alpha 0\.5 @ 160.*\), got 256$/);
    const nan = Float32Array.from(e);
    nan[7] = NaN;
    await rejects(trainHead(model, [{ embedding: e, label: 'a' }, { embedding: nan, label: 'b' }]), ErrorCodes.EMBEDDING, /^examples\[1\]\.embedding: value 7 is NaN; expected 512 finite numbers$/);
    await rejects(trainHead(model, []), ErrorCodes.HEAD_DATA, /no examples; expected examples of at least 2 classes/);
    await rejects(trainHead(model, [{ embedding: e, label: 'cat' }, { embedding: e, label: 'cat' }]), ErrorCodes.HEAD_DATA, /only one class \("cat", 2 examples\); expected examples of at least 2 classes/);
    await rejects(trainHead(model, [{ embedding: e, label: 'cat' }, { embedding: e, label: 'dog' }], { labels: ['cat', 'dog', 'bird'] }), ErrorCodes.HEAD_DATA, /class "bird" has no examples; expected at least one example of every class/);
    await rejects(trainHead(model, [{ embedding: e, label: 'cat' }, { embedding: e, label: '' }]), ErrorCodes.HEAD_DATA, /examples\[1\]\.label: expected a class name \(a non-empty string\), got ""/);
    await rejects(trainHead(model, [{ embedding: e, label: 'cat' }, { embedding: e, label: UNKNOWN_LABEL }]), ErrorCodes.HEAD_DATA, /unknown answer's label/);
    await rejects(trainHead(model, [{ embedding: e, image: 'x.png', label: 'cat' } as HeadExample, { embedding: e, label: 'dog' }]), ErrorCodes.HEAD_DATA, /exactly one of image and embedding/);
    await rejects(trainHead(model, [{ image: '/nonexistent/cat.png', label: 'cat' }, { embedding: e, label: 'dog' }]), ErrorCodes.IO, /^examples\[0\]\.image: /);
    await rejects(trainHead(model, examples, { method: 'svm' as 'knn' }), ErrorCodes.OPTION, /option method: expected "knn" or "linear", got "svm"/);
    await rejects(trainHead(model, examples, { kk: 3 } as object), ErrorCodes.OPTION, /option kk/);
    // What load(…, { worker: true }) gives: embed, but no layer table or weights in this thread.
    const remote = { inWorker: true, endpoints: model.endpoints, embed: model.embed.bind(model), labels: model.labels };
    await rejects(trainHead(remote as unknown as MobileNet, examples), ErrorCodes.OPTION, /a model running in this thread/);

    const aborted = new AbortController();
    aborted.abort();
    await rejects(trainHead(model, [{ image: sharedPath('images/cat.png'), label: 'cat' }, { embedding: e, label: 'dog' }], { signal: aborted.signal }), ErrorCodes.ABORTED);

    const head = await trainHead(model, examples, { method: 'linear' });
    const asBuffer = head.save();
    expect((await loadHead(asBuffer.buffer.slice(asBuffer.byteOffset, asBuffer.byteOffset + asBuffer.byteLength) as ArrayBuffer, model)).labels).toEqual(head.labels);
    await rejects(() => head.predictEmbedding(e.subarray(0, 100)), ErrorCodes.EMBEDDING, /^embedding: expected 512 values .*got 100$/);
    await rejects(() => head.predictEmbedding(nan), ErrorCodes.EMBEDDING, /^embedding: value 7 is NaN/);
    await rejects(head.predict(e, { threshold: NaN }), ErrorCodes.OPTION, /option threshold/);
    const bytes = head.save();
    await rejects(loadHead(bytes.subarray(0, 5), model), ErrorCodes.FILE_TOO_SHORT, /^head: safetensors: needs at least 8 bytes/);
    const modelFile = new Uint8Array(readFileSync(new URL('../../assets/mobilenet_v1_0.5_160_quant.tflite', import.meta.url)));
    await rejects(loadHead(writeSafetensors(await loadModelFile(modelFile)), model), ErrorCodes.HEAD_FORMAT, /is a model file, not a head/);
    // A head whose tensor disagrees with its metadata.
    const withHeader = (edit: (header: string) => string) => {
      const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
      const header = edit(new TextDecoder().decode(bytes.subarray(8, 8 + n))).padEnd(n, ' ');
      expect(header.length).toBe(n);
      const out = Uint8Array.from(bytes);
      out.set(new TextEncoder().encode(header), 8);
      return out;
    };
    await rejects(loadHead(withHeader((h) => h.replace('"method":"linear"', '"method":"knn"')), model), ErrorCodes.HEAD_FORMAT, /^head: unexpected tensor bias in a knn head$/);
    await rejects(loadHead(withHeader((h) => h.replace(/"classes":"\[[^\]]*\]"/, '"classes":"[\\"a\\"]"')), model), ErrorCodes.HEAD_FORMAT, /classes must be a JSON array of at least 2 distinct non-empty names/);
    await rejects(loadHead(withHeader((h) => h.replace('"format":"mobilenet-wasm-head"', '"format":"something-else"')), model), ErrorCodes.HEAD_FORMAT, /expected __metadata__\.format "mobilenet-wasm-head", found "something-else"/);
  });

  it('trains on normalised embeddings the CLI holds, with the same checks', async () => {
    const base = await modelIdentity(model);
    const row = new Float32Array(512).fill(0.1);
    expect(() => trainOnEmbedded(model, base, ['a'], { rows: [row], classes: [0], groups: [0] }, {})).toThrow(/only one class/);
    expect(() => trainOnEmbedded(model, base, ['a', 'b'], { rows: [row, row], classes: [0, 0], groups: [0, 1] }, {})).toThrow(/class "b" has no examples/);
  });
});
