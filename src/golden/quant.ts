/**
 * Golden bundles for quantized engines (format version 3): a uint8 or int8 TFLite MobileNet v1
 * run by the integer reference path (src/quant/reference.ts, TFLite's reference integer
 * arithmetic), its integer input, every end point as integers with their scale and zero point,
 * and the TFLite file itself, so the bundle is self-contained. Comparisons are exact: an end
 * point passes iff every entry equals the golden integer (tolerance 0); the report gives, per end
 * point, the number of differing entries and the largest difference in levels.
 *
 *   manifest.json          format_version 3, model, input (images or seeded), endpoints,
 *                          tolerance {exact: true}, tensors with dtype U8/I8, scale, zero_point
 *   model.tflite           the model, byte for byte
 *   input.safetensors      `input` [N, H, W, 3], U8 or I8 (the integers the first convolution reads)
 *   outputs.safetensors    one tensor per end point, U8 or I8, NHWC ([N, K] for Logits, Predictions)
 *   npy/input.npy, npy/outputs/<end point>.npy   the same, '|u1' or '|i1'
 *   verify_golden.py       the checker (python3 and numpy)
 *
 * Float bundles stay version 2 (./bundle.ts); `mobilenet verify` and verify_golden.py read 1, 2
 * and 3. Deterministic: the same model, input and engine version give the same bytes.
 */
import { createHash } from 'node:crypto';
import { basename, join, resolve, sep } from 'node:path';
import { platform } from '#platform';
import { ErrorCodes, badOption, describe, fail } from '../errors.js';
import { parseSafetensors, readTensorData, type ParsedSafetensors, type SafetensorsEntry } from '../formats/safetensors.js';
import { isQuantizedTflite, readTfliteQuantized } from '../quant/tflite-reader.js';
import { preprocessImage } from '../image/pipeline.js';
import { mulberry32 } from '../model/random.js';
import { pixelsToQuantizedInput, runQuantizedReference } from '../quant/reference.js';
import type { IntDType, QuantizedModel } from '../quant/model.js';
import { CHECKER_FILE, MANIFEST_FILE, MAX_BUNDLE_FILE_BYTES, MAX_MANIFEST_BYTES, inFile, outputsPathKind, readCapped, sameShape } from './bundle.js';
import { parseNpy } from './npy.js';
import { PYTHON_CHECKER } from './python-checker.js';

export const QUANT_FORMAT_VERSION = 3;
export const TFLITE_FILE = 'model.tflite';
const GOLDEN_FORMAT = 'mobilenet-golden';
const INPUT_FILE = 'input.safetensors';
const OUTPUTS_FILE = 'outputs.safetensors';
/** The seeded input's stream: mulberry32 seeded with seed XOR this (as the float bundle's input). */
const INPUT_SEED_XOR = 0x9e3779b9;
/** Most images or batch entries in one bundle. */
export const MAX_QUANT_GOLDEN_BATCH = 64;

export const EXACT_RULE =
  'per end point E: exact integer equality, other_i == golden_i for every entry i (tolerance 0); reported: the number of differing entries and the largest |other_i - golden_i| in levels';

type SafeDType = 'U8' | 'I8';
const SAFE_DTYPE: Record<IntDType, SafeDType> = { uint8: 'U8', int8: 'I8' };
const NPY_DESCR: Record<IntDType, string> = { uint8: '|u1', int8: '|i1' };

export interface QuantGoldenOptions {
  /** The model file's name as recorded (its basename: no absolute path enters the bundle). */
  modelName: string;
  /** Decoded through src/image/pipeline.ts; the batch is their number. */
  images?: readonly { name: string; bytes: Uint8Array }[];
  /** Without images: a seeded integer input. */
  seed?: number;
  batch?: number;
  endpoints?: 'all' | readonly string[];
}

export interface QuantManifestTensor {
  group: 'input' | 'outputs';
  name: string;
  file: string;
  npy: string;
  dtype: SafeDType;
  shape: number[];
  /** real = scale * (q - zero_point); scale is the file's float32 value. */
  scale: number;
  zero_point: number;
  sha256: string;
}

export interface QuantManifest {
  format: typeof GOLDEN_FORMAT;
  format_version: 3;
  kind: 'quantized';
  engine: { name: string; version: string; path: 'integer-reference'; arithmetic: string };
  model: { file: typeof TFLITE_FILE; sha256: string; bytes: number; source: string; dtype: IntDType; float_input: boolean; float_output: boolean };
  config: { alpha: number; resolution: [number, number]; batch: number; num_classes: number; dtype: IntDType; seed: number | null };
  input: { name: 'input'; layout: 'NHWC'; dtype: IntDType; source: 'images' | 'seeded'; images?: string[]; pipeline?: string; generator?: string; seed?: number; note?: string };
  endpoints: { all: string[]; computed: string[] };
  tolerance: { rule: string; exact: true };
  checker: { file: typeof CHECKER_FILE; sha256: string; usage: string; requires: string };
  tensors: QuantManifestTensor[];
}

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The seeded integer input: q_i = (next() >>> 24) for uint8, (next() >>> 24) - 128 for int8; mulberry32((seed ^ 0x9e3779b9) >>> 0), row-major NHWC. */
export function quantGoldenInput(dtype: IntDType, seed: number, batch: number, height: number, width: number): Uint8Array | Int8Array {
  const next = mulberry32((seed ^ INPUT_SEED_XOR) >>> 0);
  const out = dtype === 'uint8' ? new Uint8Array(batch * height * width * 3) : new Int8Array(batch * height * width * 3);
  for (let i = 0; i < out.length; i++) out[i] = dtype === 'uint8' ? next() >>> 24 : (next() >>> 24) - 128;
  return out;
}

