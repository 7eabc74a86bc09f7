/**
 * Any image a caller may hold, turned into pixels for the pipeline (pipeline.ts documents the
 * steps): encoded bytes (Uint8Array, ArrayBuffer, a Blob or File), raw pixels ({ data, width,
 * height }, which is what ImageData is), a URL or a path, the browser's image objects, or a
 * Tensor / ndarray already normalised (passed through as it is).
 *
 * Decoding: the pure-JavaScript decoders (the same bits in every runtime) unless the runtime has
 * its own decoder and the caller did not ask for `decoder: 'js'` (browsers, by default); GIF,
 * WebP, BMP and AVIF only where the runtime decodes them.
 */
import { platform } from '#platform';
import type { DomImageSource, URLLike } from '../dom-types.js';
import { ErrorCodes, MobilenetError, badOption, fail, typeNameOf } from '../errors.js';
import { isBlobLike, readBytes, type BlobLike, type FetchOptions } from '../fetch.js';
import type { Pixels } from '../platform/types.js';
import { Tensor, isNdarray, type NdArrayLike } from '../tensor.js';
// Not from codecs.js, which would bring the JS decoders into every bundle (they load on first decode).
import { MIME_TYPES, sniffImageFormat } from './formats.js';
import { MAX_IMAGE_PIXELS } from './limits.js';
import type { RgbImage } from './decode.js';
import { centerCropSquare, resizeBilinear } from './resize.js';

