// The integer kernels (uint8 and int8, TFLite's reference arithmetic): each a pure function of
// pointers, sizes and scalars into the host-owned memory; every SIMD kernel has a `_scalar` twin
// (same packing, same integers). The host side is src/quant/wasm.ts.
export { q8_gemm_4x8c2_minmax, q8_gemm_4x8c2_minmax_scalar, q8_pack_a_4rows, q8_im2col_4rows } from './gemm';
export { q8_dwconv_minmax, q8_dwconv_minmax_scalar } from './dwconv';
export { q8_avgpool } from './pool';