/** An 8-bit integer array as NPY 1.0, byte for byte what numpy.save writes ('|u1' / '|i1'). */
export function encodeIntNpy(shape: readonly number[], dtype: IntDType, data: Uint8Array | Int8Array): Uint8Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) fail(ErrorCodes.SHAPE, `npy writer: shape [${shape.join(',')}] needs ${size} values, data has ${data.length}`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${NPY_DESCR[dtype]}', 'fortran_order': False, 'shape': ${dims}, }`;
  if (shape.length > 0) header += ' '.repeat(Math.max(0, 21 - String(shape[0]).length));
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.length), 10 + header.length);
  return out;
}

/** U8 / I8 tensors as safetensors, sorted by name, header padded with spaces to 8 bytes. */
function encodeIntSafetensors(tensors: ReadonlyMap<string, { shape: readonly number[]; dtype: SafeDType; data: Uint8Array | Int8Array }>, metadata: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: Object.fromEntries(Object.keys(metadata).sort().map((k) => [k, metadata[k]])) };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const length = Math.ceil(text.length / 8) * 8;
  const out = new Uint8Array(8 + length + offset).fill(0x20, 8, 8 + length);
  new DataView(out.buffer).setUint32(0, length, true);
  out.set(text, 8);
  let at = 8 + length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.length), at);
    at += data.length;
  }
  return out;
}

const bytesOf = (d: Uint8Array | Int8Array) => new Uint8Array(d.buffer, d.byteOffset, d.length);

/** The quantized model of a file, refusing a float32 TFLite file with a clear ERR_OPTION. */
export function readQuantModel(bytes: Uint8Array, name: string): QuantizedModel {
  const quantized = inFile(name, () => isQuantizedTflite(bytes));
  if (!quantized) {
    fail(ErrorCodes.OPTION, `golden --model ${name}: expected a quantized (uint8 or int8) TFLite model, found a float32 one; for a float model make a float bundle with the configuration flags (--alpha, --resolution, ...)`);
  }
  return inFile(name, () => readTfliteQuantized(bytes));
}

/**
 * Computes a quantized bundle in memory (relative path to bytes): the integer reference path run
 * once on the input (decoded images, or a seeded integer tensor) over the requested end points.
 */
