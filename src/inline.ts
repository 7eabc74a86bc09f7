/**
 * `mobilenet-wasm/inline`: the whole API, with the kernels carried inside this module (base64,
 * ~20 KB), for bundlers that do not rewrite `new URL('./kernels.wasm', import.meta.url)`
 * (esbuild, and IIFE or CommonJS outputs). `load` and `createModel` use these kernels unless
 * `wasm.source` says otherwise; everything else is the main entry's.
 */
import type { ModelSource } from './formats/index.js';
import { createModel as createModelMain, type CreateModelOptions } from './engine/create.js';
import { load as loadMain, type LoadOptions } from './engine/load.js';
import type { ImageModel, MobileNet } from './engine/mobilenet.js';
import { KERNELS_BASE64 } from './wasm/kernels-inline.js';

export * from './index.js';

let bytes: Uint8Array | null = null;
/** The kernels' bytes, decoded once. */
export function inlineKernels(): Uint8Array {
  if (!bytes) {
    const binary = atob(KERNELS_BASE64);
    bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

const withKernels = <T extends { wasm?: CreateModelOptions['wasm'] }>(options: T): T => ({
  ...options,
  wasm: { ...options.wasm, source: options.wasm?.source ?? inlineKernels() },
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
