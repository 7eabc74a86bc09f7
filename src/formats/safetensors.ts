/**
 * safetensors, read and write (https://github.com/huggingface/safetensors, "Format").
 *
 *   bytes 0..8      N, a little-endian u64: the header's length
 *   bytes 8..8+N    the header, UTF-8 JSON: {"<name>": {"dtype", "shape", "data_offsets": [begin, end]},
 *                   ..., "__metadata__": {"<key>": "<string>"}}
 *   bytes 8+N..     the byte buffer; offsets are relative to its start, tensors little-endian, row-major
 *
 * Validation, in the order of shared/docs/bad-inputs.md, failing on the first error:
 * framing (ERR_FILE_TOO_SHORT, ERR_HEADER_LENGTH: N above 100 MB or beyond the file), header
 * (ERR_HEADER_FORMAT: not UTF-8, not a JSON object, bad entry; ERR_DUPLICATE_TENSOR: a name
 * twice, found by scanning the header's top-level keys since JSON.parse keeps only the last),
 * per tensor (ERR_DTYPE, ERR_SHAPE, ERR_OFFSETS, ERR_BYTE_LENGTH), then the layout
 * (ERR_OVERLAP: ranges must tile the buffer exactly, no overlap, no hole, nothing after),
 * then names and shapes against the layer table (`checkWeights`, strict).
 *
 * Float dtypes (F32, F16, BF16, F64) are read into float32; integer tensors are framed and
 * kept but refused where a weight is expected (PyTorch's I64 `num_batches_tracked` is dropped).
 *
 * Names are TF-Slim variables in TF layouts (`MobilenetV1/Conv2d_0/weights` [3,3,3,32],
 * `.../BatchNorm/gamma`, `MobilenetV1/Logits/Conv2d_1c_1x1/biases`); a file with the seed's
 * PyTorch names (`model.0.0.weight`, `fc.weight`, ...) is mapped by torch-names.ts.
 *
 * The writer is deterministic: tensors sorted by name and packed back to back in that order,
 * F32, `__metadata__` first; the header is padded with spaces to a multiple of 8 bytes (as the
 * reference implementation does) so the buffer starts 8-byte aligned. The metadata records
 * the architecture (alpha, resolution, classes, flavour, ...), so a written model reloads with
 * the same options and the same float32 weights, hence the same logits bit for bit.
 */
import { ErrorCodes, MobilenetError, describe, fail } from '../errors.js';
import { MOBILENET_V1_CONV_DEFS, buildArchitecture, type Architecture, type MobileNetOptions } from '../model/architecture.js';
import { checkWeights, formatShape, type NamedTensor, type WeightMap } from '../model/weights.js';
import type { LoadedModel } from './types.js';
import { PIXEL_NORMALIZATIONS, isPixelNormalization, type PixelNormalization } from '../image/normalize.js';
import { alphaByAgreement } from './layer-table.js';
import { isTorchStateDict, slimToTorch, torchToSlim, type SourceTensor } from './torch-names.js';

/** The reference implementation's cap on the JSON header. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Written into `__metadata__.format`; read files without it are taken as plain TF-Slim weights. */
export const METADATA_FORMAT = 'mobilenet-wasm';
export const METADATA_VERSION = '1';
const MAX_RANK = 8;

const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** Relative to the byte buffer. */
  begin: number;
  end: number;
}

