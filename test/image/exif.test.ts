// JPEG EXIF orientation: small JPEGs made here with jpeg-js's encoder, an APP1 Exif segment
// written by hand (TIFF in both byte orders) for orientations 1 to 8. The displayed image is
// checked two independent ways: where two coloured corner blocks land (the browser's
// `image-orientation: from-image`), and pixel for pixel against the orientation-1 decode turned
// by composing two primitive moves (a 90° clockwise turn and a left-right mirror).
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load } from '../../src/engine/load.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { decodeImage, type RgbImage } from '../../src/image/decode.js';
import { jpegOrientation } from '../../src/image/exif.js';
import { requireShared } from '../helpers/shared.js';
import { classificationDiff, expectSameClassifications, photoBytes } from '../engine/helpers.js';

type Order = 'II' | 'MM';

/** A TIFF block (the body of an Exif segment after `Exif\0\0`) with IFD0 entries: a Make string, then Orientation. */
function tiff(order: Order, orientation: number, { type = 3, magic = 42, ifdOffset = 8, count }: { type?: number; magic?: number; ifdOffset?: number; count?: number } = {}): Uint8Array {
  const little = order === 'II';
  const b = new Uint8Array(8 + 2 + 2 * 12 + 4);
  const v = new DataView(b.buffer);
  b.set(little ? [0x49, 0x49] : [0x4d, 0x4d]);
  v.setUint16(2, magic, little);
  v.setUint32(4, ifdOffset, little);
  v.setUint16(8, count ?? 2, little);
  // Make = "abc" (ASCII, 4 bytes inline)
  v.setUint16(10, 0x010f, little);
  v.setUint16(12, 2, little);
  v.setUint32(14, 4, little);
  b.set([0x61, 0x62, 0x63, 0], 18);
  // Orientation: SHORT (value in the first two bytes of the field) or LONG
  v.setUint16(22, 0x0112, little);
  v.setUint16(24, type, little);
  v.setUint32(26, 1, little);
  if (type === 4) v.setUint32(30, orientation, little);
  else v.setUint16(30, orientation, little);
  v.setUint32(34, 0, little); // no next IFD
  return b;
}

/** An APP segment: marker, big-endian length (itself + body), body. */
function segment(marker: number, body: Uint8Array): Uint8Array {
  const s = new Uint8Array(4 + body.length);
  s.set([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255]);
  s.set(body, 4);
  return s;
}

const exifBody = (t: Uint8Array) => new Uint8Array([0x45, 0x78, 0x69, 0x66, 0, 0, ...t]);

/** The JPEG with `segments` inserted right after SOI, or after the encoder's APP0 (JFIF). */
function withSegments(file: Uint8Array, segments: Uint8Array[], afterApp0 = false): Uint8Array {
  expect([file[0], file[1]]).toEqual([0xff, 0xd8]);
  let at = 2;
  if (afterApp0) {
    expect([file[2], file[3]]).toEqual([0xff, 0xe0]);
    at = 4 + ((file[4]! << 8) | file[5]!);
  }
  const parts = [file.subarray(0, at), ...segments, file.subarray(at)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function encode(img: RgbImage, quality = 95): Uint8Array {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba.set(img.data.subarray(3 * i, 3 * i + 3), 4 * i);
    rgba[4 * i + 3] = 255;
  }
  return new Uint8Array(jpeg.encode({ data: rgba, width: img.width, height: img.height }, quality).data);
}

// The two primitive moves, each written from its plain definition.
const pixel = (img: RgbImage, x: number, y: number) => img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3);
/** 90° clockwise: the top row becomes the right column, read top to bottom. */
function turnClockwise(img: RgbImage): RgbImage {
  const out = { width: img.height, height: img.width, data: new Uint8Array(img.data.length) };
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) out.data.set(pixel(img, x, y), ((x * out.width) + (img.height - 1 - y)) * 3);
  }
  return out;
}
/** Left-right mirror. */
function mirror(img: RgbImage): RgbImage {
  const out = { width: img.width, height: img.height, data: new Uint8Array(img.data.length) };
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) out.data.set(pixel(img, x, y), (y * img.width + (img.width - 1 - x)) * 3);
  return out;
}
const times = (n: number, f: (i: RgbImage) => RgbImage) => (img: RgbImage) => Array.from({ length: n }).reduce<RgbImage>((a) => f(a), img);

