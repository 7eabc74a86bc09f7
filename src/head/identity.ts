/**
 * Which base model a head belongs to: its identity, written into every saved head and checked
 * when one is loaded.
 *
 *   alpha          the width multiplier (architecture depthMultiplier)
 *   resolution     the input [height, width]
 *   endpoint       the end point whose features the head reads (AvgPool_1a by default)
 *   dim            the length of one embedding (the end point's H * W * C)
 *   normalization  how pixels become inputs (a model read from another file can differ here)
 *   dtype          the arithmetic: 'float32', or 'uint8' / 'int8' for a quantized TFLite file
 *                  computed in integers (its embeddings differ from the float path's on the same
 *                  weights); a head file written before this field existed is 'float32'
 *   weightsSha256  SHA-256 of the folded float32 weights the embedding depends on: for every
 *                  weighted layer up to and including the end point, in layer order, the layer's
 *                  name (UTF-8), a 0 byte, then its filter and its bias as little-endian float32
 *                  (each preceded by its element count as a little-endian u32).
 *
 * The weights are hashed after BatchNorm folding (which is float32-exact, the same bits in every
 * engine), not the model file: a model and its `mobilenet convert` copy, or the same weights in
 * TFLite and safetensors, are one base model; the classifier (Logits) is not part of it when the
 * head reads the pooled features. Web Crypto's `crypto.subtle.digest` (global in Node >= 19,
 * Deno, Bun, browsers, workers and workerd) does the hashing, so nothing here needs `node:`.
 */
import { ErrorCodes, badOption, fail, typeNameOf } from '../errors.js';
import type { Architecture } from '../model/architecture.js';
import type { FoldedLayer } from '../model/fold.js';
import type { PixelNormalization } from '../image/normalize.js';
import type { ImageInput } from '../image/sources.js';
import type { EmbedOptions } from '../engine/mobilenet.js';

export interface BaseModelIdentity {
  readonly alpha: number;
  readonly resolution: readonly [number, number];
  readonly endpoint: string;
  readonly dim: number;
  readonly normalization: PixelNormalization;
  /** The arithmetic the embeddings were computed in. */
  readonly dtype: BaseModelDType;
  /** Lowercase hex. */
  readonly weightsSha256: string;
}

export type BaseModelDType = 'float32' | 'uint8' | 'int8';
export const BASE_MODEL_DTYPES: readonly BaseModelDType[] = ['float32', 'uint8', 'int8'];

/**
 * What a head needs of its base model: the layer table and folded weights (for the identity)
 * and `embed` (for images). A `MobileNet` from `load()` or `createModel()` in this thread.
 */
export interface HeadBaseModel {
  readonly architecture: Architecture;
  readonly folded: readonly FoldedLayer[];
  readonly normalization: PixelNormalization;
  readonly endpoints: readonly string[];
  /** The arithmetic (a `MobileNet`'s `dtype`); absent: 'float32'. */
  readonly dtype?: BaseModelDType;
  embed(image: ImageInput, options?: EmbedOptions): Promise<Float32Array>;
}

/** Refuses what is not a model in this thread (a worker model has no weights here to hash). */
export function checkBaseModel(model: unknown, what: string): asserts model is HeadBaseModel {
  const m = model as Partial<HeadBaseModel> | null;
  if (m === null || typeof m !== 'object' || typeof m.embed !== 'function') {
    fail(ErrorCodes.OPTION, `${what}: expected a model from load() or createModel(), got ${typeNameOf(model)}`);
  }
  if (!m.architecture || !Array.isArray(m.folded)) {
    fail(
      ErrorCodes.OPTION,
      `${what}: expected a model running in this thread (load() without { worker: true }, or createModel()): ` +
        'a head records the SHA-256 of the weights it was trained on, and a worker model keeps them in the worker',
    );
  }
}

/** The default end point: the pooled features where the model has them, else its output. */
export function defaultEndpoint(model: HeadBaseModel): string {
  return model.endpoints.includes('AvgPool_1a') ? 'AvgPool_1a' : model.architecture.output;
}

/** Length of one embedding at `endpoint`. */
export function endpointDim(arch: Architecture, endpoint: string): number {
  const layer = arch.layers.find((l) => l.name === endpoint);
  if (!layer) badOption('endpoint', endpoint, `one of ${arch.endpoints.join(', ')}`);
  const [h, w, c] = layer.outShape;
  return h * w * c;
}

interface Digest {
  subtle: { digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer> };
}

const cache = new WeakMap<object, Map<string, Promise<BaseModelIdentity>>>();