export function createQuantBundle(modelBytes: Uint8Array, options: QuantGoldenOptions, engineVersion: string): Map<string, Uint8Array> {
  const modelName = basename(options.modelName);
  const model = readQuantModel(modelBytes, modelName);
  const [, h, w] = model.input.shape as [number, number, number, number];
  const dtype = model.input.dtype;
  const all = [...model.endpoints];
  const wanted = options.endpoints ?? 'all';
  if (wanted !== 'all') {
    if (!Array.isArray(wanted) || wanted.length === 0) badOption('endpoints', wanted, '"all" or a non-empty list of end point names');
    for (const name of wanted) if (!all.includes(name)) badOption('endpoints', name, `"all" or end points among ${all.join(', ')}`);
  }
  const computed = wanted === 'all' ? all : all.filter((e) => wanted.includes(e));

  let input: Uint8Array | Int8Array;
  let batch: number;
  let inputEntry: QuantManifest['input'];
  let seed: number | null = null;
  if (options.images && options.images.length > 0) {
    if (options.images.length > MAX_QUANT_GOLDEN_BATCH) badOption('--images', `${options.images.length} images`, `1 to ${MAX_QUANT_GOLDEN_BATCH} images`);
    if (h !== w) fail(ErrorCodes.INPUT, `golden --images: the model's input is ${h}x${w}; photos need a square input (use --seed)`);
    const pixels = options.images.map((img) => preprocessImage(img.bytes, h, img.name));
    input = pixelsToQuantizedInput(model, pixels);
    batch = options.images.length;
    inputEntry = {
      name: 'input', layout: 'NHWC', dtype, source: 'images',
      images: options.images.map((img) => basename(img.name)),
      pipeline: `preprocessImage(bytes, ${h}) of src/image/pipeline.ts (decode, EXIF orientation, centre crop, half-pixel bilinear resize to ${h}x${w}, rounded to uint8 RGB), then pixelsToQuantizedInput (src/quant/reference.ts): ` +
        (model.pixelNormalization === 'tflite-uint8' ? (dtype === 'uint8' ? 'the pixels as they are (input scale 1/128, zero point 128)' : 'pixel - 128 (input scale 1/128, zero point 0)') : `normalised (${model.pixelNormalization}) and quantized with TFLite's Quantize`),
    };
  } else {
    seed = options.seed ?? 0;
    batch = options.batch ?? 1;
    if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) badOption('seed', seed, 'an integer from 0 to 2^32-1');
    if (!Number.isSafeInteger(batch) || batch < 1 || batch > MAX_QUANT_GOLDEN_BATCH) badOption('batch', batch, `an integer from 1 to ${MAX_QUANT_GOLDEN_BATCH}`);
    input = quantGoldenInput(dtype, seed, batch, h, w);
    inputEntry = {
      name: 'input', layout: 'NHWC', dtype, source: 'seeded',
      generator: `mulberry32((seed ^ 0x${INPUT_SEED_XOR.toString(16)}) >>> 0); q = next() >>> 24${dtype === 'int8' ? ' - 128' : ''}, row-major [N, H, W, 3], uniform over the ${dtype} range`,
      seed: (seed ^ INPUT_SEED_XOR) >>> 0,
    };
  }
  if (model.floatInput) inputEntry.note = `the file takes float32 and QUANTIZEs it (${model.floatInput.name}); this input is the QUANTIZE output, the integers the first convolution reads`;

  const outputs = runQuantizedReference(model, input, batch, new Set(computed));
  const metadata = (role: string) => ({ format: GOLDEN_FORMAT, format_version: String(QUANT_FORMAT_VERSION), role });
  const inputShape = [batch, h, w, 3];
  const files = new Map<string, Uint8Array>();
  files.set(TFLITE_FILE, modelBytes);
  files.set(INPUT_FILE, encodeIntSafetensors(new Map([['input', { shape: inputShape, dtype: SAFE_DTYPE[dtype], data: input }]]), metadata('input')));
  files.set(OUTPUTS_FILE, encodeIntSafetensors(
    new Map(computed.map((name) => {
      const e = outputs.get(name)!;
      return [name, { shape: [...e.shape], dtype: SAFE_DTYPE[e.dtype], data: e.data as Uint8Array | Int8Array }];
    })),
    metadata('outputs'),
  ));
  const tensors: QuantManifestTensor[] = [];
  const add = (group: 'input' | 'outputs', name: string, shape: number[], dt: IntDType, data: Uint8Array | Int8Array, scale: number, zeroPoint: number) => {
    const npy = group === 'input' ? 'npy/input.npy' : `npy/outputs/${name}.npy`;
    files.set(npy, encodeIntNpy(shape, dt, data));
    tensors.push({ group, name, file: group === 'input' ? INPUT_FILE : OUTPUTS_FILE, npy, dtype: SAFE_DTYPE[dt], shape, scale, zero_point: zeroPoint, sha256: sha256Hex(bytesOf(data)) });
  };
  add('input', 'input', inputShape, dtype, input, model.input.scale, model.input.zeroPoint);
  for (const name of computed) {
    const e = outputs.get(name)!;
    add('outputs', name, [...e.shape], e.dtype, e.data as Uint8Array | Int8Array, e.scale, e.zeroPoint);
  }
  const checker = new TextEncoder().encode(PYTHON_CHECKER);
  files.set(CHECKER_FILE, checker);
  const arch = model.architecture.options;
  const manifest: QuantManifest = {
    format: GOLDEN_FORMAT,
    format_version: QUANT_FORMAT_VERSION,
    kind: 'quantized',
    engine: {
      name: 'mobilenet-wasm',
      version: engineVersion,
      path: 'integer-reference',
      arithmetic: "TFLite's reference integer kernels (src/quant/: QuantizeMultiplier, MultiplyByQuantizedMultiplier with two roundings, gemmlowp's fixed-point softmax); equal to the TFLite interpreter with its builtin kernels (XNNPACK off) on the Coral uint8 models",
    },
    model: { file: TFLITE_FILE, sha256: sha256Hex(modelBytes), bytes: modelBytes.length, source: modelName, dtype, float_input: model.floatInput !== undefined, float_output: model.floatOutput !== undefined },
    config: { alpha: arch.depthMultiplier, resolution: [h, w], batch, num_classes: arch.numClasses, dtype, seed },
    input: inputEntry,
    endpoints: { all, computed },
    tolerance: { rule: EXACT_RULE, exact: true },
    checker: {
      file: CHECKER_FILE,
      sha256: sha256Hex(checker),
      usage: `python3 ${CHECKER_FILE} BUNDLE_DIR OUTPUTS [--json]   (OUTPUTS: a folder of <end point>.npy, a .safetensors file, or another bundle; integer dtypes; exit 0 pass, 1 a divergence, 2 bad input)`,
      requires: 'Python 3.8+ and numpy',
    },
    tensors,
  };
  files.set(MANIFEST_FILE, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  return files;
}

// ---------------------------------------------------------------------------------------------
// Reading and checking a quantized bundle

export interface IntTensor {
  shape: number[];
  /** Integer values (exact in float64). */
  data: Float64Array;
}

