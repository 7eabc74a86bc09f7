/**
 * Loading the kernels: compile once (from bytes, a file path, a URL or a precompiled
 * WebAssembly.Module), check for SIMD, then instantiate once per model with that model's own
 * WebAssembly.Memory (the module imports its memory as `env.memory`). Two builds: `simd`
 * (kernels.wasm, the default) and `threads` (kernels-threads.wasm: the same kernels over an
 * imported shared memory, and the tile dispatcher; used by models with threads > 1); and their
 * fast twins for `precision: 'fast'`, compiled with relaxed SIMD: `relaxed`
 * (kernels-relaxed.wasm) and `threadsRelaxed` (kernels-threads-relaxed.wasm), see relaxed.ts.
 */
import { platform } from '#platform';
import type { WasmBuilds, WasmSource } from '../backend.js';
import type { WasmMemoryLike, WasmModuleLike } from '../dom-types.js';
import { ErrorCodes, MobilenetError, fail, typeNameOf } from '../errors.js';
import { readBytes } from '../fetch.js';
import { KERNEL_NAMES, THREAD_EXPORTS, TILES_ABI, type KernelExports } from './kernels.js';
import { fmaF32 } from '../reference/fma.js';
import { relaxedSimd } from './relaxed.js';

export type { WasmSource, KernelExports };

/** The kernel builds: `simd` kernels.wasm, `threads` kernels-threads.wasm, and their fast (relaxed SIMD) twins. */
export type KernelBuild = keyof WasmBuilds;
const FILE: Record<KernelBuild, string> = { simd: 'kernels.wasm', threads: 'kernels-threads.wasm', relaxed: 'kernels-relaxed.wasm', threadsRelaxed: 'kernels-threads-relaxed.wasm' };
const BUILDS = Object.keys(FILE) as KernelBuild[];
/** Builds over a shared memory, with the tile dispatcher. */
export const isThreadsBuild = (build: KernelBuild) => build === 'threads' || build === 'threadsRelaxed';
/** Builds compiled with relaxed SIMD (`precision: 'fast'`). */
export const isFastBuild = (build: KernelBuild) => build === 'relaxed' || build === 'threadsRelaxed';

/** wasm32 limit: 65536 pages of 64 KiB. */
export const WASM_PAGE_BYTES = 65536;
export const WASM_MAX_PAGES = 65536;
export const WASM_MAX_BYTES = WASM_PAGE_BYTES * WASM_MAX_PAGES;

/** (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): validates only with SIMD. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

export function hasWasmSimd(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** Largest kernels file read (ours is ~15 KB; anything near this is not ours). */
const MAX_WASM_BYTES = 16 << 20;

const HOW_TO_PASS = 'pass the kernels yourself: { wasm: { source } } with their bytes, URL or a compiled WebAssembly.Module (the file is mobilenet-wasm/kernels.wasm), or import from "mobilenet-wasm/inline", which carries them';
const howToPass = (build: KernelBuild) => build === 'simd' ? HOW_TO_PASS : `pass the ${build} build yourself: { wasm: { source: { ${build} } } } with its bytes, URL or a compiled WebAssembly.Module (the file is mobilenet-wasm/${FILE[build]}), or import from "mobilenet-wasm/inline", which carries it`;

async function readSource(source: Uint8Array | ArrayBuffer | string | URL, build: KernelBuild): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof source !== 'string' && !(source instanceof URL)) {
    fail(ErrorCodes.OPTION, `option wasm.source${build === 'simd' ? '' : `.${build}`}: expected bytes, a path, a URL or a WebAssembly.Module${build === 'simd' ? ', or { simd, threads, relaxed, threadsRelaxed } of those' : ''}, got ${typeNameOf(source)}`);
  }
  try {
    return await readBytes(source, MAX_WASM_BYTES);
  } catch (error) {
    if (error instanceof MobilenetError && error.code === ErrorCodes.IO) {
      fail(ErrorCodes.IO, `kernels${build === 'simd' ? '' : ` (${build} build)`}: cannot read ${source instanceof URL ? source.href : source} (${error.message}); ${howToPass(build)}`, error);
    }
    throw error;
  }
}

/**
 * Compiles a kernel build (after checking the magic number and SIMD support) and self-tests it.
 * `build`: `simd` (default) for kernels.wasm, `threads` for kernels-threads.wasm, `relaxed` and
 * `threadsRelaxed` for their fast twins (refused with ERR_NO_SIMD where relaxed SIMD is missing).
 */
