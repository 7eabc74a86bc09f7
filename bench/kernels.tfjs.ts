/**
 * TensorFlow.js wasm (XNNPACK) peer for the benchmarks: the same network built from the same
 * folded weights with fused conv2d / depthwiseConv2d (bias + activation fused, as XNNPACK runs
 * them). Single-threaded: the tfjs wasm backend runs one thread in Node.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { Architecture, ConvLayer, Layer } from '../src/model/architecture.js';
import type { FoldedLayer } from '../src/model/fold.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

export async function useTfjsWasm(): Promise<typeof tf> {
  if (tf.getBackend() !== 'wasm' && !(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed');
  await tf.ready();
  return tf;
}

type Op = (x: tf.Tensor4D) => tf.Tensor4D;

/** One op per layer, weights uploaded once. Explicit paddings are given to tf as numbers. */
export function tfjsLayer(layer: Layer, f: FoldedLayer | undefined, tfSame = false): Op {
  if (layer.kind === 'softmax') return (x) => x;
  if (layer.kind === 'avgpool') {
    return (x) => tf.avgPool(x, layer.kernel as [number, number], layer.stride, 'valid');
  }
  const l = layer as ConvLayer;
  const [kh, kw] = l.kernel;
  const inC = l.inShape[2];
  const outC = l.outShape[2];
  const bias = tf.tensor1d(f!.bias);
  const activation = l.activation === 'none' ? 'linear' : l.activation;
  const p = l.padding;
  const pad: [[number, number], [number, number], [number, number], [number, number]] | 'valid' | 'same' =
    p.top + p.bottom + p.left + p.right === 0 ? 'valid' : tfSame ? 'same' : [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]];
  const fusedPad = pad === 'same' ? 'same' : 'valid';
  const padIt = (x: tf.Tensor4D) => (typeof pad === 'string' ? x : tf.pad(x, pad));
  if (l.kind === 'depthwise') {
    const filter = tf.tensor4d(f!.filter, [kh, kw, inC, 1]);
    return (x) => {
      const padded = padIt(x);
      const y = tf.fused.depthwiseConv2d({ x: padded, filter, strides: l.stride, pad: fusedPad, dilations: l.dilation, bias, activation });
      if (padded !== x) padded.dispose();
      return y;
    };
  }
  const filter = tf.tensor4d(f!.filter, [kh, kw, inC, outC]);
  return (x) => {
    const padded = padIt(x);
    const y = tf.fused.conv2d({ x: padded, filter, strides: l.stride, pad: fusedPad, dilations: l.dilation, bias, activation });
    if (padded !== x) padded.dispose();
    return y;
  };
}

/** The whole model as one function (input [N,H,W,3] -> logits), weights uploaded once. */
export function tfjsModel(arch: Architecture, folded: readonly FoldedLayer[]): Op {
  const byName = new Map(folded.map((f) => [f.layer.name, f]));
  const tfSame = arch.options.padding === 'same' && !arch.options.useExplicitPadding;
  const ops = arch.layers.filter((l) => l.kind !== 'softmax').map((l) => tfjsLayer(l, byName.get(l.name), tfSame));
  return (x) => tf.tidy(() => ops.reduce((t, op) => op(t), x));
}