export interface QuantGoldenBundle {
  dir: string;
  manifest: QuantManifest;
  input: IntTensor;
  inputBytes: Uint8Array;
  outputs: Map<string, IntTensor>;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isShape = (v: unknown): v is number[] => Array.isArray(v) && v.length <= 8 && v.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
const isSha256 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

function badManifest(where: string, expected: string, got: unknown): never {
  fail(ErrorCodes.MANIFEST, `${MANIFEST_FILE}: ${where}: expected ${expected}, got ${describe(got).slice(0, 80)}`);
}

/** A regular file of at most `cap` bytes inside `dir` (ERR_IO for anything else, ERR_HEADER_LENGTH above the cap). */
async function readIn(dir: string, rel: string, cap = MAX_BUNDLE_FILE_BYTES): Promise<Uint8Array> {
  const path = join(dir, rel);
  if (!resolve(path).startsWith(resolve(dir) + sep)) fail(ErrorCodes.MANIFEST, `${MANIFEST_FILE}: path ${rel} leaves the bundle`);
  let info;
  try {
    info = await platform.fileInfo(path);
  } catch (e) {
    const code = ((e as { cause?: { code?: string } })?.cause?.code) ?? (e as Error)?.message;
    return fail(ErrorCodes.IO, `bundle ${dir}: expected the file ${rel}, found none (${code})`, e);
  }
  if (info.kind !== 'file') fail(ErrorCodes.IO, `bundle ${dir}: expected the file ${rel}, found ${info.kind === 'directory' ? 'a directory' : 'a device, pipe or socket'} (not a regular file)`);
  if (info.size > cap) fail(ErrorCodes.HEADER_LENGTH, `bundle ${dir}: ${rel} has ${info.size} bytes, above the ${cap}-byte cap`);
  return platform.readFile(path, cap);
}

/** The manifest's format_version, or null when the folder's manifest.json is not readable JSON with one (readBundle then reports it). */
export async function bundleFormatVersion(dir: string): Promise<unknown> {
  try {
    const json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await readIn(dir, MANIFEST_FILE, MAX_MANIFEST_BYTES))) as unknown;
    return isObject(json) ? json.format_version : null;
  } catch {
    return null;
  }
}

function validateQuantManifest(json: unknown): QuantManifest {
  if (!isObject(json)) badManifest('the top level', 'a JSON object', json);
  if (json.format !== GOLDEN_FORMAT) badManifest('format', `"${GOLDEN_FORMAT}"`, json.format);
  if (json.format_version !== QUANT_FORMAT_VERSION) badManifest('format_version', String(QUANT_FORMAT_VERSION), json.format_version);
  if (json.kind !== 'quantized') badManifest('kind', '"quantized"', json.kind);
  const model = json.model;
  if (!isObject(model) || model.file !== TFLITE_FILE || !isSha256(model.sha256)) badManifest('model', `{file: "${TFLITE_FILE}", sha256, ...}`, model);
  const config = json.config;
  if (!isObject(config) || !isShape(config.resolution) || config.resolution.length !== 2 || !Number.isSafeInteger(config.batch) || (config.batch as number) < 1) {
    badManifest('config', '{alpha, resolution: [height, width], batch, ...}', config);
  }
  if (config.seed !== null && !(Number.isSafeInteger(config.seed) && (config.seed as number) >= 0)) badManifest('config.seed', 'null or a non-negative integer', config.seed);
  if (typeof config.alpha !== 'number' || (config.dtype !== 'uint8' && config.dtype !== 'int8')) badManifest('config', '{alpha: a number, dtype: "uint8" or "int8"}', config);
  const input = json.input;
  if (!isObject(input) || (input.source !== 'images' && input.source !== 'seeded')) badManifest('input', '{name, layout, dtype, source: "images" or "seeded", ...}', input);
  if (input.source === 'images' && (!Array.isArray(input.images) || !input.images.every((n) => typeof n === 'string'))) badManifest('input.images', 'a list of file names', input.images);
  const endpoints = json.endpoints;
  if (!isObject(endpoints) || !Array.isArray(endpoints.all) || !Array.isArray(endpoints.computed) || ![...endpoints.all, ...endpoints.computed].every((e) => typeof e === 'string')) {
    badManifest('endpoints', '{all: [names], computed: [names]}', endpoints);
  }
  const all = new Set(endpoints.all as string[]);
  const computed = endpoints.computed as string[];
  if (computed.length === 0 || computed.some((e) => !all.has(e))) badManifest('endpoints.computed', 'a non-empty subset of endpoints.all', computed);
  const tol = json.tolerance;
  if (!isObject(tol) || tol.exact !== true || typeof tol.rule !== 'string') badManifest('tolerance', '{rule, exact: true} (a quantized bundle compares exactly)', tol);
  const checker = json.checker;
  if (!isObject(checker) || checker.file !== CHECKER_FILE || !isSha256(checker.sha256)) badManifest('checker', `{file: "${CHECKER_FILE}", sha256, ...}`, checker);
  if (!Array.isArray(json.tensors)) badManifest('tensors', 'a list', json.tensors);
  const seen = new Set<string>();
  json.tensors.forEach((t: unknown, i: number) => {
    const where = `tensors[${i}]`;
    if (!isObject(t)) badManifest(where, 'an object {group, name, file, npy, dtype, shape, scale, zero_point, sha256}', t);
    if (t.group !== 'input' && t.group !== 'outputs') badManifest(`${where}.group`, 'input or outputs', t.group);
    if (typeof t.name !== 'string' || t.name === '') badManifest(`${where}.name`, 'a tensor name', t.name);
    const file = t.group === 'input' ? INPUT_FILE : OUTPUTS_FILE;
    if (t.file !== file) badManifest(`${where}.file`, `"${file}"`, t.file);
    const npy = t.group === 'input' ? 'npy/input.npy' : `npy/outputs/${t.name}.npy`;
    if (t.npy !== npy) badManifest(`${where}.npy`, `"${npy}"`, t.npy);
    if (t.dtype !== 'U8' && t.dtype !== 'I8') badManifest(`${where}.dtype`, '"U8" or "I8"', t.dtype);
    if (!isShape(t.shape)) badManifest(`${where}.shape`, 'a list of non-negative integers', t.shape);
    if (typeof t.scale !== 'number' || !(t.scale > 0) || !Number.isFinite(t.scale)) badManifest(`${where}.scale`, 'a finite number above 0', t.scale);
    if (!Number.isSafeInteger(t.zero_point)) badManifest(`${where}.zero_point`, 'an integer', t.zero_point);
    if (!isSha256(t.sha256)) badManifest(`${where}.sha256`, '64 lowercase hex digits', t.sha256);
    const key = `${t.group}:${t.name}`;
    if (seen.has(key)) fail(ErrorCodes.DUPLICATE_TENSOR, `${MANIFEST_FILE}: ${where}: tensor ${t.name} of group ${t.group} is listed twice`);
    seen.add(key);
  });
  const tensors = json.tensors as QuantManifestTensor[];
  const inputs = tensors.filter((t) => t.group === 'input');
  if (inputs.length !== 1 || inputs[0]!.name !== 'input') badManifest('tensors', 'exactly one tensor of group input, named "input"', inputs.map((t) => t.name));
  const outs = tensors.filter((t) => t.group === 'outputs').map((t) => t.name);
  if (outs.join(',') !== computed.join(',')) badManifest('tensors (group outputs)', `the end points ${computed.join(', ')} in that order`, outs);
  return json as unknown as QuantManifest;
}

