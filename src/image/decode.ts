/**
 * Image decoding: PNG (pngjs) or JPEG (jpeg-js), chosen by the file's magic bytes, never by
 * its name. The result is always 8-bit RGB, row-major, no padding. See pipeline.ts for the
 * exact conversions.
 */
import type PngjsModule from 'pngjs';
import type JpegModule from 'jpeg-js';
import { ErrorCodes, fail } from '../errors.js';

// CommonJS decoders: loaded where a module loader can (Node, Deno, Bun, bundlers). A browser
// page without a bundler decodes with the platform (canvas) and passes RGB bytes instead.
const pngjsLoaded: typeof PngjsModule | null = await import('pngjs').then((m) => m.default ?? m, () => null);
const jpegLoaded: typeof JpegModule | null = await import('jpeg-js').then((m) => m.default ?? m, () => null);

function unavailable(format: string): never {
  return fail(ErrorCodes.IMAGE_DECODE, `${format} decoding is not available in this runtime (pngjs / jpeg-js could not be loaded); decode the image yourself and pass RGB bytes`);
}

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, R G B per pixel, rows top to bottom. */
  data: Uint8Array;
}

/** Largest image decoded: 40 megapixels, so a forged header cannot ask for gigabytes. */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** jpeg-js's own allocation cap for one decode. */
const JPEG_MAX_MEMORY_MB = 512;

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

export function decodeImage(bytes: Uint8Array, name = 'image'): RgbImage {
  if (!(bytes instanceof Uint8Array)) fail(ErrorCodes.IMAGE_DECODE, `${name}: expected the file's bytes as a Uint8Array`);
  const starts = (magic: number[]) => magic.every((b, i) => bytes[i] === b);
  let image: RgbImage;
  if (starts(PNG_MAGIC)) image = decodePng(bytes, name);
  else if (starts(JPEG_MAGIC)) image = decodeJpeg(bytes, name);
  else {
    const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    return fail(ErrorCodes.IMAGE_DECODE, `${name}: not a PNG or JPEG file (starts with ${head || 'nothing: the file is empty'})`);
  }
  if (!(image.width >= 1 && image.height >= 1) || image.data.length !== image.width * image.height * 3) {
    fail(ErrorCodes.IMAGE_DECODE, `${name}: decoded to an invalid ${image.width}x${image.height} image`);
  }
  return image;
}

function decodePng(bytes: Uint8Array, name: string): RgbImage {
  // Check IHDR's size before pngjs allocates width * height * 4 bytes for it.
  if (bytes.length >= 24) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    checkPixels(view.getUint32(16), view.getUint32(20), name);
  }
  let png: { width: number; height: number; data: Uint8Array };
  try {
    // pngjs expands palette, grey and 1/2/4/16-bit data to 8-bit RGBA.
    png = (pngjsLoaded ?? unavailable('PNG')).PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    return fail(ErrorCodes.IMAGE_DECODE, `${name}: cannot decode PNG: ${(e as Error)?.message ?? String(e)}`, e);
  }
  const { width, height, data } = png;
  const n = width * height;
  if (data.length !== n * 4) fail(ErrorCodes.IMAGE_DECODE, `${name}: PNG decoded to ${data.length} bytes for ${width}x${height} RGBA`);
  const rgb = new Uint8Array(n * 3);
  // Alpha is dropped, not composited: PNG stores unassociated colour, so RGB is the pixel's colour.
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = data[4 * i]!;
    rgb[3 * i + 1] = data[4 * i + 1]!;
    rgb[3 * i + 2] = data[4 * i + 2]!;
  }
  return { width, height, data: rgb };
}

function decodeJpeg(bytes: Uint8Array, name: string): RgbImage {
  try {
    const img = (jpegLoaded ?? unavailable('JPEG')).decode(bytes, {
      useTArray: true,
      formatAsRGBA: false, // RGB out; grey is expanded, CMYK/YCCK converted by jpeg-js
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
    });
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    return fail(ErrorCodes.IMAGE_DECODE, `${name}: cannot decode JPEG: ${(e as Error)?.message ?? String(e)}`, e);
  }
}

function checkPixels(width: number, height: number, name: string): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    fail(ErrorCodes.IMAGE_DECODE, `${name}: ${width}x${height} pixels, above the ${MAX_IMAGE_PIXELS}-pixel cap`);
  }
}
