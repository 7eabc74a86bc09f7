/**
 * Decoding with the pure-JavaScript decoders, chosen by the file's magic bytes, never by its
 * name: PNG (fast-png) and JPEG (jpeg-js). The result is always 8-bit RGB, row-major, no
 * padding. Other formats are recognised so the error can name them (ERR_IMAGE_FORMAT): the
 * browser path decodes them with the runtime's own decoder (src/image/sources.ts).
 */
import { ErrorCodes, fail } from '../errors.js';
import { MAX_IMAGE_PIXELS, decodeJpeg, decodePng, type DecodedRgb } from './codecs.js';
import { applyOrientation, jpegOrientation } from './exif.js';
import { MIME_TYPES, sniffImageFormat, type ImageFormat } from './formats.js';

export { MAX_IMAGE_PIXELS };
export type RgbImage = Omit<DecodedRgb, 'exif'>;

export { MIME_TYPES, sniffImageFormat, type ImageFormat };

export interface DecodeOptions {
  /** Apply the JPEG's EXIF orientation, as browsers do for `<img>`. Default true. */
  orientation?: boolean;
}

/** Decodes PNG or JPEG bytes to 8-bit RGB with the pure-JavaScript decoders (same bits in every runtime). */
export function decodeImage(bytes: Uint8Array, name = 'image', options: DecodeOptions = {}): RgbImage {
  if (!(bytes instanceof Uint8Array)) fail(ErrorCodes.IMAGE_DECODE, `${name}: expected the file's bytes as a Uint8Array`);
  const format = sniffImageFormat(bytes);
  if (format === null) {
    const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    return fail(ErrorCodes.IMAGE_DECODE, `${name}: not a PNG or JPEG file (starts with ${head || 'nothing: the file is empty'})`);
  }
  if (format !== 'png' && format !== 'jpeg') {
    return fail(ErrorCodes.IMAGE_FORMAT, `${name}: a ${format.toUpperCase()} image; this runtime decodes PNG and JPEG only (browsers decode ${format.toUpperCase()} too): convert it, or decode it yourself and pass { data, width, height }`);
  }
  let image: DecodedRgb;
  if (format === 'png') {
    // Check IHDR's size before the decoder allocates for it.
    if (bytes.length >= 24) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      checkPixels(view.getUint32(16), view.getUint32(20), name);
    }
    image = attempt(() => decodePng(bytes), name, 'PNG');
  } else {
    image = attempt(() => decodeJpeg(bytes), name, 'JPEG');
    if (options.orientation !== false) image = applyOrientation(image, jpegOrientation(bytes));
  }
  if (!(image.width >= 1 && image.height >= 1) || image.data.length !== image.width * image.height * 3) {
    fail(ErrorCodes.IMAGE_DECODE, `${name}: decoded to an invalid ${image.width}x${image.height} image`);
  }
  return { width: image.width, height: image.height, data: image.data };
}

function attempt(decode: () => DecodedRgb, name: string, format: string): DecodedRgb {
  try {
    return decode();
  } catch (e) {
    return fail(ErrorCodes.IMAGE_DECODE, `${name}: cannot decode ${format}: ${decoderMessage(e)}`, e);
  }
}

/** The decoders' own wording, bounded, with their internal phrasing turned into what it means. */
function decoderMessage(e: unknown): string {
  const raw = String((e as Error)?.message ?? e);
  if (/offset is out of bounds|outside the bounds|unexpected end|end of (the )?(buffer|data)|premature/i.test(raw)) return 'the file is truncated or corrupt';
  return raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
}

function checkPixels(width: number, height: number, name: string): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    fail(ErrorCodes.IMAGE_DECODE, `${name}: ${width}x${height} pixels, above the ${MAX_IMAGE_PIXELS}-pixel cap`);
  }
}