const formatShape = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * Reads a quantized bundle and checks every byte against its manifest, failing on the first
 * problem with the codes of ./bundle.ts `readBundle` (ERR_MANIFEST, ERR_IO, the parsers' codes,
 * ERR_WEIGHT_MISSING, ERR_WEIGHT_UNEXPECTED, ERR_SHAPE, ERR_DTYPE); model.tflite and the checker
 * against their SHA-256.
 */
export async function readQuantBundle(dir: string): Promise<QuantGoldenBundle> {
  const manifestBytes = await readIn(dir, MANIFEST_FILE, MAX_MANIFEST_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestBytes));
  } catch (e) {
    return fail(ErrorCodes.MANIFEST, `bundle ${dir}: ${MANIFEST_FILE} is not valid UTF-8 JSON: ${(e as Error).message}`, e);
  }
  const manifest = validateQuantManifest(json);
  const loaded = new Map<string, { tensor: IntTensor; raw: Uint8Array }>();
  for (const [group, rel] of [['input', INPUT_FILE], ['outputs', OUTPUTS_FILE]] as const) {
    const listed = manifest.tensors.filter((t) => t.group === group);
    const bytes = await readIn(dir, rel);
    const parsed = inFile(rel, () => parseSafetensors(bytes));
    const names = [...parsed.entries.keys()];
    for (const t of listed) {
      const entry = parsed.entries.get(t.name);
      if (!entry) fail(ErrorCodes.WEIGHT_MISSING, `${rel}: expected tensor ${t.name} (listed in ${MANIFEST_FILE}), found none; the file holds ${names.length} tensors: ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', ...' : ''}`);
      if (entry.dtype !== t.dtype) fail(ErrorCodes.DTYPE, `${rel}: tensor ${t.name}: expected dtype ${t.dtype} (the manifest), found ${entry.dtype}`);
      if (!sameShape(entry.shape, t.shape)) fail(ErrorCodes.SHAPE, `${rel}: tensor ${t.name}: expected shape ${formatShape(t.shape)} (the manifest), found ${formatShape(entry.shape)}`);
      const raw = parsed.buffer.subarray(entry.begin, entry.end);
      const hash = sha256Hex(raw);
      if (hash !== t.sha256) fail(ErrorCodes.MANIFEST, `${rel}: tensor ${t.name}: expected SHA-256 ${t.sha256} (the manifest), found ${hash}: the bytes were changed`);
      loaded.set(`${group}:${t.name}`, { tensor: { shape: [...entry.shape], data: intValues(t.dtype, raw) }, raw });
    }
    const listedNames = new Set(listed.map((t) => t.name));
    const unlisted = names.filter((n) => !listedNames.has(n));
    if (unlisted.length > 0) fail(ErrorCodes.WEIGHT_UNEXPECTED, `${rel}: tensor ${unlisted[0]} is not listed in ${MANIFEST_FILE} (expected only: ${listed.map((t) => t.name).slice(0, 6).join(', ')}${listed.length > 6 ? ', ...' : ''})`);
  }
  for (const t of manifest.tensors) {
    const npy = parseIntNpy(await readIn(dir, t.npy), t.npy);
    const want = t.dtype === 'U8' ? '|u1' : '|i1';
    if (npy.descr !== want) fail(ErrorCodes.DTYPE, `${t.npy}: expected dtype '${want}', found ${JSON.stringify(npy.descr)}`);
    if (!sameShape(npy.shape, t.shape)) fail(ErrorCodes.SHAPE, `${t.npy}: expected shape ${formatShape(t.shape)} (the manifest), found ${formatShape(npy.shape)}`);
    const hash = sha256Hex(npy.body);
    if (hash !== t.sha256) fail(ErrorCodes.MANIFEST, `${t.npy}: tensor ${t.name}: expected SHA-256 ${t.sha256} (the manifest), found ${hash}: the bytes were changed`);
  }
  for (const entry of [manifest.model, manifest.checker]) {
    const hash = sha256Hex(await readIn(dir, entry.file));
    if (hash !== entry.sha256) fail(ErrorCodes.MANIFEST, `${entry.file}: expected SHA-256 ${entry.sha256} (the manifest), found ${hash}: the file was changed`);
  }
  const outputs = new Map<string, IntTensor>();
  for (const name of manifest.endpoints.computed) outputs.set(name, loaded.get(`outputs:${name}`)!.tensor);
  const input = loaded.get('input:input')!;
  return { dir, manifest, input: input.tensor, inputBytes: input.raw, outputs };
}

