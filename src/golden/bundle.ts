/**
 * Golden bundles: one configuration of the network, its seeded input, every weight and the
 * output of every requested end point, all computed by the float32-exact reference path, in a
 * folder another engine can check itself against. The format is described in
 * docs/golden-format.md; in short:
 *
 *   manifest.json          configuration, tolerance rule, and per tensor: group, name, file,
 *                          .npy path, dtype, shape, SHA-256 of its little-endian float32 bytes
 *   input.safetensors      `input` [N, H, W, 3]
 *   weights.safetensors    TF-Slim names, BatchNorm unfolded (loadable by `mobilenet classify --model`)
 *   folded.safetensors     TF-Slim names, BatchNorm folded into `<scope>/biases`
 *   outputs.safetensors    one tensor per end point, named as the end point, NHWC
 *   npy/...                every tensor again as a numpy .npy file
 *
 * Deterministic: no timestamps, no absolute paths, tensors sorted by name in safetensors,
 * manifest keys in a fixed order; the same configuration and engine version give the same bytes.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { platform } from '#platform';
import { ErrorCodes, MobilenetError, badOption, describe, fail } from '../errors.js';
import { buildArchitecture, layerWeights, type Architecture, type Flavour } from '../model/architecture.js';
import { createModel } from '../engine/create.js';
import { mulberry32, randomWeights } from '../model/random.js';
import type { NamedTensor, WeightMap } from '../model/weights.js';
import { encodeSafetensors, parseSafetensors, readTensorData, writeSafetensors } from '../formats/safetensors.js';
import { Tensor } from '../tensor.js';
import { encodeNpy, parseNpy } from './npy.js';

const GOLDEN_FORMAT = 'mobilenet-golden';
const GOLDEN_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
/** Largest bundle file read into memory. */
export const MAX_BUNDLE_FILE_BYTES = 1 << 30;
/** Largest manifest.json read (one of alpha 1 at 224 with every end point is about 60 KB). */
export const MAX_MANIFEST_BYTES = 64 << 20;

/**
 * The tolerance rule, per end point E with golden values g and another engine's values o:
 *   max_abs_error = max_i |o_i - g_i|;  scale = max_i |g_i|;  max_rel_error = max_abs_error / scale
 *   pass  iff  max_abs_error <= max(atol, rtol * scale)   (NaN or a shape mismatch fails)
 * rtol 1e-4 is the bound the TF.js oracle tests hold the reference path to (float32 engines
 * that sum in another order land around 1e-6 .. 1e-5); atol covers an all-zero end point.
 */
const DEFAULT_TOLERANCE: Tolerance = {
  rule: 'per end point: max|other - golden| <= max(atol, rtol * max|golden|); NaN or a shape mismatch fails',
  rtol: 1e-4,
  atol: 1e-6,
};

export interface Tolerance {
  rule: string;
  rtol: number;
  atol: number;
}

export type TensorGroup = 'input' | 'weights' | 'folded' | 'outputs';
const GROUP_FILES: Record<TensorGroup, string> = {
  input: 'input.safetensors',
  weights: 'weights.safetensors',
  folded: 'folded.safetensors',
  outputs: 'outputs.safetensors',
};
const GROUPS = Object.keys(GROUP_FILES) as TensorGroup[];

export interface GoldenConfig {
  alpha: number;
  resolution: number | readonly [number, number];
  seed: number;
  flavour: Flavour;
  batch: number;
  /** End point names, or 'all'. Always computed and listed in network order. */
  endpoints: 'all' | readonly string[];
}

export interface ManifestTensor {
  group: TensorGroup;
  name: string;
  file: string;
  npy: string;
  dtype: 'F32';
  shape: number[];
  sha256: string;
}

export interface GoldenManifest {
  format: typeof GOLDEN_FORMAT;
  format_version: typeof GOLDEN_FORMAT_VERSION;
  engine: { name: string; version: string; path: 'reference' };
  config: {
    alpha: number;
    resolution: [number, number];
    seed: number;
    flavour: Flavour;
    batch: number;
    num_classes: number;
    activation: string;
    padding: string;
    batch_norm_epsilon: number;
    min_depth: number;
  };
  input: { name: 'input'; layout: 'NHWC'; generator: string; seed: number };
  weights: { generator: string; seed: number };
  /** Every end point of the network in order; `computed` are those in outputs.safetensors. */
  endpoints: { all: string[]; computed: string[] };
  tolerance: Tolerance;
  tensors: ManifestTensor[];
}

/** The input's PRNG stream: mulberry32 seeded with seed XOR this, so it differs from the weights' stream. */
const INPUT_SEED_XOR = 0x9e3779b9;

