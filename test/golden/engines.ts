/**
 * The engines the golden tests check bundles against, each from the bundle's own files or
 * model: onnxruntime-node and onnxruntime-web (wasm execution provider) running an exported
 * ONNX model, TensorFlow.js (cpu and wasm backends) through the TF-Slim oracle (BatchNorm
 * unfolded, its own padding logic), and our wasm backend. Every runner returns the end points
 * as flat NHWC float32 arrays by name.
 */
import * as ortNode from 'onnxruntime-node';
import type { Architecture } from '../../src/model/architecture.js';
import type { WeightMap } from '../../src/model/weights.js';
import { runTfjsOracle } from '../../oracles/tfjs.js';

interface OrtTensor { data: unknown; dims: readonly number[] }
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
  outputNames: readonly string[];
}
interface Ort {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  env?: { wasm: { numThreads: number } };
}

export type OrtName = 'ort-node' | 'ort-web';

let ortWeb: Ort | null = null;
async function ortRuntime(name: OrtName): Promise<Ort> {
  if (name === 'ort-node') return ortNode as unknown as Ort;
  if (!ortWeb) {
    ortWeb = (await import('onnxruntime-web')) as unknown as Ort;
    // One thread: no worker threads in a test fork.
    ortWeb.env!.wasm.numThreads = 1;
  }
  return ortWeb;
}

/** Runs an ONNX model on `input` [N, H, W, 3]; every graph output by name, with its dims. */
export async function runOnnx(name: OrtName, model: Uint8Array, input: Float32Array, dims: readonly number[]): Promise<Map<string, { dims: number[]; data: Float32Array }>> {
  const ort = await ortRuntime(name);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [name === 'ort-node' ? 'cpu' : 'wasm'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  try {
    const result = await session.run({ input: new ort.Tensor('float32', input, dims) });
    return new Map(session.outputNames.map((n) => [n, { dims: [...result[n]!.dims], data: result[n]!.data as Float32Array }]));
  } finally {
    await session.release();
  }
}

export type TfjsName = 'tfjs-cpu' | 'tfjs-wasm';

/** TensorFlow.js through the oracle: every end point of the architecture. */
export async function runTfjs(name: TfjsName, arch: Architecture, weights: WeightMap, input: Float32Array, batch: number): Promise<Map<string, Float32Array>> {
  return runTfjsOracle(arch, weights, input, batch, name === 'tfjs-cpu' ? 'cpu' : 'wasm');
}

/** max |a - b|, max |b| (b the golden), NaN as an infinite error. */
export function errorOf(actual: Float32Array, golden: Float32Array): { maxAbs: number; scale: number; rel: number } {
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < golden.length; i++) {
    const d = Math.abs(actual[i]! - golden[i]!);
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
    scale = Math.max(scale, Math.abs(golden[i]!));
  }
  return { maxAbs, scale, rel: scale > 0 ? maxAbs / scale : maxAbs };
}
