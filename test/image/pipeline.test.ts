/**
 * The input pipeline against independent sources: image sizes from shared/images/PROVENANCE.md,
 * TensorFlow.js (cpu backend) for crop, resize and normalisation, hand-built PNGs with
 * hand-computed pixels for the decoder's conversions.
 */
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import jpeg from 'jpeg-js';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ErrorCodes, MobilenetError } from '../../src/errors.js';
import {
  centerCropSquare,
  decodeImage,
  imageToInput,
  normalizePixels,
  preprocessImage,
  resizeBilinear,
  resizeBilinearFloat,
  roundToUint8,
  toModelInput,
  toModelInput01,
  type RgbImage,
} from '../../src/image/index.js';
import { requireShared, sharedPath } from '../helpers/shared.js';

/** name, width, height: the table in shared/images/PROVENANCE.md. */
const PHOTOS: [string, number, number][] = [
  ['chelsea.png', 451, 300],
  ['coffee.png', 600, 400],
  ['rocket.jpg', 640, 427],
  ['grace_hopper.png', 512, 600],
  ['cat.png', 512, 341],
  ['dog.png', 512, 340],
  ['bird.png', 512, 343],
  ['parrot.jpg', 512, 929],
];
const HAVE = requireShared(...PHOTOS.map(([f]) => `images/${f}`), 'images/PROVENANCE.md');

const read = (file: string) => new Uint8Array(readFileSync(sharedPath(`images/${file}`)));

function expectDecodeError(bytes: Uint8Array, name: string, message?: RegExp): void {
  let error: unknown;
  try {
    decodeImage(bytes, name);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MobilenetError);
  expect((error as MobilenetError).code).toBe(ErrorCodes.IMAGE_DECODE);
  expect((error as MobilenetError).message).toContain(name);
  if (message) expect((error as MobilenetError).message).toMatch(message);
}

/** TF.js's resize of an RGB image: tf.image.resizeBilinear(x, [outH, outW], alignCorners=false, halfPixelCenters=true). */
function tfResize(rgb: Uint8Array, w: number, h: number, outW: number, outH: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(rgb), [1, h, w, 3]);
    return tf.image.resizeBilinear(x, [outH, outW], false, true).dataSync() as Float32Array;
  });
}

/** x.div(255).mul(2).sub(1), written with the functional ops (the chained ones need a side-effect import). */
const toMinus1To1 = (x: tf.Tensor) => tf.sub(tf.mul(tf.div(x, 255), 2), 1);

/** Indices where two float arrays differ in bits (NaN-safe), at most `limit` of them. */
function bitDiffs(a: Float32Array, b: Float32Array, limit = 5): number[] {
  expect(a.length).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const out: number[] = [];
  for (let i = 0; i < ua.length && out.length < limit; i++) if (ua[i] !== ub[i]) out.push(i);
  return out;
}

// A minimal PNG writer (filter 0, one IDAT), so decoder tests do not depend on pngjs's encoder.
function png(width: number, height: number, colorType: number, depth: number, raw: number[], chunks: [string, number[]][] = []): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    out.set(data, 8);
    out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const row = raw.length / height;
  const scan = Buffer.alloc((row + 1) * height);
  for (let y = 0; y < height; y++) scan.set(raw.slice(y * row, (y + 1) * row), y * (row + 1) + 1);
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...chunks.map(([t, d]) => chunk(t, Uint8Array.from(d))),
    chunk('IDAT', zlib.deflateSync(scan)),
    chunk('IEND', new Uint8Array(0)),
  ]));
}