/** The bundle's input: x_i = fround(u_i * 2 - 1), u_i = next() / 2^32, mulberry32((seed ^ 0x9e3779b9) >>> 0), row-major NHWC. */
export function goldenInput(seed: number, batch: number, height: number, width: number): Tensor {
  const next = mulberry32((seed ^ INPUT_SEED_XOR) >>> 0);
  const data = new Float32Array(batch * height * width * 3);
  for (let i = 0; i < data.length; i++) data[i] = (next() / 4294967296) * 2 - 1;
  return new Tensor(data, [batch, height, width, 3]);
}

/** Little-endian float32 bytes of a tensor (what the hash, the safetensors slice and the .npy body hold). */
function float32Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A file name for a TF-Slim variable: `/` becomes `.` (no variable name has a dot). */
function npyFileName(name: string): string {
  return `${name.replaceAll('/', '.')}.npy`;
}

function npyPath(group: TensorGroup, name: string): string {
  return group === 'input' ? 'npy/input.npy' : `npy/${group}/${npyFileName(name)}`;
}

function checkConfig(config: GoldenConfig): Architecture {
  if (!Number.isSafeInteger(config.seed) || config.seed < 0 || config.seed >= 2 ** 32) badOption('seed', config.seed, 'an integer from 0 to 2^32-1');
  if (!Number.isSafeInteger(config.batch) || config.batch < 1 || config.batch > 64) badOption('batch', config.batch, 'an integer from 1 to 64');
  const arch = buildArchitecture({ depthMultiplier: config.alpha, inputSize: config.resolution, flavour: config.flavour });
  if (config.endpoints !== 'all') {
    if (!Array.isArray(config.endpoints) || config.endpoints.length === 0) badOption('endpoints', config.endpoints, '"all" or a non-empty list of end point names');
    for (const name of config.endpoints) {
      if (!arch.endpoints.includes(name)) badOption('endpoints', name, `"all" or end points among ${arch.endpoints.join(', ')}`);
    }
  }
  return arch;
}

/** The folded weights by TF-Slim name: `<scope>/weights` (or depthwise_weights) scaled, `<scope>/biases`. */
function foldedWeightMap(folded: Awaited<ReturnType<typeof createModel>>['folded']): WeightMap {
  const map: WeightMap = new Map();
  for (const { layer, filter, bias } of folded) {
    const [w, b] = layerWeights(layer, true);
    map.set(w!.name, { shape: [...w!.shape], data: filter });
    map.set(b!.name, { shape: [...b!.shape], data: bias });
  }
  return map;
}

/**
 * Computes a bundle in memory: relative path to bytes, manifest.json included. Runs the
 * reference path once over the requested end points.
 */
