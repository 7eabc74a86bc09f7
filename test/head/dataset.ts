/**
 * A small dataset made from the shared photos, for the head tests: 6 classes from 8 photos
 * (cat: cat.png and chelsea.png; bird: bird.png and parrot.jpg; coffee; dog; person:
 * grace_hopper.png; rocket), each photo as seeded augmented crops (src/head/augment.ts).
 *
 * Two ways to hold examples out, neither letting crops of one picture into both sides:
 *   photos   train on one photo of cat and of bird (and the four one-photo classes), validate on
 *            the other cat and bird photo; then the other way round (strict: new photos).
 *   halves   every photo cut in two halves that share no pixel (left/right, top/bottom for the
 *            portrait ones); crops of one half train, crops of the other validate, then swapped;
 *            all 6 classes are validated, on unseen parts of seen photos (weaker).
 */
import { readFileSync } from 'node:fs';
import { decodeImage, type RgbImage } from '../../src/image/decode.js';
import { augmentImage, resolveAugment } from '../../src/head/augment.js';
import { mulberry32 } from '../../src/model/random.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { sharedPath } from '../helpers/shared.js';

export const PHOTOS: readonly (readonly [label: string, file: string])[] = [
  ['cat', 'cat.png'],
  ['cat', 'chelsea.png'],
  ['bird', 'bird.png'],
  ['bird', 'parrot.jpg'],
  ['coffee', 'coffee.png'],
  ['dog', 'dog.png'],
  ['person', 'grace_hopper.png'],
  ['rocket', 'rocket.jpg'],
];

export interface Crops {
  label: string;
  photo: string;
  /** Which half of the photo (0: left or top, 1: right or bottom), or -1 for the whole photo. */
  half: number;
  embeddings: Float32Array[];
}

export function decodePhoto(file: string): RgbImage {
  return decodeImage(new Uint8Array(readFileSync(sharedPath(`images/${file}`))), file);
}

/** One half of an image: left/right for landscape, top/bottom for portrait. */
export function halfOf(image: RgbImage, half: number): RgbImage {
  const portrait = image.height > image.width;
  const w = portrait ? image.width : Math.floor(image.width / 2);
  const h = portrait ? Math.floor(image.height / 2) : image.height;
  const x0 = portrait ? 0 : half * (image.width - w);
  const y0 = portrait ? half * (image.height - h) : 0;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(image.data.subarray(((y0 + y) * image.width + x0) * 3, ((y0 + y) * image.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, data };
}

/** `count` seeded crops (flips, crops from 0.5 of the side, colour jitter) of each photo, or of each half. */
export async function embedCrops(model: MobileNet, count: number, options: { halves?: boolean; seed?: number } = {}): Promise<Crops[]> {
  const augment = resolveAugment({ copies: 1, crop: 0.5, jitter: 0.15 })!;
  const next = mulberry32(options.seed ?? 7);
  const [h, w] = model.inputShape;
  const out: Crops[] = [];
  for (const [label, photo] of PHOTOS) {
    const image = decodePhoto(photo);
    for (const half of options.halves ? [0, 1] : [-1]) {
      const source = half < 0 ? image : halfOf(image, half);
      const embeddings: Float32Array[] = [];
      for (let i = 0; i < count; i++) embeddings.push(await model.embed(augmentImage(source, h, w, augment, next)));
      out.push({ label, photo, half, embeddings });
    }
  }
  return out;
}
