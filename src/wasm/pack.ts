/**
 * Weight packing, done once when a model is built: bias first, then the taps, per tile of
 * output channels, so that each kernel's inner loop walks its weights linearly. Channels past
 * the end of the last tile are zero (computed, never stored).
 */

/** GEMM tile width (output channels) of f32_gemm_4x8_minmax and f32_conv_minmax. */
export const GEMM_NR = 8;
/** Depthwise channel tile of the f32_dwconv kernels. */
export const DW_CR = 4;

/** 1x1 conv / classifier: filter `[K, N]` (TF `[1,1,K,N]`) -> per 8 columns: bias[8], K x [8]. */
export function packGemm(filter: Float32Array, bias: Float32Array, K: number, N: number, out?: Float32Array): Float32Array {
  const tiles = Math.ceil(N / GEMM_NR);
  const tile = (K + 1) * GEMM_NR;
  const p = out ?? new Float32Array(tiles * tile);
  p.fill(0, 0, tiles * tile);
  for (let t = 0; t < tiles; t++) {
    const n0 = t * GEMM_NR;
    const nr = Math.min(GEMM_NR, N - n0);
    const base = t * tile;
    for (let j = 0; j < nr; j++) p[base + j] = bias[n0 + j]!;
    for (let k = 0; k < K; k++) {
      const row = base + (k + 1) * GEMM_NR;
      for (let j = 0; j < nr; j++) p[row + j] = filter[k * N + n0 + j]!;
    }
  }
  return p;
}
export const packedGemmLength = (K: number, N: number) => Math.ceil(N / GEMM_NR) * (K + 1) * GEMM_NR;

/** Depthwise: filter `[kh, kw, C]` -> per 4 channels: bias[4], then kh*kw x [4] (ky, kx order). */
export function packDepthwise(filter: Float32Array, bias: Float32Array, kh: number, kw: number, C: number, out?: Float32Array): Float32Array {
  const tiles = Math.ceil(C / DW_CR);
  const taps = kh * kw;
  const tile = (1 + taps) * DW_CR;
  const p = out ?? new Float32Array(tiles * tile);
  p.fill(0, 0, tiles * tile);
  for (let t = 0; t < tiles; t++) {
    const c0 = t * DW_CR;
    const cr = Math.min(DW_CR, C - c0);
    const base = t * tile;
    for (let j = 0; j < cr; j++) p[base + j] = bias[c0 + j]!;
    for (let tap = 0; tap < taps; tap++) {
      for (let j = 0; j < cr; j++) p[base + (tap + 1) * DW_CR + j] = filter[tap * C + c0 + j]!;
    }
  }
  return p;
}
export const packedDepthwiseLength = (kh: number, kw: number, C: number) => Math.ceil(C / DW_CR) * (1 + kh * kw) * DW_CR;

/** Dense conv: filter `[kh, kw, Cin, Cout]` -> per 8 output channels: bias[8], then (ky, kx, ci) x [8]. */
export function packConv(filter: Float32Array, bias: Float32Array, kh: number, kw: number, Cin: number, Cout: number, out?: Float32Array): Float32Array {
  // [kh, kw, Cin, Cout] is a [kh*kw*Cin, Cout] matrix in the order the kernel sums it.
  return packGemm(filter, bias, kh * kw * Cin, Cout, out);
}
export const packedConvLength = (kh: number, kw: number, Cin: number, Cout: number) => packedGemmLength(kh * kw * Cin, Cout);
