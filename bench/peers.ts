/**
 * The benchmark's peers: the same network, with the same folded weights, in other engines.
 *
 *   tfjs-wasm  TensorFlow.js, wasm backend (XNNPACK, SIMD; single-threaded in Node)
 *   tfjs-cpu   TensorFlow.js, plain-JavaScript cpu backend
 *   ort-node   onnxruntime-node, native CPU execution provider, 1 intra-op thread
 *   ort-web    onnxruntime-web, wasm execution provider, numThreads 1
 *
 * Each is built the way a user of that engine would run a converted MobileNet: TF.js with its
 * fused conv + bias + activation ops, onnxruntime with an ONNX graph it is free to optimise.
 * One thread everywhere (the models stage), so every row measures the same thing as our
 * single-threaded wasm; the threads stage asks for `threads`: ort-node per session
 * (intraOpNumThreads), ort-web and TF.js wasm once per process (ort.env.wasm.numThreads before
 * the first session; TF.js's threaded build forced on by bench/lib/tfjs-threads.ts first).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as ortNode from 'onnxruntime-node';
import type { Architecture, ConvLayer } from '../src/model/architecture.js';
import type { FoldedLayer } from '../src/model/fold.js';
import { mobilenetToOnnx } from '../oracles/onnx.js';
import { useTfjsBackend, type TfjsBackendName } from '../oracles/tfjs.js';
import type { PeerChoice } from './lib/options.js';

/** A built network: input `[batch, H, W, 3]` NHWC in, the architecture's output end point out (flat NHWC). */
export interface Engine {
  readonly name: string;
  run(input: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export function createPeer(name: PeerChoice, arch: Architecture, folded: readonly FoldedLayer[], batch: number, threads = 1): Promise<Engine> {
  switch (name) {
    case 'tfjs-wasm':
      return tfjsPeer('wasm', arch, folded, batch);
    case 'tfjs-cpu':
      return tfjsPeer('cpu', arch, folded, batch);
    case 'ort-node':
      return ortPeer(name, ortNode, arch, folded, batch, ['cpu'], threads);
    case 'ort-web':
      return ortWebPeer(arch, folded, batch, threads);
  }
}

// TF.js's "You are running in Node, install tfjs-node" banner: production mode silences it.
tf.env().set('PROD', true);

async function tfjsPeer(backend: TfjsBackendName, arch: Architecture, folded: readonly FoldedLayer[], batch: number): Promise<Engine> {
  // The engine is global: weights are created on this peer's backend, and every run switches
  // back to it first, so no tensor ever migrates between backends.
  await useTfjsBackend(backend);
  const o = arch.options;
  const sameMode = o.padding === 'same' && !o.useExplicitPadding;
  const params = new Map(
    folded.map(({ layer, filter, bias }) => {
      const [kh, kw] = layer.kernel;
      const shape = layer.kind === 'depthwise' ? [kh, kw, layer.inShape[2], 1] : [kh, kw, layer.inShape[2], layer.outShape[2]];
      return [layer.name, { filter: tf.tensor4d(filter, shape as [number, number, number, number]), bias: tf.tensor1d(bias) }];
    }),
  );
  const activation = (l: ConvLayer) => (l.activation === 'none' ? 'linear' : l.activation);
  /** TF SAME as TF.js's own 'same' (what a converted TF model runs); other paddings explicitly. */
  const padded = (x: tf.Tensor4D, l: ConvLayer): [tf.Tensor4D, 'same' | 'valid' | number] => {
    const { top, bottom, left, right } = l.padding;
    if (top + bottom + left + right === 0) return [x, 'valid'];
    if (sameMode) return [x, 'same'];
    if (top === bottom && left === right && top === left) return [x, top];
    return [tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]), 'valid'];
  };
  const forward = (input: tf.Tensor4D): tf.Tensor => {
    let x = input;
    for (const l of arch.layers) {
      if (l.kind === 'softmax') break;
      if (l.kind === 'avgpool') {
        x = l.global ? tf.mean(x, [1, 2], true) : tf.avgPool(x, l.kernel as [number, number], l.stride, 'valid');
      } else {
        const { filter, bias } = params.get(l.name)!;
        const [xp, pad] = padded(x, l);
        const args = { x: xp, filter, bias, strides: l.stride, dilations: l.dilation, activation: activation(l) } as const;
        x = l.kind === 'depthwise' ? tf.fused.depthwiseConv2d({ ...args, pad }) : tf.fused.conv2d({ ...args, pad });
      }
      if (l.name === arch.output) break;
    }
    return x;
  };
  const [h, w, c] = arch.inputShape;
  return {
    name: `tfjs-${backend}`,
    async run(input) {
      await useTfjsBackend(backend);
      const y = tf.tidy(() => forward(tf.tensor4d(input, [batch, h, w, c])));
      const data = y.dataSync() as Float32Array;
      y.dispose();
      return data;
    },
    async dispose() {
      for (const { filter, bias } of params.values()) tf.dispose([filter, bias]);
    },
  };
}

type Ort = typeof ortNode;

async function ortPeer(
  name: string,
  ort: Ort,
  arch: Architecture,
  folded: readonly FoldedLayer[],
  batch: number,
  executionProviders: string[],
  threads = 1,
): Promise<Engine> {
  const session = await ort.InferenceSession.create(mobilenetToOnnx(arch, folded, batch), {
    executionProviders,
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  });
  const dims = [batch, ...arch.inputShape];
  return {
    name,
    async run(input) {
      const result = await session.run({ input: new ort.Tensor('float32', input, dims) });
      return result['output']!.data as Float32Array;
    },
    dispose: () => session.release(),
  };
}

async function ortWebPeer(arch: Architecture, folded: readonly FoldedLayer[], batch: number, threads: number): Promise<Engine> {
  // Loaded only when asked for: it brings its own wasm runtime. In Node it finds its .wasm
  // next to its own module; numThreads 1 keeps it off worker threads. numThreads is read when
  // the first session starts its runtime: a process runs ort-web on one thread count only.
  const ortWeb = (await import('onnxruntime-web')) as unknown as Ort;
  ortWeb.env.wasm.numThreads = threads;
  return ortPeer('ort-web', ortWeb, arch, folded, batch, ['wasm'], threads);
}
