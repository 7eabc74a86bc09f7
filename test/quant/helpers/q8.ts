/**
 * The integer kernels for the tests: the package's build/kernels.wasm (which carries them beside
 * the f32 kernels), compiled once; `Q8_WASM=path` tests another build of assembly/q8/.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { repoRoot } from '../../helpers/shared.js';
import { Q8_KERNEL_FAMILIES, type Q8KernelExports, type Q8KernelName } from '../../../src/quant/wasm.js';

let compiled: Promise<WebAssembly.Module> | undefined;

export function q8Module(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(readFileSync(process.env.Q8_WASM ?? resolve(repoRoot, 'build/kernels.wasm')));
  return compiled;
}

/** A fresh instance over its own memory of `pages` 64 KiB pages. */
export async function q8Instance(pages: number): Promise<{ k: Q8KernelExports; memory: WebAssembly.Memory }> {
  const memory = new WebAssembly.Memory({ initial: pages });
  const instance = new WebAssembly.Instance(await q8Module(), { env: { memory } });
  return { k: instance.exports as unknown as Q8KernelExports, memory };
}

/** The SIMD kernels and their twin per family, twin last. */
export function q8Family(family: keyof typeof Q8_KERNEL_FAMILIES): Q8KernelName[] {
  const f = Q8_KERNEL_FAMILIES[family];
  return [...f.simd, f.scalar];
}
