/**
 * Pixel normalisation, the one place it is defined: how a uint8 RGB value becomes the
 * network's input value. Each scaling is computed in float32, step by step, and applied
 * through a 256-entry table per channel, so a byte gives the same bits wherever it stands.
 *
 * - `unit-signed`: x = fround(fround(fround(u8 / 255) * 2) - 1), in [-1, 1]: TF-Slim, TF-Hub,
 *   TF.js (exactly the TF-Hub graph's own `hub_input/Mul` and `hub_input/Sub`), Keras MobileNet;
 * - `tflite-uint8`: x = (u8 - 128) / 128, the uint8 TFLite models' input quantisation (scale
 *   1/128, zero point 128), exact in float32;
 * - `torch-imagenet`: x = fround(fround(fround(u8 / 255) - mean[c]) / std[c]) with torchvision's
 *   float32 ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225): the seed's PyTorch model.
 */
import { ErrorCodes, badOption, fail } from '../errors.js';
import { Tensor } from '../tensor.js';
import { MAX_RESOLUTION } from '../model/architecture.js';

const fround = Math.fround;

export type PixelNormalization = 'unit-signed' | 'tflite-uint8' | 'torch-imagenet';
/** The former name of `PixelNormalization`. */
export type PixelScaling = PixelNormalization;

const TORCH_MEAN = [0.485, 0.456, 0.406].map(fround);
const TORCH_STD = [0.229, 0.224, 0.225].map(fround);

const SCALINGS: Record<PixelNormalization, (u8: number, channel: number) => number> = {
  'unit-signed': (u8) => fround(fround(fround(u8 / 255) * 2) - 1),
  'tflite-uint8': (u8) => (u8 - 128) / 128,
  'torch-imagenet': (u8, c) => fround(fround(fround(u8 / 255) - TORCH_MEAN[c]!) / TORCH_STD[c]!),
};

export const PIXEL_NORMALIZATIONS = Object.keys(SCALINGS) as PixelNormalization[];

export function isPixelNormalization(value: unknown): value is PixelNormalization {
  return typeof value === 'string' && Object.hasOwn(SCALINGS, value);
}

export function checkNormalization(value: unknown, option = 'normalization'): PixelNormalization {
  if (!isPixelNormalization(value)) badOption(option, value, `one of ${PIXEL_NORMALIZATIONS.join(', ')}`);
  return value;
}

/** The per-channel lookup tables of a normalisation: 3 x 256 float32 values. */
const tables = new Map<string, Float32Array>();
function tableOf(f: (u8: number, channel: number) => number, key: string): Float32Array {
  let t = tables.get(key);
  if (!t) {
    t = new Float32Array(3 * 256).map((_, i) => f(i % 256, Math.floor(i / 256)));
    tables.set(key, t);
  }
  return t;
}

/** A batch of size x size RGB images (uint8) to an `[N, size, size, 3]` tensor, normalised. */
export function normalizePixels(images: readonly Uint8Array[], size: number, scaling: PixelNormalization = 'unit-signed'): Tensor {
  checkNormalization(scaling, 'scaling');
  return normalizeBatch(images, size, size, tableOf(SCALINGS[scaling], scaling));
}

/** Step 5 of the pipeline for TF-Slim weights: `[N, size, size, 3]` in [-1, 1]. */
export function toModelInput(images: readonly Uint8Array[], size: number): Tensor {
  return normalizePixels(images, size, 'unit-signed');
}

/** The [0, 1] variant, x01 = fround(u8 / 255): what the TF.js graph model itself takes. */
export function toModelInput01(images: readonly Uint8Array[], size: number): Tensor {
  return normalizeBatch(images, size, size, tableOf((u8) => fround(u8 / 255), 'unit'));
}

/** `height x width` RGB images to `[N, height, width, 3]` with one of the normalisations. */
export function normalizeRgb(images: readonly Uint8Array[], height: number, width: number, normalization: PixelNormalization): Tensor {
  return normalizeBatch(images, height, width, tableOf(SCALINGS[normalization], normalization));
}

function normalizeBatch(images: readonly Uint8Array[], height: number, width: number, table: Float32Array): Tensor {
  for (const [name, v] of [['size', height], ['size', width]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_RESOLUTION) badOption(name, v, `an integer from 1 to ${MAX_RESOLUTION}`);
  }
  if (!Array.isArray(images) || images.length === 0) fail(ErrorCodes.INPUT, 'images: expected a non-empty list of RGB images');
  const per = height * width * 3;
  const out = new Float32Array(images.length * per);
  images.forEach((img, n) => {
    if (!(img instanceof Uint8Array) || img.length !== per) {
      fail(ErrorCodes.INPUT, `images[${n}]: expected ${per} bytes (${height}x${width} RGB), got ${img instanceof Uint8Array ? img.length : typeof img}`);
    }
    const base = n * per;
    for (let i = 0; i < per; i++) out[base + i] = table[(i % 3) * 256 + img[i]!]!;
  });
  return new Tensor(out, [images.length, height, width, 3]);
}
