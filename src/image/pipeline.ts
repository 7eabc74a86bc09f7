/**
 * The input pipeline, exactly, so any other engine can reproduce our input bytes:
 *
 * 1. Decode, by magic bytes (never by file name):
 *    - PNG (`89 50 4E 47 0D 0A 1A 0A`): pngjs 7 `PNG.sync.read`. Palette, grey, grey+alpha and
 *      1/2/4/16-bit images come out as 8-bit RGBA; 16-bit samples become floor(v*255/65535 + 0.5).
 *      Alpha is dropped, not composited: the stored RGB is kept (pixels matching a tRNS colour
 *      key come out 0,0,0, as pngjs zeroes them). gAMA, cHRM and iCCP are ignored.
 *    - JPEG (`FF D8 FF`): jpeg-js 0.4 `decode` with useTArray, formatAsRGBA false, tolerant
 *      decoding (the default), at most 40 MP and 512 MB. Grey becomes R=G=B; CMYK/YCCK are
 *      converted by jpeg-js; EXIF orientation and ICC profiles are ignored. Other JPEG decoders
 *      (libjpeg-turbo, browsers) may differ by a few levels: the bytes are jpeg-js's.
 *    - Anything else, or any decoder error: ERR_IMAGE_DECODE naming the file.
 * 2. Centre crop to a square: S = min(W, H), x0 = floor((W - S) / 2), y0 = floor((H - S) / 2).
 * 3. Resize S x S to size x size, bilinear, half-pixel centres, no antialiasing: the TF.js cpu
 *    kernel of `tf.image.resizeBilinear(x, [size, size], false, true)`. In float64, per axis:
 *      src = (S / size) * (o + 0.5) - 0.5,  i0 = max(0, floor(src)),  f = src - i0,
 *      i1 = min(S - 1, ceil(src));
 *    top = p00 + (p01 - p00) * fx, bottom = p10 + (p11 - p10) * fx, v = top + (bottom - top) * fy;
 *    then v32 = fround(v). TF's C++ kernel does the same steps in float32 instead: on our photos
 *    at 128-224 about half its floats differ in the last bits and ~0.3% of the rounded bytes by
 *    one level (values near .5 ties), measured with a float32 re-implementation of that kernel.
 * 4. Round to uint8: u8 = min(255, max(0, Math.round(v32))): nearest, halves up (100.5 -> 101),
 *    the same as floor(v32 + 0.5) in float64. (tf.round would round halves to even.)
 * 5. To the network: x01 = fround(u8 / 255), the [0, 1] input the TF-Hub graph takes (TF.js
 *    `tf.div(x, 255)`), then x = fround(fround(x01 * 2) - 1), exactly the graph's own
 *    `hub_input/Mul` (y = 2) and `hub_input/Sub` (y = 1) in float32. NHWC, RGB, batch first.
 *    Other weights were trained with other scalings; `normalizePixels` names them, each step
 *    in float32: 'tflite-uint8' x = (u8 - 128) / 128 (the uint8 TFLite input quantization),
 *    'torch-imagenet' x = fround(fround(fround(u8 / 255) - mean[c]) / std[c]) with torchvision's
 *    float32 mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
 */
import { badOption, ErrorCodes, fail } from '../errors.js';
import { Tensor } from '../tensor.js';
import { MAX_RESOLUTION } from '../model/architecture.js';
import { decodeImage } from './decode.js';
import { centerCropSquare, resizeBilinear } from './resize.js';

const fround = Math.fround;

/** Steps 1-4: file bytes to size x size x 3 uint8 RGB. */
export function preprocessImage(bytes: Uint8Array, size: number, name = 'image'): Uint8Array {
  checkSize(size);
  const square = centerCropSquare(decodeImage(bytes, name));
  return resizeBilinear(square.data, square.width, square.height, size, size);
}

/** Steps 1-5: one image file to a [1, size, size, 3] tensor in [-1, 1]. */
export function imageToInput(bytes: Uint8Array, size: number, name = 'image'): Tensor {
  return toModelInput([preprocessImage(bytes, size, name)], size);
}

/** Step 5: a batch of size x size RGB images to [N, size, size, 3] in [-1, 1]. */
export function toModelInput(images: readonly Uint8Array[], size: number): Tensor {
  return normalizePixels(images, size, 'unit-signed');
}

/** How uint8 pixels become network inputs; see step 5 above. */
export type PixelScaling = 'unit-signed' | 'tflite-uint8' | 'torch-imagenet';

const TORCH_MEAN = [0.485, 0.456, 0.406].map(fround);
const TORCH_STD = [0.229, 0.224, 0.225].map(fround);
const SCALINGS: Record<PixelScaling, (u8: number, channel: number) => number> = {
  'unit-signed': (u8) => fround(fround(fround(u8 / 255) * 2) - 1),
  'tflite-uint8': (u8) => (u8 - 128) / 128, // exact in float32
  'torch-imagenet': (u8, c) => fround(fround(fround(u8 / 255) - TORCH_MEAN[c]!) / TORCH_STD[c]!),
};

/** Step 5 with the scaling the weights were trained with. */
export function normalizePixels(images: readonly Uint8Array[], size: number, scaling: PixelScaling = 'unit-signed'): Tensor {
  if (!Object.hasOwn(SCALINGS, scaling)) badOption('scaling', scaling, `one of ${Object.keys(SCALINGS).join(', ')}`);
  return batch(images, size, SCALINGS[scaling]);
}

/** The [0, 1] variant, x01 = fround(u8 / 255): what the TF.js graph model itself takes. */
export function toModelInput01(images: readonly Uint8Array[], size: number): Tensor {
  return batch(images, size, (u8) => fround(u8 / 255));
}

function batch(images: readonly Uint8Array[], size: number, f: (u8: number, channel: number) => number): Tensor {
  checkSize(size);
  if (!Array.isArray(images) || images.length === 0) fail(ErrorCodes.INPUT, 'images: expected a non-empty list of RGB images');
  const per = size * size * 3;
  // A lookup table per channel, 256 values each: the same bits for every byte, wherever it is.
  const table = new Float32Array(3 * 256).map((_, i) => f(i % 256, Math.floor(i / 256)));
  const out = new Float32Array(images.length * per);
  images.forEach((img, n) => {
    if (!(img instanceof Uint8Array) || img.length !== per) {
      fail(ErrorCodes.INPUT, `images[${n}]: expected ${per} bytes (${size}x${size} RGB), got ${img instanceof Uint8Array ? img.length : typeof img}`);
    }
    for (let i = 0; i < per; i++) out[n * per + i] = table[(i % 3) * 256 + img[i]!]!;
  });
  return new Tensor(out, [images.length, size, size, 3]);
}

function checkSize(size: number): void {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > MAX_RESOLUTION) {
    badOption('size', size, `an integer from 1 to ${MAX_RESOLUTION}`);
  }
}
