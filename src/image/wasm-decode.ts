/**
 * The opt-in WebAssembly decoders (`mobilenet classify --decoder wasm`), for Node, Deno and Bun:
 *
 * - JPEG: mozjpeg's decoder (libjpeg-turbo's; @jsquash/jpeg, Emscripten). Its pixels are not
 *   jpeg-js's: libjpeg's IDCT and its "fancy" chroma upsampling differ from jpeg-js's by a few
 *   levels, so the classes can differ where the top two are close. The EXIF orientation is
 *   applied by the same code as with the JS decoders (src/image/exif.ts), on the stored layout.
 * - PNG: the Rust `png` crate (@jsquash/png, wasm-bindgen). PNG is lossless: the pixels are
 *   the JS decoder's bit for bit (16-bit samples are read as 16 bits and reduced with the same
 *   rounding as the JS path, floor(v * 255 / 65535 + 0.5); alpha is dropped the same way).
 *
 * Everything else goes to the JS decoders (src/image/decode.ts), which decide and word the
 * error: files that are not PNG or JPEG, files that do not end as a complete PNG or JPEG does
 * (mozjpeg would fill a truncated JPEG with grey where jpeg-js may refuse it), images above the
 * pixel cap, and any file the wasm decoder fails on (a CMYK JPEG, a corrupt one). So a broken
 * file fails with the same code and message whichever decoder is chosen.
 *
 * A decoder that failed is rebuilt from its compiled module before the next image (JPEG), or,
 * where the glue cannot be rebuilt (PNG), dropped after a few failures in favour of the JS
 * decoder: a failure unwinds the wasm stack without restoring it.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { ErrorCodes, fail } from '../errors.js';
import type { DecodedRgb } from './codecs.js';
import { decodeImage, type RgbImage } from './decode.js';
import { applyOrientation, jpegOrientation } from './exif.js';
import { sniffImageFormat } from './formats.js';
import { MAX_IMAGE_PIXELS } from './limits.js';

/** Paths of the two .wasm files. */
export interface WasmCodecFiles {
  jpeg: string;
  png: string;
}

/** Where the installed @jsquash packages keep their decoders (resolved from this module). */
export function wasmCodecFiles(): WasmCodecFiles {
  const require = createRequire(import.meta.url);
  try {
    return {
      jpeg: require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'),
      png: require.resolve('@jsquash/png/codec/pkg/squoosh_png_bg.wasm'),
    };
  } catch (e) {
    const why = String((e as Error)?.message ?? e).split('\n')[0];
    return fail(ErrorCodes.OPTION, `option --decoder: "wasm" needs the packages @jsquash/jpeg and @jsquash/png, which are not installed (${why}); install them (npm install @jsquash/jpeg @jsquash/png) or use --decoder js`, e);
  }
}

/** PNG failures after which a thread stops using the PNG decoder (see the module's comment). */
const PNG_FAILURES_TOLERATED = 16;

interface ImageLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

export interface WasmDecoders {
  /** PNG or JPEG bytes to 8-bit RGB, as `decodeImage` (src/image/decode.ts) but with the wasm decoders. */
  decode(bytes: Uint8Array, name: string, options?: { orientation?: boolean }): Promise<RgbImage>;
  /** Images each decoder handed over to the JS decoders, and why (for tests and the benchmark). */
  readonly fallbacks: { jpeg: number; png: number };
}

