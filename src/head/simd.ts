/**
 * The kNN's similarities in WebAssembly SIMD where the runtime allows it, in plain JavaScript
 * elsewhere, the same bits either way.
 *
 * sims.wat (477 bytes compiled, below) computes the dot products of one chunk of stored rows with
 * the query: eight float64 partial sums (i mod 8) of float32 x float32 products, combined in a fixed
 * order, exactly as `dot` in math.ts, since wasm's f64x2 add and mul round each lane as JavaScript
 * rounds a double. It runs about 5 times faster than the JS loop (10,000 x 512 in about 1 ms here).
 *
 * Each chunk of the store owns a small WebAssembly.Memory that never grows (so the Float32Array
 * over it never detaches) and an instance of the module. The module is compiled synchronously on
 * first use (it is far below the 4 KB browsers allow on the main thread); where compiling wasm
 * from bytes is not allowed (Cloudflare Workers, a page whose CSP lacks 'wasm-unsafe-eval') or
 * SIMD is missing, the chunks are plain Float32Arrays and `dot` computes the same numbers.
 */
import { dot } from './math.js';

/** sims.wat, compiled (binaryen.parseText(text).emitBinary(), with SIMD enabled). */
export const SIMS_WASM: Uint8Array = /* @__PURE__ */ new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 9, 1, 96, 5, 127, 127, 127, 127, 127, 0, 2, 15, 1, 3, 101,
  110, 118, 6, 109, 101, 109, 111, 114, 121, 2, 0, 1, 3, 2, 1, 0, 7, 8, 1, 4, 115, 105, 109, 115,
  0, 0, 10, 168, 3, 1, 165, 3, 3, 5, 127, 6, 123, 1, 124, 32, 2, 65, 120, 113, 33, 9, 32, 0,
  33, 7, 2, 64, 3, 64, 32, 5, 32, 1, 79, 13, 1, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 33, 10, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 33, 11, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 33,
  12, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 33, 13, 65, 0, 33,
  6, 32, 3, 33, 8, 2, 64, 3, 64, 32, 6, 32, 9, 79, 13, 1, 32, 7, 253, 0, 4, 0, 33, 14,
  32, 7, 253, 0, 4, 16, 33, 15, 32, 10, 32, 14, 253, 95, 32, 8, 253, 0, 4, 0, 253, 242, 1, 253,
  240, 1, 33, 10, 32, 11, 32, 14, 32, 14, 253, 13, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3,
  4, 5, 6, 7, 253, 95, 32, 8, 253, 0, 4, 16, 253, 242, 1, 253, 240, 1, 33, 11, 32, 12, 32, 15,
  253, 95, 32, 8, 253, 0, 4, 32, 253, 242, 1, 253, 240, 1, 33, 12, 32, 13, 32, 15, 32, 15, 253, 13,
  8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 253, 95, 32, 8, 253, 0, 4, 48,
  253, 242, 1, 253, 240, 1, 33, 13, 32, 7, 65, 32, 106, 33, 7, 32, 8, 65, 192, 0, 106, 33, 8, 32,
  6, 65, 8, 106, 33, 6, 12, 0, 11, 0, 11, 32, 10, 253, 33, 0, 33, 16, 2, 64, 3, 64, 32, 6,
  32, 2, 79, 13, 1, 32, 16, 32, 7, 42, 2, 0, 187, 32, 8, 43, 3, 0, 162, 160, 33, 16, 32, 7,
  65, 4, 106, 33, 7, 32, 8, 65, 8, 106, 33, 8, 32, 6, 65, 1, 106, 33, 6, 12, 0, 11, 0, 11,
  32, 4, 32, 16, 32, 10, 253, 33, 1, 160, 32, 11, 253, 33, 0, 32, 11, 253, 33, 1, 160, 160, 32, 12,
  253, 33, 0, 32, 12, 253, 33, 1, 160, 32, 13, 253, 33, 0, 32, 13, 253, 33, 1, 160, 160, 160, 57, 3,
  0, 32, 4, 65, 8, 106, 33, 4, 32, 5, 65, 1, 106, 33, 5, 12, 0, 11, 0, 11, 11,
]);

interface SimsExports {
  sims(rows: number, n: number, dim: number, q: number, out: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
let enabled = true;

/** Turns the wasm path off (or on again) for chunks made from now on: the tests compare the two. */
export function setWasmSimilarities(on: boolean): void {
  enabled = on;
}

function simsModule(): WebAssembly.Module | null {
  if (!enabled) return null;
  if (compiled === undefined) {
    try {
      const bytes = SIMS_WASM as Uint8Array<ArrayBuffer>;
      compiled = typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Rows of one chunk, with what computes their similarities. */
export interface Chunk {
  /** [rows, dim] float32. */
  readonly data: Float32Array;
  /** Writes the similarity of the first `n` rows with `query` (unit float32) to `out` from `at`. */
  similarities(query: Float32Array, n: number, out: Float64Array, at: number): void;
  readonly wasm: boolean;
}

export function makeChunk(rows: number, dim: number): Chunk {
  const module = simsModule();
  if (module) {
    try {
      const rowBytes = rows * dim * 4;
      const bytes = rowBytes + dim * 8 + rows * 8;
      const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
      const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimsExports;
      const data = new Float32Array(memory.buffer, 0, rows * dim);
      const q = new Float64Array(memory.buffer, rowBytes, dim);
      const result = new Float64Array(memory.buffer, rowBytes + dim * 8, rows);
      return {
        data,
        wasm: true,
        similarities(query, n, out, at) {
          for (let i = 0; i < dim; i++) q[i] = query[i]!;
          exports.sims(0, n, dim, rowBytes, rowBytes + dim * 8);
          out.set(n === rows ? result : result.subarray(0, n), at);
        },
      };
    } catch {
      // Out of memory for another instance, or instantiation refused: the plain path.
    }
  }
  const data = new Float32Array(rows * dim);
  return {
    data,
    wasm: false,
    similarities(query, n, out, at) {
      for (let r = 0; r < n; r++) out[at + r] = dot(data, r * dim, query, dim);
    },
  };
}
