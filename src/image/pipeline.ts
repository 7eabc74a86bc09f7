/**
 * The input pipeline, exactly, so any other engine can reproduce our input bytes:
 *
 * 1. Decode, by magic bytes (never by file name):
 *    - PNG (`89 50 4E 47 0D 0A 1A 0A`): fast-png 8 (inflate by fflate). Grey becomes R=G=B;
 *      1/2/4-bit samples are scaled by 255 / (2^depth - 1); 16-bit samples become
 *      floor(v * 255 / 65535 + 0.5); palette indices are looked up. Alpha (a channel or tRNS)
 *      is dropped, not composited: the stored RGB is kept. gAMA, cHRM and iCCP are ignored.
 *    - JPEG (`FF D8 FF`): jpeg-js 0.4's decoder with useTArray, formatAsRGBA false, tolerant
 *      decoding (the default), at most 40 MP and 512 MB. Grey becomes R=G=B; CMYK/YCCK are
 *      converted by jpeg-js; ICC profiles are ignored. The EXIF orientation is applied (as
 *      browsers do for `<img>`; `orientation: false` keeps the stored layout). Other JPEG
 *      decoders (libjpeg-turbo, browsers) may differ by a few levels: the bytes are jpeg-js's.
 *    - In browsers, by default, the browser's own decoder (`createImageBitmap` with no colour
 *      space conversion and no premultiplication, then a 2D canvas): PNG gives the same bytes,
 *      JPEG may differ by a few levels; `decoder: 'js'` takes the path above everywhere.
 *    - GIF, WebP, BMP, AVIF: the browser's decoder only; elsewhere ERR_IMAGE_FORMAT.
 *    - Anything else, or any decoder error: ERR_IMAGE_DECODE naming the file.
 *    Raw pixels ({ data, width, height }, RGB or RGBA) and canvas-like sources skip this step;
 *    RGBA drops its alpha the same way.
 * 2. Centre crop to a square: S = min(W, H), x0 = floor((W - S) / 2), y0 = floor((H - S) / 2).
 * 3. Resize S x S to size x size, bilinear, half-pixel centres, no antialiasing: the TF.js cpu
 *    kernel of `tf.image.resizeBilinear(x, [size, size], false, true)`. In float64, per axis:
 *      src = (S / size) * (o + 0.5) - 0.5,  i0 = max(0, floor(src)),  f = src - i0,
 *      i1 = min(S - 1, ceil(src));
 *    top = p00 + (p01 - p00) * fx, bottom = p10 + (p11 - p10) * fx, v = top + (bottom - top) * fy;
 *    then v32 = fround(v). TF's C++ kernel does the same steps in float32 instead: on our photos
 *    at 128-224 about half its floats differ in the last bits and ~0.3% of the rounded bytes by
 *    one level (values near .5 ties), measured with a float32 re-implementation of that kernel.
 *    An image already square and at the model's size is the identity (src = o exactly).
 * 4. Round to uint8: u8 = min(255, max(0, Math.round(v32))): nearest, halves up (100.5 -> 101),
 *    the same as floor(v32 + 0.5) in float64. (tf.round would round halves to even.)
 * 5. To the network: the model's pixel normalisation (src/image/normalize.ts), e.g. for TF-Slim
 *    weights x01 = fround(u8 / 255), then x = fround(fround(x01 * 2) - 1), exactly the TF-Hub
 *    graph's own `hub_input/Mul` (y = 2) and `hub_input/Sub` (y = 1) in float32. NHWC, RGB,
 *    batch first.
 */
import { badOption } from '../errors.js';
import { Tensor } from '../tensor.js';
import { MAX_RESOLUTION } from '../model/architecture.js';
import { decodeImage, type DecodeOptions } from './decode.js';
import { toModelInput } from './normalize.js';
import { centerCropSquare, resizeBilinear } from './resize.js';

/** Steps 1-4: file bytes to size x size x 3 uint8 RGB. */
export function preprocessImage(bytes: Uint8Array, size: number, name = 'image', options: DecodeOptions = {}): Uint8Array {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > MAX_RESOLUTION) {
    badOption('size', size, `an integer from 1 to ${MAX_RESOLUTION}`);
  }
  const square = centerCropSquare(decodeImage(bytes, name, options));
  return resizeBilinear(square.data, square.width, square.height, size, size);
}

/** Steps 1-5: one image file to a [1, size, size, 3] tensor in [-1, 1]. */
export function imageToInput(bytes: Uint8Array, size: number, name = 'image'): Tensor {
  return toModelInput([preprocessImage(bytes, size, name)], size);
}