/** The displayed image for each orientation, in the TIFF/EXIF spec's words. */
const DISPLAYED: Record<number, (stored: RgbImage) => RgbImage> = {
  1: (i) => i,
  2: mirror, // mirror horizontal
  3: times(2, turnClockwise), // rotate 180
  4: (i) => times(2, turnClockwise)(mirror(i)), // mirror vertical
  5: (i) => times(3, turnClockwise)(mirror(i)), // mirror horizontal and rotate 270 CW
  6: turnClockwise, // rotate 90 CW
  7: (i) => turnClockwise(mirror(i)), // mirror horizontal and rotate 90 CW
  8: times(3, turnClockwise), // rotate 270 CW
};

/** W x H, 8x8 blocks: red at the top-left, green at the top-right, grey elsewhere. */
function cornersImage(W: number, H: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = y < 8 && x < 8 ? [230, 20, 20] : y < 8 && x >= W - 8 ? [20, 230, 20] : [128, 128, 128];
      data.set(c, (y * W + x) * 3);
    }
  }
  return { width: W, height: H, data };
}

/** A smooth but asymmetric pattern of any size (no two orientations give the same pixels). */
function patternImage(W: number, H: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data.set([(x * 255) / (W - 1), (y * 255) / (H - 1), ((x * 3 + y * 7) * 11) & 255], (y * W + x) * 3);
  return { width: W, height: H, data };
}

const same = (a: RgbImage, b: RgbImage) => a.width === b.width && a.height === b.height && Buffer.compare(a.data, b.data) === 0;

describe('EXIF orientation of JPEG files', () => {
  const corners = encode(cornersImage(32, 16));
  const stored = decodeImage(corners); // no Exif segment: as stored

  // Where the stored top-left (red) and top-right (green) blocks are shown, as a browser shows them.
  const CORNERS: Record<number, [string, string]> = {
    1: ['top-left', 'top-right'],
    2: ['top-right', 'top-left'],
    3: ['bottom-right', 'bottom-left'],
    4: ['bottom-left', 'bottom-right'],
    5: ['top-left', 'bottom-left'],
    6: ['top-right', 'bottom-right'],
    7: ['bottom-right', 'top-right'],
    8: ['bottom-left', 'top-left'],
  };
  const cornerColour = (img: RgbImage, where: string) => {
    const x = where.endsWith('left') ? 3 : img.width - 4;
    const y = where.startsWith('top') ? 3 : img.height - 4;
    const [r, g, b] = pixel(img, x, y);
    return r! > 180 && g! < 80 && b! < 80 ? 'red' : g! > 180 && r! < 80 && b! < 80 ? 'green' : 'grey';
  };

  it('the corner blocks survive the encoder (the check below can see them)', () => {
    expect([cornerColour(stored, 'top-left'), cornerColour(stored, 'top-right'), cornerColour(stored, 'bottom-left')]).toEqual(['red', 'green', 'grey']);
  });

  for (const order of ['II', 'MM'] as const) {
    for (let o = 1; o <= 8; o++) {
      it(`${order}, orientation ${o}: the corners land where a browser shows them, and every pixel is the stored decode turned by hand`, () => {
        const file = withSegments(corners, [segment(0xe1, exifBody(tiff(order, o)))], o % 2 === 0);
        expect(jpegOrientation(file)).toBe(o);
        const shown = decodeImage(file);
        expect([shown.width, shown.height]).toEqual(o >= 5 ? [16, 32] : [32, 16]);
        const [red, green] = CORNERS[o]!;
        expect(cornerColour(shown, red), `red at ${red}`).toBe('red');
        expect(cornerColour(shown, green), `green at ${green}`).toBe('green');
        expect(same(shown, DISPLAYED[o]!(stored))).toBe(true);
        // orientation: false keeps the stored layout.
        expect(same(decodeImage(file, 'x', { orientation: false }), stored)).toBe(true);
      });
    }
  }

  it('odd sizes (13x7): every orientation is the hand-turned stored decode, and all eight differ', () => {
    const file = encode(patternImage(13, 7));
    const base = decodeImage(file);
    const shown: RgbImage[] = [];
    for (let o = 1; o <= 8; o++) {
      const img = decodeImage(withSegments(file, [segment(0xe1, exifBody(tiff(o % 2 ? 'MM' : 'II', o)))]));
      expect(same(img, DISPLAYED[o]!(base)), `orientation ${o}`).toBe(true);
      shown.push(img);
    }
    for (let a = 0; a < 8; a++) for (let b = a + 1; b < 8; b++) expect(same(shown[a]!, shown[b]!), `${a + 1} vs ${b + 1}`).toBe(false);
  });

  it('an XMP APP1 segment before the Exif one is passed over; an orientation stored as LONG is read', () => {
    const xmp = segment(0xe1, new TextEncoder().encode('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>'));
    expect(jpegOrientation(withSegments(corners, [xmp, segment(0xe1, exifBody(tiff('II', 6)))]))).toBe(6);
    expect(jpegOrientation(withSegments(corners, [segment(0xe1, exifBody(tiff('MM', 8, { type: 4 })))]))).toBe(8);
  });

  it('malformed EXIF reads as 1 (the stored layout), never an error', () => {
    const cases: [string, Uint8Array[]][] = [
      ['no Exif segment', []],
      ['orientation 0', [segment(0xe1, exifBody(tiff('II', 0)))]],
      ['orientation 9', [segment(0xe1, exifBody(tiff('MM', 9)))]],
      ['orientation as ASCII', [segment(0xe1, exifBody(tiff('II', 6, { type: 2 })))]],
      ['byte order XX', [segment(0xe1, exifBody(tiff('II', 6).map((v, i) => (i < 2 ? 0x58 : v))))]],
      ['TIFF magic 43', [segment(0xe1, exifBody(tiff('MM', 6, { magic: 43 })))]],
      ['IFD offset past the end', [segment(0xe1, exifBody(tiff('II', 6, { ifdOffset: 5000 })))]],
      ['IFD offset 2^32-1', [segment(0xe1, exifBody(tiff('MM', 6, { ifdOffset: 0xffffffff })))]],
      ['the Orientation entry cut short', [segment(0xe1, exifBody(tiff('II', 6).subarray(0, 28)))]],
      ['entry count 0', [segment(0xe1, exifBody(tiff('II', 6, { count: 0 })))]],
      ['entry count 60000', [segment(0xe1, exifBody(tiff('MM', 6, { count: 60000 }).subarray(0, 20)))]],
      ['Exif header only', [segment(0xe1, exifBody(new Uint8Array(0)))]],
      ['"Exif" without the two zeros', [segment(0xe1, new Uint8Array([0x45, 0x78, 0x69, 0x66, 0x20, 0x20, ...tiff('II', 6)]))]],
      ['segment length 0', [new Uint8Array([0xff, 0xe1, 0, 0])]],
    ];
    for (const [what, segments] of cases) {
      const file = withSegments(corners, segments);
      expect(jpegOrientation(file), what).toBe(1);
      expect(same(decodeImage(file), stored), what).toBe(true);
    }
    // A segment whose length runs past the end of the file.
    const cut = new Uint8Array([0xff, 0xd8, 0xff, 0xe1, 0x40, 0x00, ...exifBody(tiff('II', 6)).subarray(0, 10)]);
    expect(jpegOrientation(cut)).toBe(1);
    expect(jpegOrientation(new Uint8Array([0xff, 0xd8]))).toBe(1);
  });
});

