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
    image = attempt(() => decodePng(bytes), name, 'PNG', bytes);
  } else {
    image = attempt(() => decodeJpeg(bytes), name, 'JPEG', bytes);
    if (options.orientation !== false) image = applyOrientation(image, jpegOrientation(bytes));
  }
  if (!(image.width >= 1 && image.height >= 1) || image.data.length !== image.width * image.height * 3) {
    fail(ErrorCodes.IMAGE_DECODE, `${name}: decoded to an invalid ${image.width}x${image.height} image`);
  }
  return { width: image.width, height: image.height, data: image.data };
}

function attempt(decode: () => DecodedRgb, name: string, format: 'PNG' | 'JPEG', bytes: Uint8Array): DecodedRgb {
  try {
    return decode();
  } catch (e) {
    return fail(ErrorCodes.IMAGE_DECODE, `${name}: cannot decode ${format}: ${decoderMessage(e, format, bytes)}`, e);
  }
}

const PNG_END = [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]; // "IEND" and its CRC

/** True when the file ends as a complete one does: a PNG on its IEND chunk, a JPEG on its EOI marker (zero padding allowed). */
function endsComplete(bytes: Uint8Array, format: 'PNG' | 'JPEG'): boolean {
  if (format === 'PNG') return bytes.length >= 8 && PNG_END.every((b, i) => bytes[bytes.length - 8 + i] === b);
  let end = bytes.length;
  while (end > 2 && bytes[end - 1] === 0) end--;
  return end >= 4 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

/**
 * What the decoders' errors mean, in plain words: fast-png, fflate (its inflate) and jpeg-js word
 * them for their authors ("Offset is outside the bounds of the DataView", "unknown JPEG marker 0",
 * "Error while decompressing the data:"); the original stays as the error's cause. A file that
 * does not end as a complete PNG or JPEG does is reported as truncated, whatever the decoder said.
 */
function decoderMessage(e: unknown, format: 'PNG' | 'JPEG', bytes: Uint8Array): string {
  const raw = String((e as Error)?.message ?? e);
  const cause = String(((e as Error)?.cause as Error | undefined)?.message ?? '');
  if (/maxMemoryUsageInMB/.test(raw)) return 'the image needs more memory to decode than the 512 MB allowed';
  if (/maxResolutionInMP/.test(raw)) return `more pixels than the ${MAX_IMAGE_PIXELS}-pixel cap`;
  if (!endsComplete(bytes, format)) return 'the file is truncated (it ends before the image does)';
  if (/offset is out of bounds|outside the bounds|unexpected end|premature/i.test(raw)) return 'corrupt file (its data runs past the end of the file)';
  if (format === 'PNG') {
    if (/unexpected EOF/i.test(`${raw} ${cause}`)) return 'the compressed pixel data is corrupt (it ends early)';
    if (/decompress|invalid (block type|length\/literal|distance|zlib)/i.test(`${raw} ${cause}`)) return 'the compressed pixel data is corrupt';
    const crc = /^CRC mismatch for chunk (\w{4})/.exec(raw);
    if (crc) return `corrupt file (the checksum of its ${crc[1]} chunk does not match)`;
    if (/Length mismatch while decoding chunk (\w{4})/.test(raw)) return 'corrupt file (a chunk is not as long as its header says)';
    if (/unsupported filter|filter method/i.test(raw)) return 'the pixel data is corrupt (unknown row filter)';
    if (/palette|tRNS/i.test(raw)) return 'corrupt file (its palette or transparency does not match the image)';
    const unsupported = /(colou?r type|bit depth|interlace method|compression method)\D*(\d+)/i.exec(raw);
    if (unsupported) return `not a valid PNG (${unsupported[1]!.toLowerCase()} ${unsupported[2]})`;
    return 'corrupt or unsupported PNG data';
  }
  if (/only single frame/i.test(raw)) return 'a JPEG with several frames, which is not supported';
  if (/unsupported color mode/i.test(raw)) return 'an unsupported JPEG colour mode';
  return 'the image data is corrupt';
}

function checkPixels(width: number, height: number, name: string): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    fail(ErrorCodes.IMAGE_DECODE, `${name}: ${width}x${height} pixels, above the ${MAX_IMAGE_PIXELS}-pixel cap`);
  }
}