export async function compileKernels(source?: WasmSource, build: KernelBuild = 'simd'): Promise<WasmModuleLike> {
  if (!hasWasmSimd()) {
    fail(ErrorCodes.NO_SIMD, 'WebAssembly SIMD (128-bit) is not available in this engine; the wasm backend needs it (use backend "reference")');
  }
  if (isFastBuild(build)) {
    const relaxed = relaxedSimd();
    if (typeof relaxed === 'string') fail(ErrorCodes.NO_SIMD, `kernels: ${FILE[build]} (precision "fast") needs relaxed SIMD: ${relaxed}`);
  }
  if (isThreadsBuild(build) && !platform.defaultThreadKernels && source === undefined) {
    fail(ErrorCodes.OPTION, 'kernels: this runtime has no threads build (threads need workers and SharedArrayBuffer)');
  }
  if (isFastBuild(build) && !platform.defaultFastKernels && source === undefined) {
    fail(ErrorCodes.OPTION, `kernels: this runtime carries no fast build by default; ${howToPass(build)}`);
  }
  source ??= build === 'simd' ? await platform.defaultKernels() : build === 'threads' ? await platform.defaultThreadKernels!() : await platform.defaultFastKernels!(build === 'threadsRelaxed');
  let module: WebAssembly.Module;
  if (source instanceof WebAssembly.Module) {
    module = source;
  } else {
    const bytes = await readSource(source as Uint8Array | ArrayBuffer | string | URL, build);
    if (bytes.length < 8 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
      const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      fail(ErrorCodes.WASM_BYTES, `kernels: expected a WebAssembly module starting with 00 61 73 6d ("\\0asm"), got ${bytes.length} bytes starting with ${head || '(nothing)'}${typeof source === 'string' || source instanceof URL ? ` from ${String(source instanceof URL ? source.href : source)}; ${howToPass(build)}` : ''}`);
    }
    try {
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (error) {
      return fail(ErrorCodes.WASM_BYTES, `kernels: the WebAssembly module does not compile: ${(error as Error).message}`, error);
    }
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const wanted: readonly string[] = isThreadsBuild(build) ? [...KERNEL_NAMES, ...THREAD_EXPORTS] : KERNEL_NAMES;
  const missing = wanted.filter((n) => !exported.has(n));
  if (missing.length > 0) fail(ErrorCodes.WASM_BYTES, `kernels: the module lacks the exports ${missing.join(', ')}${isThreadsBuild(build) ? ` (is it ${FILE[build]}?)` : ''}`);
  selfTest(module, build);
  return module;
}

export interface KernelInstance {
  readonly kernels: KernelExports;
  readonly memory: WasmMemoryLike;
}

export function instantiateKernels(module: WasmModuleLike, memory: WasmMemoryLike): KernelInstance {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return { kernels: instance.exports as unknown as KernelExports, memory };
}

/**
 * Known-answer test: a 5x9 by 9x9 GEMM (every tile tail) with relu6, SIMD and scalar against
 * values worked out here in float32. A SIMD unit that validates but computes wrongly is refused.
 * A fast build's multiply-adds are expected fused where the engine's probe says so (relaxed.ts),
 * and checked on operands where fused and unfused differ (a base build passed as a fast one fails).
 */
function selfTest(module: WebAssembly.Module, build: KernelBuild): void {
  const shared = isThreadsBuild(build);
  const relaxed = isFastBuild(build) ? relaxedSimd() : null;
  const fused = relaxed !== null && typeof relaxed !== 'string' && relaxed.fused;
  const memory = new WebAssembly.Memory({ initial: 1, ...(shared ? { maximum: 1, shared } : {}) });
  let kernels: KernelExports;
  try {
    kernels = instantiateKernels(module, memory).kernels;
  } catch (error) {
    // A module with other imports than env.memory, or a start function that traps.
    return fail(ErrorCodes.WASM_BYTES, `kernels: the module cannot be instantiated with one imported ${shared ? 'shared ' : ''}memory (${(error as Error)?.message ?? error})${shared ? `; is it ${FILE[build]}?` : ''}`, error);
  }
  const abi = (kernels as unknown as { TILES_ABI?: { value: number } }).TILES_ABI?.value;
  if (shared && abi !== TILES_ABI) {
    fail(ErrorCodes.WASM_BYTES, `kernels: the threads build lays out its work descriptors as version ${abi}, this package as ${TILES_ABI}: the two come from different versions`);
  }
  const f = new Float32Array(memory.buffer);
  const M = 5, K = 9, N = 9;
  const A = Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) - 5);
  const W = Array.from({ length: K * N }, (_, i) => ((i * 5) % 13) / 4 - 1.5);
  const B = Array.from({ length: N }, (_, i) => i / 8 - 0.5);
  const tiles = Math.ceil(N / 8);
  const wOff = 64, aOff = wOff + tiles * (K + 1) * 8, cOff = aOff + M * K + 16;
  for (let t = 0; t < tiles; t++) {
    for (let j = 0; j < 8; j++) {
      const n = t * 8 + j;
      f[wOff + t * (K + 1) * 8 + j] = n < N ? B[n]! : 0;
      for (let k = 0; k < K; k++) f[wOff + t * (K + 1) * 8 + (k + 1) * 8 + j] = n < N ? W[k * N + n]! : 0;
    }
  }
  f.set(A, aOff);
  const sOff = cOff + M * N + 16;
  const runs = {
    f32_gemm_4x8_minmax: () => kernels.f32_gemm_4x8_minmax(M, N, K, aOff * 4, K * 4, wOff * 4, cOff * 4, N * 4, 0, 6),
    f32_gemm_1x8_minmax: () => kernels.f32_gemm_1x8_minmax(M, N, K, aOff * 4, K * 4, wOff * 4, cOff * 4, N * 4, 0, 6),
    f32_gemm_4x8_minmax_scalar: () => kernels.f32_gemm_4x8_minmax_scalar(M, N, K, aOff * 4, K * 4, wOff * 4, cOff * 4, N * 4, 0, 6),
    // The backend's path: rows 0..3 packed (shuffles), then the packed kernel; row 4 by the 1x8 kernel.
    f32_gemm_4x8_packed_minmax: () => {
      kernels.f32_pack_a_4rows(M, K, aOff * 4, K * 4, sOff * 4);
      kernels.f32_gemm_4x8_packed_minmax(4, N, K, sOff * 4, wOff * 4, cOff * 4, N * 4, 0, 6);
      kernels.f32_gemm_1x8_minmax(M - 4, N, K, (aOff + 4 * K) * 4, K * 4, wOff * 4, (cOff + 4 * N) * 4, N * 4, 0, 6);
    },
  };
  for (const [name, run] of Object.entries(runs)) {
    f.fill(NaN, cOff, cOff + M * N);
    try {
      run();
    } catch (error) {
      fail(ErrorCodes.KERNEL, `kernels: ${name} trapped in the self-test (${(error as Error)?.message ?? error}); these are not working MobileNet kernels`, error);
    }
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = B[n]!;
        for (let k = 0; k < K; k++) acc = fused ? fmaF32(A[m * K + k]!, W[k * N + n]!, acc) : Math.fround(acc + Math.fround(A[m * K + k]! * W[k * N + n]!));
        const expected = Math.min(Math.max(acc, 0), 6);
        if (!Object.is(f[cOff + m * N + n], expected)) {
          fail(ErrorCodes.NO_SIMD, `kernels: the SIMD self-test failed (${name} [${m},${n}]: expected ${expected}, got ${f[cOff + m * N + n]}); this engine's WebAssembly SIMD cannot be trusted`);
        }
      }
    }
  }
  if (relaxed !== null) {
    // 5 rows, 1 channel, k = 1: bias -(1 + 2^-11) + (1 + 2^-12)^2 is 2^-24 fused, 0 unfused (the 4-row tile and the 1-row tail).
    const x = Math.fround(1 + 2 ** -12);
    f.fill(0, wOff, wOff + 16);
    f[wOff] = Math.fround(-(1 + 2 ** -11));
    f[wOff + 8] = x;
    f.fill(x, aOff, aOff + 5);
    f.fill(NaN, cOff, cOff + 5);
    kernels.f32_gemm_4x8_minmax(5, 1, 1, aOff * 4, 4, wOff * 4, cOff * 4, 4, -Infinity, Infinity);
    const expected = fused ? 2 ** -24 : 0;
    for (let m = 0; m < 5; m++) {
      if (f[cOff + m]! !== expected) {
        fail(ErrorCodes.WASM_BYTES, `kernels: ${FILE[build]}'s multiply-add gave ${f[cOff + m]} where this engine's relaxed_madd gives ${expected} (${fused ? 'fused' : 'unfused'}); is it ${FILE[build]}, compiled with relaxed SIMD?`);
      }
    }
  }
}

