// The opt-in wasm decoders of `classify --decoder wasm` (src/image/wasm-decode.ts) against the JS
// decoders: PNG of every colour type and bit depth (palette, grey 1-16 bits, alpha, 16-bit, Adam7)
// gives the same bytes; JPEG is within a few levels, the EXIF orientation applied the same way; a
// broken, truncated or unknown file fails with the JS decoder's own code and message; many
// failures in a row leave the decoders working.
import { readFileSync } from 'node:fs';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/image/decode.js';
import { MobilenetError } from '../../src/errors.js';
import { jpegSize, loadWasmDecoders, type WasmDecoders } from '../../src/image/wasm-decode.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { rotatedJpeg } from './jobs-helpers.js';

const HAVE = requireShared('images/chelsea.png', 'images/parrot.jpg', 'images/rocket.jpg', 'images/coffee.png');

const W = 37;
const H = 23;

/** A deterministic pattern of `n` samples below 2^depth. */
const samples = (n: number, depth: number) => Array.from({ length: n }, (_, i) => (i * 7919 + (i >> 3) * 31 + 5) % 2 ** depth);

function pngOf(channels: number, depth: number, extra: { palette?: number[][]; interlace?: 'Adam7' } = {}): Uint8Array {
  const rowBytes = Math.ceil((W * channels * depth) / 8);
  const data = depth === 16 ? Uint16Array.from(samples(W * H * channels, 16)) : depth < 8 ? Uint8Array.from(samples(rowBytes * H, 8)) : Uint8Array.from(samples(W * H * channels, depth));
  return encodePng({ width: W, height: H, channels, depth: depth as 8, data, ...(extra.palette ? { palette: extra.palette } : {}) }, extra.interlace ? { interlace: extra.interlace } : {});
}

async function failureOf(p: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof MobilenetError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a failure');
}

