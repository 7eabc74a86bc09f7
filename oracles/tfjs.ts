/**
 * oracles/: MobileNet v1 in other engines: TF.js ops rebuilt from TF-Slim's definition (tfjs.ts)
 * and the folded network as an ONNX graph (onnx.ts), for test/ to check our engine against and
 * bench/ to time as peers. They take only types from src/, never our engine or kernels.
 *
 * An independent witness: MobileNet v1 written a second time, in TensorFlow.js ops, by
 * following TF-Slim's `mobilenet_v1_base` / `mobilenet_v1` (and the seed's PyTorch module for
 * `padding: 'symmetric'`) line by line.
 *
 * It reads only the resolved options and the weights. It never looks at the layer table's
 * strides, rates, paddings, pool windows or shapes: those it works out again the way the
 * Python does, and where TF's SAME applies it hands 'same' to TensorFlow.js so that TF decides
 * the asymmetric padding itself. BatchNorm runs as TF runs it at inference (`tf.batchNorm`
 * with the moving statistics), not folded; a layer given folded (`<scope>/biases`) adds its bias.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { Architecture, ResolvedOptions } from '../src/model/architecture.js';
import type { WeightMap } from '../src/model/weights.js';

export type TfjsBackendName = 'cpu' | 'wasm';

// In Node the wasm backend must be told where its .wasm files are: the package's dist folder.
const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

/** Makes `name` the active TensorFlow.js backend (the engine is global, one backend at a time). */
export async function useTfjsBackend(name: TfjsBackendName): Promise<void> {
  if (tf.getBackend() !== name && !(await tf.setBackend(name))) {
    throw new Error(`TensorFlow.js backend ${name} failed to initialise`);
  }
  await tf.ready();
}

/**
 * Runs the network on `input` (NHWC, `batch` images of the architecture's input size) and
 * returns every end point, in order, as flat NHWC float32 arrays.
 */
export async function runTfjsOracle(
  arch: Architecture,
  weights: WeightMap,
  input: Float32Array,
  batch: number,
  backend: TfjsBackendName = 'cpu',
): Promise<Map<string, Float32Array>> {
  await useTfjsBackend(backend);
  const [h, w, c] = arch.inputShape;
  const endPoints = tf.tidy(() => forward(arch.options, weights, tf.tensor4d(input, [batch, h, w, c])));
  const out = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(endPoints)) out.set(name, t.dataSync() as Float32Array);
  tf.dispose(endPoints);
  return out;
}

