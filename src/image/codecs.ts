/**
 * The pure-JavaScript decoders, with no Node built-ins, so they run in every runtime:
 * fast-png (with fflate's inflate) and jpeg-js's decoder alone (its encoder is never imported).
 * Both hand back 8-bit RGB here; see pipeline.ts for the exact conversions.
 */
import { decode as decodePngFile } from 'fast-png';
import decodeJpegFile from 'jpeg-js/lib/decoder.js';
import { MAX_IMAGE_PIXELS } from './limits.js';

export interface DecodedRgb {
  width: number;
  height: number;
  /** width * height * 3 bytes, R G B per pixel, rows top to bottom. */
  data: Uint8Array;
  /** The JPEG's EXIF block (TIFF header first), when it has one. */
  exif?: Uint8Array;
}

export { MAX_IMAGE_PIXELS };
/** jpeg-js's own allocation cap for one decode. */
const JPEG_MAX_MEMORY_MB = 512;

/**
 * PNG to 8-bit RGB. Grey is expanded to R = G = B; 1/2/4-bit samples are scaled by
 * 255 / (2^depth - 1) (exact); 16-bit samples become floor(v * 255 / 65535 + 0.5); palette
 * indices are looked up; alpha (a channel, or tRNS) is dropped, not composited: PNG stores
 * unassociated colour, so the stored RGB is the pixel's colour.
 */
export function decodePng(bytes: Uint8Array): DecodedRgb {
  // Checksums checked, as libpng (and so browsers) do for the chunks that hold the image.
  const png = decodePngFile(bytes, { checkCrc: true });
  const { width, height, depth, channels, data, palette } = png;
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const rowSamples = width * channels;
  // Low bit depths are packed, each row starting on a byte boundary.
  const rowBytes = Math.ceil((rowSamples * depth) / 8);
  const maxValue = 2 ** depth - 1;
  const sample = (row: number, i: number): number => {
    if (depth === 8) return data[row * rowSamples + i]!;
    if (depth === 16) return Math.floor((data[row * rowSamples + i]! * 255) / 65535 + 0.5);
    const bit = i * depth;
    const byte = data[row * rowBytes + (bit >> 3)]!;
    return (byte >> (8 - depth - (bit & 7))) & maxValue;
  };
  const scale = palette || depth >= 8 ? 1 : 255 / maxValue;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette) {
        const entry = palette[sample(y, x)];
        if (!entry) throw new Error(`palette index ${sample(y, x)} out of range (${palette.length} colours)`);
        rgb[o] = entry[0]!;
        rgb[o + 1] = entry[1]!;
        rgb[o + 2] = entry[2]!;
      } else if (channels <= 2) {
        rgb[o] = rgb[o + 1] = rgb[o + 2] = sample(y, x * channels) * scale;
      } else {
        for (let c = 0; c < 3; c++) rgb[o + c] = sample(y, x * channels + c);
      }
    }
  }
  return { width, height, data: rgb };
}

/** JPEG to 8-bit RGB with jpeg-js (grey expanded, CMYK/YCCK converted), tolerant decoding. */
export function decodeJpeg(bytes: Uint8Array): DecodedRgb {
  const img = decodeJpegFile(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
    maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
  });
  return { width: img.width, height: img.height, data: img.data, ...(img.exifBuffer ? { exif: img.exifBuffer } : {}) };
}
