/**
 * Golden bundles: one configuration of the network, its seeded input, every weight and the
 * output of every requested end point, all computed by the float32-exact reference path, in a
 * folder another engine can check itself against. The format is described in
 * docs/golden-format.md; in short (format version 2):
 *
 *   manifest.json          configuration, per end point tolerances and their derivation, and per
 *                          tensor: group, name, file, .npy path, dtype, shape, SHA-256 of its
 *                          little-endian float32 bytes
 *   input.safetensors      `input` [N, H, W, 3]
 *   weights.safetensors    TF-Slim names, BatchNorm unfolded (loadable by `mobilenet classify --model`)
 *   folded.safetensors     TF-Slim names, BatchNorm folded into `<scope>/biases`
 *   outputs.safetensors    one tensor per end point, named as the end point, NHWC
 *   npy/...                every tensor again as a numpy .npy file
 *   verify_golden.py       the checker for other engines' CI (python3 and numpy only)
 *   model.onnx             with --onnx: the exact model as ONNX (opset 13), outputs = the end points
 *
 * Format version 1 bundles (one rtol and atol for every end point, no checker, no model) are
 * still read and verified.
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
import { buildArchitecture, layerWeights, type Architecture, type Flavour, type MobileNetOptions } from '../model/architecture.js';
import { createModel } from '../engine/create.js';
import type { FoldedLayer } from '../model/fold.js';
import { mulberry32, randomWeights } from '../model/random.js';
import type { NamedTensor, WeightMap } from '../model/weights.js';
import { encodeSafetensors, parseSafetensors, readTensorData, writeSafetensors } from '../formats/safetensors.js';
import { Tensor } from '../tensor.js';
import { encodeNpy, parseNpy } from './npy.js';
import { PYTHON_CHECKER } from './python-checker.js';
import { TOLERANCE_COEFFICIENT, TOLERANCE_DERIVATION, TOLERANCE_RULE, UNIT_ROUNDOFF, endpointTolerances, type EndpointTolerance } from './tolerance.js';

const GOLDEN_FORMAT = 'mobilenet-golden';
/** Written by this version; 1 is still read. */
export const GOLDEN_FORMAT_VERSION = 2;
const READ_VERSIONS = [1, 2] as const;
export const MANIFEST_FILE = 'manifest.json';
export const ONNX_FILE = 'model.onnx';
export const CHECKER_FILE = 'verify_golden.py';
/** Largest bundle file read into memory. */
export const MAX_BUNDLE_FILE_BYTES = 1 << 30;

/** A regular file of at most MAX_BUNDLE_FILE_BYTES, through the platform's reader (pipes, devices, sockets and directories are ERR_IO). */
export async function readCapped(path: string): Promise<Uint8Array> {
  const info = await platform.fileInfo(path);
  if (info.kind === 'file' && info.size > MAX_BUNDLE_FILE_BYTES) fail(ErrorCodes.HEADER_LENGTH, `${path}: ${info.size} bytes, above the ${MAX_BUNDLE_FILE_BYTES}-byte cap`);
  return platform.readFile(path, MAX_BUNDLE_FILE_BYTES);
}

/** What `verify --outputs PATH` names: a file (safetensors) or a folder (.npy files or a bundle); anything else is ERR_IO. */
export async function outputsPathKind(path: string): Promise<'file' | 'directory'> {
  const expected = 'a safetensors file, a folder of .npy files or a bundle folder';
  let info;
  try {
    info = await platform.fileInfo(path);
  } catch (e) {
    const code = (e as { cause?: { code?: string } })?.cause?.code ?? (e as Error)?.message;
    return fail(ErrorCodes.IO, `--outputs ${path}: expected ${expected}, found nothing (${code})`, e);
  }
  if (info.kind === 'other') fail(ErrorCodes.IO, `--outputs ${path}: expected ${expected}, found a device, pipe or socket (not a regular file)`);
  return info.kind;
}
/** Largest manifest.json read (one of alpha 1 at 224 with every end point is about 90 KB). */
export const MAX_MANIFEST_BYTES = 64 << 20;

