/**
 * Seeded augmentation of training images, applied to the decoded RGB pixels before they are
 * embedded. Each copy of an image draws, from one mulberry32 stream (src/model/random.ts) seeded
 * with `seed` and consumed in example order:
 *
 *   crop    a window with the model's aspect ratio whose sides are s times those of the largest
 *           such window in the image, s uniform in [crop, 1], placed uniformly (crop = 1: none);
 *   flip    a horizontal mirror with probability 1/2 (when `flip`);
 *   jitter  saturation, contrast and brightness factors, each uniform in [1 - jitter, 1 + jitter]:
 *           v' = brightness * (m + contrast * ((l + saturation * (v - l)) - m)), l the pixel's
 *           luma (0.299 R + 0.587 G + 0.114 B), m the window's mean luma, rounded to 0..255.
 *
 * Only +, -, *, / and Math.round / floor: the same pixels in every runtime for the same decoded
 * image. (Browsers decode JPEG slightly differently from the JS decoders unless `decoder: 'js'`.)
 */
import { badOption } from '../errors.js';
import type { RgbImage } from '../image/decode.js';
import { uniform } from './math.js';

export interface AugmentOptions {
  /** Augmented copies per image, besides the image itself. Default 4. */
  copies?: number;
  /** Mirror left-right half of the copies. Default true. */
  flip?: boolean;
  /** Smallest crop, as a fraction of the largest window's side, 0.3 to 1 (1: no crop). Default 0.75. */
  crop?: number;
  /** Colour jitter amplitude, 0 to 0.5 (0: none). Default 0.15. */
  jitter?: number;
}

export type ResolvedAugment = Required<AugmentOptions>;

export function resolveAugment(value: boolean | AugmentOptions | undefined): ResolvedAugment | null {
  if (value === undefined || value === false) return null;
  const o: AugmentOptions = value === true ? {} : value;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) badOption('augment', value, 'true, false or { copies, flip, crop, jitter }');
  for (const key of Object.keys(o)) if (!['copies', 'flip', 'crop', 'jitter'].includes(key)) badOption(`augment.${key}`, (o as Record<string, unknown>)[key], 'one of copies, flip, crop, jitter');
  const copies = o.copies ?? 4;
  if (!Number.isSafeInteger(copies) || copies < 1 || copies > 256) badOption('augment.copies', copies, 'an integer from 1 to 256');
  const flip = o.flip ?? true;
  if (typeof flip !== 'boolean') badOption('augment.flip', flip, 'true or false');
  const crop = o.crop ?? 0.75;
  if (typeof crop !== 'number' || !(crop >= 0.3 && crop <= 1)) badOption('augment.crop', crop, 'a number from 0.3 to 1');
  const jitter = o.jitter ?? 0.15;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 0.5)) badOption('augment.jitter', jitter, 'a number from 0 to 0.5');
  return { copies, flip, crop, jitter };
}

/** One augmented copy of `image` for a model of input `height` x `width`. */
export function augmentImage(image: RgbImage, height: number, width: number, options: ResolvedAugment, next: () => number): RgbImage {
  // The largest window with the model's aspect ratio (as the pipeline's centre crop), scaled.
  const fullW = Math.min(image.width, Math.max(1, Math.round((image.height * width) / height)));
  const fullH = Math.min(image.height, Math.max(1, Math.round((image.width * height) / width)));
  const s = options.crop + (1 - options.crop) * uniform(next);
  const cw = Math.max(1, Math.round(fullW * s));
  const ch = Math.max(1, Math.round(fullH * s));
  const x0 = Math.floor(uniform(next) * (image.width - cw + 1));
  const y0 = Math.floor(uniform(next) * (image.height - ch + 1));
  const flip = options.flip && uniform(next) < 0.5;
  const j = options.jitter;
  const saturation = 1 + j * (2 * uniform(next) - 1);
  const contrast = 1 + j * (2 * uniform(next) - 1);
  const brightness = 1 + j * (2 * uniform(next) - 1);

  const out = new Uint8Array(cw * ch * 3);
  const src = image.data;
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const sx = flip ? x0 + cw - 1 - x : x0 + x;
      const from = ((y0 + y) * image.width + sx) * 3;
      const to = (y * cw + x) * 3;
      out[to] = src[from]!;
      out[to + 1] = src[from + 1]!;
      out[to + 2] = src[from + 2]!;
    }
  }
  if (j === 0) return { width: cw, height: ch, data: out };
  let lumaSum = 0;
  for (let i = 0; i < out.length; i += 3) lumaSum += 0.299 * out[i]! + 0.587 * out[i + 1]! + 0.114 * out[i + 2]!;
  const m = lumaSum / (cw * ch);
  for (let i = 0; i < out.length; i += 3) {
    const l = 0.299 * out[i]! + 0.587 * out[i + 1]! + 0.114 * out[i + 2]!;
    for (let c = 0; c < 3; c++) {
      const v = brightness * (m + contrast * (l + saturation * (out[i + c]! - l) - m));
      out[i + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return { width: cw, height: ch, data: out };
}