let defaultSources: WasmBuilds = {};
const compiled: Partial<Record<KernelBuild, Promise<WebAssembly.Module>>> = {};

/**
 * A `wasm.source`: one source (the base SIMD build), or `{ simd, threads, relaxed, threadsRelaxed }`
 * naming each build; the builds by name (a build not named: undefined, the package's own).
 */
export function kernelSources(source: unknown): WasmBuilds {
  if (source === undefined) return {};
  const proto = source !== null && typeof source === 'object' ? Object.getPrototypeOf(source) : undefined;
  if (proto !== Object.prototype && proto !== null) return { simd: source as WasmSource };
  const keys = Object.keys(source as object);
  const unknown = keys.filter((k) => !(BUILDS as string[]).includes(k));
  if (unknown.length > 0 || keys.length === 0) {
    fail(ErrorCodes.OPTION, `option wasm.source: expected bytes, a path, a URL, a WebAssembly.Module, or { simd, threads, relaxed, threadsRelaxed } of those, got an object with ${keys.length === 0 ? 'no keys' : `the keys ${keys.join(', ')}`}`);
  }
  const builds = source as WasmBuilds;
  return Object.fromEntries(BUILDS.filter((b) => builds[b] !== undefined).map((b) => [b, builds[b]]));
}

/**
 * Sets where the wasm backend loads its kernels from (bytes, path, URL or Module: the base
 * build; or `{ simd, threads, relaxed, threadsRelaxed }`); undefined restores the package's own.
 */
export function setKernelSource(source: WasmSource | WasmBuilds | undefined): void {
  defaultSources = kernelSources(source);
  for (const build of BUILDS) delete compiled[build];
}

/** The compiled kernels of a build for the configured source, compiled once per process. */
export function defaultKernels(build: KernelBuild = 'simd'): Promise<WasmModuleLike> {
  let module = compiled[build];
  if (!module) {
    module = compiled[build] = compileKernels(defaultSources[build], build);
    module.catch(() => {
      if (compiled[build] === module) delete compiled[build];
    });
  }
  return module;
}
