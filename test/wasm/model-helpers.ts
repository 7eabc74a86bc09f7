/** Whole-model comparison helpers: the wasm backend against the reference, every end point. */
import { expect } from 'vitest';
import { createModel, type CreateModelOptions } from '../../src/engine/create.js';
import { Tensor } from '../../src/tensor.js';
import { expectBitExact, randomArray } from './harness.js';

/** Runs both backends on the same seeded weights and input; every end point bit-exact. */
export async function compareModels(options: CreateModelOptions, batch = 1, seed = 7): Promise<void> {
  const reference = await createModel({ ...options, seed, backend: 'reference' });
  const wasm = await createModel({ ...options, seed, backend: 'wasm' });
  try {
    const [H, W] = reference.architecture.inputShape;
    const input = new Tensor(randomArray(batch * H * W * 3, seed + 1), [batch, H, W, 3]);
    const outputs = [...reference.endpoints];
    const expected = reference.run(input, { outputs });
    const actual = wasm.run(input, { outputs });
    for (const name of outputs) {
      expect(actual[name]!.shape, name).toEqual(expected[name]!.shape);
      expectBitExact(actual[name]!.data, expected[name]!.data, name);
    }
  } finally {
    reference.dispose();
    wasm.dispose();
  }
}