describe('--decoder wasm: the decoders', () => {
  let wasm: WasmDecoders;
  beforeAll(async () => {
    wasm = await loadWasmDecoders();
  });

  const pngs: [string, () => Uint8Array][] = [
    ['grey 1-bit', () => pngOf(1, 1)],
    ['grey 2-bit', () => pngOf(1, 2)],
    ['grey 4-bit', () => pngOf(1, 4)],
    ['grey 8-bit', () => pngOf(1, 8)],
    ['grey 16-bit', () => pngOf(1, 16)],
    ['grey + alpha 8-bit', () => pngOf(2, 8)],
    ['grey + alpha 16-bit', () => pngOf(2, 16)],
    ['RGB 8-bit', () => pngOf(3, 8)],
    ['RGB 16-bit', () => pngOf(3, 16)],
    ['RGBA 8-bit', () => pngOf(4, 8)],
    ['RGBA 16-bit', () => pngOf(4, 16)],
    ['palette 2-bit', () => pngOf(1, 2, { palette: [[0, 10, 20], [255, 0, 128], [7, 200, 9], [90, 91, 92]] })],
    ['palette 8-bit', () => pngOf(1, 8, { palette: Array.from({ length: 256 }, (_, i) => [i, 255 - i, (i * 77) % 256]) })],
    ['RGB 8-bit, Adam7 interlaced', () => pngOf(3, 8, { interlace: 'Adam7' })],
  ];
  for (const [name, make] of pngs) {
    it(`PNG ${name}: the JS decoder's bytes`, async () => {
      const bytes = make();
      const fallbacks = wasm.fallbacks.png;
      const a = await wasm.decode(bytes, 'x.png');
      expect(wasm.fallbacks.png, 'decoded by the wasm decoder, not handed back').toBe(fallbacks);
      const b = decodeImage(bytes, 'x.png');
      expect([a.width, a.height]).toEqual([b.width, b.height]);
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    });
  }

  it.skipIf(!HAVE)('the shared PNG photos: the same bytes; the JPEG photos: within a few levels, the same size', async () => {
    for (const name of ['chelsea.png', 'coffee.png']) {
      const bytes = readFileSync(sharedPath(`images/${name}`));
      const a = await wasm.decode(bytes, name);
      expect(Buffer.from(a.data).equals(Buffer.from(decodeImage(bytes, name).data)), name).toBe(true);
    }
    for (const name of ['parrot.jpg', 'rocket.jpg']) {
      const bytes = readFileSync(sharedPath(`images/${name}`));
      const before = wasm.fallbacks.jpeg;
      const a = await wasm.decode(bytes, name);
      expect(wasm.fallbacks.jpeg).toBe(before);
      const b = decodeImage(bytes, name);
      expect([a.width, a.height]).toEqual([b.width, b.height]);
      let max = 0;
      let sum = 0;
      for (let i = 0; i < a.data.length; i++) {
        const d = Math.abs(a.data[i]! - b.data[i]!);
        max = Math.max(max, d);
        sum += d;
      }
      // libjpeg's IDCT and fancy upsampling against jpeg-js's: a few levels, about one on average.
      expect(max, name).toBeLessThan(40);
      expect(sum / a.data.length, name).toBeLessThan(2);
    }
  });

  it.skipIf(!HAVE)('EXIF orientation: turned as the JS decoder turns it (1 to 8), and kept as stored with orientation: false', async () => {
    const parrot = readFileSync(sharedPath('images/parrot.jpg'));
    const stored = await wasm.decode(parrot, 'p.jpg');
    for (let o = 1; o <= 8; o++) {
      const file = rotatedJpeg(parrot, o);
      const a = await wasm.decode(file, 'p.jpg');
      const b = decodeImage(file, 'p.jpg');
      expect([a.width, a.height], `orientation ${o}`).toEqual([b.width, b.height]);
      expect([a.width, a.height]).toEqual(o >= 5 ? [stored.height, stored.width] : [stored.width, stored.height]);
      const kept = await wasm.decode(file, 'p.jpg', { orientation: false });
      expect(Buffer.from(kept.data).equals(Buffer.from(stored.data)), `orientation ${o}, orientation: false`).toBe(true);
    }
    // Turned by the same code: the turned wasm decode is the stored wasm decode turned (orientation 6, a corner pixel).
    const six = await wasm.decode(rotatedJpeg(parrot, 6), 'p.jpg');
    // Orientation 6 shows the stored image turned 90 degrees clockwise: the top-left pixel shown is the stored bottom-left one.
    const storedBottomLeft = ((stored.height - 1) * stored.width + 0) * 3;
    expect([...six.data.subarray(0, 3)]).toEqual([...stored.data.subarray(storedBottomLeft, storedBottomLeft + 3)]);
  });

  it.skipIf(!HAVE)('broken files fail with the JS decoder\'s code and message; the decoders go on working after many failures', async () => {
    const png = readFileSync(sharedPath('images/chelsea.png'));
    const jpg = readFileSync(sharedPath('images/parrot.jpg'));
    const crc = Uint8Array.from(png);
    crc[100]! ^= 0xff;
    const broken: [string, Uint8Array][] = [
      ['truncated.png', png.subarray(0, 5000)],
      ['crc.png', crc],
      ['signature-only.png', png.subarray(0, 8)],
      ['truncated.jpg', jpg.subarray(0, 600)],
      ['half.jpg', jpg.subarray(0, Math.floor(jpg.length / 2))],
      ['soi-only.jpg', Uint8Array.from([0xff, 0xd8, 0xff, 0xd9])],
      ['text.png', new TextEncoder().encode('not a picture\n')],
      ['empty.png', new Uint8Array(0)],
      ['gif.png', new TextEncoder().encode('GIF89a\x01\x00\x01\x00\x00\x00\x00;')],
    ];
    for (let round = 0; round < 12; round++) {
      for (const [name, bytes] of broken) {
        const js = await failureOf(() => decodeImage(bytes, name));
        const failure = await failureOf(wasm.decode(bytes, name));
        expect(failure, name).toEqual(js);
      }
    }
    // A corrupt JPEG that ends as a complete one does (so it reaches mozjpeg): the JS decoder's answer too.
    const corrupt = Uint8Array.from(jpg);
    corrupt.fill(0x11, 400, 4000);
    const js = await failureOf(() => decodeImage(corrupt, 'corrupt.jpg')).catch(() => null);
    const viaWasm = await failureOf(wasm.decode(corrupt, 'corrupt.jpg')).catch(() => null);
    if (js) expect(viaWasm).toEqual(js);
    // And the wasm decoders still decode (nothing handed back to the JS decoders).
    const fallbacks = { ...wasm.fallbacks };
    expect(Buffer.from((await wasm.decode(png, 'chelsea.png')).data).equals(Buffer.from(decodeImage(png, 'chelsea.png').data))).toBe(true);
    const again = await wasm.decode(jpg, 'parrot.jpg');
    expect([again.width, again.height]).toEqual([512, 929]);
    expect(wasm.fallbacks).toEqual(fallbacks);
  });

  it('jpegSize reads the frame size from SOF0 and SOF2, and gives null without one', () => {
    const small = jpeg.encode({ width: 13, height: 7, data: new Uint8Array(13 * 7 * 4).fill(128) }, 90).data;
    expect(jpegSize(small)).toEqual({ width: 13, height: 7 });
    expect(jpegSize(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]))).toBeNull();
    expect(jpegSize(Uint8Array.from([0xff, 0xd8, 0xff, 0xc2, 0, 11, 8, 0, 5, 1, 0, 3]))).toEqual({ width: 256, height: 5 });
    expect(jpegSize(Uint8Array.from([0xff, 0xd8, 0x00]))).toBeNull();
  });
});
