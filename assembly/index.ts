// Kernels exported to the host. Each kernel is a pure function of pointers, sizes and scalars
// into the host-owned memory; nothing here allocates. Every SIMD kernel has a `_scalar` twin
// (same packing, same per-output summation order) for the bit-exact test tier.
export {
  f32_gemm_1x8_minmax, f32_gemm_4x8_minmax, f32_gemm_4x8_minmax_scalar,
  f32_pack_a_4rows, f32_gemm_4x8_packed_minmax, f32_gemm_4x8_packed_minmax_scalar,
} from './f32/gemm';
export {
  f32_dwconv3x3_minmax, f32_dwconv3x3_minmax_scalar, f32_dwconv_minmax, f32_dwconv_minmax_scalar,
} from './f32/dwconv';
export { f32_conv_minmax, f32_conv_minmax_scalar } from './f32/conv';
export { f32_avgpool, f32_avgpool_scalar } from './f32/pool';
