/**
 * Validation accuracy of both heads on the dataset of test/head/dataset.ts (6 classes from the 8
 * shared photos, 20 seeded augmented crops per photo or per half-photo), with the default options,
 * under its two hold-out schemes; crops of one picture (or one half) are never on both sides.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load } from '../../src/engine/load.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { trainHead, type HeadExample } from '../../src/head/index.js';
import { requireShared } from '../helpers/shared.js';
import { PHOTOS, embedCrops, type Crops } from './dataset.js';

const HAVE = requireShared(...PHOTOS.map(([, f]) => `images/${f}`));
const CROPS = 20;

describe.skipIf(!HAVE)('validation accuracy on the shared photos', () => {
  let model: MobileNet;
  let halves: Crops[];
  let whole: Crops[];
  beforeAll(async () => {
    model = await load();
    halves = await embedCrops(model, CROPS, { halves: true, seed: 7 });
    whole = await embedCrops(model, CROPS, { seed: 8 });
  });
  afterAll(() => model?.dispose());

  const examples = (crops: Crops[]): HeadExample[] => crops.flatMap((c) => c.embeddings.map((embedding) => ({ embedding, label: c.label, group: `${c.photo}/${c.half}` })));

  async function score(method: 'knn' | 'linear', folds: { train: Crops[]; test: Crops[] }[]) {
    let right = 0;
    let total = 0;
    const wrong: string[] = [];
    for (const { train, test } of folds) {
      const head = await trainHead(model, examples(train), { method });
      for (const c of test) {
        for (const e of c.embeddings) {
          total++;
          const label = head.predictEmbedding(e)[0]!.label;
          if (label === c.label) right++;
          else wrong.push(`${c.photo}${c.half >= 0 ? ` half ${c.half}` : ''} -> ${label}`);
        }
      }
    }
    return { right, total, accuracy: right / total, wrong };
  }

  for (const method of ['knn', 'linear'] as const) {
    it(`${method}: new photos (train on cat.png and bird.png, validate on chelsea and the parrot; then swapped)`, async () => {
      const folds = [
        ['chelsea.png', 'parrot.jpg'],
        ['cat.png', 'bird.png'],
      ].map((held) => ({ train: whole.filter((c) => !held.includes(c.photo)), test: whole.filter((c) => held.includes(c.photo)) }));
      const r = await score(method, folds);
      console.log(`${method}, new photos: ${r.right}/${r.total} = ${(r.accuracy * 100).toFixed(1)}%; wrong: ${summarise(r.wrong)}`);
      expect(r.accuracy).toBeGreaterThanOrEqual(0.8);
    });

    it(`${method}: unseen halves (train on one half of every photo, validate on the other; then swapped)`, async () => {
      const folds = [0, 1].map((half) => ({ train: halves.filter((c) => c.half === half), test: halves.filter((c) => c.half !== half) }));
      const r = await score(method, folds);
      console.log(`${method}, unseen halves, 6 classes: ${r.right}/${r.total} = ${(r.accuracy * 100).toFixed(1)}%; wrong: ${summarise(r.wrong)}`);
      expect(r.accuracy).toBeGreaterThanOrEqual(0.85);
    });
  }
});

function summarise(wrong: string[]): string {
  const counts = new Map<string, number>();
  for (const w of wrong) counts.set(w, (counts.get(w) ?? 0) + 1);
  return [...counts].map(([w, n]) => `${w} (${n})`).join(', ') || 'none';
}
