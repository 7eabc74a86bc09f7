/**
 * Test harness for the wasm kernels: one memory, a bump allocator, NaN poison around every
 * output, and comparisons that name the first mismatching indices.
 */
import { readFileSync } from 'node:fs';
import { compileKernels, instantiateKernels, type KernelExports } from '../../src/wasm/loader.js';
import { mulberry32 } from '../../src/model/random.js';

export const wasmBytes = () => readFileSync(new URL('../../build/kernels.wasm', import.meta.url));

let modulePromise: Promise<WebAssembly.Module> | null = null;
export function kernelModule(): Promise<WebAssembly.Module> {
  modulePromise ??= compileKernels(wasmBytes());
  return modulePromise;
}

const GUARD = 64; // floats of NaN poison on each side of an output

export class Harness {
  readonly memory = new WebAssembly.Memory({ initial: 16 });
  readonly kernels: KernelExports;
  private top = 64;
  constructor(module: WebAssembly.Module) {
    this.kernels = instantiateKernels(module, this.memory).kernels;
  }
  reset(): void {
    this.top = 64;
  }
  /** Bytes offset of a fresh region of `floats` floats (plus 16 bytes slack), 16-byte aligned. */
  alloc(floats: number): number {
    const off = this.top;
    this.top = Math.ceil((off + floats * 4 + 16) / 64) * 64;
    const need = this.top + GUARD * 8 + 1024;
    if (need > this.memory.buffer.byteLength) this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / 65536));
    return off;
  }
  put(data: Float32Array): number {
    const off = this.alloc(data.length);
    this.f32(off, data.length).set(data);
    return off;
  }
  f32(off: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, off, n);
  }
  /** An output region of n floats with NaN poison GUARD floats either side; returns its offset. */
  output(n: number): number {
    const start = this.alloc(n + 2 * GUARD);
    this.f32(start, n + 2 * GUARD).fill(NaN);
    return start + GUARD * 4;
  }
  /** Reads an output, checking that the poison either side is untouched (all NaN). */
  read(off: number, n: number): Float32Array {
    const before = this.f32(off - GUARD * 4, GUARD);
    const after = this.f32(off + n * 4, GUARD);
    const bad = [...before].findIndex((v) => !Number.isNaN(v));
    if (bad >= 0) throw new Error(`poison: wrote ${before[bad]} at ${bad - GUARD} (before the output)`);
    const badAfter = [...after].findIndex((v) => !Number.isNaN(v));
    if (badAfter >= 0) throw new Error(`poison: wrote ${after[badAfter]} at output[${n + badAfter}] (past the end, n=${n})`);
    return this.f32(off, n).slice();
  }
}

/** Uniform in [0, 1) from the project's seeded generator. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** Bit-exact comparison (NaN equals NaN whatever its payload); throws naming the first mismatches. */
export function expectBitExact(actual: Float32Array, expected: Float32Array, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < actual.length; i++) {
    if (!same(actual[i]!, expected[i]!)) {
      count++;
      if (bad.length < 5) bad.push(`[${i}] expected ${expected[i]} got ${actual[i]}`);
    }
  }
  if (count > 0) throw new Error(`${what}: ${count} of ${actual.length} differ: ${bad.join('; ')}`);
}

/** TF SAME / fixed (explicit) / symmetric / valid padding: [out, before]. */
export type PadMode = 'same' | 'explicit' | 'symmetric' | 'valid';
export function pad(mode: PadMode, size: number, k: number, s: number, d: number): [number, number] {
  const eff = k + (k - 1) * (d - 1);
  const validOut = (n: number) => (n < eff ? 0 : Math.floor((n - eff) / s) + 1);
  switch (mode) {
    case 'same': {
      const out = Math.ceil(size / s);
      const total = Math.max((out - 1) * s + eff - size, 0);
      return [out, Math.floor(total / 2)];
    }
    case 'explicit':
      return [validOut(size + eff - 1), Math.floor((eff - 1) / 2)];
    case 'symmetric': {
      const p = Math.floor((d * (k - 1)) / 2);
      return [validOut(size + 2 * p), p];
    }
    case 'valid':
      return [validOut(size), 0];
  }
}
