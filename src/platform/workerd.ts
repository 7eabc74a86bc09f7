/**
 * The platform for Cloudflare Workers (the package's `workerd` condition): the web platform,
 * with the kernels imported as a compiled WebAssembly module, the one form Workers accept
 * (they compile no wasm from bytes at run time). Wrangler's default rules import `*.wasm` that
 * way; a raw workerd config lists the module as `wasm = embed "…"`.
 * The default model is not bundled into every Worker: import `mobilenet-wasm/default-model.tflite`
 * as a Data module and pass its bytes to `load()`.
 */
import kernels from '../../build/kernels.wasm';
import type { WasmSource } from '../backend.js';
import { ErrorCodes, fail } from '../errors.js';
import type { Platform } from './types.js';
import { platform as web } from './web.js';

// Cloudflare Workers run one isolate per request: no threads (no threads build, no workers).
// No fast build either unless passed (each build would be one more module in every Worker).
const { defaultThreadKernels: _threadKernels, defaultFastKernels: _fastKernels, spawnThread: _spawnThread, ...single } = web;

export const platform: Platform = {
  ...single,
  name: 'workerd',
  availableParallelism: () => 1,
  async defaultKernels(): Promise<WasmSource> {
    return kernels;
  },
  async defaultModel() {
    return fail(
      ErrorCodes.OPTION,
      'load() without a model: a Worker does not bundle the default model unasked. Import it as data ' +
        '(import model from "mobilenet-wasm/default-model.tflite", with a Data rule for *.tflite in wrangler) and call load(model)',
    );
  },
};
