/**
 * Weight packing, done once when a model is built: bias first, then the taps, per tile of
 * output channels, so that each kernel's inner loop walks its weights linearly. Channels past
 * the end of the last tile are zero (computed, never stored).
 */

/** Bytes of rows of A a GEMM call keeps in cache: the host splits M into chunks of this size. */
const GEMM_CHUNK_BYTES = 96 * 1024;
/** Rows of A per GEMM call for depth `k` (a multiple of 4). */
export const gemmChunkRows = (k: number) => Math.max(4, Math.floor(GEMM_CHUNK_BYTES / (4 * k)) & ~3);

/** GEMM tile width (output channels) of f32_gemm_4x8_minmax and f32_conv_minmax. */
const GEMM_NR = 8;
/** Depthwise channel tile of the f32_dwconv kernels. */
const DW_CR = 4;

/**
 * A `[rows, cols]` matrix and its bias, per tile of `width` columns: bias[width], then rows x
 * [width]. Columns past `cols` are zero.
 */
function packTiles(filter: Float32Array, bias: Float32Array, rows: number, cols: number, width: number, out?: Float32Array): Float32Array {
  const tiles = Math.ceil(cols / width);
  const tile = (rows + 1) * width;
  const p = out ?? new Float32Array(tiles * tile);
  p.fill(0, 0, tiles * tile);
  for (let t = 0; t < tiles; t++) {
    const c0 = t * width;
    const cr = Math.min(width, cols - c0);
    const base = t * tile;
    for (let j = 0; j < cr; j++) p[base + j] = bias[c0 + j]!;
    for (let r = 0; r < rows; r++) {
      const row = base + (r + 1) * width;
      for (let j = 0; j < cr; j++) p[row + j] = filter[r * cols + c0 + j]!;
    }
  }
  return p;
}
const packedTilesLength = (rows: number, cols: number, width: number) => Math.ceil(cols / width) * (rows + 1) * width;

/** 1x1 conv / classifier: filter `[K, N]` (TF `[1,1,K,N]`) -> per 8 columns: bias[8], K x [8]. */
export function packGemm(filter: Float32Array, bias: Float32Array, K: number, N: number, out?: Float32Array): Float32Array {
  return packTiles(filter, bias, K, N, GEMM_NR, out);
}
export const packedGemmLength = (K: number, N: number) => packedTilesLength(K, N, GEMM_NR);

/** Depthwise: filter `[kh, kw, C]` -> per 4 channels: bias[4], then kh*kw x [4] (ky, kx order). */
export function packDepthwise(filter: Float32Array, bias: Float32Array, kh: number, kw: number, C: number, out?: Float32Array): Float32Array {
  // [kh, kw, C] is a [kh*kw, C] matrix, taps in the order the kernel visits them.
  return packTiles(filter, bias, kh * kw, C, DW_CR, out);
}
export const packedDepthwiseLength = (kh: number, kw: number, C: number) => packedTilesLength(kh * kw, C, DW_CR);

/** Dense conv: filter `[kh, kw, Cin, Cout]` -> per 8 output channels: bias[8], then (ky, kx, ci) x [8]. */
export function packConv(filter: Float32Array, bias: Float32Array, kh: number, kw: number, Cin: number, Cout: number, out?: Float32Array): Float32Array {
  // [kh, kw, Cin, Cout] is a [kh*kw*Cin, Cout] matrix in the order the kernel sums it.
  return packGemm(filter, bias, kh * kw * Cin, Cout, out);
}
export const packedConvLength = (kh: number, kw: number, Cin: number, Cout: number) => packedGemmLength(kh * kw * Cin, Cout);
