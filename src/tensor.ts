import ndarray from 'ndarray';
import { ErrorCodes, fail, describe, typeNameOf } from './errors.js';

/**
 * An ndarray (the `ndarray` package's objects, or anything shaped like them): what the API
 * takes and gives at its edge. Structural, so the published types need no @types/ndarray.
 */
export interface NdArrayLike<D extends ArrayLike<number> = ArrayLike<number>> {
  readonly data: D;
  readonly shape: number[];
  readonly stride: number[];
  readonly offset: number;
  get(...index: number[]): number;
}

export type Shape4 = readonly [n: number, h: number, w: number, c: number];

/** A float32 NHWC tensor: contiguous, row-major, shape validated on construction. */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: number[];

  constructor(data: Float32Array, shape: readonly number[]) {
    if (!(data instanceof Float32Array)) {
      fail(ErrorCodes.INPUT, `tensor data: expected a Float32Array, got ${typeNameOf(data)}`);
    }
    if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4) {
      fail(ErrorCodes.INPUT, `tensor shape: expected rank 1 to 4, got ${describe(shape)}`);
    }
    let size = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 1) {
        fail(ErrorCodes.INPUT, `tensor shape: expected positive integers, got ${describe(shape)}`);
      }
      size *= d;
    }
    if (size !== data.length) {
      fail(
        ErrorCodes.INPUT,
        `tensor shape ${describe(shape)} needs ${size} elements, data has ${data.length}`,
      );
    }
    this.data = data;
    this.shape = [...shape];
  }

  get size(): number {
    return this.data.length;
  }

  /** A zero-copy ndarray view over the same data (an object of the `ndarray` package). */
  toNdarray(): NdArrayLike<Float32Array> {
    return ndarray(this.data, this.shape);
  }

  /** Accepts a Tensor, or any ndarray of numbers (copied into a contiguous float32 array). */
  static from(value: Tensor | NdArrayLike): Tensor {
    if (value instanceof Tensor) return value;
    if (isNdarray(value)) return fromNdarray(value);
    return fail(ErrorCodes.INPUT, `expected a Tensor or an ndarray, got ${typeNameOf(value)}`);
  }
}

export function isNdarray(value: unknown): value is NdArrayLike {
  const v = value as NdArrayLike | null;
  return (
    v != null &&
    typeof v === 'object' &&
    Array.isArray(v.shape) &&
    Array.isArray(v.stride) &&
    typeof v.offset === 'number' &&
    v.data != null
  );
}

/** Largest tensor copied from an ndarray, in elements (2^30 float32 = 4 GiB, the wasm32 limit). */
const MAX_NDARRAY_ELEMENTS = 2 ** 30;

function fromNdarray(nd: NdArrayLike): Tensor {
  const shape = nd.shape.slice();
  // Checked before anything is allocated: a broadcast (stride 0) view may declare any shape.
  if (typeof nd.get !== 'function') {
    fail(ErrorCodes.INPUT, 'ndarray input: expected an ndarray with a get() method');
  }
  if (shape.length < 1 || shape.length > 4 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    fail(ErrorCodes.INPUT, `tensor shape: expected rank 1 to 4 of positive integers, got ${describe(shape)}`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_NDARRAY_ELEMENTS) {
    fail(ErrorCodes.INPUT, `tensor shape ${describe(shape)}: ${size} elements, above the ${MAX_NDARRAY_ELEMENTS}-element cap`);
  }
  const out = new Float32Array(size);
  const idx = new Array<number>(shape.length).fill(0);
  const get = nd.get.bind(nd);
  for (let i = 0; i < size; i++) {
    const v = get(...idx);
    // A number, or a value that converts to one exactly; strings and objects are refused, not turned into NaN.
    if (typeof v !== 'number') fail(ErrorCodes.INPUT, `ndarray input: element [${idx.join(', ')}] is ${describe(v)}, not a number`);
    out[i] = v;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return new Tensor(out, shape);
}

/** Checks an input batch for the network: [N, H, W, 3] with N >= 1, the size the model was built for. */
export function checkInput(t: Tensor, height: number, width: number, channels = 3): Shape4 {
  const s = t.shape;
  if (s.length !== 4 || s[1] !== height || s[2] !== width || s[3] !== channels) {
    fail(
      ErrorCodes.INPUT,
      `input: expected shape [N, ${height}, ${width}, ${channels}], got ${describe(s)}`,
    );
  }
  return [s[0]!, s[1]!, s[2]!, s[3]!];
}
