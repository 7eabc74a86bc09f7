import type { NdArray } from 'ndarray';
import { ErrorCodes, fail, describe } from './errors.js';

// Loaded dynamically: a browser without an import map cannot resolve the bare specifier
// 'ndarray', and a static import would stop the whole module graph from loading there.
// Only toNdarray() needs it (ndarray input is duck-typed); it says so when it is missing.
const ndarray = await import('ndarray').then((m) => m.default, () => null);

export type Shape4 = readonly [n: number, h: number, w: number, c: number];

/** A float32 NHWC tensor: contiguous, row-major, shape validated on construction. */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: number[];

  constructor(data: Float32Array, shape: readonly number[]) {
    if (!(data instanceof Float32Array)) {
      fail(ErrorCodes.INPUT, `tensor data: expected a Float32Array, got ${typeName(data)}`);
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

  /** A zero-copy ndarray view over the same data. */
  toNdarray(): NdArray<Float32Array> {
    if (!ndarray) return fail(ErrorCodes.IO, "toNdarray: the 'ndarray' package could not be loaded (in a browser, map it with an import map)");
    return ndarray(this.data, this.shape);
  }

  /** Accepts a Tensor, or any ndarray of numbers (copied into a contiguous float32 array). */
  static from(value: Tensor | NdArray): Tensor {
    if (value instanceof Tensor) return value;
    if (isNdarray(value)) return fromNdarray(value);
    return fail(ErrorCodes.INPUT, `expected a Tensor or an ndarray, got ${typeName(value)}`);
  }
}

export function isNdarray(value: unknown): value is NdArray {
  const v = value as NdArray | null;
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

function fromNdarray(nd: NdArray): Tensor {
  const shape = nd.shape.slice();
  // Checked before anything is allocated: a broadcast (stride 0) view may declare any shape.
  if (typeof (nd as { get?: unknown }).get !== 'function') {
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
  const get = (nd as NdArray & { get(...i: number[]): number }).get.bind(nd);
  for (let i = 0; i < size; i++) {
    out[i] = get(...idx);
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

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}
