/**
 * JPEG EXIF orientation: read the Orientation tag (0x0112) of the APP1 `Exif` segment and turn
 * the decoded pixels the way a browser shows the photo in `<img>` (CSS `image-orientation:
 * from-image`, the default). Anything malformed reads as 1 (as stored).
 */
import type { DecodedRgb } from './codecs.js';

/** The EXIF orientation, 1 to 8, of a JPEG file; 1 when it has none. */
export function jpegOrientation(bytes: Uint8Array): number {
  let p = 2; // after SOI
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1]!;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // scan data: no more metadata
    const length = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    if (length < 2) break;
    const body = bytes.subarray(p + 4, Math.min(bytes.length, p + 2 + length));
    if (marker === 0xe1 && body.length >= 14 && body[0] === 0x45 && body[1] === 0x78 && body[2] === 0x69 && body[3] === 0x66 && body[4] === 0 && body[5] === 0) {
      return tiffOrientation(body.subarray(6));
    }
    p += 2 + length;
  }
  return 1;
}

function tiffOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  if (view.getUint16(2, little) !== 42) return 1;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return 1;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return 1;
    if (view.getUint16(entry, little) !== 0x0112) continue;
    const type = view.getUint16(entry + 2, little);
    const value = type === 3 ? view.getUint16(entry + 8, little) : type === 4 ? view.getUint32(entry + 8, little) : 0;
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

/**
 * The displayed image for an EXIF orientation: 2 mirror, 3 rotate 180, 4 flip, 5 transpose,
 * 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise (5 to 8 swap width and height).
 */
export function applyOrientation(image: DecodedRgb, orientation: number): DecodedRgb {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: W, height: H, data } = image;
  const swap = orientation >= 5;
  const outW = swap ? H : W;
  const outH = swap ? W : H;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let sx: number, sy: number;
      switch (orientation) {
        case 2: sx = W - 1 - x; sy = y; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sx = x; sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        default: sx = W - 1 - y; sy = x; break; // 8
      }
      const s = (sy * W + sx) * 3;
      const o = (y * outW + x) * 3;
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
  return { width: outW, height: outH, data: out };
}
