/**
 * Image formats by their magic bytes. A module of its own so that a browser app can tell a PNG
 * from a WebP without loading the JS decoders (decode.ts), which the browser's decoder makes
 * unnecessary there.
 */
export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'avif';

export const MIME_TYPES: Record<ImageFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  avif: 'image/avif',
};

const ascii = (bytes: Uint8Array, at: number, text: string) => [...text].every((ch, i) => bytes[at + i] === ch.charCodeAt(0));

/** The format of an encoded image by its magic bytes; null when it is none we know. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && ascii(bytes, 1, 'PNG\r\n\x1a\n')) return 'png';
  // SOI alone (FF D8) already says JPEG: a file cut after it is a truncated JPEG, not an unknown format.
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8 && (bytes.length === 2 || bytes[2] === 0xff)) return 'jpeg';
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return 'gif';
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return 'webp';
  if (ascii(bytes, 0, 'BM') && bytes.length >= 26) return 'bmp';
  if (ascii(bytes, 4, 'ftyp') && (ascii(bytes, 8, 'avif') || ascii(bytes, 8, 'avis'))) return 'avif';
  return null;
}