const HAVE = requireShared('images/chelsea.png');

describe.skipIf(!HAVE)('classify applies the orientation', () => {
  let model: MobileNet;
  beforeAll(async () => {
    model = await load();
  });
  afterAll(() => model?.dispose());

  it('classify of an orientation-6 JPEG equals classify of the stored pixels turned by hand; orientation: false of the stored pixels', async () => {
    const photo = decodeImage(photoBytes('chelsea.png')); // 451x300: the centre crop depends on the turn
    const plain = encode(photo, 90);
    const stored = decodeImage(plain);
    const turned = withSegments(plain, [segment(0xe1, exifBody(tiff('MM', 6)))], true);
    const byHand = turnClockwise(stored);
    const got = await model.classify(turned, 1001);
    expectSameClassifications(got, await model.classify(byHand, 1001), 'orientation 6 vs turned by hand');
    expect(classificationDiff(got, await model.classify(stored, 1001)), 'the turn changes the answer').not.toBeNull();
    expectSameClassifications(await model.classify(turned, 1001, { orientation: false }), await model.classify(stored, 1001), 'orientation: false');
    const unturned = await load(undefined, { orientation: false });
    expectSameClassifications(await unturned.classify(turned, 1001), await model.classify(stored, 1001), 'load({ orientation: false })');
    expectSameClassifications(await unturned.classify(turned, 1001, { orientation: true }), got, 'per call orientation: true over the model default');
    unturned.dispose();
  });
});