/** Compiles both decoders (from `files`, default: the installed packages) and makes them ready. */
export async function loadWasmDecoders(files: WasmCodecFiles = wasmCodecFiles()): Promise<WasmDecoders> {
  const [jpegModule, pngModule, jpeg, png] = await Promise.all([
    readFile(files.jpeg).then((b) => WebAssembly.compile(b)),
    readFile(files.png).then((b) => WebAssembly.compile(b)),
    import('@jsquash/jpeg/decode.js'),
    import('@jsquash/png/decode.js'),
  ]);
  // Emscripten prints libjpeg's warnings ("Premature end of JPEG file") and errors on the console: silenced.
  // locateFile: the glue would otherwise build the .wasm file's URL from import.meta.url, which a bundle may not have.
  const quiet = { print: () => {}, printErr: () => {}, locateFile: (path: string) => path };
  // init(module, overrides): the two-argument form of jpeg.init (its declaration lists only the second).
  const initJpeg = () => (jpeg.init as unknown as (module: WebAssembly.Module, overrides: object) => Promise<void>)(jpegModule, quiet);
  await initJpeg();
  await png.init(pngModule);
  const fallbacks = { jpeg: 0, png: 0 };
  let pngFailures = 0;

  async function decodeJpeg(bytes: Uint8Array): Promise<DecodedRgb | null> {
    const size = jpegSize(bytes);
    if (!size || size.width * size.height > MAX_IMAGE_PIXELS || !endsComplete(bytes, 'jpeg')) return null;
    try {
      return rgbaToRgb(await jpeg.default(arrayBufferOf(bytes), { preserveOrientation: false }));
    } catch {
      await initJpeg();
      return null;
    }
  }

  async function decodePng(bytes: Uint8Array): Promise<DecodedRgb | null> {
    if (pngFailures >= PNG_FAILURES_TOLERATED || bytes.length < 33 || !endsComplete(bytes, 'png')) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(16) * view.getUint32(20) > MAX_IMAGE_PIXELS) return null;
    const depth = bytes[24];
    try {
      if (depth === 16) {
        const image = await png.decode(arrayBufferOf(bytes), { bitDepth: 16 });
        const rgb = rgba16ToRgb(image);
        (image as { free?: () => void }).free?.();
        return rgb;
      }
      return rgbaToRgb(await png.decode(arrayBufferOf(bytes)));
    } catch {
      pngFailures++;
      return null;
    }
  }

  return {
    fallbacks,
    async decode(bytes, name, options = {}) {
      const format = sniffImageFormat(bytes);
      let image: DecodedRgb | null = null;
      if (format === 'jpeg') {
        image = await decodeJpeg(bytes);
        if (image && options.orientation !== false) image = applyOrientation(image, jpegOrientation(bytes));
      } else if (format === 'png') {
        image = await decodePng(bytes);
      }
      if (image && image.width >= 1 && image.height >= 1 && image.data.length === image.width * image.height * 3) return image;
      if (format === 'jpeg' || format === 'png') fallbacks[format]++;
      return decodeImage(bytes, name, options);
    },
  };
}

/** The bytes as an ArrayBuffer of their own (the decoders' declared input). */
function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}

/** RGBA (ImageData) to RGB: alpha dropped, not composited, as the JS decoders do. */
function rgbaToRgb(image: ImageLike): DecodedRgb {
  const { width, height, data } = image;
  const n = width * height;
  if (data.length !== n * 4) return { width, height, data: new Uint8Array(0) };
  const rgb = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n * 4; i += 4, j += 3) {
    rgb[j] = data[i]!;
    rgb[j + 1] = data[i + 1]!;
    rgb[j + 2] = data[i + 2]!;
  }
  return { width, height, data: rgb };
}

/** 16-bit RGBA to 8-bit RGB with the JS decoder's rounding: floor(v * 255 / 65535 + 0.5). */
function rgba16ToRgb(image: ImageLike): DecodedRgb {
  const { width, height, data } = image;
  const n = width * height;
  if (data.length !== n * 4) return { width, height, data: new Uint8Array(0) };
  const rgb = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n * 4; i += 4, j += 3) {
    rgb[j] = Math.floor((data[i]! * 255) / 65535 + 0.5);
    rgb[j + 1] = Math.floor((data[i + 1]! * 255) / 65535 + 0.5);
    rgb[j + 2] = Math.floor((data[i + 2]! * 255) / 65535 + 0.5);
  }
  return { width, height, data: rgb };
}

const PNG_END = [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]; // "IEND" and its CRC

/** True when the file ends as a complete one does: a PNG on its IEND chunk, a JPEG on its EOI marker (zero padding allowed). */
function endsComplete(bytes: Uint8Array, format: 'png' | 'jpeg'): boolean {
  if (format === 'png') return bytes.length >= 8 && PNG_END.every((b, i) => bytes[bytes.length - 8 + i] === b);
  let end = bytes.length;
  while (end > 2 && bytes[end - 1] === 0) end--;
  return end >= 4 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

/** The frame size from a JPEG's SOF marker (any of SOF0-SOF15 but DHT, JPG and DAC); null when there is none before the scan. */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | null {
  let p = 2;
  while (p + 4 <= bytes.length) {
    if (bytes[p] !== 0xff) return null;
    const marker = bytes[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return null;
    const length = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    if (length < 2) return null;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (p + 9 > bytes.length) return null;
      const height = (bytes[p + 5]! << 8) | bytes[p + 6]!;
      const width = (bytes[p + 7]! << 8) | bytes[p + 8]!;
      return width > 0 && height > 0 ? { width, height } : null;
    }
    p += 2 + length;
  }
  return null;
}