export interface ParsedSafetensors {
  /** In header order. */
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** The byte buffer (after the header). */
  buffer: Uint8Array;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Framing, header and layout; no data is converted. */
export function parseSafetensors(bytes: Uint8Array): ParsedSafetensors {
  if (!(bytes instanceof Uint8Array)) fail(ErrorCodes.OPTION, `safetensors: expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 8) fail(ErrorCodes.FILE_TOO_SHORT, `safetensors: needs at least 8 bytes (the header length), has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER_BYTES) fail(ErrorCodes.HEADER_LENGTH, `safetensors: header length ${view.getBigUint64(0, true)} is above the ${MAX_HEADER_BYTES}-byte cap (the file has ${bytes.length - 8} bytes after the length)`);
  if (n > bytes.length - 8) fail(ErrorCodes.HEADER_LENGTH, `safetensors: header needs ${n} bytes after the length, the file has ${bytes.length - 8}`);
  if (n < 2) fail(ErrorCodes.HEADER_FORMAT, `safetensors: header of ${n} bytes cannot hold a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch (e) {
    return fail(ErrorCodes.HEADER_FORMAT, 'safetensors: header is not valid UTF-8', e);
  }
  if (text[0] !== '{') fail(ErrorCodes.HEADER_FORMAT, `safetensors: header must start with "{", starts with ${JSON.stringify(text.slice(0, 16))}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(ErrorCodes.HEADER_FORMAT, `safetensors: header is not valid JSON: ${(e as Error).message}`, e);
  }
  if (!isObject(json)) fail(ErrorCodes.HEADER_FORMAT, 'safetensors: header is not a JSON object');
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== null) fail(ErrorCodes.DUPLICATE_TENSOR, `safetensors: tensor ${JSON.stringify(duplicate)} appears twice in the header`);

  const buffer = bytes.subarray(8 + n);
  // No prototype: a key named __proto__ is just a key.
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(raw)) fail(ErrorCodes.HEADER_FORMAT, `safetensors: __metadata__ must be an object of strings, got ${describe(raw).slice(0, 60)}`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') fail(ErrorCodes.HEADER_FORMAT, `safetensors: __metadata__.${k} must be a string, got ${describe(v).slice(0, 60)}`);
        metadata[k] = v;
      }
      continue;
    }
    entries.set(name, readEntry(name, raw, buffer.length));
  }
  checkLayout(entries, buffer.length);
  return { entries, metadata, buffer };
}