// ---------------------------------------------------------------------------------------------
// Integer arrays from other engines: NPY and safetensors

/** NPY integer dtypes read, with their byte size and DataView getter. */
const NPY_INT: Record<string, { size: number; read: (v: DataView, at: number) => number }> = {
  '|u1': { size: 1, read: (v, at) => v.getUint8(at) },
  '|i1': { size: 1, read: (v, at) => v.getInt8(at) },
  '<u2': { size: 2, read: (v, at) => v.getUint16(at, true) },
  '<i2': { size: 2, read: (v, at) => v.getInt16(at, true) },
  '<u4': { size: 4, read: (v, at) => v.getUint32(at, true) },
  '<i4': { size: 4, read: (v, at) => v.getInt32(at, true) },
  '<u8': { size: 8, read: (v, at) => Number(v.getBigUint64(at, true)) },
  '<i8': { size: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
};
const SAFE_INT: Record<string, string> = { U8: '|u1', I8: '|i1', U16: '<u2', I16: '<i2', U32: '<u4', I32: '<i4', U64: '<u8', I64: '<i8' };
const INT_NAMES = "'|u1', '|i1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8'";

function intValues(dtype: string, raw: Uint8Array): Float64Array {
  const kind = NPY_INT[SAFE_INT[dtype] ?? dtype]!;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float64Array(raw.length / kind.size);
  for (let i = 0; i < out.length; i++) out[i] = kind.read(view, i * kind.size);
  return out;
}

/** A NPY file holding integers (numpy's own dtypes: '|u1', '|i1', '<i2' ... '<u8'); a float file is refused (ERR_DTYPE). */
export function parseIntNpy(bytes: Uint8Array, name: string): { shape: number[]; descr: string; data: Float64Array; body: Uint8Array } {
  // The preamble and header are read as for float files; only the dtype differs.
  const descr = npyDescr(bytes, name);
  if (descr === '<f4' || descr === '<f8') {
    fail(ErrorCodes.DTYPE, `${name}: dtype '${descr}' is a float; this bundle is quantized and compares integers exactly: save the integer outputs (${INT_NAMES})`);
  }
  const kind = NPY_INT[descr];
  if (!kind) fail(ErrorCodes.DTYPE, `${name}: dtype ${JSON.stringify(descr)} is not supported; expected an integer dtype (${INT_NAMES})`);
  const { shape, body } = npyShapeAndBody(bytes, name, kind.size, descr);
  return { shape, descr, data: intValues(descr, body), body };
}

const MAX_NPY_HEADER = 10_000;

function npyHeader(bytes: Uint8Array, name: string): { header: string; start: number } {
  // Preamble errors (magic, version, truncation) come from the float parser, so both read alike.
  if (bytes.length < 10 || ![0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59].every((b, i) => bytes[i] === b) || bytes[6]! < 1 || bytes[6]! > 3) parseNpy(bytes, name);
  const major = bytes[6]!;
  const wide = major >= 2;
  if (wide && bytes.length < 12) parseNpy(bytes, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = wide ? view.getUint32(8, true) : view.getUint16(8, true);
  const start = wide ? 12 : 10;
  if (length > MAX_NPY_HEADER || start + length > bytes.length) parseNpy(bytes, name);
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(bytes.subarray(start, start + length));
  } catch (e) {
    return fail(ErrorCodes.HEADER_FORMAT, `${name}: NPY header is not valid text`, e);
  }
  return { header, start: start + length };
}

function npyDescr(bytes: Uint8Array, name: string): string {
  const { header } = npyHeader(bytes, name);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  if (!/^\s*\{.*\}\s*$/s.test(header) || descr === undefined || !/'fortran_order'\s*:\s*(True|False)/.test(header) || !/'shape'\s*:\s*\(([^)]*)\)/.test(header)) {
    fail(ErrorCodes.HEADER_FORMAT, `${name}: expected an NPY header {'descr': ..., 'fortran_order': ..., 'shape': (...)}, got ${JSON.stringify(header.trim().slice(0, 100))}`);
  }
  return descr;
}

