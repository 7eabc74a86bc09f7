/**
 * The part of a TF.js model.json that graph and layers models share: the `weightsManifest`,
 * groups of `{paths, weights: [{name, shape, dtype}]}`, and its shard files. A group's shards
 * are concatenated and its tensors lie in that byte stream back to back, little-endian, in
 * manifest order, each `prod(shape) * 4` bytes; there are no explicit offsets, so the only
 * framing check is that the bytes add up exactly.
 */
import { dirname, io, join, readFile, stat } from '../platform/node.js';
import { ErrorCodes, describe, fail } from '../errors.js';
import { formatShape } from '../model/weights.js';

/** model.json is text; anything bigger than this is not a MobileNet manifest (bad-inputs case 2). */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** A shard file may exceed its tensors by this much and still be read, so the parser can say what is wrong with it. */
export const SHARD_SLACK = 64 * 1024;

export type Obj = Record<string, unknown>;
export const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export type DType = 'float32' | 'int32';

/** What a loader accepts: its model.json `format` and the tensor dtypes it reads. */
export interface TfjsKind {
  format: 'graph-model' | 'layers-model';
  dtypes: readonly DType[];
}

export const GRAPH_MODEL: TfjsKind = { format: 'graph-model', dtypes: ['float32', 'int32'] };
export const LAYERS_MODEL: TfjsKind = { format: 'layers-model', dtypes: ['float32'] };

/** A layers model says so in `format`, or (older converters) carries a Keras topology; anything else is read as a graph. */
export function tfjsKindOf(json: unknown): TfjsKind {
  const obj = isObject(json) ? json : {};
  const topo = obj.modelTopology;
  const keras = isObject(topo) && ('model_config' in topo || 'class_name' in topo);
  return obj.format === 'layers-model' || (obj.format === undefined && keras) ? LAYERS_MODEL : GRAPH_MODEL;
}

interface Entry {
  name: string;
  shape: number[];
  dtype: DType;
  bytes: number;
}

export interface Group {
  paths: string[];
  entries: Entry[];
  bytes: number;
}

export interface RawTensor {
  shape: number[];
  dtype: DType;
  data: Float32Array | Int32Array;
}

/** model.json (text or parsed) and its shards, in manifest order, as named tensors. */
export function readWeights(modelJson: unknown, shards: Uint8Array[], kind: TfjsKind): { json: Obj; tensors: Map<string, RawTensor> } {
  const json = parseModelJson(modelJson, kind);
  return { json, tensors: readShards(readManifest(json, kind), shards) };
}

/** Reads a directory (its model.json) or a model.json path, and the shard files its manifest lists. */
export async function readModelFiles(source: string, kind: TfjsKind): Promise<{ json: Obj; shards: Uint8Array[] }> {
  const info = await io(source, () => stat(source));
  const jsonPath = info.isDirectory() ? join(source, 'model.json') : source;
  checkJsonSize(jsonPath, (await io(jsonPath, () => stat(jsonPath))).size);
  const json = parseModelJson(decodeUtf8(await io(jsonPath, () => readFile(jsonPath)), jsonPath), kind);
  const dir = dirname(jsonPath);
  const shards: Uint8Array[] = [];
  for (const group of readManifest(json, kind)) {
    const paths = group.paths.map((p) => join(dir, p));
    // Sizes first, so an oversized file is refused before it is read into memory.
    const sizes = await Promise.all(paths.map(async (p) => (await io(p, () => stat(p))).size));
    const have = sizes.reduce((a, b) => a + b, 0);
    if (have > group.bytes + SHARD_SLACK) {
      fail(ErrorCodes.BYTE_LENGTH, `weights group (${group.paths.join(', ')}) needs ${group.bytes} bytes, has ${have}`);
    }
    for (const p of paths) shards.push(new Uint8Array(await io(p, () => readFile(p))));
  }
  return { json, shards };
}

/**
 * Fetches model.json from a URL (a URL ending in `/` means its model.json) and the shards its
 * manifest lists, relative to it; `kind` is decided from the JSON when not given.
 */
