/**
 * The 16 alpha x rho configurations, wasm backend vs reference, every end point, bit-exact.
 * One reference run per configuration (the slow part: seconds at alpha 1.0@224).
 */
import { describe, it } from 'vitest';
import { compareModels } from './model-helpers.js';

describe('wasm backend vs reference: alpha x rho grid (every end point, bit-exact)', () => {
  for (const alpha of [1, 0.75, 0.5, 0.25]) {
    for (const size of [224, 192, 160, 128]) {
      it(`alpha=${alpha} input=${size}`, () => compareModels({ depthMultiplier: alpha, inputSize: size }, 1, Math.round(alpha * 100) + size));
    }
  }
});