function npyShapeAndBody(bytes: Uint8Array, name: string, size: number, descr: string): { shape: number[]; body: Uint8Array } {
  const { header, start } = npyHeader(bytes, name);
  if (/'fortran_order'\s*:\s*(True|False)/.exec(header)![1] !== 'False') fail(ErrorCodes.DTYPE, `${name}: fortran_order True is not supported; save a C-contiguous array (numpy.ascontiguousarray)`);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)![1]!;
  const shape: number[] = [];
  for (const p of shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!/^\d{1,10}$/.test(p)) fail(ErrorCodes.SHAPE, `${name}: shape (${shapeText}) has an entry ${JSON.stringify(p)} that is not a non-negative integer`);
    shape.push(Number(p));
  }
  const elements = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(elements * size)) fail(ErrorCodes.SHAPE, `${name}: shape (${shapeText}) overflows`);
  const body = bytes.subarray(start);
  if (body.length !== elements * size) fail(ErrorCodes.BYTE_LENGTH, `${name}: ${descr} (${shapeText}) needs ${elements * size} bytes of data, has ${body.length}${body.length < elements * size ? ' (truncated?)' : ''}`);
  return { shape, body };
}

export interface QuantOtherOutputs {
  kind: 'safetensors' | 'npy' | 'bundle';
  path: string;
  tensors: Map<string, IntTensor>;
}

function safetensorsInt(path: string, st: ParsedSafetensors, name: string, entry: SafetensorsEntry): Float64Array {
  if (SAFE_INT[entry.dtype]) return intValues(entry.dtype, st.buffer.subarray(entry.begin, entry.end));
  const float = readTensorData(st, entry) !== null;
  return fail(ErrorCodes.DTYPE, `${path}: tensor ${name}: dtype ${entry.dtype} is ${float ? 'a float; this bundle is quantized and compares integers exactly: save the integer outputs' : 'not supported'} (expected U8, I8, U16, I16, U32, I32, U64 or I64)`);
}

/** The other engine's integer end points: a safetensors file, a folder of .npy files, or another quantized bundle (same input). */
export async function loadQuantOtherOutputs(path: string, bundle: QuantGoldenBundle): Promise<QuantOtherOutputs> {
  const kind = await outputsPathKind(path);
  const tensors = new Map<string, IntTensor>();
  if (kind === 'file') {
    const bytes = await readCapped(path);
    const st = inFile(path, () => parseSafetensors(bytes));
    for (const [name, entry] of st.entries) {
      if (!bundle.outputs.has(name)) continue;
      tensors.set(name, { shape: [...entry.shape], data: safetensorsInt(path, st, name, entry) });
    }
    return { kind: 'safetensors', path, tensors };
  }
  const entries = await platform.listDir(path);
  if (entries.includes(MANIFEST_FILE)) {
    const version = await bundleFormatVersion(path);
    if (version !== QUANT_FORMAT_VERSION) {
      fail(ErrorCodes.DTYPE, `--outputs ${path}: a float golden bundle (format version ${describe(version)}); this bundle is quantized and compares integers exactly: give a quantized bundle (format version 3) or integer outputs`);
    }
    const other = await readQuantBundle(path);
    const a = bundle.inputBytes;
    const b = other.inputBytes;
    if (a.length !== b.length || a.some((v, i) => v !== b[i]) || bundle.manifest.input.dtype !== other.manifest.input.dtype) {
      fail(ErrorCodes.INPUT, `verify: the bundle ${path} was computed on another input (expected ${describeInput(bundle)}, shape [${bundle.input.shape.join(',')}]; found ${describeInput(other)}, shape [${other.input.shape.join(',')}])`);
    }
    return { kind: 'bundle', path, tensors: other.outputs };
  }
  for (const t of bundle.manifest.tensors.filter((x) => x.group === 'outputs')) {
    for (const rel of [basename(t.npy), t.npy]) {
      if (!entries.includes(rel.split('/')[0]!)) continue;
      const file = join(path, rel);
      const exists = await platform.fileInfo(file).then(() => true, () => false);
      if (!exists) continue;
      const npy = parseIntNpy(await readCapped(file), file);
      tensors.set(t.name, { shape: npy.shape, data: npy.data });
      break;
    }
  }
  return { kind: 'npy', path, tensors };
}

function describeInput(b: QuantGoldenBundle): string {
  const i = b.manifest.input;
  return i.source === 'images' ? `the images ${(i.images ?? []).join(', ')}` : `the seeded ${i.dtype} input with seed ${b.manifest.config.seed}`;
}

// ---------------------------------------------------------------------------------------------
// The exact comparison

export interface QuantEndpointResult {
  name: string;
  shape: number[];
  status: 'pass' | 'fail' | 'missing';
  otherShape?: number[];
  /** Entries where other != golden. */
  differing?: number;
  entries?: number;
  /** Largest |other - golden|, in levels (integer steps of the end point's scale). */
  maxAbsError?: number;
  /** Flat index of the largest difference (first of equals). */
  worstIndex?: number;
  scale: number;
  zeroPoint: number;
  reason?: string;
}

export interface QuantVerifyReport {
  bundle: string;
  other: { kind: QuantOtherOutputs['kind']; path: string };
  tolerance: { rule: string; exact: true };
  endpoints: QuantEndpointResult[];
  compared: number;
  failed: number;
  missing: number;
  firstDivergence: string | null;
  passed: boolean;
}

