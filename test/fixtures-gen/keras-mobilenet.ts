/**
 * A Keras MobileNet v1 (keras.applications.mobilenet layer names and structure) as a TF.js
 * layers model: model.json (Keras topology + weightsManifest) and shard bytes, written
 * programmatically from seeded random weights. Built without @tensorflow/tfjs-layers, which is
 * not installed here; `runKerasTopology` executes such a model.json layer by layer with
 * TensorFlow.js ops, as an oracle independent of src/formats/tfjs-layers.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { MOBILENET_V1_CONV_DEFS, buildArchitecture } from '../../src/model/architecture.js';
import { randomWeights } from '../../src/model/random.js';

export interface KerasFixtureOptions {
  alpha: number;
  /** null: an open input shape [null, null, null, 3]. */
  size: number | null;
  classes?: number;
  /** keras22: ZeroPadding2D(((0,1),(0,1))) + VALID on stride 2, ReLU(6); keras21: SAME everywhere, Activation('relu6'); symmetric: ZeroPadding2D(1) + VALID on stride 2. */
  style?: 'keras22' | 'keras21' | 'symmetric';
  head?: 'conv' | 'dense';
  seed?: number;
  /** Split the weights over this many shard files. */
  shards?: number;
  /** Prefix every weight name (as some exports do): `prefix/conv1/kernel`. */
  prefix?: string;
}

export interface KerasFixture {
  modelJson: Record<string, unknown>;
  /** File name -> bytes. */
  shards: Map<string, Uint8Array>;
}

type Layer = { class_name: string; config: Record<string, unknown>; name: string; inbound_nodes: unknown[] };

export function kerasMobileNet(o: KerasFixtureOptions): KerasFixture {
  const { alpha, size, classes = 1000, style = 'keras22', head = 'conv', seed = 1, shards = 1, prefix = '' } = o;
  const arch = buildArchitecture({ depthMultiplier: alpha, inputSize: size ?? 224, numClasses: classes });
  const slim = randomWeights(arch, seed);
  const layers: Layer[] = [];
  const weights: { name: string; shape: number[]; data: Float32Array }[] = [];
  const add = (class_name: string, name: string, config: Record<string, unknown>) => {
    const prev = layers[layers.length - 1];
    layers.push({ class_name, name, config: { name, trainable: true, ...config }, inbound_nodes: prev ? [[[prev.name, 0, 0, {}]]] : [] });
  };
  const w = (keras: string, slimName: string, shape?: number[]) => {
    const t = slim.get(slimName)!;
    weights.push({ name: `${prefix}${keras}`, shape: shape ?? t.shape, data: t.data });
  };
  const relu = (name: string) => (style === 'keras21' ? add('Activation', name, { activation: 'relu6' }) : add('ReLU', name, { max_value: 6, negative_slope: 0, threshold: 0 }));
  const bn = (name: string, scope: string) => {
    add('BatchNormalization', name, { axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true });
    for (const [k, s] of [['gamma', 'gamma'], ['beta', 'beta'], ['moving_mean', 'moving_mean'], ['moving_variance', 'moving_variance']]) w(`${name}/${k}`, `${scope}/BatchNorm/${s}`);
  };
  const padFor = (name: string, stride: number): 'same' | 'valid' => {
    if (stride === 1 || style === 'keras21') return 'same';
    add('ZeroPadding2D', name, { padding: style === 'keras22' ? [[0, 1], [0, 1]] : [[1, 1], [1, 1]], data_format: 'channels_last' });
    return 'valid';
  };
  add('InputLayer', 'input_1', { batch_input_shape: [null, size, size, 3], dtype: 'float32', sparse: false });
  const depth = (d: number) => Math.max(Math.trunc(d * alpha), 8);
  const conv = { kernel_size: [3, 3], data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: false };
  const padding0 = padFor('conv1_pad', 2); // conv1_pad comes before conv1
  add('Conv2D', 'conv1', { ...conv, filters: depth(32), strides: [2, 2], padding: padding0 });
  w('conv1/kernel', 'MobilenetV1/Conv2d_0/weights');
  bn('conv1_bn', 'MobilenetV1/Conv2d_0');
  relu('conv1_relu');
  for (let i = 1; i < MOBILENET_V1_CONV_DEFS.length; i++) {
    const def = MOBILENET_V1_CONV_DEFS[i]!;
    const padding = padFor(`conv_pad_${i}`, def.stride);
    add('DepthwiseConv2D', `conv_dw_${i}`, { ...conv, strides: [def.stride, def.stride], padding, depth_multiplier: 1 });
    w(`conv_dw_${i}/depthwise_kernel`, `MobilenetV1/Conv2d_${i}_depthwise/depthwise_weights`);
    bn(`conv_dw_${i}_bn`, `MobilenetV1/Conv2d_${i}_depthwise`);
    relu(`conv_dw_${i}_relu`);
    add('Conv2D', `conv_pw_${i}`, { ...conv, kernel_size: [1, 1], filters: depth(def.depth), strides: [1, 1], padding: 'same' });
    w(`conv_pw_${i}/kernel`, `MobilenetV1/Conv2d_${i}_pointwise/weights`);
    bn(`conv_pw_${i}_bn`, `MobilenetV1/Conv2d_${i}_pointwise`);
    relu(`conv_pw_${i}_relu`);
  }
  const c = depth(1024);
  add('GlobalAveragePooling2D', 'global_average_pooling2d_1', { data_format: 'channels_last' });
  if (head === 'conv') {
    add('Reshape', 'reshape_1', { target_shape: [1, 1, c] });
    add('Dropout', 'dropout', { rate: 0.001 });
    add('Conv2D', 'conv_preds', { ...conv, kernel_size: [1, 1], filters: classes, strides: [1, 1], padding: 'same', use_bias: true });
    w('conv_preds/kernel', 'MobilenetV1/Logits/Conv2d_1c_1x1/weights');
    w('conv_preds/bias', 'MobilenetV1/Logits/Conv2d_1c_1x1/biases');
    add('Reshape', 'reshape_2', { target_shape: [classes] });
    add('Activation', 'act_softmax', { activation: 'softmax' });
  } else {
    add('Dense', 'dense_1', { units: classes, activation: 'softmax', use_bias: true });
    w('dense_1/kernel', 'MobilenetV1/Logits/Conv2d_1c_1x1/weights', [c, classes]);
    w('dense_1/bias', 'MobilenetV1/Logits/Conv2d_1c_1x1/biases');
  }
  const total = weights.reduce((n, t) => n + t.data.length * 4, 0);
  const all = new Uint8Array(total);
  const view = new DataView(all.buffer);
  let at = 0;
  for (const t of weights) for (const v of t.data) view.setFloat32((at += 4) - 4, v, true);
  const files = new Map<string, Uint8Array>();
  const per = Math.ceil(total / shards);
  for (let s = 0; s < shards; s++) files.set(`group1-shard${s + 1}of${shards}.bin`, all.subarray(s * per, Math.min(total, (s + 1) * per)));
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'keras v2.2.4 (test fixture)',
    convertedBy: 'test/fixtures-gen/keras-mobilenet.ts',
    modelTopology: {
      keras_version: '2.2.4',
      backend: 'tensorflow',
      model_config: {
        class_name: 'Model',
        config: { name: `mobilenet_${alpha}_${size}`, layers, input_layers: [['input_1', 0, 0]], output_layers: [[layers[layers.length - 1]!.name, 0, 0]] },
      },
    },
    weightsManifest: [{ paths: [...files.keys()], weights: weights.map((t) => ({ name: t.name, shape: t.shape, dtype: 'float32' })) }],
  };
  return { modelJson, shards: files };
}