export async function fetchModelFiles(
  source: URL,
  fetchFn: typeof fetch,
  kind?: TfjsKind,
): Promise<{ json: Obj; shards: Uint8Array[]; kind: TfjsKind }> {
  const jsonUrl = source.pathname.endsWith('/') ? new URL('model.json', source) : source;
  const get = (url: URL, cap: number) => fetchBytes(url, fetchFn, cap);
  const jsonBytes = await get(jsonUrl, MAX_MODEL_JSON_BYTES);
  checkJsonSize(jsonUrl.href, jsonBytes.length);
  const text = decodeUtf8(jsonBytes, jsonUrl.href);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    // parseModelJson reports it, with the text.
  }
  const chosen = kind ?? tfjsKindOf(parsed);
  const json = parseModelJson(parsed, chosen);
  const shards: Uint8Array[] = [];
  for (const group of readManifest(json, chosen)) {
    for (const p of group.paths) shards.push(await get(new URL(p, jsonUrl), group.bytes + SHARD_SLACK));
  }
  return { json, shards, kind: chosen };
}

/** GETs a URL and reads at most `cap` bytes, with or without a Content-Length; more is refused, not read. */
export async function fetchBytes(url: URL, fetchFn: typeof fetch, cap: number): Promise<Uint8Array> {
  const res = await io(url.href, () => fetchFn(url));
  if (!res.ok) fail(ErrorCodes.IO, `${url.href}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  const tooBig = (n: number | string) => fail(ErrorCodes.BYTE_LENGTH, `${url.href}: ${n} bytes, more than the ${cap} expected`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > cap) tooBig(declared);
  if (!res.body) {
    const bytes = new Uint8Array(await io(url.href, () => res.arrayBuffer()));
    return bytes.length > cap ? tooBig(bytes.length) : bytes;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await io(url.href, () => reader.read());
    if (done) break;
    total += value.length;
    if (total > cap) {
      await reader.cancel().catch(() => {});
      tooBig(`at least ${total}`);
    }
    parts.push(value);
  }
  return concat(parts);
}

export function checkJsonSize(where: string, size: number): void {
  if (size > MAX_MODEL_JSON_BYTES) {
    fail(ErrorCodes.HEADER_LENGTH, `${where}: ${size} bytes, above the ${MAX_MODEL_JSON_BYTES}-byte cap for model.json`);
  }
}

export function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    return fail(ErrorCodes.HEADER_FORMAT, `${where}: model.json is not valid UTF-8`, e);
  }
}

export function parseModelJson(modelJson: unknown, kind: TfjsKind): Obj {
  let json: unknown = modelJson;
  if (typeof modelJson === 'string') {
    if (modelJson.length > MAX_MODEL_JSON_BYTES) {
      fail(ErrorCodes.HEADER_LENGTH, `model.json: ${modelJson.length} characters, above the ${MAX_MODEL_JSON_BYTES} cap`);
    }
    const text = modelJson.replace(/^\uFEFF/, '');
    if (text.trimStart().startsWith('<')) {
      fail(ErrorCodes.HEADER_FORMAT, `model.json looks like an HTML page, not JSON: ${JSON.stringify(text.trimStart().slice(0, 40))}`);
    }
    try {
      json = JSON.parse(text);
    } catch (e) {
      fail(ErrorCodes.HEADER_FORMAT, `model.json is not valid JSON: ${(e as Error).message}`, e);
    }
  }
  if (!isObject(json)) fail(ErrorCodes.HEADER_FORMAT, `model.json: expected a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`);
  if (json.format !== undefined && json.format !== kind.format) {
    fail(ErrorCodes.MANIFEST, `model.json: format ${describe(json.format)} is not "${kind.format}"`);
  }
  return json;
}

export function readManifest(json: Obj, kind: TfjsKind): Group[] {
  const wm = json.weightsManifest;
  if (!Array.isArray(wm) || wm.length === 0) {
    fail(ErrorCodes.MANIFEST, 'weightsManifest: expected a non-empty list of {paths, weights} groups');
  }
  const seen = new Set<string>();
  return wm.map((g: unknown, gi): Group => {
    const where = `weightsManifest[${gi}]`;
    if (!isObject(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights) || g.paths.length === 0) {
      fail(ErrorCodes.MANIFEST, `${where}: expected {paths: [...], weights: [...]} with at least one path`);
    }
    const paths = g.paths.map((p: unknown) => {
      // Plain relative names only: a manifest must not read files outside the model's directory.
      if (typeof p !== 'string' || p === '' || p.startsWith('/') || /[\\:]/.test(p) || p.split('/').includes('..')) {
        fail(ErrorCodes.MANIFEST, `${where}.paths: ${describe(p)} is not a relative shard file name`);
      }
      return p;
    });
    let bytes = 0;
    const entries = g.weights.map((w: unknown, wi): Entry => {
      if (!isObject(w) || typeof w.name !== 'string' || w.name === '') {
        fail(ErrorCodes.MANIFEST, `${where}.weights[${wi}]: expected {name, shape, dtype}`);
      }
      const name = w.name;
      if (seen.has(name)) fail(ErrorCodes.DUPLICATE_TENSOR, `tensor ${name} is listed twice in weightsManifest`);
      seen.add(name);
      if (w.quantization !== undefined) {
        fail(ErrorCodes.MANIFEST, `tensor ${name}: quantized weights (quantization ${describe(w.quantization).slice(0, 80)}) are not supported; this loader reads float32 models`);
      }
      const dtype = kind.dtypes.find((d) => d === w.dtype);
      if (!dtype) fail(ErrorCodes.DTYPE, `tensor ${name}: dtype ${describe(w.dtype)} is not supported (${kind.dtypes.join(' or ')})`);
      const shape = readShape(name, w.shape);
      const size = shape.reduce((a, b) => a * b, 1);
      const entryBytes = size * 4; // float32 and int32 alike
      bytes += entryBytes;
      if (!Number.isSafeInteger(size) || !Number.isSafeInteger(bytes)) {
        fail(ErrorCodes.SHAPE, `tensor ${name}: shape ${formatShape(shape)} overflows`);
      }
      return { name, shape, dtype: dtype!, bytes: entryBytes };
    });
    return { paths, entries, bytes };
  });
}

function readShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length > 8) {
    fail(ErrorCodes.SHAPE, `tensor ${name}: shape ${describe(shape)} is not a list of at most 8 dimensions`);
  }
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(ErrorCodes.SHAPE, `tensor ${name}: shape ${describe(shape)} has an entry ${describe(d)} that is not a non-negative integer`);
    }
  }
  return shape as number[];
}

/** A shard that begins with `<` and reads as text is an error page served in place of the file. */
function looksLikeHtml(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] !== 0x3c) return false;
  // Float data may begin with the byte 0x3c too; require its first bytes to be printable text.
  const head = bytes.subarray(i, i + 64);
  return head.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09);
}

export function readShards(groups: Group[], shards: Uint8Array[]): Map<string, RawTensor> {
  const expected = groups.reduce((n, g) => n + g.paths.length, 0);
  if (!Array.isArray(shards) || !shards.every((s) => s instanceof Uint8Array)) {
    fail(ErrorCodes.OPTION, 'shards: expected a list of Uint8Array, one per manifest path');
  }
  if (shards.length !== expected) {
    fail(ErrorCodes.MANIFEST, `weightsManifest lists ${expected} shard file(s), got ${shards.length}`);
  }
  const tensors = new Map<string, RawTensor>();
  let next = 0;
  for (const group of groups) {
    const parts = shards.slice(next, next + group.paths.length);
    parts.forEach((part, i) => {
      if (looksLikeHtml(part)) {
        const text = new TextDecoder().decode(part.subarray(0, 40)).trim();
        fail(ErrorCodes.MANIFEST, `shard ${group.paths[i]}: is a text/HTML page (${JSON.stringify(text)}), not weights`);
      }
    });
    next += group.paths.length;
    const bytes = parts.length === 1 ? parts[0]! : concat(parts);
    if (bytes.length !== group.bytes) {
      let end = 0;
      const cut = group.entries.find((e) => (end += e.bytes) > bytes.length);
      const detail = cut
        ? `; tensor ${cut.name} ends at byte ${end}`
        : `; ${bytes.length - group.bytes} bytes follow the last tensor`;
      fail(ErrorCodes.BYTE_LENGTH, `weights group (${group.paths.join(', ')}) needs ${group.bytes} bytes, has ${bytes.length}${detail}`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    for (const e of group.entries) {
      const n = e.bytes / 4;
      const data = e.dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
      if (e.dtype === 'float32') for (let i = 0; i < n; i++) data[i] = view.getFloat32(offset + 4 * i, true);
      else for (let i = 0; i < n; i++) data[i] = view.getInt32(offset + 4 * i, true);
      tensors.set(e.name, { shape: e.shape, dtype: e.dtype, data });
      offset += e.bytes;
    }
  }
  return tensors;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
