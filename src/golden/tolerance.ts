/**
 * Per end point tolerances of a golden bundle (format version 2): how far a correct float32
 * engine may land from the reference path at each end point, from the rounding it may add on
 * the way there. docs/golden-format.md has the table and the measurements behind it.
 *
 * The rule both checkers (`mobilenet verify` and the bundle's verify_golden.py) apply, per end
 * point E with golden values g and the other engine's values o:
 *
 *   max_abs_error = max_i |o_i - g_i|          (NaN: infinite)
 *   scale         = max_i |g_i|
 *   pass  iff  max_abs_error <= max(atol_E, rtol_E * scale)
 *
 * The model: a layer that sums K terms (convolution kh*kw*Cin, depthwise kh*kw, pointwise Cin,
 * pool window, softmax classes) in another order (sequential, pairwise, blocked, fused
 * multiply-add) rounds about 1 + log2(K) times on the longest path of its sum, each rounding a
 * relative error of at most u = 2^-24; independent layers add in quadrature. So
 *
 *   rtol_E = C * u * sqrt(S_E),   S_E = sum over the layers up to E of (1 + log2 K_layer)
 *
 * with C fitted: the largest c = max_abs_error / (scale * u * sqrt(S_E)) measured over
 * onnxruntime-node, onnxruntime-web, TensorFlow.js cpu and wasm, the 16 alpha x resolution
 * configurations plus output stride 8 and 16, explicit padding and the PyTorch flavour, seeds
 * 0 to 3, is MEASURED_C = 3.51 (TensorFlow.js cpu); C = 16 leaves a margin of 4.6. Between
 * end points, the worst c varies by a factor 1.9 under this model (as flat as sqrt(depth), which
 * ignores the layers' widths), 3.6 under sqrt of the accumulated reduction length (sum of K,
 * which grows too fast), 8.7 under plain depth. MEASURE_TOLERANCE=1 npx vitest run
 * test/golden/tolerance.test.ts repeats the measurement.
 *
 * Predictions (softmax): an absolute error d on the logits moves every probability by at most
 * 2 d relative to itself, so rtol = 2 * allowed(Logits) + C * u * sqrt(S), allowed(Logits)
 * being the absolute error Logits may have in this bundle (its own rtol times its scale).
 *
 * atol_E = rtol_E * 1e-3: it decides only end points whose max |golden| is below 1e-3 (a layer
 * left all zero); everywhere else the relative bound is the larger.
 */
import type { Architecture, Layer } from '../model/architecture.js';

/** float32's unit roundoff. */
export const UNIT_ROUNDOFF = 2 ** -24;
/** The fitted coefficient: MEASURED_C times a margin, rounded up to a power of two. */
export const TOLERANCE_COEFFICIENT = 16;
/** The largest coefficient the correct engines needed (see the module comment). */
export const MEASURED_C = 3.51;
/** atol as a fraction of rtol. */
export const ATOL_FRACTION = 1e-3;

export const TOLERANCE_RULE =
  'per end point E: max_i |other_i - golden_i| <= max(E.atol, E.rtol * max_i |golden_i|); a NaN is an infinite error; a shape mismatch (size-1 dimensions aside) fails';

export const TOLERANCE_DERIVATION =
  'float32 rounding a correct engine may add up to each end point. A layer summing K terms (conv kh*kw*Cin, depthwise kh*kw, ' +
  'pointwise Cin, pool window, softmax classes) in any order rounds about 1 + log2(K) times on the longest path of its sum, ' +
  'each a relative error of at most u = 2^-24, and layers add in quadrature: rtol(E) = C * u * sqrt(S(E)), S(E) = the sum of ' +
  '1 + log2(K) over the layers up to E (`roundings` below). C = 16 = 4.6 x the largest c = max|other - golden| / (max|golden| ' +
  '* u * sqrt(S)) measured (3.51) across onnxruntime-node and onnxruntime-web running model.onnx, TensorFlow.js cpu and wasm ' +
  '(BatchNorm unfolded, their own padding), over alpha 0.25/0.5/0.75/1 x 128/160/192/224, output stride 8 and 16, explicit ' +
  'padding and the PyTorch flavour, seeds 0-3; our wasm backend is bit-exact. Predictions: a logit error d moves each ' +
  'probability by at most 2d of itself, so rtol = 2 * allowed(Logits) + C * u * sqrt(S). atol = rtol * 1e-3 (only an ' +
  'end point whose max|golden| < 1e-3 uses it). A wrong padding, a missing ReLU6, a wrong BatchNorm epsilon, a transposed ' +
  'depthwise filter, an off-by-one pool window or input row moves the first end point it touches 3,900 to 550,000 times ' +
  'further than allowed. See docs/golden-format.md.';

export interface EndpointTolerance {
  name: string;
  /** K: the terms each output of this layer sums. */
  reduction_length: number;
  /** S: the sum of 1 + log2(K) over the layers up to this one. */
  roundings: number;
  rtol: number;
  atol: number;
}

/** K of a layer: the number of terms each of its outputs sums. */
export function reductionLength(layer: Layer): number {
  switch (layer.kind) {
    case 'depthwise':
    case 'avgpool':
      return layer.kernel[0] * layer.kernel[1];
    case 'softmax':
      return layer.outShape[2];
    default:
      return layer.kernel[0] * layer.kernel[1] * layer.inShape[2];
  }
}

/** Rounded up to three significant digits (a value both checkers read from the same JSON text). */
export function roundUp3(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return x;
  const nearest = Number(x.toPrecision(3));
  // Already three digits, but for the last bit of a product (4.06e-6 * 1e-3 = 4.0600000000000004e-9).
  if (nearest >= x * (1 - 1e-12)) return nearest;
  const step = 10 ** (Math.floor(Math.log10(x)) - 2);
  return Number((nearest + step).toPrecision(3));
}

/**
 * The tolerance of every end point in `computed`, in network order. `logitsScale` is
 * max |golden Logits| (needed when Predictions is computed).
 */
export function endpointTolerances(arch: Architecture, computed: readonly string[], logitsScale?: number): EndpointTolerance[] {
  const wanted = new Set(computed);
  const out: EndpointTolerance[] = [];
  let roundings = 0;
  let logitsAllowed: number | null = null;
  for (const layer of arch.layers) {
    const k = reductionLength(layer);
    roundings += 1 + Math.log2(k);
    const s = Number(roundings.toFixed(3));
    let rtol = roundUp3(TOLERANCE_COEFFICIENT * UNIT_ROUNDOFF * Math.sqrt(s));
    if (layer.kind === 'softmax') {
      if (!wanted.has(layer.name)) continue;
      if (logitsAllowed === null) throw new Error('golden: Predictions needs the Logits tolerance and scale');
      rtol = roundUp3(2 * logitsAllowed + rtol);
    }
    const atol = roundUp3(rtol * ATOL_FRACTION);
    if (layer.name === 'Logits') {
      if (logitsScale !== undefined) logitsAllowed = Math.max(atol, rtol * logitsScale);
    }
    if (wanted.has(layer.name)) out.push({ name: layer.name, reduction_length: k, roundings: s, rtol, atol });
  }
  return out;
}