const squeeze = (s: readonly number[]) => s.filter((d) => d !== 1);

export function compareQuantEndpoint(name: string, golden: IntTensor, other: IntTensor | undefined, q: { scale: number; zeroPoint: number }): QuantEndpointResult {
  const base = { name, shape: [...golden.shape], scale: q.scale, zeroPoint: q.zeroPoint };
  if (!other) return { ...base, status: 'missing' };
  if (!sameShape(squeeze(golden.shape), squeeze(other.shape))) {
    return { ...base, status: 'fail', otherShape: [...other.shape], reason: `shape [${other.shape.join(',')}], expected [${golden.shape.join(',')}] (NHWC)` };
  }
  const g = golden.data;
  const o = other.data;
  let differing = 0;
  let max = 0;
  let worst = 0;
  for (let i = 0; i < g.length; i++) {
    const d = Math.abs(o[i]! - g[i]!);
    if (d !== 0) differing++;
    if (d > max) {
      max = d;
      worst = i;
    }
  }
  const pass = differing === 0;
  return {
    ...base,
    status: pass ? 'pass' : 'fail',
    otherShape: [...other.shape],
    differing,
    entries: g.length,
    maxAbsError: max,
    worstIndex: worst,
    ...(pass ? {} : { reason: `${differing} of ${g.length} entries differ, by up to ${max} level${max === 1 ? '' : 's'} (element ${worst}: golden ${g[worst]}, other ${o[worst]})` }),
  };
}

export function compareWithQuantBundle(bundle: QuantGoldenBundle, other: QuantOtherOutputs): QuantVerifyReport {
  const q = new Map(bundle.manifest.tensors.filter((t) => t.group === 'outputs').map((t) => [t.name, { scale: t.scale, zeroPoint: t.zero_point }]));
  const endpoints = [...bundle.outputs].map(([name, golden]) => compareQuantEndpoint(name, golden, other.tensors.get(name), q.get(name)!));
  const compared = endpoints.filter((e) => e.status !== 'missing').length;
  if (compared === 0) {
    const found = [...other.tensors.keys()];
    fail(
      ErrorCodes.WEIGHT_MISSING,
      `verify: ${other.path} holds none of the bundle's end points; expected tensors named ${bundle.manifest.endpoints.computed.slice(0, 5).join(', ')}, ... ` +
        `found ${found.length === 0 ? 'no tensors' : found.slice(0, 5).join(', ') + (found.length > 5 ? ', ...' : '')}`,
    );
  }
  const failed = endpoints.filter((e) => e.status === 'fail');
  return {
    bundle: bundle.dir,
    other: { kind: other.kind, path: other.path },
    tolerance: { rule: bundle.manifest.tolerance.rule, exact: true },
    endpoints,
    compared,
    failed: failed.length,
    missing: endpoints.length - compared,
    firstDivergence: failed[0]?.name ?? null,
    passed: failed.length === 0,
  };
}

/** The report as a table a person reads. */
export function formatQuantReport(report: QuantVerifyReport, bundle: QuantGoldenBundle): string {
  const m = bundle.manifest;
  const source = m.input.source === 'images' ? `images ${(m.input.images ?? []).join(', ')}` : `seed ${m.config.seed}`;
  const lines = [
    `bundle ${report.bundle}: ${m.model.source} (${m.model.dtype}, alpha ${m.config.alpha}, ${m.config.resolution[0]}x${m.config.resolution[1]}), batch ${m.config.batch}, ${source}`,
    `other  ${report.other.path} (${report.other.kind})`,
    'rule   exact: integer equality on every entry (tolerance 0)',
    '',
  ];
  const width = Math.max(10, ...report.endpoints.map((e) => e.name.length));
  lines.push(`${'end point'.padEnd(width)}  ${'shape'.padEnd(18)}  ${'scale'.padStart(11)}  ${'zero'.padStart(4)}  ${'differing'.padStart(9)}  ${'max diff'.padStart(8)}  result`);
  for (const e of report.endpoints) {
    const result = e.status === 'pass' ? 'pass' : e.status === 'missing' ? 'missing' : `FAIL${e.reason ? ` (${e.reason})` : ''}`;
    lines.push(`${e.name.padEnd(width)}  ${`[${e.shape.join(',')}]`.padEnd(18)}  ${e.scale.toExponential(4).padStart(11)}  ${String(e.zeroPoint).padStart(4)}  ${(e.differing === undefined ? '-' : String(e.differing)).padStart(9)}  ${(e.maxAbsError === undefined ? '-' : String(e.maxAbsError)).padStart(8)}  ${result}`);
  }
  lines.push('');
  if (report.firstDivergence) {
    const first = report.endpoints.find((e) => e.name === report.firstDivergence)!;
    lines.push(`first divergence: ${first.name}${first.reason ? ` (${first.reason})` : ''}`);
  }
  const missing = report.missing > 0 ? `, ${report.missing} missing` : '';
  lines.push(report.passed ? `PASS: ${report.compared} end points equal${missing}` : `FAIL: ${report.failed} of ${report.compared} end points differ${missing}`);
  return lines.join('\n') + '\n';
}

