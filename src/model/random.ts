/**
 * Seeded, deterministic weights for any architecture: same seed, same bytes, on every engine.
 *
 * PRNG: mulberry32 (32-bit integer arithmetic only, via Math.imul), one stream per model,
 * seeded with the given 32-bit seed. Tensors are drawn in layer order, and within a layer in
 * the order of `layerWeights` (weights, then gamma, beta, moving_mean, moving_variance, or
 * biases for the classifier), element by element in row-major order.
 *
 * Distributions (float64, rounded to float32 once):
 *   u            = next() / 2^32, uniform in [0, 1)
 *   normal       = (sum of 12 uniforms) - 6 (Irwin-Hall: mean 0, variance 1, no transcendental
 *                  function, so no engine-dependent Math.log or Math.cos)
 *   weights      = 0.09 * normal, redrawn while |normal| > 2: TF-Slim's truncated normal, stddev 0.09
 *   gamma        = 0.5 + u
 *   beta         = 0.5 * u
 *   moving_mean  = 0.2 * (u - 0.5) * sqrt(v)
 *   moving_var   = v * (0.5 + u), where v = fanIn * 0.09^2 * 0.774 * m2 estimates the variance
 *                  of the convolution's output (0.774: the variance of a normal truncated at 2
 *                  sigma; m2: the mean square of the layer's input, 1/3 for inputs uniform in
 *                  [-1, 1], then 1 after a BatchNorm that maps to roughly N(beta, gamma^2)).
 *   biases       = 0.1 * (u - 0.5)   (the classifier)
 * So every BatchNorm sees roughly standardised inputs and every activation stays alive.
 */
import type { Architecture, ConvLayer } from './architecture.js';
import { convLayers, layerWeights } from './architecture.js';
import type { WeightMap } from './weights.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const STDDEV = 0.09;
const TRUNCATED_VARIANCE = 0.774;

export function randomWeights(arch: Architecture, seed = 0): WeightMap {
  const next = mulberry32(seed);
  const uniform = () => next() / 4294967296;
  const normal = () => {
    let s = 0;
    for (let i = 0; i < 12; i++) s += uniform();
    return s - 6;
  };
  const truncated = () => {
    for (;;) {
      const z = normal();
      if (Math.abs(z) <= 2) return STDDEV * z;
    }
  };
  const weights: WeightMap = new Map();
  let inputMeanSquare = 1 / 3;
  for (const layer of convLayers(arch)) {
    const v = fanIn(layer) * STDDEV * STDDEV * TRUNCATED_VARIANCE * inputMeanSquare;
    for (const spec of layerWeights(layer, false)) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      const field = spec.name.slice(spec.name.lastIndexOf('/') + 1);
      for (let i = 0; i < size; i++) {
        switch (field) {
          case 'gamma': data[i] = 0.5 + uniform(); break;
          case 'beta': data[i] = 0.5 * uniform(); break;
          case 'moving_mean': data[i] = 0.2 * (uniform() - 0.5) * Math.sqrt(v); break;
          case 'moving_variance': data[i] = v * (0.5 + uniform()); break;
          case 'biases': data[i] = 0.1 * (uniform() - 0.5); break;
          default: data[i] = truncated();
        }
      }
      weights.set(spec.name, { shape: [...spec.shape], data });
    }
    inputMeanSquare = 1;
  }
  return weights;
}

function fanIn(layer: ConvLayer): number {
  const taps = layer.kernel[0] * layer.kernel[1];
  return layer.kind === 'depthwise' ? taps : taps * layer.inShape[2];
}

/** Deterministic inputs uniform in [-1, 1) (the range TF-Slim models expect): `count` buffers of `size`, one mulberry32 stream. */
export function randomInputs(count: number, size: number, seed: number): Float32Array[] {
  const next = mulberry32(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: size }, () => (next() / 2 ** 32) * 2 - 1));
}
