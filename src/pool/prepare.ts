/**
 * One image file to the model's input bytes, exactly as `MobileNet.classifyBatch` prepares a
 * path (steps 1-4 of src/image/pipeline.ts, with the same functions): read (the same cap), decode
 * by magic bytes (EXIF orientation applied), centre crop, bilinear resize, round to uint8. What a
 * decode worker runs for each file, and `classify --jobs 1 --decoder wasm` in its own thread.
 *
 * Never throws: a file that cannot be read or decoded is an answer with the error's code and
 * message (the message names the path, as the in-thread path's does). An error that is not ours
 * (a bug) is marked `internal`, so the CLI can end the run as it does for one in its own thread.
 */
import { MobilenetError } from '../errors.js';
import { readBytes } from '../fetch.js';
import type { RgbImage } from '../image/decode.js';
import { MAX_IMAGE_FILE_BYTES, checkImageOptions, fitToModel, readImage } from '../image/sources.js';
import type { WasmDecoders } from '../image/wasm-decode.js';

/** `js`: the pure-JavaScript decoders (the default, the pixels of every other path); `wasm`: src/image/wasm-decode.ts. */
export type DecoderName = 'js' | 'wasm';

export const DECODER_NAMES: readonly DecoderName[] = ['js', 'wasm'];

export type Prepared =
  | { ok: true; rgb: Uint8Array; ms: number }
  | {
      ok: false;
      code: string;
      message: string;
      ms: number;
      /** An error that is not a MobilenetError: a bug, which ends the run. */
      internal?: boolean;
      /** The pool cannot work at all (its workers do not start): ends the run. */
      fatal?: boolean;
    };

/** The options a model loaded by the CLI decodes with: its defaults (no platform decoder in Node: the JS decoders; orientation applied). */
const IMAGE_OPTIONS = checkImageOptions({});

/** `file` read, decoded, cropped and resized to `height` x `width` RGB; `ms`: the time it took. */
export async function prepareFile(file: string, height: number, width: number, wasm: WasmDecoders | null): Promise<Prepared> {
  const t0 = performance.now();
  try {
    let image: RgbImage;
    if (wasm) {
      // The read readImage does for a path or URL: the same cap, the same errors.
      const bytes = await readBytes(file, MAX_IMAGE_FILE_BYTES, { redirects: 'any' });
      image = await wasm.decode(bytes, file, { orientation: IMAGE_OPTIONS.orientation });
    } else {
      const read = await readImage(file, IMAGE_OPTIONS, { redirects: 'any' });
      if (!('rgb' in read)) throw new Error(`${file}: read as a tensor`);
      image = read.rgb;
    }
    return { ok: true, rgb: fitToModel(image, height, width), ms: performance.now() - t0 };
  } catch (e) {
    const ms = performance.now() - t0;
    if (e instanceof MobilenetError) return { ok: false, code: e.code, message: e.message, ms };
    return { ok: false, code: 'internal', message: (e as Error)?.message ?? String(e), ms, internal: true };
  }
}
