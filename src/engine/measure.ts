/**
 * What `mobilenet bench` (src/cli/bench.ts) and the benchmark suite (bench/) both measure the
 * engine with: a model from seeded weights, its cold start, and the order statistics of the
 * timed runs. Not part of the public API (src/index.ts does not reach it).
 */
import { readFile } from 'node:fs/promises';
import type { BackendName } from '../backend.js';
import { buildArchitecture, type Architecture } from '../model/architecture.js';
import { foldWeights, type FoldedLayer } from '../model/fold.js';
import { randomInputs, randomWeights } from '../model/random.js';
import { runReference } from '../reference/backend.js';
import type { WasmSource } from '../wasm/loader.js';
import { platform } from '#platform';

export interface SeededModelConfig {
  alpha: number;
  resolution: number | [number, number];
  /** Seed of the random weights (the weights do not change the speed). */
  seed: number;
}

export interface ColdStartConfig extends SeededModelConfig {
  batch: number;
  backend: BackendName;
  /** Where the kernels come from (default build/kernels.wasm beside the package). */
  kernels?: WasmSource;
}

/** A built engine, after its cold start. */
export interface ColdEngine {
  readonly arch: Architecture;
  readonly coldStartMs: number;
  run(input: Float32Array): Float32Array;
  memoryBytes(): number | null;
}

/** The layer table of `alpha` x `resolution` and its seeded weights, folded. */
export function seededModel(c: SeededModelConfig): { arch: Architecture; folded: FoldedLayer[] } {
  const arch = buildArchitecture({ depthMultiplier: c.alpha, inputSize: c.resolution });
  return { arch, folded: foldWeights(arch, randomWeights(arch, c.seed)) };
}

const now = () => performance.now();

/**
 * Builds the engine from nothing but seeded weights and times the build plus the first run.
 * The seeded weights are made and folded, and a kernels file read, before the clock starts.
 */
export async function coldStart(c: ColdStartConfig): Promise<ColdEngine> {
  const { arch, folded } = seededModel(c);
  const keep = new Set([arch.output]);
  const first = randomInputs(1, c.batch * arch.inputShape[0] * arch.inputShape[1] * 3, c.seed + 7)[0]!;
  if (c.backend === 'reference') {
    const t0 = now();
    runReference(arch, folded, first, c.batch, keep);
    const coldStartMs = now() - t0;
    return {
      arch, coldStartMs,
      run: (input) => runReference(arch, folded, input, c.batch, keep).get(arch.output)!,
      memoryBytes: () => null,
    };
  }
  // Read before the clock: the file system is not the engine.
  const source = await preload(c.kernels ?? (await platform.defaultKernels()));
  const { createWasmBackend } = await import('../wasm/backend.js');
  const t0 = now();
  const backend = await createWasmBackend(arch, folded, { source });
  backend.run(first, c.batch, keep);
  const coldStartMs = now() - t0;
  return {
    arch, coldStartMs,
    run: (input) => backend.run(input, c.batch, keep).get(arch.output)!,
    memoryBytes: () => backend.memoryBytes,
  };
}

/** A local file's bytes; anything else (bytes, a Module, an http URL, a file that fails) is left to the loader, which reports it. */
async function preload(source: WasmSource): Promise<WasmSource> {
  const file = source instanceof URL ? (source.protocol === 'file:' ? source : null) : typeof source === 'string' && !/^https?:/i.test(source) ? source : null;
  if (file === null) return source;
  try {
    return new Uint8Array(await readFile(file));
  } catch {
    return source;
  }
}

/**
 * The q-quantile (0..1) of ascending samples, interpolating linearly between order statistics
 * as tinybench does (so a median of pooled rounds reads like tinybench's own); NaN for none.
 */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** The median of samples in any order. */
export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 0.5);
}
