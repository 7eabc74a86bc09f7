/**
 * A head as one safetensors file (the container of src/formats/safetensors.ts: F32 tensors sorted
 * by name, `__metadata__` keys sorted, header padded to 8 bytes; so one head is one sequence of
 * bytes, the same in every runtime).
 *
 * Tensors
 *   kNN     `embeddings` [N, dim]  the stored examples, L2-normalised (float32)
 *           `classes`    [N]       each example's class index into `classes` below (exact in F32)
 *   linear  `weight`     [C, dim]  logits = weight x + bias, x the L2-normalised embedding
 *           `bias`       [C]
 *
 * `__metadata__` (all strings)
 *   format "mobilenet-wasm-head", format_version "1", method "knn" | "linear"
 *   classes              the class names, a JSON array, in the head's order
 *   threshold            the unknown threshold (score scale), or "none"
 *   seed                 augmentation and held-out seed
 *   base_alpha, base_resolution ("160" or "HxW"), base_endpoint, base_dim,
 *   base_normalization, base_weights_sha256     the base model (identity.ts)
 *   base_dtype           the base model's arithmetic: "float32", "uint8" or "int8" (absent in
 *                        files written before it existed: "float32")
 *   kNN: k, temperature, examples; linear: l2, class_weight, iterations, examples
 */
import { ErrorCodes, MobilenetError, describe, fail } from '../errors.js';
import { encodeSafetensors, parseSafetensors, readTensorData } from '../formats/safetensors.js';
import { PIXEL_NORMALIZATIONS, type PixelNormalization } from '../image/normalize.js';
import type { NamedTensor } from '../model/weights.js';
import { BASE_MODEL_DTYPES, type BaseModelDType, type BaseModelIdentity } from './identity.js';

export const HEAD_FORMAT = 'mobilenet-wasm-head';
export const HEAD_FORMAT_VERSION = '1';

export interface HeadFile {
  method: 'knn' | 'linear';
  labels: readonly string[];
  base: BaseModelIdentity;
  threshold: number | null;
  seed: number;
  /** Method parameters (k, temperature, l2, ...), as strings. */
  params: Record<string, string>;
  tensors: Map<string, NamedTensor>;
}

const BASE_KEYS = ['format', 'format_version', 'method', 'classes', 'threshold', 'seed', 'base_alpha', 'base_resolution', 'base_endpoint', 'base_dim', 'base_normalization', 'base_weights_sha256', 'base_dtype'];

export function encodeHeadFile(head: HeadFile): Uint8Array {
  const [h, w] = head.base.resolution;
  const metadata: Record<string, string> = {
    ...head.params,
    format: HEAD_FORMAT,
    format_version: HEAD_FORMAT_VERSION,
    method: head.method,
    classes: JSON.stringify(head.labels),
    threshold: head.threshold === null ? 'none' : String(head.threshold),
    seed: String(head.seed),
    base_alpha: String(head.base.alpha),
    base_resolution: h === w ? String(h) : `${h}x${w}`,
    base_endpoint: head.base.endpoint,
    base_dim: String(head.base.dim),
    base_normalization: head.base.normalization,
    base_dtype: head.base.dtype,
    base_weights_sha256: head.base.weightsSha256,
  };
  return encodeSafetensors(head.tensors, metadata);
}