function forward(o: ResolvedOptions, weights: WeightMap, inputs: tf.Tensor4D): Record<string, tf.Tensor> {
  const endPoints: Record<string, tf.Tensor> = {};
  const param = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`oracle: weight ${name} missing`);
    return tf.tensor(t.data, t.shape);
  };
  const depth = (d: number) => Math.max(Math.trunc(d * o.depthMultiplier), o.minDepth);

  /** Pads as PyTorch's `padding=rate*(k-1)//2` or TF-Slim's `_fixed_padding`; else TF SAME. */
  const pad = (x: tf.Tensor4D, kernel: readonly [number, number], rate: number): [tf.Tensor4D, 'same' | 'valid'] => {
    const effective = kernel.map((k) => k + (k - 1) * (rate - 1));
    let amounts: [number, number][];
    if (o.padding === 'symmetric') {
      amounts = kernel.map((k) => Math.floor((rate * (k - 1)) / 2)).map((p) => [p, p]);
    } else if (o.useExplicitPadding) {
      // _fixed_padding: total = effective - 1, the odd pixel after, from kernel_size[0] on both
      // axes as TF-Slim writes it (kernel_size_effective = [k0 + ..., k0 + ...]).
      const e = effective[0]!;
      amounts = [0, 1].map(() => [Math.floor((e - 1) / 2), e - 1 - Math.floor((e - 1) / 2)]);
    } else {
      return [x, 'same'];
    }
    return [tf.pad(x, [[0, 0], amounts[0]!, amounts[1]!, [0, 0]]), 'valid'];
  };

  /** BatchNorm (or the folded bias) then the activation, as slim.conv2d's normalizer_fn does. */
  const normalize = (scope: string, x: tf.Tensor4D): tf.Tensor4D => {
    const y = weights.has(`${scope}/biases`)
      ? tf.add(x, param(`${scope}/biases`))
      : tf.batchNorm(
          x,
          param(`${scope}/BatchNorm/moving_mean`) as tf.Tensor1D,
          param(`${scope}/BatchNorm/moving_variance`) as tf.Tensor1D,
          param(`${scope}/BatchNorm/beta`) as tf.Tensor1D,
          param(`${scope}/BatchNorm/gamma`) as tf.Tensor1D,
          o.batchNormEpsilon,
        );
    return (o.activation === 'relu6' ? tf.relu6(y) : tf.relu(y)) as tf.Tensor4D;
  };

  const checkDepth = (name: string, filter: tf.Tensor, expected: number) => {
    if (filter.shape[3] !== expected) throw new Error(`oracle: ${name} has ${filter.shape[3]} filters, TF-Slim's depth() gives ${expected}`);
  };

  // mobilenet_v1_base: the running stride and the atrous rate, exactly as the Python keeps them.
  let net = inputs;
  let currentStride = 1;
  let rate = 1;
  let done = false;
  for (let i = 0; i < o.convDefs.length && !done; i++) {
    const def = o.convDefs[i]!;
    let layerStride: number;
    let layerRate: number;
    if (o.outputStride !== null && currentStride === o.outputStride) {
      layerStride = 1;
      layerRate = rate;
      rate *= def.stride;
    } else {
      layerStride = def.stride;
      layerRate = 1;
      currentStride *= def.stride;
    }
    const emit = (name: string, x: tf.Tensor4D) => {
      endPoints[name] = net = x;
      done = name === o.finalEndpoint;
    };
    if (def.type === 'Conv') {
      // slim.conv2d(stride=conv_def.stride): a full convolution keeps its stride and no rate.
      const scope = `MobilenetV1/Conv2d_${i}`;
      const filter = param(`${scope}/weights`) as tf.Tensor4D;
      checkDepth(scope, filter, depth(def.depth));
      const [x, mode] = pad(net, def.kernel, 1);
      emit(`Conv2d_${i}`, normalize(scope, tf.conv2d(x, filter, def.stride, mode)));
    } else {
      const dw = `MobilenetV1/Conv2d_${i}_depthwise`;
      const [x, mode] = pad(net, def.kernel, layerRate);
      const dwFilter = param(`${dw}/depthwise_weights`) as tf.Tensor4D;
      emit(`Conv2d_${i}_depthwise`, normalize(dw, tf.depthwiseConv2d(x, dwFilter, layerStride, mode, 'NHWC', layerRate)));
      if (done) break;
      const pw = `MobilenetV1/Conv2d_${i}_pointwise`;
      const pwFilter = param(`${pw}/weights`) as tf.Tensor4D;
      checkDepth(pw, pwFilter, depth(def.depth));
      emit(`Conv2d_${i}_pointwise`, normalize(pw, tf.conv2d(net, pwFilter, 1, 'same')));
    }
  }
  if (o.finalEndpoint !== null) {
    if (!done) throw new Error(`oracle: final end point ${o.finalEndpoint} not reached`);
    return endPoints;
  }

  // mobilenet_v1's head (or the seed's nn.AvgPool2d(7) and nn.Linear for flavour 'torch').
  if (o.globalPool) {
    endPoints['global_pool'] = net = tf.mean(net, [1, 2], true);
  } else if (o.flavour === 'torch') {
    endPoints['AvgPool_1a'] = net = tf.avgPool(net, 7, 7, 'valid');
  } else {
    // _reduced_kernel_size_for_small_input, then slim.avg_pool2d's default stride of 2.
    const kernel: [number, number] = [Math.min(net.shape[1], 7), Math.min(net.shape[2], 7)];
    endPoints['AvgPool_1a'] = net = tf.avgPool(net, kernel, 2, 'valid');
  }
  if (!o.numClasses) return endPoints;
  const scope = 'MobilenetV1/Logits/Conv2d_1c_1x1';
  let logits: tf.Tensor = tf.add(tf.conv2d(net, param(`${scope}/weights`) as tf.Tensor4D, 1, 'valid'), param(`${scope}/biases`));
  if (o.spatialSqueeze) logits = tf.squeeze(logits, [1, 2]);
  endPoints['Logits'] = logits;
  endPoints['Predictions'] = tf.softmax(logits);
  return endPoints;
}
