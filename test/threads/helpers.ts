/** Threaded models against threads: 1, every end point asked for, bit for bit. */
import { expect } from 'vitest';
import { createModel, type CreateModelOptions } from '../../src/engine/create.js';
import { Tensor } from '../../src/tensor.js';
import { expectBitExact, randomArray } from '../wasm/harness.js';

export interface Comparison {
  /** Thread counts to compare with threads: 1. */
  threads?: readonly number[];
  batches?: readonly number[];
  /** Every end point (default: the output, and Predictions where the model has it). */
  everyEndpoint?: boolean;
  seed?: number;
}

export async function compareThreads(options: CreateModelOptions, c: Comparison = {}): Promise<void> {
  const { threads = [2], batches = [1], everyEndpoint = false, seed = 7 } = c;
  const one = await createModel({ ...options, seed });
  const many = await Promise.all(threads.map((t) => createModel({ ...options, seed, threads: t })));
  try {
    expect(one.threads).toBe(1);
    expect(many.map((m) => m.threads)).toEqual(threads);
    const [H, W] = one.architecture.inputShape;
    const outputs = everyEndpoint ? [...one.endpoints] : [...new Set([one.architecture.output, ...one.endpoints.filter((e) => e === 'Predictions')])];
    for (const batch of batches) {
      const input = new Tensor(randomArray(batch * H * W * 3, seed + batch), [batch, H, W, 3]);
      const expected = one.run(input, { outputs });
      for (const m of many) {
        const actual = m.run(input, { outputs });
        for (const name of outputs) {
          expect(actual[name]!.shape, name).toEqual(expected[name]!.shape);
          expectBitExact(actual[name]!.data, expected[name]!.data, `threads ${m.threads} batch ${batch} ${name}`);
        }
      }
    }
  } finally {
    one.dispose();
    for (const m of many) m.dispose();
  }
}
