/**
 * `mobilenet-wasm/inline`: the whole API, with the kernels carried inside this module (base64,
 * ~20 KB each: the SIMD build, the threads build and their fast twins), for bundlers that do not rewrite
 * `new URL('./kernels.wasm', import.meta.url)` (esbuild, and IIFE or CommonJS outputs). `load`
 * and `createModel` use these kernels unless `wasm.source` says otherwise; everything else is
 * the main entry's.
 */
import type { ModelSource } from './formats/index.js';
import { createModel as createModelMain, type CreateModelOptions } from './engine/create.js';
import { load as loadMain, type LoadOptions } from './engine/load.js';
import type { ImageModel, MobileNet } from './engine/mobilenet.js';
import type { WasmBuilds } from './backend.js';
import { KERNELS_BASE64, RELAXED_KERNELS_BASE64, THREAD_KERNELS_BASE64, THREAD_RELAXED_KERNELS_BASE64 } from './wasm/kernels-inline.js';
import { kernelSources } from './wasm/loader.js';

export * from './index.js';

const decoded: Partial<Record<keyof WasmBuilds, Uint8Array>> = {};
function decode(build: keyof WasmBuilds, base64: string): Uint8Array {
  let bytes = decoded[build];
  if (!bytes) {
    const binary = atob(base64);
    bytes = decoded[build] = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

/** The kernels' bytes (the SIMD build), decoded once. */
export function inlineKernels(): Uint8Array {
  return decode('simd', KERNELS_BASE64);
}

/** The threads build's bytes (kernels-threads.wasm), decoded once. */
export function inlineThreadKernels(): Uint8Array {
  return decode('threads', THREAD_KERNELS_BASE64);
}

/** The caller's `wasm.source` with the builds it does not name taken from here (a bad one is left for createModel to refuse). */
function sourcesWithInline(source: unknown): WasmBuilds | unknown {
  let given: WasmBuilds;
  try {
    given = kernelSources(source);
  } catch {
    return source;
  }
  return {
    simd: given.simd ?? inlineKernels(),
    threads: given.threads ?? inlineThreadKernels(),
    relaxed: given.relaxed ?? decode('relaxed', RELAXED_KERNELS_BASE64),
    threadsRelaxed: given.threadsRelaxed ?? decode('threadsRelaxed', THREAD_RELAXED_KERNELS_BASE64),
  };
}

const withKernels = <T extends { wasm?: CreateModelOptions['wasm'] }>(options: T): T => ({
  ...options,
  wasm: { ...options.wasm, source: sourcesWithInline(options.wasm?.source) as WasmBuilds },
});

export function createModel(options: CreateModelOptions = {}): Promise<MobileNet> {
  return createModelMain(options === null || typeof options !== 'object' ? options : withKernels(options));
}

export function load(source?: ModelSource, options?: LoadOptions & { worker?: false }): Promise<MobileNet>;
export function load(source: ModelSource | undefined, options: LoadOptions & { worker: true }): Promise<ImageModel>;
export function load(source?: ModelSource, options?: LoadOptions): Promise<ImageModel>;
export function load(source?: ModelSource, options: LoadOptions = {}): Promise<ImageModel> {
  return loadMain(source, options === null || typeof options !== 'object' ? options : withKernels(options));
}
