// Bad-inputs #15: input of the wrong type or shape is refused with ERR_INPUT; nothing crashes
// with a TypeError/RangeError, and nothing is allocated for a shape that cannot be valid.
import { describe, expect, it } from 'vitest';
import { MobilenetError, Tensor } from '../../src/index.js';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof MobilenetError ? e.code : `not a MobilenetError: ${String(e)}`;
  }
  return 'no error';
}

describe('Tensor.from on malformed ndarrays', () => {
  it('an ndarray-like object without get() is ERR_INPUT', () => {
    const nd = { shape: [1, 2, 2, 3], stride: [12, 6, 3, 1], offset: 0, data: new Float32Array(12) };
    expect(codeOf(() => Tensor.from(nd as never))).toBe('ERR_INPUT');
  });
  it('a negative dimension is ERR_INPUT', () => {
    const nd = { shape: [1, -2, 2, 3], stride: [12, 6, 3, 1], offset: 0, data: new Float32Array(12), get: () => 0 };
    expect(codeOf(() => Tensor.from(nd as never))).toBe('ERR_INPUT');
  });
  it('a shape whose element count no typed array can hold is ERR_INPUT', () => {
    // A broadcast (stride 0) view may declare any shape: 2^20 * 2^20 * 2^20 * 3 elements.
    const nd = { shape: [2 ** 20, 2 ** 20, 2 ** 20, 3], stride: [0, 0, 0, 0], offset: 0, data: new Float32Array(1), get: () => 0 };
    expect(codeOf(() => Tensor.from(nd as never))).toBe('ERR_INPUT');
  });
  it('a valid ndarray still converts (row-major copy)', () => {
    const data = [1, 2, 3, 4, 5, 6];
    // Transposed view of a 3x2 matrix: logical [[1,3,5],[2,4,6]].
    const nd = { shape: [2, 3], stride: [1, 2], offset: 0, data, get: (i: number, j: number) => data[i + 2 * j]! };
    const t = Tensor.from(nd as never);
    expect(t.shape).toEqual([2, 3]);
    expect([...t.data]).toEqual([1, 3, 5, 2, 4, 6]);
  });
});