function readEntry(name: string, raw: unknown, bufferLength: number): SafetensorsEntry {
  if (!isObject(raw)) fail(ErrorCodes.HEADER_FORMAT, `tensor ${name}: expected {dtype, shape, data_offsets}, got ${describe(raw).slice(0, 60)}`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') fail(ErrorCodes.HEADER_FORMAT, `tensor ${name}: dtype must be a string, got ${describe(dtype)}`);
  const size = Object.hasOwn(DTYPE_SIZES, dtype) ? DTYPE_SIZES[dtype]! : undefined;
  if (size === undefined) fail(ErrorCodes.DTYPE, `tensor ${name}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${Object.keys(DTYPE_SIZES).join(', ')}`);
  if (!Array.isArray(shape) || shape.length > MAX_RANK) {
    fail(ErrorCodes.SHAPE, `tensor ${name}: shape ${describe(shape)} is not a list of at most ${MAX_RANK} dimensions`);
  }
  let elements = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(ErrorCodes.SHAPE, `tensor ${name}: shape ${describe(shape)} has an entry ${describe(d)} that is not a non-negative integer`);
    }
    elements *= d;
    if (!Number.isSafeInteger(elements * size)) fail(ErrorCodes.SHAPE, `tensor ${name}: shape ${describe(shape)} overflows (more than 2^53 bytes)`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    fail(ErrorCodes.OFFSETS, `tensor ${name}: data_offsets ${describe(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as unknown[];
  for (const v of [begin, end]) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      fail(ErrorCodes.OFFSETS, `tensor ${name}: data_offsets ${describe(offsets)} are not safe non-negative integers`);
    }
  }
  const b = begin as number;
  const e = end as number;
  if (e < b) fail(ErrorCodes.OFFSETS, `tensor ${name}: data_offsets [${b}, ${e}] run backwards`);
  if (e > bufferLength) fail(ErrorCodes.OFFSETS, `tensor ${name}: needs bytes up to ${e} of the data buffer, the file has ${bufferLength} (truncated?)`);
  const needed = elements * size;
  if (e - b !== needed) {
    fail(ErrorCodes.BYTE_LENGTH, `tensor ${name}: ${dtype} ${formatShape(shape as number[])} needs ${needed} bytes, has ${e - b}`);
  }
  return { dtype, shape: [...(shape as number[])], begin: b, end: e };
}

/** The ranges, sorted, must tile [0, bufferLength) exactly. */
function checkLayout(entries: Map<string, SafetensorsEntry>, bufferLength: number): void {
  const sorted = [...entries].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '(start of the buffer)';
  for (const [name, e] of sorted) {
    if (e.begin < covered) fail(ErrorCodes.OVERLAP, `tensor ${name} [${e.begin}, ${e.end}] overlaps ${previous}, which ends at ${covered}`);
    if (e.begin > covered) fail(ErrorCodes.OVERLAP, `bytes ${covered}..${e.begin} of the data buffer belong to no tensor (a hole before ${name})`);
    covered = e.end;
    previous = `tensor ${name}`;
  }
  if (covered !== bufferLength) {
    fail(ErrorCodes.OVERLAP, `bytes ${covered}..${bufferLength} of the data buffer belong to no tensor (${bufferLength - covered} bytes after ${previous})`);
  }
}

/**
 * The first top-level key that occurs twice in a JSON object's text, or null. Expects text
 * JSON.parse has already accepted, so only strings and nesting need tracking.
 */
export function firstDuplicateKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
    } else if (ch === '{' || ch === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (ch === '}' || ch === ']') {
      depth--;
    } else if (ch === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return null;
}

/** Converts one tensor to float32 (null for integer dtypes). */
export function readTensorData(parsed: ParsedSafetensors, entry: SafetensorsEntry): Float32Array | null {
  const { buffer } = parsed;
  const view = new DataView(buffer.buffer, buffer.byteOffset + entry.begin, entry.end - entry.begin);
  const size = DTYPE_SIZES[entry.dtype]!;
  const n = (entry.end - entry.begin) / size;
  if (!FLOAT_DTYPES.has(entry.dtype)) return null;
  const out = new Float32Array(n);
  switch (entry.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      break;
    case 'BF16': {
      const bits = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        bits.setUint32(0, view.getUint16(2 * i, true) << 16);
        out[i] = bits.getFloat32(0);
      }
      break;
    }
  }
  return out;
}

/** IEEE 754 binary16 to a number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------------------------
// The model

export interface ReadSafetensorsOptions {
  /** Options to use when the file has no `__metadata__` of ours (a bare TF-Slim or PyTorch export). */
  defaults?: MobileNetOptions;
}

/**
 * Reads a MobileNet from safetensors bytes: our metadata if present, else options derived
 * from the weights (alpha from the full convolutions by agreement, classes from the logits; input 224).
 */
export function readSafetensorsModel(bytes: Uint8Array, readOptions: ReadSafetensorsOptions = {}): LoadedModel {
  const parsed = parseSafetensors(bytes);
  const tensors = new Map<string, SourceTensor>();
  for (const [name, entry] of parsed.entries) {
    tensors.set(name, { shape: entry.shape, dtype: entry.dtype, data: readTensorData(parsed, entry) });
  }
  const meta = parsed.metadata;
  let weights: WeightMap;
  let derived: MobileNetOptions;
  let pixelNormalization: PixelNormalization;
  if (isTorchStateDict(tensors.keys())) {
    ({ weights, options: derived } = torchToSlim(tensors));
    pixelNormalization = 'torch-imagenet';
  } else {
    weights = new Map();
    for (const [name, t] of tensors) {
      if (!t.data) fail(ErrorCodes.DTYPE, `tensor ${name}: dtype ${t.dtype} is not supported for a weight (expected F32, F16, BF16 or F64)`);
      weights.set(name, { shape: t.shape, data: t.data });
    }
    derived = deriveSlimOptions(weights);
    pixelNormalization = 'unit-signed';
  }
  let options: MobileNetOptions = { ...derived, ...readOptions.defaults };
  let labels: string[] | undefined;
  if (meta.format === METADATA_FORMAT) {
    const fromMeta = optionsFromMetadata(meta);
    options = fromMeta.options;
    pixelNormalization = fromMeta.pixelNormalization ?? pixelNormalization;
    labels = fromMeta.labels;
  }
  const arch = architecture(options);
  checkWeights(arch, weights, { strict: true });
  if (labels && labels.length !== arch.options.numClasses) {
    fail(ErrorCodes.HEADER_FORMAT, `safetensors: __metadata__.labels has ${labels.length} lines for ${arch.options.numClasses} classes`);
  }
  return { format: 'safetensors', options, weights, pixelNormalization, ...(labels ? { labels } : {}) };
}

function architecture(options: MobileNetOptions): Architecture {
  try {
    return buildArchitecture(options);
  } catch (e) {
    if (e instanceof MobilenetError) fail(e.code, `safetensors: the file describes no buildable MobileNet v1: ${e.message}`, e);
    throw e;
  }
}

/**
 * Alpha from the full convolutions (Conv2d_0, the pointwise or Conv2d_k layers) by agreement, so
 * one odd layer is reported as itself (see alphaByAgreement); classes from the logits; TF-Slim
 * defaults otherwise.
 */
function deriveSlimOptions(weights: WeightMap): MobileNetOptions {
  const options: MobileNetOptions = {};
  const channels = MOBILENET_V1_CONV_DEFS.map((_, k) => {
    const t = (k > 0 ? weights.get(`MobilenetV1/Conv2d_${k}_pointwise/weights`) : undefined) ?? weights.get(`MobilenetV1/Conv2d_${k}/weights`);
    return t && t.shape.length === 4 ? t.shape[3] : undefined;
  });
  const alpha = alphaByAgreement(channels);
  if (alpha !== null) options.depthMultiplier = alpha;
  const logits = weights.get('MobilenetV1/Logits/Conv2d_1c_1x1/weights');
  options.numClasses = logits && logits.shape.length === 4 ? logits.shape[3]! : 0;
  return options;
}

const META_INT = /^[1-9]\d{0,4}$/;

function optionsFromMetadata(meta: Record<string, string>): { options: MobileNetOptions; pixelNormalization?: PixelNormalization; labels?: string[] } {
  const bad = (key: string, expected: string): never =>
    fail(ErrorCodes.HEADER_FORMAT, `safetensors: __metadata__.${key} is ${describe(meta[key])}; expected ${expected}`);
  if (meta.format_version !== METADATA_VERSION) bad('format_version', `"${METADATA_VERSION}"`);
  const options: MobileNetOptions = {};
  const alpha = Number(meta.alpha);
  if (meta.alpha === undefined || meta.alpha.trim() === '' || !(alpha > 0) || !Number.isFinite(alpha)) bad('alpha', 'a number above 0');
  options.depthMultiplier = alpha;
  const res = (meta.resolution ?? '').split('x');
  if (!(res.length === 1 || res.length === 2) || !res.every((r) => META_INT.test(r))) bad('resolution', 'an integer such as "224", or "HxW"');
  options.inputSize = res.length === 1 ? Number(res[0]) : [Number(res[0]), Number(res[1])];
  if (!/^(0|[1-9]\d{0,6})$/.test(meta.classes ?? '')) bad('classes', 'a non-negative integer');
  options.numClasses = Number(meta.classes);
  if (meta.flavour !== 'tf' && meta.flavour !== 'torch') bad('flavour', '"tf" or "torch"');
  options.flavour = meta.flavour as 'tf' | 'torch';
  if (meta.global_pool !== undefined) {
    if (meta.global_pool !== 'true' && meta.global_pool !== 'false') bad('global_pool', '"true" or "false"');
    options.globalPool = meta.global_pool === 'true';
  }
  for (const [key, option] of [['activation', 'activation'], ['padding', 'padding']] as const) {
    if (meta[key] !== undefined) (options as Record<string, unknown>)[option] = meta[key];
  }
  if (meta.batch_norm_epsilon !== undefined) {
    const eps = Number(meta.batch_norm_epsilon);
    if (meta.batch_norm_epsilon.trim() === '' || !Number.isFinite(eps) || eps < 0) bad('batch_norm_epsilon', 'a number >= 0');
    options.batchNormEpsilon = eps;
  }
  let pixelNormalization: PixelNormalization | undefined;
  if (meta.pixel_normalization !== undefined) {
    if (!isPixelNormalization(meta.pixel_normalization)) bad('pixel_normalization', PIXEL_NORMALIZATIONS.join(', '));
    pixelNormalization = meta.pixel_normalization as PixelNormalization;
  }
  const labels = meta.labels === undefined ? undefined : meta.labels.split('\n');
  return { options, pixelNormalization, labels };
}

/** Options this writer records; any other (convDefs, outputStride, ...) is refused rather than lost. */
const WRITABLE_OPTIONS = new Set(['flavour', 'depthMultiplier', 'inputSize', 'numClasses', 'globalPool', 'activation', 'padding', 'batchNormEpsilon', 'rho']);

export interface WriteSafetensorsOptions {
  /** Write the seed's PyTorch state_dict names and layouts (needs BatchNorm unfolded). Default false. */
  torchNames?: boolean;
}

/**
 * Writes a model as safetensors: F32 tensors sorted by name, metadata with the architecture.
 * The weights are checked against the layer table first (strict), so what is written reloads.
 */
export function writeSafetensors(model: Pick<LoadedModel, 'options' | 'weights' | 'pixelNormalization' | 'labels'>, writeOptions: WriteSafetensorsOptions = {}): Uint8Array {
  for (const key of Object.keys(model.options)) {
    const value = (model.options as Record<string, unknown>)[key];
    if (value !== undefined && !WRITABLE_OPTIONS.has(key) && !(key === 'convDefs' && value === 'mobilenet_v1')) {
      fail(ErrorCodes.OPTION, `safetensors writer: option ${key} (${describe(value)}) cannot be recorded in the metadata`);
    }
  }
  const arch = buildArchitecture(model.options);
  checkWeights(arch, model.weights, { strict: true });
  if (model.labels) {
    if (model.labels.length !== arch.options.numClasses) fail(ErrorCodes.OPTION, `safetensors writer: ${model.labels.length} labels for ${arch.options.numClasses} classes`);
    const bad = model.labels.findIndex((l) => typeof l !== 'string' || /[\r\n]/.test(l));
    if (bad >= 0) fail(ErrorCodes.OPTION, `safetensors writer: label ${bad} (${describe(model.labels[bad])}) is not a single line of text`);
  }
  const o = arch.options;
  const metadata: Record<string, string> = {
    format: METADATA_FORMAT,
    format_version: METADATA_VERSION,
    alpha: String(o.depthMultiplier),
    resolution: o.inputHeight === o.inputWidth ? String(o.inputHeight) : `${o.inputHeight}x${o.inputWidth}`,
    classes: String(o.numClasses),
    flavour: o.flavour,
    global_pool: String(o.globalPool),
    activation: o.activation,
    padding: o.padding,
    batch_norm_epsilon: String(o.batchNormEpsilon),
    pixel_normalization: model.pixelNormalization,
  };
  if (model.labels) metadata.labels = model.labels.join('\n');
  const tensors = writeOptions.torchNames ? slimToTorch(model.weights) : model.weights;
  return encodeSafetensors(tensors, metadata);
}

/** The container alone: F32 tensors sorted by name, packed in that order, header padded with spaces to 8 bytes. */
export function encodeSafetensors(tensors: ReadonlyMap<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    header.__metadata__ = Object.fromEntries(Object.keys(metadata).sort().map((k) => [k, metadata[k]]));
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') fail(ErrorCodes.OPTION, 'safetensors writer: a tensor cannot be named __metadata__');
    const t = tensors.get(name)!;
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    for (let i = 0; i < data.length; i++, at += 4) view.setFloat32(at, data[i]!, true);
  }
  return out;
}