/** 8-bit pixels as `ImageData` holds them: RGBA when `data.length === width * height * 4`, RGB when `* 3`. */
export interface RawPixels {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

/** Everything `classify`, `classifyBatch` and `embed` take as one image. */
export type ImageInput =
  | Uint8Array
  | ArrayBuffer
  | BlobLike
  | RawPixels
  | string
  | URLLike
  | DomImageSource
  | Tensor
  | NdArrayLike;

export interface ImageOptions {
  /**
   * `auto` (default): the runtime's own decoder where there is one (browsers), else the
   * pure-JavaScript decoders; `js`: always the pure-JavaScript decoders (PNG and JPEG, the same
   * bits in every runtime); `platform`: always the runtime's decoder (ERR_OPTION where none).
   */
  decoder?: 'auto' | 'js' | 'platform';
  /** Apply a JPEG's EXIF orientation, as browsers do for `<img>`. Default true. */
  orientation?: boolean;
}

const DECODERS = ['auto', 'js', 'platform'] as const;

export function checkImageOptions(options: ImageOptions): Required<ImageOptions> {
  if (options === null || typeof options !== 'object') badOption('image options', options, 'an object');
  const decoder = options.decoder ?? 'auto';
  if (!DECODERS.includes(decoder)) badOption('decoder', decoder, DECODERS.map((d) => `"${d}"`).join(', '));
  const orientation = options.orientation ?? true;
  if (typeof orientation !== 'boolean') badOption('orientation', orientation, 'true or false');
  if (decoder === 'platform' && !platform.decodeImage) badOption('decoder', decoder, '"auto" or "js" (this runtime has no image decoder of its own)');
  return { decoder, orientation };
}

/** What one image becomes: RGB pixels of any size, or a tensor the caller normalised. */
export type ReadImage = { readonly rgb: RgbImage; readonly name: string } | { readonly tensor: Tensor; readonly name: string };

/** Largest encoded image read from a path or URL. */
export const MAX_IMAGE_FILE_BYTES = 256 << 20;

const ACCEPTED_IMAGES =
  'encoded PNG or JPEG bytes (Uint8Array, ArrayBuffer, Blob, File), raw pixels { data, width, height } (RGBA or RGB, e.g. ImageData), ' +
  'a URL or path of an image file, an HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, ImageBitmap, VideoFrame or HTMLVideoElement (browsers), ' +
  'or a Tensor / ndarray [N, H, W, 3] already normalised';

/** Reads one image of any accepted kind. `name` names it in errors. */
export async function readImage(input: unknown, options: Required<ImageOptions>, fetchOptions: FetchOptions = {}, name?: string): Promise<ReadImage> {
  if (input instanceof Tensor || isNdarray(input)) return { tensor: Tensor.from(input as Tensor), name: name ?? 'tensor' };
  if (isRawPixels(input)) return { rgb: rawToRgb(input, name ?? 'pixels'), name: name ?? 'pixels' };
  if (input instanceof Uint8Array) return decodeBytes(input, name ?? 'image bytes', options);
  if (input instanceof ArrayBuffer) return decodeBytes(new Uint8Array(input), name ?? 'image bytes', options);
  if (isBlobLike(input)) {
    const where = name ?? (input.name || 'Blob');
    if (input.size > MAX_IMAGE_FILE_BYTES) fail(ErrorCodes.IMAGE_DECODE, `${where}: ${input.size} bytes, above the ${MAX_IMAGE_FILE_BYTES}-byte cap for an image file`);
    return decodeBytes(new Uint8Array(await input.arrayBuffer()), where, options);
  }
  if (typeof input === 'string' || input instanceof URL) {
    if (input === '') fail(ErrorCodes.INPUT, `image: an empty string is not a path or URL; expected ${ACCEPTED_IMAGES}`);
    const where = name ?? (input instanceof URL ? input.href : input);
    return decodeBytes(await readBytes(input, MAX_IMAGE_FILE_BYTES, fetchOptions), where, options);
  }
  const dom = input !== null && typeof input === 'object' ? platform.pixelsOf?.(input) : null;
  if (dom) return { rgb: toRgb(await dom, name ?? typeNameOf(input)), name: name ?? typeNameOf(input) };
  return fail(ErrorCodes.INPUT, `${name ?? 'image'}: expected ${ACCEPTED_IMAGES}; got ${describeInput(input)}`);
}

function describeInput(input: unknown): string {
  if (input === undefined) return 'undefined';
  if (input === null) return 'null';
  if (typeof input !== 'object') return `a ${typeof input} (${String(input).slice(0, 40)})`;
  const type = typeNameOf(input);
  const inBrowser = /^(HTML\w*Element|OffscreenCanvas|ImageBitmap|VideoFrame)$/.test(type);
  return inBrowser ? `a ${type}, which needs a browser's canvas (this runtime has none)` : `a ${type}`;
}

function isRawPixels(v: unknown): v is RawPixels {
  if (v === null || typeof v !== 'object') return false;
  const p = v as RawPixels;
  return (p.data instanceof Uint8Array || p.data instanceof Uint8ClampedArray) && typeof p.width === 'number' && typeof p.height === 'number';
}

/** RGBA or RGB raw pixels to RGB (alpha dropped, not composited, as for PNG). */
function rawToRgb(p: RawPixels, name: string): RgbImage {
  const { width, height, data } = p;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    fail(ErrorCodes.INPUT, `${name}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (width * height > MAX_IMAGE_PIXELS) fail(ErrorCodes.INPUT, `${name}: ${width}x${height} pixels, above the ${MAX_IMAGE_PIXELS}-pixel cap`);
  const n = width * height;
  if (data.length === n * 4) return toRgb({ width, height, channels: 4, data }, name);
  if (data.length === n * 3) return toRgb({ width, height, channels: 3, data }, name);
  return fail(ErrorCodes.INPUT, `${name}: ${width}x${height} pixels need ${n * 4} bytes (RGBA) or ${n * 3} (RGB), data has ${data.length}`);
}

function toRgb(p: Pixels, name: string): RgbImage {
  const { width, height, channels, data } = p;
  if (width * height > MAX_IMAGE_PIXELS) fail(ErrorCodes.INPUT, `${name}: ${width}x${height} pixels, above the ${MAX_IMAGE_PIXELS}-pixel cap`);
  if (channels === 3) return { width, height, data: data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length) };
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = data[4 * i]!;
    rgb[3 * i + 1] = data[4 * i + 1]!;
    rgb[3 * i + 2] = data[4 * i + 2]!;
  }
  return { width, height, data: rgb };
}

async function decodeBytes(bytes: Uint8Array, name: string, options: Required<ImageOptions>): Promise<ReadImage> {
  const format = sniffImageFormat(bytes);
  const wantsPlatform =
    platform.decodeImage !== undefined &&
    (options.decoder === 'platform' ||
      (options.decoder === 'auto' && !(format === 'jpeg' && !options.orientation)) ||
      (format !== null && format !== 'png' && format !== 'jpeg'));
  if (format !== null && wantsPlatform) {
    try {
      const pixels = await platform.decodeImage!({ bytes, mimeType: MIME_TYPES[format], orientation: options.orientation });
      return { rgb: toRgb(pixels, name), name };
    } catch (e) {
      if (e instanceof MobilenetError) throw e;
      return fail(ErrorCodes.IMAGE_DECODE, `${name}: the ${format.toUpperCase()} image cannot be decoded (${(e as Error)?.message ?? String(e)})`, e);
    }
  }
  // The decoders are loaded on first use: a browser app whose images the browser decodes never downloads them.
  const { decodeImage } = await import('./decode.js');
  return { rgb: decodeImage(bytes, name, { orientation: options.orientation }), name };
}

/**
 * Steps 2-4 of the pipeline: centre crop to the model's aspect and bilinear resize to its size,
 * rounded to uint8. A square model takes the centred square; an image already at the model's
 * size passes through unchanged (the resize would be the identity anyway).
 */
export function fitToModel(image: RgbImage, height: number, width: number): Uint8Array {
  if (image.width === width && image.height === height) return image.data;
  const cropped = height === width ? centerCropSquare(image) : centerCropAspect(image, height, width);
  return resizeBilinear(cropped.data, cropped.width, cropped.height, width, height);
}

/** The largest centred window with the model's aspect ratio (for non-square inputs). */
function centerCropAspect(image: RgbImage, height: number, width: number): RgbImage {
  const cw = Math.min(image.width, Math.max(1, Math.round((image.height * width) / height)));
  const ch = Math.min(image.height, Math.max(1, Math.round((image.width * height) / width)));
  const x0 = Math.floor((image.width - cw) / 2);
  const y0 = Math.floor((image.height - ch) / 2);
  const out = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) out.set(image.data.subarray(((y0 + y) * image.width + x0) * 3, ((y0 + y) * image.width + x0 + cw) * 3), y * cw * 3);
  return { width: cw, height: ch, data: out };
}