export async function createBundle(config: GoldenConfig, engineVersion: string): Promise<Map<string, Uint8Array>> {
  const arch = checkConfig(config);
  const o = arch.options;
  const weights = randomWeights(arch, config.seed);
  const model = await createModel({ depthMultiplier: config.alpha, inputSize: config.resolution, flavour: config.flavour, weights, backend: 'reference' });
  const computed = config.endpoints === 'all' ? [...arch.endpoints] : arch.endpoints.filter((e) => config.endpoints.includes(e));
  const input = goldenInput(config.seed, config.batch, o.inputHeight, o.inputWidth);
  let outputs: Record<string, Tensor>;
  try {
    outputs = model.run(input, { outputs: computed });
  } finally {
    model.dispose();
  }
  const folded = foldedWeightMap(model.folded);
  const archOptions = { flavour: config.flavour, depthMultiplier: config.alpha, inputSize: config.resolution } as const;
  const pixelNormalization = config.flavour === 'torch' ? 'torch-imagenet' : 'unit-signed';
  const metadata = (role: string) => ({ format: GOLDEN_FORMAT, format_version: String(GOLDEN_FORMAT_VERSION), role });

  const files = new Map<string, Uint8Array>();
  const outputMap = new Map<string, NamedTensor>(computed.map((name) => [name, { shape: outputs[name]!.shape, data: outputs[name]!.data }]));
  files.set(GROUP_FILES.input, encodeSafetensors(new Map([['input', { shape: input.shape, data: input.data }]]), metadata('input')));
  files.set(GROUP_FILES.weights, writeSafetensors({ options: archOptions, weights, pixelNormalization }));
  files.set(GROUP_FILES.folded, writeSafetensors({ options: archOptions, weights: folded, pixelNormalization }));
  files.set(GROUP_FILES.outputs, encodeSafetensors(outputMap, metadata('outputs')));

  const tensors: ManifestTensor[] = [];
  const add = (group: TensorGroup, name: string, t: NamedTensor) => {
    const npy = npyPath(group, name);
    files.set(npy, encodeNpy(t.shape, t.data));
    tensors.push({ group, name, file: GROUP_FILES[group], npy, dtype: 'F32', shape: [...t.shape], sha256: sha256Hex(float32Bytes(t.data)) });
  };
  add('input', 'input', { shape: input.shape, data: input.data });
  // Weights in layer order (the order of layerWeights), end points in network order.
  for (const [name, t] of weights) add('weights', name, t);
  for (const [name, t] of folded) add('folded', name, t);
  for (const name of computed) add('outputs', name, outputMap.get(name)!);

  const manifest: GoldenManifest = {
    format: GOLDEN_FORMAT,
    format_version: GOLDEN_FORMAT_VERSION,
    engine: { name: 'mobilenet-wasm', version: engineVersion, path: 'reference' },
    config: {
      alpha: o.depthMultiplier,
      resolution: [o.inputHeight, o.inputWidth],
      seed: config.seed,
      flavour: o.flavour,
      batch: config.batch,
      num_classes: o.numClasses,
      activation: o.activation,
      padding: o.padding,
      batch_norm_epsilon: o.batchNormEpsilon,
      min_depth: o.minDepth,
    },
    input: {
      name: 'input',
      layout: 'NHWC',
      generator: `mulberry32((seed ^ 0x${INPUT_SEED_XOR.toString(16)}) >>> 0); x = fround(next() / 2^32 * 2 - 1), row-major [N, H, W, 3], uniform in [-1, 1)`,
      seed: (config.seed ^ INPUT_SEED_XOR) >>> 0,
    },
    weights: { generator: 'randomWeights(arch, seed): mulberry32(seed), see src/model/random.ts', seed: config.seed },
    endpoints: { all: [...arch.endpoints], computed },
    tolerance: DEFAULT_TOLERANCE,
    tensors,
  };
  files.set(MANIFEST_FILE, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  return files;
}

/** The version field of this package's package.json. */
export async function engineVersion(): Promise<string> {
  const bytes = await platform.readFile(fileURLToPath(new URL('../../package.json', import.meta.url)), 1 << 20);
  const version = (JSON.parse(new TextDecoder().decode(bytes)) as { version?: unknown }).version;
  return typeof version === 'string' ? version : 'unknown';
}

/** Writes a bundle's files under `dir` (created if needed; files of the same names are replaced). */
export async function writeBundle(dir: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
  try {
    for (const [rel, bytes] of files) {
      const path = join(dir, rel);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, bytes);
    }
  } catch (e) {
    if (e instanceof MobilenetError) throw e;
    fail(ErrorCodes.IO, `golden: cannot write the bundle under ${dir}: ${(e as Error)?.message ?? String(e)}`, e);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading and checking a bundle

export interface GoldenBundle {
  dir: string;
  manifest: GoldenManifest;
  input: NamedTensor;
  /** The computed end points, in network order. */
  outputs: Map<string, NamedTensor>;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function badManifest(where: string, expected: string, got: unknown): never {
  fail(ErrorCodes.MANIFEST, `${MANIFEST_FILE}: ${where}: expected ${expected}, got ${describe(got).slice(0, 80)}`);
}

const isShape = (v: unknown): v is number[] => Array.isArray(v) && v.length <= 8 && v.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
/** A relative path inside the bundle: no absolute path, no `..`, no backslash. */
const isBundlePath = (v: unknown): v is string =>
  typeof v === 'string' && v !== '' && !v.startsWith('/') && !v.includes('\\') && v.split('/').every((p) => p !== '' && p !== '.' && p !== '..');

/** Checks the manifest's shape (not the files). Throws ERR_MANIFEST naming the field. */
function validateManifest(json: unknown): GoldenManifest {
  if (!isObject(json)) badManifest('the top level', 'a JSON object', json);
  if (json.format !== GOLDEN_FORMAT) badManifest('format', `"${GOLDEN_FORMAT}"`, json.format);
  if (json.format_version !== GOLDEN_FORMAT_VERSION) badManifest('format_version', String(GOLDEN_FORMAT_VERSION), json.format_version);
  const config = json.config;
  if (!isObject(config)) badManifest('config', 'an object', config);
  if (typeof config.alpha !== 'number' || !(config.alpha > 0)) badManifest('config.alpha', 'a number above 0', config.alpha);
  if (!isShape(config.resolution) || config.resolution.length !== 2) badManifest('config.resolution', '[height, width]', config.resolution);
  if (!Number.isSafeInteger(config.batch) || (config.batch as number) < 1) badManifest('config.batch', 'a positive integer', config.batch);
  if (config.flavour !== 'tf' && config.flavour !== 'torch') badManifest('config.flavour', '"tf" or "torch"', config.flavour);
  // Shown in reports and messages: checked here, so no other value (a deep array) is ever turned into text.
  if (!Number.isSafeInteger(config.seed) || (config.seed as number) < 0) badManifest('config.seed', 'a non-negative integer', config.seed);
  const input = json.input;
  if (!isObject(input) || typeof input.generator !== 'string') badManifest('input', '{name, layout, generator, seed} with generator a string', input);
  const endpoints = json.endpoints;
  if (!isObject(endpoints) || !Array.isArray(endpoints.all) || !Array.isArray(endpoints.computed) || ![...endpoints.all, ...endpoints.computed].every((e) => typeof e === 'string')) {
    badManifest('endpoints', '{all: [names], computed: [names]}', endpoints);
  }
  const all = new Set(endpoints.all as string[]);
  const computed = endpoints.computed as string[];
  if (computed.length === 0 || computed.some((e) => !all.has(e))) badManifest('endpoints.computed', 'a non-empty subset of endpoints.all', computed);
  const tol = json.tolerance;
  if (!isObject(tol) || typeof tol.rtol !== 'number' || typeof tol.atol !== 'number' || !(tol.rtol >= 0) || !(tol.atol >= 0) || typeof tol.rule !== 'string') {
    badManifest('tolerance', '{rule, rtol >= 0, atol >= 0}', tol);
  }
  if (!Array.isArray(json.tensors)) badManifest('tensors', 'a list', json.tensors);
  const seen = new Set<string>();
  json.tensors.forEach((t: unknown, i: number) => {
    const where = `tensors[${i}]`;
    if (!isObject(t)) badManifest(where, 'an object {group, name, file, npy, dtype, shape, sha256}', t);
    if (!GROUPS.includes(t.group as TensorGroup)) badManifest(`${where}.group`, GROUPS.join(', '), t.group);
    if (typeof t.name !== 'string' || t.name === '') badManifest(`${where}.name`, 'a tensor name', t.name);
    if (t.file !== GROUP_FILES[t.group as TensorGroup]) badManifest(`${where}.file`, `"${GROUP_FILES[t.group as TensorGroup]}"`, t.file);
    if (!isBundlePath(t.npy) || !t.npy.endsWith('.npy')) badManifest(`${where}.npy`, 'a relative path inside the bundle ending in .npy', t.npy);
    if (t.dtype !== 'F32') badManifest(`${where}.dtype`, '"F32"', t.dtype);
    if (!isShape(t.shape)) badManifest(`${where}.shape`, 'a list of non-negative integers', t.shape);
    if (typeof t.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(t.sha256)) badManifest(`${where}.sha256`, '64 lowercase hex digits', t.sha256);
    const key = `${t.group}:${t.name}`;
    if (seen.has(key)) fail(ErrorCodes.DUPLICATE_TENSOR, `${MANIFEST_FILE}: ${where}: tensor ${t.name} of group ${t.group} is listed twice`);
    seen.add(key);
  });
  const tensors = json.tensors as ManifestTensor[];
  const inputs = tensors.filter((t) => t.group === 'input');
  if (inputs.length !== 1 || inputs[0]!.name !== 'input') badManifest('tensors', 'exactly one tensor of group input, named "input"', inputs.map((t) => t.name));
  const outs = tensors.filter((t) => t.group === 'outputs').map((t) => t.name);
  if (outs.join(',') !== computed.join(',')) badManifest('tensors (group outputs)', `the end points ${computed.join(', ')} in that order`, outs);
  // The tolerance goes into reports (and --json): only its three fields, nothing else the file added.
  const tolerance: Tolerance = { rule: tol.rule as string, rtol: tol.rtol as number, atol: tol.atol as number };
  return { ...json, tolerance } as unknown as GoldenManifest;
}

/**
 * A bundle file's bytes, through the platform's reader: a regular file of at most `cap` bytes
 * (a directory, device, pipe or socket is ERR_IO; nothing is opened that could block or never end).
 */
async function readBundleFile(dir: string, rel: string, cap = MAX_BUNDLE_FILE_BYTES): Promise<Uint8Array> {
  const path = join(dir, rel);
  // The manifest's paths are checked to stay inside the bundle; this is the last guard.
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

/** Re-throws a parser's error with the file named, keeping its code (verify.ts reads with it too). */
export function inFile<T>(rel: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof MobilenetError) fail(e.code, `${rel}: ${e.message}`, e);
    throw e;
  }
}

export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const formatShape = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * Reads a bundle and checks every byte of it against its manifest, failing on the first
 * problem: manifest (ERR_MANIFEST), a missing file (ERR_IO), a damaged safetensors or .npy file
 * (the parser's code: ERR_FILE_TOO_SHORT, ERR_HEADER_LENGTH, ERR_OFFSETS, ERR_OVERLAP,
 * ERR_BYTE_LENGTH, ...), a tensor listed but absent (ERR_WEIGHT_MISSING), a tensor present but
 * not listed (ERR_WEIGHT_UNEXPECTED), a shape or dtype that differs (ERR_SHAPE, ERR_DTYPE), and
 * bytes whose SHA-256 differs from the manifest's (ERR_MANIFEST, both hashes named).
 */
export async function readBundle(dir: string): Promise<GoldenBundle> {
  const manifestBytes = await readBundleFile(dir, MANIFEST_FILE, MAX_MANIFEST_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestBytes));
  } catch (e) {
    return fail(ErrorCodes.MANIFEST, `bundle ${dir}: ${MANIFEST_FILE} is not valid UTF-8 JSON: ${(e as Error).message}`, e);
  }
  const manifest = validateManifest(json);
  const byGroup = new Map<TensorGroup, ManifestTensor[]>(GROUPS.map((g) => [g, manifest.tensors.filter((t) => t.group === g)]));
  const loaded = new Map<string, NamedTensor>();
  for (const group of GROUPS) {
    const listed = byGroup.get(group)!;
    const rel = GROUP_FILES[group];
    const bytes = await readBundleFile(dir, rel);
    const parsed = inFile(rel, () => parseSafetensors(bytes));
    const names = [...parsed.entries.keys()];
    const listedNames = new Set(listed.map((t) => t.name));
    for (const t of listed) {
      const entry = parsed.entries.get(t.name);
      if (!entry) {
        fail(ErrorCodes.WEIGHT_MISSING, `${rel}: expected tensor ${t.name} (listed in ${MANIFEST_FILE}), found none; the file holds ${names.length} tensors: ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', ...' : ''}`);
      }
      if (entry.dtype !== 'F32') fail(ErrorCodes.DTYPE, `${rel}: tensor ${t.name}: expected dtype F32, found ${entry.dtype}`);
      if (!sameShape(entry.shape, t.shape)) fail(ErrorCodes.SHAPE, `${rel}: tensor ${t.name}: expected shape ${formatShape(t.shape)} (the manifest), found ${formatShape(entry.shape)}`);
      const raw = parsed.buffer.subarray(entry.begin, entry.end);
      const hash = sha256Hex(raw);
      if (hash !== t.sha256) fail(ErrorCodes.MANIFEST, `${rel}: tensor ${t.name}: expected SHA-256 ${t.sha256} (the manifest), found ${hash}: the bytes were changed`);
      if (group === 'input' || group === 'outputs') loaded.set(`${group}:${t.name}`, { shape: entry.shape, data: readTensorData(parsed, entry)! });
    }
    const unlisted = names.filter((n) => !listedNames.has(n));
    if (unlisted.length > 0) fail(ErrorCodes.WEIGHT_UNEXPECTED, `${rel}: tensor ${unlisted[0]} is not listed in ${MANIFEST_FILE} (expected only: ${listed.map((t) => t.name).slice(0, 6).join(', ')}${listed.length > 6 ? ', ...' : ''})`);
  }
  for (const t of manifest.tensors) {
    const bytes = await readBundleFile(dir, t.npy);
    const npy = parseNpy(bytes, t.npy);
    if (npy.descr !== '<f4') fail(ErrorCodes.DTYPE, `${t.npy}: expected dtype '<f4', found ${JSON.stringify(npy.descr)}`);
    if (!sameShape(npy.shape, t.shape)) fail(ErrorCodes.SHAPE, `${t.npy}: expected shape ${formatShape(t.shape)} (the manifest), found ${formatShape(npy.shape)}`);
    const hash = sha256Hex(npy.body);
    if (hash !== t.sha256) fail(ErrorCodes.MANIFEST, `${t.npy}: tensor ${t.name}: expected SHA-256 ${t.sha256} (the manifest), found ${hash}: the bytes were changed`);
  }
  const outputs = new Map<string, NamedTensor>();
  for (const name of manifest.endpoints.computed) outputs.set(name, loaded.get(`outputs:${name}`)!);
  return { dir, manifest, input: loaded.get('input:input')!, outputs };
}
