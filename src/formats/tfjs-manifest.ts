/**
 * The part of a TF.js model.json that graph and layers models share: the `weightsManifest`,
 * groups of `{paths, weights: [{name, shape, dtype}]}`, and its shard files. A group's shards
 * are concatenated and its tensors lie in that byte stream back to back, little-endian, in
 * manifest order, each `prod(shape) * 4` bytes; there are no explicit offsets, so the only
 * framing check is that the bytes add up exactly.
 */
import { platform } from '#platform';
import { ErrorCodes, describe, fail } from '../errors.js';
import type { URLLike } from '../dom-types.js';
import { asUrl, readBytes, type FetchOptions } from '../fetch.js';
import { formatShape } from '../model/weights.js';

/** model.json is text; anything bigger than this is not a MobileNet manifest (bad-inputs case 2). */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** The most shard files one manifest may list (TF.js writes 4 MB shards: 1024 of them is 4 GB). */
export const MAX_SHARD_FILES = 1024;
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

/** Where a model.json was read from, and how the files beside it are reached. */
interface JsonLocation {
  /** The model.json: a path, or a URL. */
  readonly where: string | URL;
  /** A shard path from the manifest, resolved beside model.json. */
  beside(path: string): string | URL;
}

async function locateModelJson(source: string | URL): Promise<JsonLocation> {
  const url = asUrl(source);
  if (url) {
    const jsonUrl = url.pathname.endsWith('/') ? new URL('model.json', url) : url;
    const folder = new URL('.', jsonUrl);
    return {
      where: jsonUrl,
      beside: (p) => {
        const shard = new URL(p, jsonUrl);
        // Manifest paths are checked as relative names (also percent-decoded); the URL they
        // resolve to must still lie in model.json's folder, on its origin.
        if (shard.origin !== jsonUrl.origin) fail(ErrorCodes.MANIFEST, `shard ${describe(p)} resolves to ${shard.href}, outside ${jsonUrl.origin}`);
        if (!shard.pathname.startsWith(folder.pathname) || shard.search !== '' || shard.hash !== '') {
          fail(ErrorCodes.MANIFEST, `shard ${describe(p)} resolves to ${shard.href}, outside the model's folder ${folder.href}`);
        }
        return shard;
      },
    };
  }
  const path = source as string;
  const jsonPath = (await platform.fileInfo(path)).kind === 'directory' ? platform.joinPath(path, 'model.json') : path;
  const dir = platform.dirname(jsonPath);
  return { where: jsonPath, beside: (p) => platform.joinPath(dir, p) };
}

/**
 * Reads a TF.js model from a directory or model.json path, or from a URL (one ending in `/`
 * means its model.json): model.json once, parsed once, then the shards its manifest lists,
 * beside it. `kind` is decided from the JSON when not given.
 */
export async function readTfjsModelFiles(
  source: string | URLLike,
  options: FetchOptions = {},
  kind?: TfjsKind,
  /** model.json's bytes when the caller has read them already (they are not read again). */
  jsonBytes?: Uint8Array,
): Promise<{ json: Obj; shards: Uint8Array[]; kind: TfjsKind }> {
  const location = await locateModelJson(source);
  const name = String(location.where instanceof URL ? location.where.href : location.where);
  if (jsonBytes) checkJsonSize(name, jsonBytes.length);
  const text = decodeUtf8(jsonBytes ?? (await readBytes(location.where, MAX_MODEL_JSON_BYTES, options)), name);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    // parseModelJson reports it, with the text.
  }
  const chosen = kind ?? tfjsKindOf(parsed);
  const json = parseModelJson(parsed, chosen);
  const groups = readManifest(json, chosen);
  // One budget for all shards: the weights' bytes and SHARD_SLACK once, however many paths list the same bytes.
  let budget = groups.reduce((n, g) => n + g.bytes, 0) + SHARD_SLACK;
  const shards: Uint8Array[] = [];
  for (const group of groups) {
    for (const p of group.paths) {
      const bytes = await readBytes(location.beside(p), Math.min(group.bytes + SHARD_SLACK, budget), options);
      budget -= bytes.length;
      shards.push(bytes);
    }
  }
  return { json, shards, kind: chosen };
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
  const pathCount = wm.reduce((n: number, g: unknown) => n + (isObject(g) && Array.isArray(g.paths) ? g.paths.length : 0), 0);
  if (pathCount > MAX_SHARD_FILES) fail(ErrorCodes.MANIFEST, `weightsManifest: lists ${pathCount} shard files, more than the ${MAX_SHARD_FILES} read`);
  const seen = new Set<string>();
  return wm.map((g: unknown, gi): Group => {
    const where = `weightsManifest[${gi}]`;
    if (!isObject(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights) || g.paths.length === 0) {
      fail(ErrorCodes.MANIFEST, `${where}: expected {paths: [...], weights: [...]} with at least one path`);
    }
    const paths = g.paths.map((p: unknown) => {
      // Plain relative names only: a manifest must not read files outside the model's directory.
      if (typeof p !== 'string' || !isPlainRelativePath(p)) {
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

/**
 * A relative path that stays in the model's folder, also percent-decoded (`%2e%2e/`, `..%2f`, and
 * `%252e%252e/` decoded twice), and that a URL parser reads as written: no control characters
 * (URL parsers drop tabs and newlines, so `.\t./x` would be `../x`), no leading or trailing
 * spaces (trimmed), no `\`, `:`, `?`, `#`.
 */
export function isPlainRelativePath(p: string): boolean {
  // Every decoding of it, as a server that decodes once more than it should would read it (`%252e%252e/`).
  // A name still changing after four decodings is no plain file name either.
  const forms = [p];
  for (;;) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(forms[forms.length - 1]!);
    } catch {
      return false;
    }
    if (decoded === forms[forms.length - 1]) break;
    if (forms.length > 4) return false;
    forms.push(decoded);
  }
  return forms.every(
    (q) => q !== '' && q === q.trim() && !q.startsWith('/') && !/[\\:?#\u0000-\u001f\u007f]/.test(q) && !q.split('/').includes('..'),
  );
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
