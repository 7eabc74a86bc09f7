/**
 * Stage 1, kernels: every conv layer shape of one configuration (default the 28 of alpha 1.0 @
 * 224), each kernel alone on its own packed weights, with tinybench:
 *   SIMD       runLayer() of the wasm backend: the kernel and the call the backend makes
 *   scalar     the scalar wasm twin of the same kernel, same packing, same order
 *   reference  the plain-TypeScript kernel of the reference path (every layer, or a subset)
 * The SIMD output is compared with the scalar one first (they are bit-exact twins).
 */
import { Bench } from 'tinybench';
import { seededModel } from '../../src/engine/measure.js';
import { convLayers } from '../../src/model/architecture.js';
import { runConvLayer } from '../../src/reference/backend.js';
import { gemmScratchBytes, packLayer, packedLengthOf, runLayer } from '../../src/wasm/backend.js';
import { scalarKernels } from '../../src/wasm/kernels.js';
import { WASM_PAGE_BYTES, instantiateKernels } from '../../src/wasm/loader.js';
import type { Progress } from '../lib/progress.js';
import { relativeError, seededInputs, summarize, type Timing } from '../lib/stats.js';
import type { KernelRow, KernelsResult } from '../lib/types.js';

export interface KernelStageOptions {
  alpha: number;
  resolution: number;
  /** Indices into the conv layers. */
  layers: readonly number[];
  /** tinybench time per task (ms) and minimum iterations. */
  timeMs: number;
  iterations: number;
  warmupMs: number;
  /** Run the TypeScript reference kernel on these conv-layer indices. */
  referenceLayers: ReadonlySet<number>;
  seed: number;
}

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
const volume = (s: readonly number[]) => s[0]! * s[1]! * s[2]!;

function timingOf(bench: Bench, name: string): Timing | null {
  const task = bench.tasks.find((t) => t.name === name);
  if (!task) return null;
  const result = task.result;
  if (result.state !== 'completed' || !result.latency.samples) throw new Error(`kernels: ${name} did not complete (${result.state})`);
  return summarize(result.latency.samples);
}

export async function kernelStage(module: WebAssembly.Module, o: KernelStageOptions, progress: Progress): Promise<KernelsResult> {
  const model = seededModel(o);
  const layers = convLayers(model.arch);
  const folded = new Map(model.folded.map((f) => [f.layer.name, f]));
  const chosen = o.layers.map((i) => layers[i]!);
  // One arena for all: weights, two inputs (rotated), one output; 64 bytes of slack after each.
  const maxW = Math.max(...chosen.map(packedLengthOf));
  const maxIn = Math.max(...chosen.map((l) => volume(l.inShape)));
  const maxOut = Math.max(...chosen.map((l) => volume(l.outShape)));
  const wOff = ALIGN;
  const inOff = [wOff + align(maxW * 4 + 64), 0];
  inOff[1] = inOff[0]! + align(maxIn * 4 + 64);
  const outOff = inOff[1]! + align(maxIn * 4 + 64);
  // The GEMM scratch the backend plans for pointwise layers, so the kernel runs the backend's path.
  const scratchOff = outOff + align(maxOut * 4 + 64);
  const scratchBytes = Math.max(0, ...chosen.map((l) => (l.kind === 'pointwise' || l.kind === 'logits' ? gemmScratchBytes(l.inShape[2]) : 0)));
  const bytes = scratchOff + align(scratchBytes + 64);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE_BYTES) });
  const { kernels } = instantiateKernels(module, memory);
  const scalar = scalarKernels(kernels);
  const f32 = (off: number, n: number) => new Float32Array(memory.buffer, off, n);

  const rows: KernelRow[] = [];
  progress.begin('kernels', chosen.length);
  for (const [n, layer] of chosen.entries()) {
    const index = o.layers[n]!;
    const f = folded.get(layer.name)!;
    const inLen = volume(layer.inShape);
    const outLen = volume(layer.outShape);
    packLayer(layer, f.filter, f.bias, f32(wOff, packedLengthOf(layer)));
    const inputs = seededInputs(2, inLen, o.seed + index);
    inputs.forEach((x, i) => f32(inOff[i]!, inLen).set(x));

    // The check: SIMD against its scalar twin, on the first input.
    runLayer(scalar, layer, wOff, inOff[0]!, outOff, 1, scratchOff);
    const expected = f32(outOff, outLen).slice();
    runLayer(kernels, layer, wOff, inOff[0]!, outOff, 1, scratchOff);
    const simdVsScalar = relativeError(f32(outOff, outLen), expected);

    progress.update(`${layer.name} ${layer.inShape.join('x')} -> ${layer.outShape.join('x')}`);
    const bench = new Bench({ time: o.timeMs, iterations: o.iterations, warmupTime: o.warmupMs, warmupIterations: 2, retainSamples: true, throws: true });
    let turn = 0;
    bench.add('simd', () => runLayer(kernels, layer, wOff, inOff[turn++ & 1]!, outOff, 1, scratchOff));
    bench.add('scalar', () => runLayer(scalar, layer, wOff, inOff[turn++ & 1]!, outOff, 1, scratchOff));
    await bench.run();
    let reference: Timing | null = null;
    if (o.referenceLayers.has(index)) {
      progress.update(`${layer.name}: TypeScript reference`);
      // The reference is 10-100x slower: a few runs are enough for its median.
      const refBench = new Bench({ time: Math.min(o.timeMs, 200), iterations: 3, warmupIterations: 1, warmupTime: 0, retainSamples: true, throws: true });
      refBench.add('reference', () => void runConvLayer(layer, f, inputs[turn++ & 1]!, 1));
      await refBench.run();
      reference = timingOf(refBench, 'reference');
    }
    const weightsBytes = 4 * (layer.params + layer.outShape[2]);
    rows.push({
      name: layer.name,
      kind: layer.kind,
      inShape: layer.inShape,
      outShape: layer.outShape,
      params: layer.params,
      macs: layer.macs,
      bytes: 4 * (inLen + outLen) + weightsBytes,
      simd: timingOf(bench, 'simd')!,
      scalar: timingOf(bench, 'scalar'),
      reference,
      simdVsScalar,
    });
    progress.update(layer.name, true);
  }
  const total = rows.reduce((s, r) => s + r.simd.medianMs, 0);
  progress.end(`sum of SIMD medians ${total.toFixed(2)} ms`);
  return { alpha: o.alpha, resolution: o.resolution, rows };
}