describe('decoding: PNG colour types by hand', () => {
  it.each<[string, Uint8Array, number, number[]]>([
    ['grey 8-bit', png(2, 1, 0, 8, [10, 200]), 2, [10, 10, 10, 200, 200, 200]],
    ['grey 1-bit', png(8, 1, 0, 1, [0b10100000]), 8, [255, 255, 255, 0, 0, 0, 255, 255, 255, ...Array<number>(15).fill(0)]],
    ['grey+alpha: alpha dropped', png(2, 1, 4, 8, [10, 0, 200, 128]), 2, [10, 10, 10, 200, 200, 200]],
    ['RGBA: a transparent pixel keeps its RGB', png(2, 1, 6, 8, [1, 2, 3, 0, 4, 5, 6, 255]), 2, [1, 2, 3, 4, 5, 6]],
    // 16-bit: round(v * 255 / 65535): 0x1234 -> 18.13 -> 18, 0x8080 -> 128, 0x0101 -> 1, 0x7fff -> 127.498 -> 127.
    ['RGB 16-bit', png(2, 1, 2, 16, [0x12, 0x34, 0xff, 0xff, 0, 0, 0x80, 0x80, 0x01, 0x01, 0x7f, 0xff]), 2, [18, 255, 0, 128, 1, 127]],
    ['palette', png(2, 1, 3, 8, [1, 0], [['PLTE', [255, 0, 0, 0, 0, 255]]]), 2, [0, 0, 255, 255, 0, 0]],
    // A tRNS colour key is transparency: dropped like alpha, the stored RGB kept (documented in pipeline.ts).
    // (Three pixels: fast-png 8 refuses an RGB tRNS on images of fewer pixels than the key's three samples.)
    ['RGB with a tRNS colour key', png(3, 1, 2, 8, [1, 2, 3, 4, 5, 6, 7, 8, 9], [['tRNS', [0, 1, 0, 2, 0, 3]]]), 3, [1, 2, 3, 4, 5, 6, 7, 8, 9]],
  ])('%s', (_, bytes, width, rgb) => {
    const img = decodeImage(bytes, 'x.png');
    expect([img.width, img.height]).toEqual([width, 1]);
    expect([...img.data]).toEqual(rgb);
  });

  it('chooses the decoder by magic bytes, not the file name', () => {
    expect(decodeImage(png(1, 1, 0, 8, [7]), 'really-a-png.jpg').data).toEqual(Uint8Array.from([7, 7, 7]));
  });

  it('refuses a PNG whose header asks for more than the pixel cap, before allocating', () => {
    const huge = png(1, 1, 0, 8, [0]);
    new DataView(huge.buffer).setUint32(16, 100_000);
    new DataView(huge.buffer).setUint32(20, 100_000);
    expectDecodeError(huge, 'huge.png', /100000x100000 pixels/);
  });

  it('a mutation sweep of small PNG and JPEG files: every outcome is an image or ERR_IMAGE_DECODE', () => {
    const rgba = Buffer.alloc(24 * 16 * 4, 0).map((_, i) => (i * 37) % 256);
    const files = [
      png(24, 16, 2, 8, Array.from({ length: 24 * 16 * 3 }, (_, i) => (i * 11) % 256)),
      new Uint8Array(jpeg.encode({ width: 24, height: 16, data: rgba }, 80).data),
    ];
    fc.assert(
      fc.property(fc.nat(1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.option(fc.nat()), (f, sets, cut) => {
        let bytes = files[f]!.slice();
        for (const [at, v] of sets) bytes[at % bytes.length] = v;
        if (cut !== null) bytes = bytes.slice(0, cut % bytes.length);
        try {
          const img = decodeImage(bytes, 'fuzz');
          expect(img.data.length).toBe(img.width * img.height * 3);
        } catch (e) {
          expect(e).toBeInstanceOf(MobilenetError);
          expect((e as MobilenetError).code).toBe(ErrorCodes.IMAGE_DECODE);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('resize against TensorFlow.js on random images', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('equals tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=true) bit for bit, any sizes', () => {
    const dim = fc.integer({ min: 1, max: 40 });
    fc.assert(
      fc.property(dim, dim, dim, dim, fc.integer(), (w, h, outW, outH, seed) => {
        const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (Math.imul(i + 1, 2654435761 ^ seed) >>> 24) & 255);
        expect(bitDiffs(resizeBilinearFloat(rgb, w, h, outW, outH), tfResize(rgb, w, h, outW, outH))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('rounds to nearest with halves up, clamped to [0, 255]', () => {
    expect([...roundToUint8(Float32Array.from([0.5, 1.5, 2.5, 254.5, 255.4, -0.3, 300, 99.49999]))]).toEqual([1, 2, 3, 255, 255, 0, 255, 99]);
  });

  it('refuses data that does not match its size', () => {
    expect(() => resizeBilinear(new Uint8Array(11), 2, 2, 1, 1)).toThrow(MobilenetError);
    expect(() => resizeBilinear(new Uint8Array(12), 2, 2, 0, 1)).toThrow(MobilenetError);
  });
});

describe('normalisation against TensorFlow.js', () => {
  // Every byte value, three times over: a 16x16 RGB image.
  const all = Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => i % 256);
  const tfNormalise = (u8: Uint8Array, f: (x: tf.Tensor) => tf.Tensor) =>
    tf.tidy(() => f(tf.tensor(Float32Array.from(u8))).dataSync() as Float32Array);

  it('toModelInput equals x.div(255).mul(2).sub(1) in float32, for every byte', () => {
    const ours = toModelInput([all, all.slice().reverse()], 16);
    expect(ours.shape).toEqual([2, 16, 16, 3]);
    const theirs = Float32Array.from([
      ...tfNormalise(all, toMinus1To1),
      ...tfNormalise(all.slice().reverse(), toMinus1To1),
    ]);
    expect(bitDiffs(ours.data, theirs)).toEqual([]);
    expect([ours.data[0], ours.data[255]]).toEqual([-1, 1]);
  });

  it('toModelInput01 equals x.div(255), the graph model\'s own input', () => {
    expect(bitDiffs(toModelInput01([all], 16).data, tfNormalise(all, (x) => tf.div(x, 255)))).toEqual([]);
  });

  it('normalizePixels: tflite-uint8 is (x - 128) / 128, torch-imagenet is (x / 255 - mean) / std per channel, in float32', () => {
    expect(bitDiffs(normalizePixels([all], 16, 'tflite-uint8').data, tfNormalise(all, (x) => tf.div(tf.sub(x, 128), 128)))).toEqual([]);
    const torch = tf.tidy(() => {
      const x = tf.tensor(Float32Array.from(all), [16 * 16, 3]);
      return tf.div(tf.sub(tf.div(x, 255), tf.tensor1d([0.485, 0.456, 0.406])), tf.tensor1d([0.229, 0.224, 0.225])).dataSync() as Float32Array;
    });
    expect(bitDiffs(normalizePixels([all], 16, 'torch-imagenet').data, torch)).toEqual([]);
    expect(bitDiffs(normalizePixels([all], 16).data, toModelInput([all], 16).data)).toEqual([]);
    expect(() => normalizePixels([all], 16, 'caffe' as never)).toThrow(MobilenetError);
  });

  it('refuses an empty batch or an image of the wrong size', () => {
    expect(() => toModelInput([], 16)).toThrow(MobilenetError);
    expect(() => toModelInput([all.subarray(1)], 16)).toThrow(/expected 768 bytes/);
    expect(() => toModelInput([all], 0)).toThrow(MobilenetError);
  });
});

describe.skipIf(!HAVE)('the photos in shared/images', () => {
  const decoded = new Map<string, RgbImage>();

  beforeAll(async () => {
    await tf.setBackend('cpu');
    for (const [file] of PHOTOS) decoded.set(file, decodeImage(read(file), file));
  });

  it.each(PHOTOS)('%s decodes to %ix%i RGB (PROVENANCE.md)', (file, width, height) => {
    const img = decoded.get(file)!;
    expect([img.width, img.height]).toEqual([width, height]);
    expect(img.data.length).toBe(width * height * 3);
    // A photograph, not a blank: many distinct values.
    expect(new Set(img.data).size).toBeGreaterThan(200);
  });

  it('crops the centred square as tf.slice does at floor((W - S) / 2), floor((H - S) / 2)', () => {
    for (const [file] of PHOTOS) {
      const img = decoded.get(file)!;
      const s = Math.min(img.width, img.height);
      const theirs = tf.tidy(() =>
        tf.slice(tf.tensor3d(img.data, [img.height, img.width, 3], 'int32'), [Math.floor((img.height - s) / 2), Math.floor((img.width - s) / 2), 0], [s, s, 3]).dataSync(),
      );
      const ours = centerCropSquare(img);
      expect([ours.width, ours.height]).toEqual([s, s]);
      expect(Buffer.from(ours.data).equals(Buffer.from(Uint8Array.from(theirs)))).toBe(true);
    }
  });

  it('resizes every photo exactly as TF.js, before and after rounding, at 224, 192, 160 and 128', () => {
    const stats: string[] = [];
    for (const [file] of PHOTOS) {
      const crop = centerCropSquare(decoded.get(file)!);
      for (const size of [224, 192, 160, 128]) {
        const theirs = tfResize(crop.data, crop.width, crop.height, size, size);
        const ours = resizeBilinearFloat(crop.data, crop.width, crop.height, size, size);
        expect(bitDiffs(ours, theirs), `${file} @${size}`).toEqual([]);
        const rounded = resizeBilinear(crop.data, crop.width, crop.height, size, size);
        // Measured: not one byte differs after rounding (the floats are already identical).
        let differing = 0;
        for (let i = 0; i < rounded.length; i++) if (rounded[i] !== Math.round(theirs[i]!)) differing++;
        stats.push(`${file}@${size}: ${differing}`);
        expect(differing, `${file} @${size}`).toBe(0);
      }
    }
    expect(stats).toHaveLength(32);
  });

  it('resizes a whole non-square photo, down and up, as TF.js', () => {
    const img = decoded.get('chelsea.png')!;
    for (const [w, h] of [[300, 200], [97, 61], [700, 500]] as const) {
      expect(bitDiffs(resizeBilinearFloat(img.data, img.width, img.height, w, h), tfResize(img.data, img.width, img.height, w, h))).toEqual([]);
    }
  });

  it('imageToInput equals the whole pipeline composed in TF.js (crop, resize, round, x/255*2-1)', () => {
    for (const file of ['parrot.jpg', 'coffee.png']) {
      const img = decoded.get(file)!;
      const s = Math.min(img.width, img.height);
      const theirs = tf.tidy(() => {
        const x = tf.slice(tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3]), [Math.floor((img.height - s) / 2), Math.floor((img.width - s) / 2), 0], [s, s, 3]);
        const resized = tf.image.resizeBilinear(tf.expandDims(x, 0) as tf.Tensor4D, [224, 224], false, true);
        const rounded = tf.floor(tf.add(resized, 0.5)); // halves up, as documented
        return toMinus1To1(rounded).dataSync() as Float32Array;
      });
      const ours = imageToInput(read(file), 224, file);
      expect(ours.shape).toEqual([1, 224, 224, 3]);
      expect(bitDiffs(ours.data, theirs)).toEqual([]);
      expect(preprocessImage(read(file), 224, file)).toEqual(roundToUint8(resizeBilinearFloat(centerCropSquare(img).data, s, s, 224, 224)));
    }
  });

  it('names the file when it cannot be decoded: text called .png, truncated JPEG and PNG, empty', () => {
    expectDecodeError(read('PROVENANCE.md'), 'notes.png', /not a PNG or JPEG/);
    const parrot = read('parrot.jpg');
    for (const keep of [0.1, 0.5, 0.9]) expectDecodeError(parrot.subarray(0, Math.floor(parrot.length * keep)), 'parrot-cut.jpg', /JPEG/);
    const cat = read('cat.png');
    expectDecodeError(cat.subarray(0, cat.length / 2), 'cat-cut.png', /PNG/);
    expectDecodeError(new Uint8Array(0), 'empty.jpg', /empty/);
    expect(() => imageToInput(read('PROVENANCE.md'), 224, 'notes.png')).toThrow(/notes\.png/);
  });
});
