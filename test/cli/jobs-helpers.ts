/** What the --jobs tests share: an EXIF-rotated JPEG made by hand, timings taken out of JSON lines, waiting for the decode workers to end. */
import { liveDecodeWorkers } from '../../src/pool/decode-pool.js';

/** The JPEG with an APP1 Exif segment (big-endian TIFF, one IFD entry: Orientation) right after SOI. */
export function rotatedJpeg(jpeg: Uint8Array, orientation: number): Uint8Array {
  const tiff = new Uint8Array(8 + 2 + 12 + 4);
  const v = new DataView(tiff.buffer);
  tiff.set([0x4d, 0x4d]);
  v.setUint16(2, 42);
  v.setUint32(4, 8);
  v.setUint16(8, 1);
  v.setUint16(10, 0x0112);
  v.setUint16(12, 3); // SHORT
  v.setUint32(14, 1);
  v.setUint16(18, orientation);
  v.setUint32(22, 0);
  const body = new Uint8Array([0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff]);
  const segment = new Uint8Array([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 255, ...body]);
  const out = new Uint8Array(jpeg.length + segment.length);
  out.set(jpeg.subarray(0, 2));
  out.set(segment, 2);
  out.set(jpeg.subarray(2), 2 + segment.length);
  return out;
}

/** JSON lines without their `"ms"` (a timing, different on every run). */
export const stripMs = (jsonLines: string): string => jsonLines.replace(/,"ms":[-+0-9.eE]+/g, '');

/** Waits until every decode worker this process started has ended (fails the test after `ms`). */
export async function untilNoWorkers(ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (liveDecodeWorkers() > 0) {
    if (Date.now() - t0 > ms) throw new Error(`${liveDecodeWorkers()} decode workers still running ${ms} ms after the run`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
