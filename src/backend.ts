/**
 * The contract between the engine and a backend. The engine (src/engine/) owns shapes and
 * checks every input; a backend only computes the folded network on a batch. The reference
 * backend (src/reference/) and the wasm backend (src/wasm/) implement it; neither knows the other.
 */
import type { URLLike, WasmModuleLike } from './dom-types.js';
import type { Architecture } from './model/architecture.js';
import type { FoldedLayer } from './model/fold.js';

export type BackendName = 'reference' | 'wasm';

/**
 * `exact` (default): one rounding per multiply and per add, the same bits everywhere. `fast`: the
 * dense and pointwise convolutions multiply-add with relaxed SIMD's f32x4.relaxed_madd, fused
 * (one rounding) on CPUs with FMA, where the engine has relaxed SIMD (src/wasm/relaxed.ts).
 */
export type Precision = 'exact' | 'fast';

/** Activations by end point name, each a flat NHWC array (N given by the caller). */
export type Activations = Map<string, Float32Array>;

/** What a backend does: run the folded network on a batch and hand back the named activations. */
export interface InferenceBackend {
  readonly name: BackendName;
  /** Bytes of the memory the backend planned (the wasm arena); absent for the reference path. */
  readonly memoryBytes?: number;
  /** Threads that compute a run (1 unless the wasm backend was built with threads). */
  readonly threads?: number;
  /** The precision the backend computes in (absent: exact). */
  readonly precision?: Precision;
  /** True when its multiply-adds round once (the fast tier on FMA hardware, or the reference's fused twin). */
  readonly fusedMultiplyAdd?: boolean;
  /**
   * Runs synchronously. A threaded backend on a thread that may not block (a browser's main
   * thread) refuses with ERR_OPTION and offers `runAsync`.
   */
  run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Activations;
  /** The same run, waiting without blocking this thread (present on threaded backends). */
  runAsync?(input: Float32Array, batch: number, keep: ReadonlySet<string>): Promise<Activations>;
  /** True when `run` cannot be called here and `runAsync` must be. */
  readonly mustRunAsync?: boolean;
  dispose(): void;
}

/**
 * Where the wasm kernels come from: bytes, a file path (Node, Deno, Bun), an http(s) or file:
 * URL, or a precompiled `WebAssembly.Module` (what Cloudflare Workers and Vercel Edge allow).
 */
export type WasmSource = Uint8Array | ArrayBuffer | string | URLLike | WasmModuleLike;

/**
 * The kernel builds by name: `simd` the base build (kernels.wasm), `threads` the build over a
 * shared memory that `threads > 1` runs (kernels-threads.wasm), and their fast twins for
 * `precision: 'fast'`, compiled with relaxed SIMD: `relaxed` (kernels-relaxed.wasm) and
 * `threadsRelaxed` (kernels-threads-relaxed.wasm). A build not named is the package's own.
 */
export interface WasmBuilds {
  simd?: WasmSource;
  threads?: WasmSource;
  relaxed?: WasmSource;
  threadsRelaxed?: WasmSource;
}

/** Where the wasm kernels come from and how much memory they may plan. */
export interface WasmOptions {
  /**
   * Default: the package's own `kernels.wasm` (found beside the package, or bundled). One source
   * is the base SIMD build; `{ simd, threads, relaxed, threadsRelaxed }` names each build
   * (kernels-threads.wasm, kernels-relaxed.wasm, kernels-threads-relaxed.wasm).
   */
  source?: WasmSource | WasmBuilds;
  /** Refuse a plan above this many bytes (ERR_MEMORY_LIMIT). Default: the wasm32 limit, 4 GiB. */
  maxMemoryBytes?: number;
}

/** Makes a backend for a built model; `threads`: how many threads may compute (already checked, >= 1); `precision`: already checked. */
export type BackendFactory = (arch: Architecture, folded: readonly FoldedLayer[], options: WasmOptions, threads: number, precision: Precision) => Promise<InferenceBackend>;