/** The identity of `model` read at `endpoint` (cached per model and end point). */
export function modelIdentity(model: HeadBaseModel, endpoint = defaultEndpoint(model)): Promise<BaseModelIdentity> {
  checkBaseModel(model, 'modelIdentity');
  let perModel = cache.get(model);
  if (!perModel) cache.set(model, (perModel = new Map()));
  let found = perModel.get(endpoint);
  if (!found) {
    found = computeIdentity(model, endpoint);
    perModel.set(endpoint, found);
    found.catch(() => perModel!.delete(endpoint));
  }
  return found;
}

async function computeIdentity(model: HeadBaseModel, endpoint: string): Promise<BaseModelIdentity> {
  const arch = model.architecture;
  const dim = endpointDim(arch, endpoint);
  const last = arch.layers.findIndex((l) => l.name === endpoint);
  const included = new Set(arch.layers.slice(0, last + 1).map((l) => l.name));
  const parts = model.folded.filter((f) => included.has(f.layer.name));
  const encoder = new TextEncoder();
  let total = 0;
  const names = parts.map((p) => encoder.encode(p.layer.name));
  parts.forEach((p, i) => (total += names[i]!.length + 1 + 8 + 4 * (p.filter.length + p.bias.length)));
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  let at = 0;
  parts.forEach((p, i) => {
    bytes.set(names[i]!, at);
    at += names[i]!.length + 1;
    for (const data of [p.filter, p.bias]) {
      view.setUint32(at, data.length, true);
      at += 4;
      for (let k = 0; k < data.length; k++, at += 4) view.setFloat32(at, data[k]!, true);
    }
  });
  const crypto = (globalThis as { crypto?: Digest }).crypto;
  if (!crypto?.subtle?.digest) fail(ErrorCodes.OPTION, 'modelIdentity: this runtime has no Web Crypto (crypto.subtle.digest) to hash the weights with');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const o = arch.options;
  return {
    alpha: o.depthMultiplier,
    resolution: [o.inputHeight, o.inputWidth],
    endpoint,
    dim,
    normalization: model.normalization,
    dtype: model.dtype ?? 'float32',
    weightsSha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
  };
}

/** How an identity reads in messages: `alpha 0.5 @ 160, AvgPool_1a (512 values), input tflite-uint8, uint8 arithmetic, weights 3cc6d2ca…`. */
export function describeIdentity(id: BaseModelIdentity): string {
  const [h, w] = id.resolution;
  return `MobileNet v1 alpha ${id.alpha} @ ${h === w ? h : `${h}x${w}`}, ${id.endpoint} (${id.dim} values), input ${id.normalization}, ${id.dtype} arithmetic, weights SHA-256 ${id.weightsSha256.slice(0, 12)}…`;
}

/** What differs between a head's base model and the model it is used with; empty when none. */
export function identityDifferences(saved: BaseModelIdentity, actual: BaseModelIdentity): string[] {
  const out: string[] = [];
  if (saved.alpha !== actual.alpha) out.push(`alpha ${saved.alpha} (this model: ${actual.alpha})`);
  if (saved.resolution[0] !== actual.resolution[0] || saved.resolution[1] !== actual.resolution[1]) {
    out.push(`resolution ${saved.resolution.join('x')} (this model: ${actual.resolution.join('x')})`);
  }
  if (saved.endpoint !== actual.endpoint) out.push(`end point ${saved.endpoint} (this model: ${actual.endpoint})`);
  if (saved.dim !== actual.dim) out.push(`embedding length ${saved.dim} (this model: ${actual.dim})`);
  if (saved.normalization !== actual.normalization) out.push(`pixel normalisation ${saved.normalization} (this model: ${actual.normalization})`);
  if (saved.dtype !== actual.dtype) out.push(`arithmetic ${saved.dtype} (this model: ${actual.dtype}${dtypeHint(saved.dtype, actual.dtype)})`);
  if (saved.weightsSha256 !== actual.weightsSha256) out.push(`weights SHA-256 ${saved.weightsSha256} (this model: ${actual.weightsSha256})`);
  return out;
}

/** What to do when only the arithmetic differs: load the model the other way. */
function dtypeHint(saved: BaseModelDType, actual: BaseModelDType): string {
  if (saved === 'float32' && actual !== 'float32') return '; load the model with dequantize: true (CLI: --dequantize) for the float path';
  if (saved !== 'float32' && actual === 'float32') return '; load the quantized model without dequantize: true (CLI: without --dequantize) to compute in integers';
  return '';
}