/** Format version 1's one tolerance for every end point (rtol 1e-4, atol 1e-6). */
export interface ToleranceV1 {
  rule: string;
  rtol: number;
  atol: number;
}

/** Format version 2's tolerance block: the rule, how it was derived, one entry per computed end point. */
export interface ToleranceV2 {
  rule: string;
  derivation: string;
  unit_roundoff: number;
  coefficient: number;
  endpoints: EndpointTolerance[];
}

/** What reports carry: the rule and, from version 2, its derivation (the numbers are per end point). */
export interface Tolerance {
  rule: string;
  derivation?: string;
  /** Version 1 only: the one rtol and atol. */
  rtol?: number;
  atol?: number;
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
  /** TF-Slim's output_stride (8, 16 or 32; null: none). */
  outputStride?: 8 | 16 | 32 | null;
  /** TF-Slim's use_explicit_padding (flavour tf only). */
  useExplicitPadding?: boolean;
  /** A global average pool instead of AvgPool_1a (needed for logits when the last map is larger than 7x7 with output stride). */
  globalPool?: boolean;
  /** Also write model.onnx, the exact model as ONNX. */
  onnx?: boolean;
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

export interface ManifestConfig {
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
  /** Version 2. */
  output_stride?: number | null;
  use_explicit_padding?: boolean;
  global_pool?: boolean;
}

/** The ONNX model's entry (version 2, with --onnx). */
export interface ManifestOnnx {
  file: typeof ONNX_FILE;
  sha256: string;
  opset: number;
  ir_version: number;
  batch_norm: 'folded';
  layout: 'NHWC';
  input: 'input';
  outputs: string[];
  weights: string;
}

/** The Python checker's entry (version 2). */
export interface ManifestChecker {
  file: typeof CHECKER_FILE;
  sha256: string;
  usage: string;
  requires: string;
}

export interface GoldenManifest {
  format: typeof GOLDEN_FORMAT;
  format_version: 1 | 2;
  engine: { name: string; version: string; path: 'reference' };
  config: ManifestConfig;
  input: { name: 'input'; layout: 'NHWC'; generator: string; seed: number };
  weights: { generator: string; seed: number; note?: string };
  /** Every end point of the network in order; `computed` are those in outputs.safetensors. */
  endpoints: { all: string[]; computed: string[] };
  tolerance: ToleranceV1 | ToleranceV2;
  /** Version 2: the checker written into the bundle, and the model when asked for. */
  checker?: ManifestChecker;
  onnx?: ManifestOnnx | null;
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

/** The architecture options a configuration stands for. */
function architectureOptions(config: GoldenConfig): MobileNetOptions {
  return {
    flavour: config.flavour,
    depthMultiplier: config.alpha,
    inputSize: config.resolution,
    ...(config.outputStride != null ? { outputStride: config.outputStride } : {}),
    ...(config.useExplicitPadding ? { useExplicitPadding: true } : {}),
    ...(config.globalPool ? { globalPool: true } : {}),
  };
}

function checkConfig(config: GoldenConfig): Architecture {
  if (!Number.isSafeInteger(config.seed) || config.seed < 0 || config.seed >= 2 ** 32) badOption('seed', config.seed, 'an integer from 0 to 2^32-1');
  if (!Number.isSafeInteger(config.batch) || config.batch < 1 || config.batch > 64) badOption('batch', config.batch, 'an integer from 1 to 64');
  if (config.outputStride != null && ![8, 16, 32].includes(config.outputStride)) badOption('outputStride', config.outputStride, '8, 16, 32 or null');
  const arch = buildArchitecture(architectureOptions(config));
  if (config.endpoints !== 'all') {
    if (!Array.isArray(config.endpoints) || config.endpoints.length === 0) badOption('endpoints', config.endpoints, '"all" or a non-empty list of end point names');
    for (const name of config.endpoints) {
      if (!arch.endpoints.includes(name)) badOption('endpoints', name, `"all" or end points among ${arch.endpoints.join(', ')}`);
    }
  }
  return arch;
}

/** The folded weights by TF-Slim name: `<scope>/weights` (or depthwise_weights) scaled, `<scope>/biases`. */
function foldedWeightMap(folded: readonly FoldedLayer[]): WeightMap {
  const map: WeightMap = new Map();
  for (const { layer, filter, bias } of folded) {
    const [w, b] = layerWeights(layer, true);
    map.set(w!.name, { shape: [...w!.shape], data: filter });
    map.set(b!.name, { shape: [...b!.shape], data: bias });
  }
  return map;
}

/** The manifest's config block. */
function manifestConfig(arch: Architecture, config: GoldenConfig): ManifestConfig {
  const o = arch.options;
  return {
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
    output_stride: o.outputStride,
    use_explicit_padding: o.useExplicitPadding,
    global_pool: o.globalPool,
  };
}

/**
 * The ONNX model of a configuration (what `mobilenet export --onnx` writes and a bundle's
 * model.onnx holds, byte for byte): the folded weights, the computed end points as outputs.
 */
async function onnxModel(arch: Architecture, folded: readonly FoldedLayer[], config: GoldenConfig, computed: readonly string[], version: string) {
  // Loaded when asked for: protobufjs and the ONNX schema stay out of every other command's start.
  const { mobilenetToOnnxModel, ONNX_IR_VERSION, ONNX_OPSET } = await import('../onnx/export.js');
  const bytes = mobilenetToOnnxModel(arch, folded, {
    batch: config.batch,
    outputs: computed,
    producerVersion: version,
    metadata: {
      'mobilenet-golden.config': JSON.stringify(manifestConfig(arch, config)),
      'mobilenet-golden.batch_norm': 'folded',
      'mobilenet-golden.layout': 'NHWC',
      'mobilenet-golden.weights': `randomWeights(arch, ${config.seed}), folded (folded.safetensors of the bundle), filters transposed to OIHW`,
    },
  });
  return { bytes, opset: ONNX_OPSET, irVersion: ONNX_IR_VERSION };
}

const computedEndpoints = (arch: Architecture, config: GoldenConfig): string[] =>
  config.endpoints === 'all' ? [...arch.endpoints] : arch.endpoints.filter((e) => config.endpoints.includes(e));

/** The seeded model of a configuration on the reference path (the caller disposes of it). */
async function seededModel(config: GoldenConfig) {
  const arch = checkConfig(config);
  const weights = randomWeights(arch, config.seed);
  const model = await createModel({ ...architectureOptions(config), weights, backend: 'reference' });
  return { arch, weights, model };
}

/**
 * The ONNX model alone (`mobilenet export --onnx`): the same bytes as model.onnx in the bundle
 * of the same configuration and engine version.
 */
export async function createOnnxModel(config: GoldenConfig, engineVersion: string): Promise<Uint8Array> {
  const { arch, model } = await seededModel(config);
  try {
    return (await onnxModel(arch, model.folded, config, computedEndpoints(arch, config), engineVersion)).bytes;
  } finally {
    model.dispose();
  }
}

/**
 * Computes a bundle in memory: relative path to bytes, manifest.json included. Runs the
 * reference path once over the requested end points.
 */
export async function createBundle(config: GoldenConfig, engineVersion: string): Promise<Map<string, Uint8Array>> {
  const { arch, weights, model } = await seededModel(config);
  const o = arch.options;
  const computed = computedEndpoints(arch, config);
  const input = goldenInput(config.seed, config.batch, o.inputHeight, o.inputWidth);
  // Predictions' tolerance needs the logits' scale: Logits is computed on the way anyway.
  const needLogits = computed.includes('Predictions') && !computed.includes('Logits');
  let outputs: Record<string, Tensor>;
  try {
    outputs = model.run(input, { outputs: needLogits ? [...computed, 'Logits'] : computed });
  } finally {
    model.dispose();
  }
  const folded = foldedWeightMap(model.folded);
  // The safetensors metadata records alpha, resolution, flavour and global pool; output stride
  // and explicit padding are in manifest.json only (the metadata has no key for them).
  const archOptions = { flavour: config.flavour, depthMultiplier: config.alpha, inputSize: config.resolution, ...(o.globalPool ? { globalPool: true } : {}) } as const;
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

  let logitsScale: number | undefined;
  if (outputs['Logits']) logitsScale = outputs['Logits'].data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const tolerance: ToleranceV2 = {
    rule: TOLERANCE_RULE,
    derivation: TOLERANCE_DERIVATION,
    unit_roundoff: UNIT_ROUNDOFF,
    coefficient: TOLERANCE_COEFFICIENT,
    endpoints: endpointTolerances(arch, computed, logitsScale),
  };

  const checker = new TextEncoder().encode(PYTHON_CHECKER);
  files.set(CHECKER_FILE, checker);
  let onnx: ManifestOnnx | null = null;
  if (config.onnx) {
    const { bytes, opset, irVersion } = await onnxModel(arch, model.folded, config, computed, engineVersion);
    files.set(ONNX_FILE, bytes);
    onnx = {
      file: ONNX_FILE,
      sha256: sha256Hex(bytes),
      opset,
      ir_version: irVersion,
      batch_norm: 'folded',
      layout: 'NHWC',
      input: 'input',
      outputs: computed,
      weights: 'folded.safetensors, filters transposed to OIHW (initializers <scope>/weights_OIHW, <scope>/depthwise_weights_OIHW, <scope>/biases)',
    };
  }

  const manifest: GoldenManifest = {
    format: GOLDEN_FORMAT,
    format_version: GOLDEN_FORMAT_VERSION,
    engine: { name: 'mobilenet-wasm', version: engineVersion, path: 'reference' },
    config: manifestConfig(arch, config),
    input: {
      name: 'input',
      layout: 'NHWC',
      generator: `mulberry32((seed ^ 0x${INPUT_SEED_XOR.toString(16)}) >>> 0); x = fround(next() / 2^32 * 2 - 1), row-major [N, H, W, 3], uniform in [-1, 1)`,
      seed: (config.seed ^ INPUT_SEED_XOR) >>> 0,
    },
    weights: {
      generator: 'randomWeights(arch, seed): mulberry32(seed), see src/model/random.ts',
      seed: config.seed,
      ...(o.outputStride !== null || o.useExplicitPadding
        ? { note: 'the safetensors metadata records alpha, resolution, flavour and global pool only: load weights.safetensors with config.output_stride and config.use_explicit_padding added' }
        : {}),
    },
    endpoints: { all: [...arch.endpoints], computed },
    tolerance,
    checker: {
      file: CHECKER_FILE,
      sha256: sha256Hex(checker),
      usage: `python3 ${CHECKER_FILE} BUNDLE_DIR OUTPUTS [--json]   (OUTPUTS: a folder of <end point>.npy, a .safetensors file, or another bundle; exit 0 pass, 1 a divergence, 2 bad input)`,
      requires: 'Python 3.8+ and numpy',
    },
    onnx,
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
  /** The rule (and from version 2 its derivation) as reports show it. */
  tolerance: Tolerance;
  /** rtol and atol per computed end point (version 1: the same for all). */
  tolerances: Map<string, { rtol: number; atol: number }>;
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
const isSha256 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const isTol = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

interface ValidManifest {
  manifest: GoldenManifest;
  tolerance: Tolerance;
  tolerances: Map<string, { rtol: number; atol: number }>;
}

/** The tolerance block: version 1's one rtol and atol, or version 2's entry per computed end point. */
function validateTolerance(version: 1 | 2, tol: unknown, computed: readonly string[]): Omit<ValidManifest, 'manifest'> {
  if (version === 1) {
    if (!isObject(tol) || typeof tol.rtol !== 'number' || typeof tol.atol !== 'number' || !(tol.rtol >= 0) || !(tol.atol >= 0) || typeof tol.rule !== 'string') {
      badManifest('tolerance', '{rule, rtol >= 0, atol >= 0}', tol);
    }
    const { rtol, atol } = tol as { rtol: number; atol: number };
    // Only these three fields reach reports (and --json), nothing else the file added.
    return { tolerance: { rule: tol.rule as string, rtol, atol }, tolerances: new Map(computed.map((e) => [e, { rtol, atol }])) };
  }
  if (!isObject(tol) || typeof tol.rule !== 'string' || typeof tol.derivation !== 'string' || !Array.isArray(tol.endpoints)) {
    badManifest('tolerance', '{rule, derivation, endpoints: [{name, rtol, atol}, ...]}', tol);
  }
  const tolerances = new Map<string, { rtol: number; atol: number }>();
  (tol.endpoints as unknown[]).forEach((t, i) => {
    if (!isObject(t) || typeof t.name !== 'string' || !isTol(t.rtol) || !isTol(t.atol)) {
      badManifest(`tolerance.endpoints[${i}]`, '{name, rtol, atol} with finite rtol >= 0 and atol >= 0', t);
    }
    tolerances.set(t.name as string, { rtol: t.rtol as number, atol: t.atol as number });
  });
  const names = (tol.endpoints as { name: string }[]).map((t) => t.name);
  if (names.join('\n') !== computed.join('\n')) badManifest('tolerance.endpoints', `one entry per computed end point, in network order (${computed.join(', ')})`, names);
  return { tolerance: { rule: tol.rule as string, derivation: tol.derivation as string }, tolerances };
}

/** Checks the manifest's shape (not the files). Throws ERR_MANIFEST naming the field. */
function validateManifest(json: unknown): ValidManifest {
  if (!isObject(json)) badManifest('the top level', 'a JSON object', json);
  if (json.format !== GOLDEN_FORMAT) badManifest('format', `"${GOLDEN_FORMAT}"`, json.format);
  if (!(READ_VERSIONS as readonly unknown[]).includes(json.format_version)) badManifest('format_version', READ_VERSIONS.join(' or '), json.format_version);
  const version = json.format_version as 1 | 2;
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
  const { tolerance, tolerances } = validateTolerance(version, json.tolerance, computed);
  if (version >= 2) {
    const checker = json.checker;
    if (!isObject(checker) || checker.file !== CHECKER_FILE || !isSha256(checker.sha256)) badManifest('checker', `{file: "${CHECKER_FILE}", sha256, ...}`, checker);
    const onnx = json.onnx;
    if (onnx !== null && onnx !== undefined && (!isObject(onnx) || onnx.file !== ONNX_FILE || !isSha256(onnx.sha256))) badManifest('onnx', `null or {file: "${ONNX_FILE}", sha256, ...}`, onnx);
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
    if (!isSha256(t.sha256)) badManifest(`${where}.sha256`, '64 lowercase hex digits', t.sha256);
    const key = `${t.group}:${t.name}`;
    if (seen.has(key)) fail(ErrorCodes.DUPLICATE_TENSOR, `${MANIFEST_FILE}: ${where}: tensor ${t.name} of group ${t.group} is listed twice`);
    seen.add(key);
  });
  const tensors = json.tensors as ManifestTensor[];
  const inputs = tensors.filter((t) => t.group === 'input');
  if (inputs.length !== 1 || inputs[0]!.name !== 'input') badManifest('tensors', 'exactly one tensor of group input, named "input"', inputs.map((t) => t.name));
  const outs = tensors.filter((t) => t.group === 'outputs').map((t) => t.name);
  if (outs.join(',') !== computed.join(',')) badManifest('tensors (group outputs)', `the end points ${computed.join(', ')} in that order`, outs);
  return { manifest: json as unknown as GoldenManifest, tolerance, tolerances };
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
  const { manifest, tolerance, tolerances } = validateManifest(json);
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
  // Version 2: the checker and, when present, the ONNX model, against their hashes.
  for (const entry of [manifest.checker, manifest.onnx]) {
    if (!entry) continue;
    const hash = sha256Hex(await readBundleFile(dir, entry.file));
    if (hash !== entry.sha256) fail(ErrorCodes.MANIFEST, `${entry.file}: expected SHA-256 ${entry.sha256} (the manifest), found ${hash}: the file was changed`);
  }
  const outputs = new Map<string, NamedTensor>();
  for (const name of manifest.endpoints.computed) outputs.set(name, loaded.get(`outputs:${name}`)!);
  return { dir, manifest, input: loaded.get('input:input')!, outputs, tolerance, tolerances };
}
