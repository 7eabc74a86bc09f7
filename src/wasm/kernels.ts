/**
 * The one list of the kernels in build/kernels.wasm (see assembly/ for each contract). The
 * loader checks the module's exports against it, `scalarKernels` swaps each SIMD kernel for its
 * twin from it, and the tests and the benchmark iterate it. The threads build
 * (build/kernels-threads.wasm: the same kernels over a shared memory) adds the tile dispatcher
 * (`THREAD_EXPORTS`, assembly/tiles.ts).
 */
type Ptr = number;
type Gemm = (m: number, n: number, k: number, a: Ptr, aStride: number, w: Ptr, c: Ptr, cStride: number, lo: number, hi: number) => void;
type GemmPacked = (m: number, n: number, k: number, ap: Ptr, w: Ptr, c: Ptr, cStride: number, lo: number, hi: number) => void;
type Dwconv3x3 = (n: number, inH: number, inW: number, C: number, outH: number, outW: number, stride: number, dilation: number, padTop: number, padLeft: number, input: Ptr, w: Ptr, output: Ptr, lo: number, hi: number) => void;
type Dwconv = (n: number, inH: number, inW: number, C: number, outH: number, outW: number, kh: number, kw: number, stride: number, dilation: number, padTop: number, padLeft: number, input: Ptr, w: Ptr, output: Ptr, lo: number, hi: number) => void;
type Conv = (n: number, inH: number, inW: number, Cin: number, outH: number, outW: number, Cout: number, kh: number, kw: number, stride: number, dilation: number, padTop: number, padLeft: number, input: Ptr, w: Ptr, output: Ptr, lo: number, hi: number) => void;
type AvgPool = (n: number, inH: number, inW: number, C: number, outH: number, outW: number, kh: number, kw: number, stride: number, input: Ptr, output: Ptr) => void;

/** The exports of build/kernels.wasm. */
export interface KernelExports {
  f32_gemm_4x8_minmax: Gemm;
  /** The one-row path of f32_gemm_4x8_minmax (its leftover rows), same contract. */
  f32_gemm_1x8_minmax: Gemm;
  f32_gemm_4x8_minmax_scalar: Gemm;
  /** Packs rows of A 4 by 4 for f32_gemm_4x8_packed_minmax (data movement only: no twin). */
  f32_pack_a_4rows(m: number, k: number, a: Ptr, aStride: number, out: Ptr): void;
  f32_gemm_4x8_packed_minmax: GemmPacked;
  f32_gemm_4x8_packed_minmax_scalar: GemmPacked;
  f32_dwconv3x3_minmax: Dwconv3x3;
  f32_dwconv3x3_minmax_scalar: Dwconv3x3;
  f32_dwconv_minmax: Dwconv;
  f32_dwconv_minmax_scalar: Dwconv;
  f32_conv_minmax: Conv;
  f32_conv_minmax_scalar: Conv;
  f32_avgpool: AvgPool;
  f32_avgpool_scalar: AvgPool;
}
export type KernelName = keyof KernelExports;

/** The exports of build/kernels-threads.wasm: every kernel, and the tile dispatcher. */
export interface ThreadKernelExports extends KernelExports {
  /** Runs items of the step at `desc` until its counter runs out; 1 when this call finished the step's last item. */
  run_tiles(desc: Ptr, counter: Ptr, thread: number): number;
  /** The descriptor layout's version (src/wasm/threads/plan.ts TILES_ABI). */
  TILES_ABI: { value: number };
  /** 1 when run_tiles runs the integer steps (assembly/q8/tiles.ts: the exact threads build), 0 in the relaxed one. */
  Q8_TILES: { value: number };
}

/** The step descriptors' layout version (src/wasm/threads/plan.ts); the threads build exports the same number. */
export const TILES_ABI = 1;

/** What the threads build exports besides the kernels. */
export const THREAD_EXPORTS = ['run_tiles', 'TILES_ABI', 'Q8_TILES'] as const satisfies readonly (keyof ThreadKernelExports)[];

/**
 * The kernels by family: the SIMD kernels of a family and the scalar twin each of them must
 * match bit for bit (same packing, same per-output summation order).
 */
export const KERNEL_FAMILIES = {
  gemm: { simd: ['f32_gemm_4x8_minmax', 'f32_gemm_1x8_minmax'], scalar: 'f32_gemm_4x8_minmax_scalar' },
  gemmPacked: { simd: ['f32_gemm_4x8_packed_minmax'], scalar: 'f32_gemm_4x8_packed_minmax_scalar' },
  dwconv3x3: { simd: ['f32_dwconv3x3_minmax'], scalar: 'f32_dwconv3x3_minmax_scalar' },
  dwconv: { simd: ['f32_dwconv_minmax'], scalar: 'f32_dwconv_minmax_scalar' },
  conv: { simd: ['f32_conv_minmax'], scalar: 'f32_conv_minmax_scalar' },
  avgpool: { simd: ['f32_avgpool'], scalar: 'f32_avgpool_scalar' },
} as const satisfies Record<string, { simd: readonly KernelName[]; scalar: KernelName }>;
export type KernelFamily = keyof typeof KERNEL_FAMILIES;

/** Kernels outside the families: data movement with nothing to compare. */
const HELPERS = ['f32_pack_a_4rows'] as const satisfies readonly KernelName[];

/** Every kernel a module must export. */
export const KERNEL_NAMES: readonly KernelName[] = [
  ...Object.values(KERNEL_FAMILIES).flatMap((f) => [...f.simd, f.scalar]),
  ...HELPERS,
];

/** The SIMD kernels and the scalar twin of one family, twin last: what a test runs on the same case. */
export function familyKernels(family: KernelFamily): KernelName[] {
  const f = KERNEL_FAMILIES[family];
  return [...f.simd, f.scalar];
}

/** The scalar twins under the SIMD names (same order, same bits): for tests and benchmarks. */
export function scalarKernels(k: KernelExports): KernelExports {
  const out = { ...k };
  for (const f of Object.values(KERNEL_FAMILIES)) {
    for (const name of f.simd) (out as Record<KernelName, unknown>)[name] = k[f.scalar];
  }
  return out;
}