/** Runs a Keras chain model.json with tf ops (softmax left out: returns the logits). */
export function runKerasTopology(modelJson: any, shards: Uint8Array[], x: tf.Tensor4D): Float32Array {
  const bytes = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let o = 0;
  for (const s of shards) bytes.set(s, (o += s.length) - s.length);
  const params = new Map<string, tf.Tensor>();
  let at = 0;
  for (const wgt of modelJson.weightsManifest[0].weights) {
    const n = wgt.shape.reduce((a: number, b: number) => a * b, 1);
    params.set(wgt.name.split('/').slice(-2).join('/'), tf.tensor(new Float32Array(bytes.buffer.slice(at, at + 4 * n)), wgt.shape));
    at += 4 * n;
  }
  const p = (name: string) => params.get(name)!;
  return tf.tidy(() => {
    let y: tf.Tensor = x;
    for (const layer of modelJson.modelTopology.model_config.config.layers) {
      const c = layer.config;
      switch (layer.class_name) {
        case 'InputLayer':
        case 'Dropout':
          break;
        case 'ZeroPadding2D':
          y = tf.pad(y, [[0, 0], c.padding[0], c.padding[1], [0, 0]]);
          break;
        case 'Conv2D':
          y = tf.conv2d(y as tf.Tensor4D, p(`${c.name}/kernel`) as tf.Tensor4D, c.strides, c.padding);
          if (c.use_bias) y = tf.add(y, p(`${c.name}/bias`));
          break;
        case 'DepthwiseConv2D':
          y = tf.depthwiseConv2d(y as tf.Tensor4D, p(`${c.name}/depthwise_kernel`) as tf.Tensor4D, c.strides, c.padding);
          break;
        case 'BatchNormalization':
          y = tf.batchNorm(y, p(`${c.name}/moving_mean`), p(`${c.name}/moving_variance`), p(`${c.name}/beta`), p(`${c.name}/gamma`), c.epsilon);
          break;
        case 'ReLU':
          y = c.max_value === 6 ? tf.relu6(y) : tf.relu(y);
          break;
        case 'Activation':
          if (c.activation === 'relu6') y = tf.relu6(y);
          else if (c.activation === 'relu') y = tf.relu(y);
          break;
        case 'GlobalAveragePooling2D':
          y = tf.mean(y, [1, 2]);
          break;
        case 'Reshape':
          y = tf.reshape(y, [-1, ...c.target_shape]);
          break;
        case 'Dense':
          y = tf.add(tf.matMul(y as tf.Tensor2D, p(`${c.name}/kernel`) as tf.Tensor2D), p(`${c.name}/bias`));
          break;
        default:
          throw new Error(`oracle: layer ${layer.class_name}`);
      }
    }
    return y.dataSync() as Float32Array;
  });
}