/** Reads a head file; `where` names it in errors. Checks everything but the base model. */
export function decodeHeadFile(bytes: Uint8Array, where: string): HeadFile {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) fail(ErrorCodes.OPTION, `loadHead: expected the head file's bytes (Uint8Array or ArrayBuffer), got ${describe(bytes)}`);
  let parsed;
  try {
    parsed = parseSafetensors(bytes);
  } catch (e) {
    if (e instanceof MobilenetError) throw new MobilenetError(e.code, `${where}: ${e.message}`, { cause: e });
    throw e;
  }
  const meta = parsed.metadata;
  const bad = (message: string): never => fail(ErrorCodes.HEAD_FORMAT, `${where}: ${message}`);
  if (meta.format !== HEAD_FORMAT) {
    bad(meta.format === 'mobilenet-wasm' ? 'is a model file, not a head (expected __metadata__.format "mobilenet-wasm-head")' : `expected __metadata__.format ${JSON.stringify(HEAD_FORMAT)}, found ${describe(meta.format ?? null)}`);
  }
  if (meta.format_version !== HEAD_FORMAT_VERSION) bad(`format_version ${describe(meta.format_version ?? null)}; this version reads ${JSON.stringify(HEAD_FORMAT_VERSION)}`);
  const method = meta.method;
  if (method !== 'knn' && method !== 'linear') bad(`method ${describe(method ?? null)}; expected "knn" or "linear"`);
  let labels: unknown;
  try {
    labels = JSON.parse(meta.classes ?? '');
  } catch {
    bad(`classes must be a JSON array of class names, found ${describe(meta.classes ?? null)}`);
  }
  if (!Array.isArray(labels) || labels.length < 2 || labels.some((l) => typeof l !== 'string' || l === '') || new Set(labels).size !== labels.length) {
    bad(`classes must be a JSON array of at least 2 distinct non-empty names, found ${describe(meta.classes)}`);
  }
  const number = (key: string, test: (n: number) => boolean, expected: string): number => {
    const text = meta[key];
    const n = text === undefined || text.trim() === '' ? NaN : Number(text);
    if (!Number.isFinite(n) || !test(n)) bad(`${key}: expected ${expected}, found ${describe(text ?? null)}`);
    return n;
  };
  const positiveInt = (n: number) => Number.isSafeInteger(n) && n > 0;
  const dim = number('base_dim', positiveInt, 'a positive integer');
  const alpha = number('base_alpha', (n) => n > 0, 'a number above 0');
  const res = /^(\d+)(?:x(\d+))?$/.exec(meta.base_resolution ?? '');
  if (!res) bad(`base_resolution: expected "H" or "HxW", found ${describe(meta.base_resolution ?? null)}`);
  const resolution: [number, number] = [Number(res![1]), Number(res![2] ?? res![1])];
  const normalization = meta.base_normalization as PixelNormalization;
  if (!(PIXEL_NORMALIZATIONS as readonly string[]).includes(normalization)) bad(`base_normalization: expected one of ${PIXEL_NORMALIZATIONS.join(', ')}, found ${describe(normalization ?? null)}`);
  const dtype = (meta.base_dtype ?? 'float32') as BaseModelDType;
  if (!BASE_MODEL_DTYPES.includes(dtype)) bad(`base_dtype: expected one of ${BASE_MODEL_DTYPES.join(', ')}, found ${describe(meta.base_dtype)}`);
  const sha = meta.base_weights_sha256 ?? '';
  if (!/^[0-9a-f]{64}$/.test(sha)) bad(`base_weights_sha256: expected 64 lowercase hex digits, found ${describe(meta.base_weights_sha256 ?? null)}`);
  const endpoint = meta.base_endpoint ?? '';
  if (endpoint === '') bad('base_endpoint is missing');
  const threshold = meta.threshold === 'none' ? null : number('threshold', () => true, 'a number or "none"');
  const seed = number('seed', (n) => Number.isSafeInteger(n), 'an integer');

  const tensors = new Map<string, NamedTensor>();
  for (const [name, entry] of parsed.entries) {
    if (entry.dtype !== 'F32') bad(`tensor ${name}: expected F32, found ${entry.dtype}`);
    const data = readTensorData(parsed, entry)!;
    const i = data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) bad(`tensor ${name}: element ${i} is ${data[i]}; expected finite values`);
    tensors.set(name, { shape: entry.shape, data });
  }
  const expectShape = (name: string, shape: number[]) => {
    const t = tensors.get(name);
    if (!t) bad(`tensor ${name} is missing (a ${method} head has ${method === 'knn' ? 'embeddings and classes' : 'weight and bias'})`);
    if (t!.shape.length !== shape.length || t!.shape.some((d, i) => d !== shape[i])) bad(`tensor ${name}: expected shape [${shape.join(', ')}], found [${t!.shape.join(', ')}]`);
  };
  const names = method === 'knn' ? ['classes', 'embeddings'] : ['bias', 'weight'];
  const extra = [...tensors.keys()].filter((n) => !names.includes(n));
  if (extra.length > 0) bad(`unexpected tensor ${extra[0]} in a ${method} head`);
  const C = (labels as string[]).length;
  if (method === 'knn') {
    const n = tensors.get('embeddings')?.shape[0] ?? 0;
    expectShape('embeddings', [n, dim]);
    expectShape('classes', [n]);
    const classes = tensors.get('classes')!.data;
    const counts = new Array<number>(C).fill(0);
    classes.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c >= C) bad(`classes[${i}] is ${c}; expected a class index from 0 to ${C - 1}`);
      counts[c]!++;
    });
    const empty = counts.findIndex((c) => c === 0);
    if (empty >= 0) bad(`class ${JSON.stringify((labels as string[])[empty])} has no examples`);
  } else {
    expectShape('weight', [C, dim]);
    expectShape('bias', [C]);
  }
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) if (!BASE_KEYS.includes(k)) params[k] = v;
  return {
    method: method as 'knn' | 'linear',
    labels: labels as string[],
    base: { alpha, resolution, endpoint, dim, normalization, dtype, weightsSha256: sha },
    threshold,
    seed,
    params,
    tensors,
  };
}
