// The real pretrained float model on the shared photos: our reference path (and the wasm
// backend where registered) against TensorFlow.js running the same model.json through its own
// converter. Nothing expected is pasted: TF.js computes it here.
import { readFileSync, readdirSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { loadLabels } from '../../src/formats/labels.js';
import { preprocessImage, toModelInput, toModelInput01 } from '../../src/image/index.js';
import { availableBackends, createModel } from '../../src/engine/create.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import '../../src/wasm/backend.js';
import { requireShared, sharedPath } from '../helpers/shared.js';

const MODEL = 'models/mobilenet_v1_0.25_224';
const HAVE = requireShared(`${MODEL}/model.json`, `${MODEL}/group1-shard1of1.bin`, 'models/imagenet_labels_1001.txt', 'images/chelsea.png');

const topK = (logits: Float32Array, k: number) =>
  Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, k);

describe.skipIf(!HAVE)('the real float model (alpha 0.25, 224) on every shared photo', () => {
  const photos = HAVE ? readdirSync(sharedPath('images')).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort() : [];
  let tfModel: Awaited<ReturnType<typeof loadGraphModel>>;
  let labels: string[];
  const models: Record<string, MobileNet> = {};
  const pixels: Record<string, Uint8Array> = {};

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const json = JSON.parse(readFileSync(sharedPath(`${MODEL}/model.json`), 'utf8'));
    const shard = readFileSync(sharedPath(`${MODEL}/group1-shard1of1.bin`));
    const specs = json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
    const weightData = shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength);
    tfModel = await loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));
    labels = await loadLabels(sharedPath('models/imagenet_labels_1001.txt'));
    const loaded = await loadTfjsGraphModel(sharedPath(MODEL));
    for (const backend of availableBackends()) {
      models[backend] = await createModel({ ...loaded.options, weights: loaded.weights, labels, backend });
    }
    for (const photo of photos) pixels[photo] = preprocessImage(new Uint8Array(readFileSync(sharedPath(`images/${photo}`))), 224, photo);
  });

  it('finds all eight photos', () => expect(photos).toHaveLength(8));

  for (const backend of ['reference', 'wasm']) {
    it(`${backend}: logits within 1e-4 of TF.js (relative to the largest) and the same top-5, per photo`, () => {
      if (!models[backend]) {
        expect(backend).toBe('wasm'); // only the wasm backend may be absent from a build
        return;
      }
      for (const photo of photos) {
        const ours = models[backend]!.predict(toModelInput([pixels[photo]!], 224)).data;
        const x = tf.tensor(toModelInput01([pixels[photo]!], 224).data, [1, 224, 224, 3]);
        const theirs = (tfModel.predict(x) as tf.Tensor).dataSync() as Float32Array;
        x.dispose();
        let maxDiff = 0;
        let maxAbs = 0;
        for (let i = 0; i < theirs.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - theirs[i]!));
          maxAbs = Math.max(maxAbs, Math.abs(theirs[i]!));
        }
        console.log(`${backend} ${photo}: max |ours - tfjs| / max |tfjs| = ${(maxDiff / maxAbs).toExponential(2)}; top-1 ${labels[topK(ours, 1)[0]!]}`);
        expect(maxDiff / maxAbs, photo).toBeLessThanOrEqual(1e-4);
        expect(topK(ours, 5), photo).toEqual(topK(theirs, 5));
      }
    });
  }

  it('classifies the photos PROVENANCE.md names as the verified predictions', async () => {
    // shared/models/PROVENANCE.md: chelsea -> Egyptian cat, parrot -> macaw, bird -> chickadee, coffee -> espresso.
    const expected: Record<string, string> = { 'chelsea.png': 'Egyptian cat', 'parrot.jpg': 'macaw', 'bird.png': 'chickadee', 'coffee.png': 'espresso' };
    for (const [photo, label] of Object.entries(expected)) {
      const top = await models.reference!.classify(toModelInput([pixels[photo]!], 224), 1);
      expect(top[0]!.label, photo).toBe(label);
    }
  });
});
