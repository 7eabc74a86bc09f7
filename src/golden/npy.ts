/**
 * NPY, the format of `numpy.save` (numpy's NEP 1, "A Simple File Format for NumPy Arrays"):
 *
 *   bytes 0..6     magic "\x93NUMPY"
 *   bytes 6..8     version: major, minor (we write 1.0; we read 1.0, 2.0 and 3.0)
 *   bytes 8..10    HEADER_LEN, little-endian u16 (u32 at bytes 8..12 for versions 2 and 3)
 *   then           the header: a Python dict literal
 *                    {'descr': '<f4', 'fortran_order': False, 'shape': (1, 1001), }
 *                  padded with spaces and ended by '\n' so that the data starts at a multiple of 64
 *   then           the data, row-major (C order), little-endian
 *
 * The writer emits exactly what `numpy.save` writes for a C-contiguous float32 array, so the
 * file's bytes depend only on the shape and the values. The reader accepts C-order `<f4` and
 * `<f8` (float64 is rounded to float32 once, as any float32 engine would); anything else is
 * refused with a coded MobilenetError naming the file.
 */
import { ErrorCodes, fail } from '../errors.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
/** numpy's own cap on a header it will read (numpy >= 1.24 refuses larger headers by default). */
const MAX_HEADER = 10_000;
/** numpy's `GROWTH_AXIS_MAX_DIGITS`. */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** The header dict numpy writes: keys in alphabetical order, a trailing comma and space. */
function headerText(shape: readonly number[]): string {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
}

/**
 * A float32 array as an NPY v1.0 file, byte for byte what `numpy.save` writes (numpy 1.23+):
 * after the dict, 21 - len(str(shape[0])) spaces of growth room, then spaces and '\n' up to
 * the next multiple of 64 (a full 64 when already aligned, as numpy does).
 */
export function encodeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) fail(ErrorCodes.SHAPE, `npy writer: shape [${shape.join(',')}] needs ${size} values, data has ${data.length}`);
  let header = headerText(shape);
  if (shape.length > 0) header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const padding = ALIGN - ((10 + header.length + 1) % ALIGN);
  header += ' '.repeat(padding) + '\n';
  const total = 10 + header.length;
  const out = new Uint8Array(total + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  for (let i = 0; i < data.length; i++) view.setFloat32(total + 4 * i, data[i]!, true);
  return out;
}

export interface NpyArray {
  shape: number[];
  /** The file's dtype descriptor (`<f4` or `<f8`). */
  descr: string;
  data: Float32Array;
  /** The data bytes exactly as stored (float32 little-endian for `<f4`). */
  body: Uint8Array;
}

/**
 * Reads an NPY file. Refuses, with the file named: a file shorter than its preamble or header
 * (ERR_FILE_TOO_SHORT), a wrong magic or version or an unreadable header (ERR_HEADER_FORMAT),
 * a dtype other than `<f4` / `<f8` or Fortran order (ERR_DTYPE), a bad shape (ERR_SHAPE),
 * and data whose length is not elements x 4 (or 8) bytes (ERR_BYTE_LENGTH).
 */
export function parseNpy(bytes: Uint8Array, name = 'npy file'): NpyArray {
  if (bytes.length < 10) fail(ErrorCodes.FILE_TOO_SHORT, `${name}: needs at least 10 bytes (the NPY preamble), has ${bytes.length}`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    const head = [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    fail(ErrorCodes.HEADER_FORMAT, `${name}: expected the NPY magic 93 4e 55 4d 50 59 ("\\x93NUMPY"), got ${head}`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major < 1 || major > 3) fail(ErrorCodes.HEADER_FORMAT, `${name}: NPY version ${major}.${bytes[7]} is not 1.0, 2.0 or 3.0`);
  const wide = major >= 2;
  if (wide && bytes.length < 12) fail(ErrorCodes.FILE_TOO_SHORT, `${name}: needs at least 12 bytes (the NPY ${major}.0 preamble), has ${bytes.length}`);
  const headerLength = wide ? view.getUint32(8, true) : view.getUint16(8, true);
  const start = wide ? 12 : 10;
  if (headerLength > MAX_HEADER) fail(ErrorCodes.HEADER_LENGTH, `${name}: NPY header of ${headerLength} bytes is above the ${MAX_HEADER}-byte cap`);
  if (start + headerLength > bytes.length) {
    fail(ErrorCodes.FILE_TOO_SHORT, `${name}: NPY header needs ${headerLength} bytes after the preamble, the file has ${bytes.length - start}`);
  }
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(bytes.subarray(start, start + headerLength));
  } catch (e) {
    return fail(ErrorCodes.HEADER_FORMAT, `${name}: NPY header is not valid text`, e);
  }
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!/^\s*\{.*\}\s*$/s.test(header) || descr === undefined || fortran === undefined || shapeText === undefined) {
    fail(ErrorCodes.HEADER_FORMAT, `${name}: expected an NPY header {'descr': ..., 'fortran_order': ..., 'shape': (...)}, got ${JSON.stringify(header.trim().slice(0, 100))}`);
  }
  if (descr !== '<f4' && descr !== '<f8') fail(ErrorCodes.DTYPE, `${name}: dtype ${JSON.stringify(descr)} is not supported; expected '<f4' (float32) or '<f8' (float64)`);
  if (fortran !== 'False') fail(ErrorCodes.DTYPE, `${name}: fortran_order True is not supported; save a C-contiguous array (numpy.ascontiguousarray)`);
  const parts = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const shape: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,10}$/.test(p)) fail(ErrorCodes.SHAPE, `${name}: shape (${shapeText}) has an entry ${JSON.stringify(p)} that is not a non-negative integer`);
    shape.push(Number(p));
  }
  const size = descr === '<f4' ? 4 : 8;
  const elements = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(elements * size)) fail(ErrorCodes.SHAPE, `${name}: shape (${shapeText}) overflows`);
  const body = bytes.subarray(start + headerLength);
  if (body.length !== elements * size) {
    fail(ErrorCodes.BYTE_LENGTH, `${name}: ${descr} (${shapeText}) needs ${elements * size} bytes of data, has ${body.length}${body.length < elements * size ? ' (truncated?)' : ''}`);
  }
  const data = new Float32Array(elements);
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (size === 4) for (let i = 0; i < elements; i++) data[i] = dv.getFloat32(4 * i, true);
  else for (let i = 0; i < elements; i++) data[i] = dv.getFloat64(8 * i, true);
  return { shape, descr, data, body };
}
