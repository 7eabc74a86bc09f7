/**
 * BatchNorm folding, done once when a model is built:
 *   scale = gamma / sqrt(moving_variance + eps)
 *   w'    = w * scale[out channel]
 *   bias  = beta - moving_mean * scale
 * each step rounded to float32, so the folded weights are the same bits on every engine.
 * Layers given already folded (`<scope>/biases`) pass through unchanged.
 */
import type { Architecture, ConvLayer } from './architecture.js';
import { convLayers } from './architecture.js';
import type { WeightMap } from './weights.js';
import { ErrorCodes, fail } from '../errors.js';

const fround = Math.fround;

export interface FoldedLayer {
  readonly layer: ConvLayer;
  /** TF layout, flattened: conv `[kh,kw,in,out]`, depthwise `[kh,kw,C]`, pointwise and logits `[in,out]`. */
  readonly filter: Float32Array;
  readonly bias: Float32Array;
}

/** Folds every convolution's BatchNorm. Expects weights already checked by `checkWeights`. */
export function foldWeights(arch: Architecture, weights: WeightMap): FoldedLayer[] {
  // TF adds epsilon as a float32 attribute.
  const eps = fround(arch.options.batchNormEpsilon);
  return convLayers(arch).map((layer) => {
    const get = (suffix: string) => weights.get(`${layer.scope}/${suffix}`)?.data;
    const filter = get(layer.kind === 'depthwise' ? 'depthwise_weights' : 'weights')!;
    const bias = get('biases');
    if (bias) return { layer, filter, bias };
    const gamma = get('BatchNorm/gamma')!;
    const beta = get('BatchNorm/beta')!;
    const mean = get('BatchNorm/moving_mean')!;
    const variance = get('BatchNorm/moving_variance')!;
    const outC = layer.outShape[2];
    const scale = new Float32Array(outC);
    const folded = new Float32Array(outC);
    for (let c = 0; c < outC; c++) {
      scale[c] = fround(gamma[c]! / fround(Math.sqrt(fround(variance[c]! + eps))));
      folded[c] = fround(beta[c]! - fround(mean[c]! * scale[c]!));
    }
    // The output channel is the fastest-moving index in every TF layout used here.
    const scaled = new Float32Array(filter.length);
    for (let i = 0; i < filter.length; i++) scaled[i] = fround(filter[i]! * scale[i % outC]!);
    // Finite inputs can still fold to infinity (a large gamma over a tiny variance + eps).
    const bad = scaled.findIndex((v) => !Number.isFinite(v));
    const badBias = folded.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0 || badBias >= 0) {
      const c = bad >= 0 ? bad % outC : badBias;
      fail(ErrorCodes.WEIGHT_NONFINITE, `${layer.scope}: BatchNorm folds to a non-finite value in channel ${c} (gamma ${gamma[c]}, moving_variance ${variance[c]}, eps ${eps})`);
    }
    return { layer, filter: scaled, bias: folded };
  });
}
