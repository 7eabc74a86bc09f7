/**
 * The weight container every loader fills, and the one check every model runs on it.
 *
 * Names and layouts are TF-Slim's (see `layerWeights` in architecture.ts): convolution
 * `[kh,kw,in,out]` at `<scope>/weights`, depthwise `[kh,kw,C,1]` at `<scope>/depthwise_weights`,
 * then BatchNorm either folded into `<scope>/biases` [out] or as the four vectors
 * `<scope>/BatchNorm/{gamma,beta,moving_mean,moving_variance}`. The classifier
 * `MobilenetV1/Logits/Conv2d_1c_1x1` always has plain `biases` [K].
 */
import type { Architecture, ConvLayer, WeightSpec } from './architecture.js';
import { convLayers, layerWeights } from './architecture.js';
import { ErrorCodes, fail, typeNameOf } from '../errors.js';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export type WeightMap = Map<string, NamedTensor>;

export interface CheckWeightsOptions {
  /** Refuse names the architecture does not read. Default false. */
  strict?: boolean;
  /** Accept NaN and infinite values. Default false: every value is scanned. */
  allowNonFinite?: boolean;
}

const BN_FIELDS = ['gamma', 'beta', 'moving_mean', 'moving_variance'];

/** `[3,3,32,1]`: the compact form error messages use. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * True when the layer's BatchNorm is given folded (`<scope>/biases`), false when given as
 * `BatchNorm/*`. A layer with neither counts as folded, so its missing list names `biases`.
 */
function isFolded(layer: ConvLayer, weights: WeightMap): boolean {
  if (!layer.batchNorm || weights.has(`${layer.scope}/biases`)) return true;
  return !BN_FIELDS.some((f) => weights.has(`${layer.scope}/BatchNorm/${f}`));
}

/**
 * Validates `weights` against the layer table, failing on the first problem, in this order:
 * per layer a missing name then a wrong shape (ERR_WEIGHT_MISSING, ERR_WEIGHT_SHAPE), then in
 * strict mode any name no layer reads (ERR_WEIGHT_UNEXPECTED), then non-finite values
 * (ERR_WEIGHT_NONFINITE). Returns the specs that were matched, folded or not per layer.
 */
export function checkWeights(
  arch: Architecture,
  weights: WeightMap,
  options: CheckWeightsOptions = {},
): WeightSpec[] {
  if (!(weights instanceof Map)) fail(ErrorCodes.WEIGHT_MISSING, `weights: expected a Map of name -> {shape, data: Float32Array}, got ${typeNameOf(weights)}`);
  const { strict = false, allowNonFinite = false } = options;
  const used: WeightSpec[] = [];
  for (const layer of convLayers(arch)) {
    const specs = layerWeights(layer, isFolded(layer, weights));
    const missing = specs.filter((s) => !weights.has(s.name));
    if (missing.length > 0) {
      const forms = layer.batchNorm
        ? `${listSpecs(layerWeights(layer, true))} (BatchNorm folded), or ${listSpecs(layerWeights(layer, false))}`
        : listSpecs(specs);
      fail(
        ErrorCodes.WEIGHT_MISSING,
        `layer ${layer.name}: missing ${missing.map((s) => s.name).join(', ')}; expected ${forms}`,
      );
    }
    for (const spec of specs) {
      checkTensor(spec, weights.get(spec.name)!);
      used.push(spec);
    }
  }
  if (strict) {
    const known = new Set(used.map((s) => s.name));
    const extra = [...weights.keys()].filter((n) => !known.has(n));
    if (extra.length > 0) {
      fail(
        ErrorCodes.WEIGHT_UNEXPECTED,
        `unexpected weight${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (strict mode); ` +
          `expected only: ${used.map((s) => s.name).join(', ')}`,
      );
    }
  }
  if (!allowNonFinite) {
    for (const spec of used) {
      const { data, shape } = weights.get(spec.name)!;
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (!Number.isFinite(v)) {
          fail(
            ErrorCodes.WEIGHT_NONFINITE,
            `${spec.name}: element ${i} (index ${formatShape(unravel(i, shape))}) is ${v}`,
          );
        }
      }
    }
    // Folding divides by sqrt(variance + eps): a value at or below -eps would fold to NaN or infinity.
    const eps = arch.options.batchNormEpsilon;
    for (const spec of used.filter((s) => s.name.endsWith('/BatchNorm/moving_variance'))) {
      const data = weights.get(spec.name)!.data;
      const i = data.findIndex((v) => !(Math.fround(v + Math.fround(eps)) > 0));
      if (i >= 0) {
        fail(ErrorCodes.WEIGHT_NONFINITE, `${spec.name}: element ${i} is ${data[i]}; a variance must be greater than -eps (${eps}), or BatchNorm folds to a non-finite value`);
      }
    }
  }
  checked.set(weights, checkKey(arch, strict, allowNonFinite));
  return used;
}

/**
 * Weight maps that passed `checkWeights`, with what they were checked against. A loader checks
 * its weights once; `createModel` given the same map for the same architecture does not scan
 * them again. (A map changed after it was checked is the caller's to check again.)
 */
const checked = new WeakMap<WeightMap, string>();
const checkKey = (arch: Architecture, strict: boolean, allowNonFinite: boolean) => `${strict}/${allowNonFinite}/${JSON.stringify(arch.options)}`;

/** `checkWeights`, unless this very map already passed it for this architecture and these options. */
export function ensureWeightsChecked(arch: Architecture, weights: WeightMap, options: Required<CheckWeightsOptions>): void {
  if (weights instanceof Map && checked.get(weights) === checkKey(arch, options.strict, options.allowNonFinite)) return;
  checkWeights(arch, weights, options);
}

function checkTensor(spec: WeightSpec, t: NamedTensor): void {
  const shape = t?.shape;
  if (!Array.isArray(shape) || !(t.data instanceof Float32Array)) {
    fail(ErrorCodes.WEIGHT_SHAPE, `${spec.name}: expected a {shape, data: Float32Array} tensor`);
  }
  if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
    fail(ErrorCodes.WEIGHT_SHAPE, `${spec.name}: expected ${formatShape(spec.shape)}, got ${formatShape(shape)}`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== size) {
    fail(ErrorCodes.WEIGHT_SHAPE, `${spec.name}: shape ${formatShape(shape)} needs ${size} values, data has ${t.data.length}`);
  }
}

function listSpecs(specs: readonly WeightSpec[]): string {
  return specs.map((s) => `${s.name} ${formatShape(s.shape)}`).join(', ');
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d]!;
    flat = Math.floor(flat / shape[d]!);
  }
  return idx;
}
