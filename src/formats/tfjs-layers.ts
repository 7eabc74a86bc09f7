/**
 * TF.js layers models: Keras' `keras.applications.MobileNet` converted by tfjs-converter (or
 * saved by tfjs-layers): `model.json` with `format: "layers-model"`, the Keras topology in
 * `modelTopology` (`model_config` for converter output, the config itself for tfjs-layers'
 * own saves), and a `weightsManifest` of float32 tensors in shard files.
 *
 * The topology is read, not trusted: its layers must form the Keras MobileNet chain
 *
 *   InputLayer
 *   [conv1_pad ZeroPadding2D] conv1 Conv2D 3x3 s2, conv1_bn BatchNormalization, conv1_relu ReLU(6)
 *   13 x ([conv_pad_i ZeroPadding2D] conv_dw_i DepthwiseConv2D, conv_dw_i_bn, conv_dw_i_relu,
 *         conv_pw_i Conv2D 1x1, conv_pw_i_bn, conv_pw_i_relu)
 *   GlobalAveragePooling2D, then Reshape / Dropout / Flatten (no-ops here), then the
 *   classifier: conv_preds (1x1 Conv2D with bias) or a Dense, then Reshape / Activation(softmax).
 *
 * ReLU may be `ReLU(max_value=6)` or `Activation('relu6')` (older Keras); all layers must
 * agree (relu6 or relu). Padding: Keras >= 2.2 pads stride-2 convolutions with
 * `ZeroPadding2D(((0,1),(0,1)))` then VALID, which is TF's SAME only when the layer's input
 * is even: an odd input there is refused (ERR_OPTION naming the layer and size). Older
 * exports use SAME directly; `ZeroPadding2D((1,1))` + VALID is PyTorch-style symmetric
 * padding. The three cannot be mixed in one model.
 *
 * Weights (Keras names `conv1/kernel`, `conv1_bn/gamma|beta|moving_mean|moving_variance`,
 * `conv_dw_1/depthwise_kernel`, `conv_pw_1/kernel`, `conv_preds/kernel|bias`, or a Dense's
 * `kernel` [C, K] and `bias`) are mapped to TF-Slim names in the layout Keras already uses
 * (HWIO, [kh,kw,C,1]), BatchNorm unfolded; a name prefix (`mobilenet_1.00_224/conv1/kernel`)
 * is tolerated when the suffix is unique. Every manifest tensor must be used. Options: alpha
 * from the last pointwise kernel, classes from the classifier, input size from the
 * InputLayer (224 when it is left open), BatchNorm epsilon from the layers;
 * pixelNormalization 'unit-signed' (Keras' `preprocess_input`: x / 127.5 - 1).
 */
import { ErrorCodes, badOption, describe, fail } from '../errors.js';
import type { URLLike } from '../dom-types.js';
import {
  MOBILENET_V1_CONV_DEFS,
  buildArchitecture,
  convLayers,
  type Architecture,
  type MobileNetOptions,
} from '../model/architecture.js';
import { checkWeights, formatShape, type NamedTensor, type WeightMap } from '../model/weights.js';
import type { LoadedModel } from './types.js';
import { LAYERS_MODEL as LAYERS, isObject, readTfjsModelFiles, readWeights, type Obj } from './tfjs-manifest.js';
/** Largest channel or class count accepted (bounds the ones/zeros made for scale=false, center=false, use_bias=false). */
const MAX_CHANNELS = 1 << 20;

const bad = (message: string): never => fail(ErrorCodes.MANIFEST, `layers model is not a Keras MobileNet v1: ${message}`);

// ---------------------------------------------------------------------------------------------
// Files

/** Loads from a directory (its model.json) or a model.json path, or a URL. */
export async function loadTfjsLayersModel(source: string | URLLike): Promise<LoadedModel> {
  if (!(source instanceof URL) && (typeof source !== 'string' || source === '')) badOption('source', source, 'a directory or model.json path, or a URL');
  const { json, shards } = await readTfjsModelFiles(source, {}, LAYERS);
  return parseTfjsLayersModel(json, shards);
}

// ---------------------------------------------------------------------------------------------
// The topology

interface KerasLayer {
  className: string;
  name: string;
  config: Obj;
}

interface ConvStep {
  layer: KerasLayer;
  depthwise: boolean;
  kernel: [number, number];
  stride: number;
  /** Explicit ZeroPadding2D before it: [[top, bottom], [left, right]], or null. */
  pad: [[number, number], [number, number]] | null;
  padding: 'same' | 'valid';
  useBias: boolean;
  bn: KerasLayer | null;
  activation: 'relu6' | 'relu' | null;
}

/** Parses model.json (text or parsed) and its shards, in manifest order. */
export function parseTfjsLayersModel(modelJson: string | object, shards: Uint8Array[]): LoadedModel {
  const { json, tensors: raw } = readWeights(modelJson, shards, LAYERS);
  // Float32 only (LAYERS), so every tensor is a NamedTensor.
  const tensors = new Map([...raw].map(([name, t]): [string, NamedTensor] => [name, { shape: t.shape, data: t.data as Float32Array }]));
  const layers = readLayers(json);

  // The input.
  const first = layers[0];
  if (!first || first.className !== 'InputLayer') bad(`the first layer is ${first ? `${first.name} (${first.className})` : 'missing'}, expected an InputLayer`);
  const shape = first!.config.batch_input_shape ?? first!.config.batchInputShape ?? first!.config.batch_shape;
  if (!Array.isArray(shape) || shape.length !== 4 || shape[3] !== 3) bad(`input shape ${describe(shape)}; expected [null, H, W, 3] (channels last)`);
  const [, hRaw, wRaw] = shape as unknown[];
  const dim = (v: unknown) => (v === null ? 224 : typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 8192 ? v : bad(`input shape ${describe(shape)} has a size ${describe(v)}`));
  const h = dim(hRaw);
  const w = dim(wRaw);

  // Walk the chain.
  const convs: ConvStep[] = [];
  let pendingPad: ConvStep['pad'] = null;
  let pooled = false;
  let classifier: { layer: KerasLayer; dense: boolean } | null = null;
  let softmax = false;
  for (const layer of layers.slice(1)) {
    const c = layer.config;
    const where = `layer ${layer.name} (${layer.className})`;
    // keras_applications' MobileNet reshapes after act_softmax (conv_preds, act_softmax, reshape_2): shape only.
    if (softmax && layer.className !== 'Reshape' && layer.className !== 'Flatten') bad(`${where} follows the softmax`);
    switch (layer.className) {
      case 'ZeroPadding2D':
        if (pooled || pendingPad) bad(`unexpected ${where}`);
        checkChannelsLast(layer);
        pendingPad = readPadding(layer);
        break;
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        checkChannelsLast(layer);
        const depthwise = layer.className === 'DepthwiseConv2D';
        const kernel = pair(c.kernel_size, `${where} kernel_size`);
        const strides = pair(c.strides ?? [1, 1], `${where} strides`);
        const dilation = pair(c.dilation_rate ?? [1, 1], `${where} dilation_rate`);
        if (strides[0] !== strides[1]) bad(`${where} has strides ${describe(c.strides)}, expected equal strides`);
        if (dilation[0] !== 1 || dilation[1] !== 1) bad(`${where} has dilation_rate ${describe(c.dilation_rate)}, expected 1`);
        if (c.padding !== 'same' && c.padding !== 'valid') bad(`${where} has padding ${describe(c.padding)}, expected "same" or "valid"`);
        if (c.activation !== undefined && c.activation !== 'linear' && !(pooled && c.activation === 'softmax')) bad(`${where} has activation ${describe(c.activation)}, expected linear (the activation is its own layer)`);
        if (depthwise && (c.depth_multiplier ?? 1) !== 1) bad(`${where} has depth_multiplier ${describe(c.depth_multiplier)}, expected 1`);
        if (c.groups !== undefined && c.groups !== 1) bad(`${where} has groups ${describe(c.groups)}, expected 1`);
        const useBias = c.use_bias !== false;
        if (pooled) {
          if (classifier || depthwise) bad(`unexpected ${where} after the classifier`);
          classifier = { layer, dense: false };
          softmax = c.activation === 'softmax';
          break;
        }
        convs.push({ layer, depthwise, kernel, stride: strides[0], pad: pendingPad, padding: c.padding as 'same' | 'valid', useBias, bn: null, activation: null });
        pendingPad = null;
        break;
      }
      case 'BatchNormalization': {
        const conv = convs[convs.length - 1];
        if (!conv || pooled || conv.bn || conv.activation || pendingPad) bad(`unexpected ${where}; expected it right after a convolution`);
        const axis = c.axis;
        if (!(axis === undefined || axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === 3 || axis[0] === -1)))) {
          bad(`${where} normalises axis ${describe(axis)}, expected the channel axis (-1 or 3)`);
        }
        conv!.bn = layer;
        break;
      }
      case 'ReLU':
      case 'Activation': {
        const conv = convs[convs.length - 1];
        let act: 'relu6' | 'relu' | 'softmax' | 'linear';
        if (layer.className === 'ReLU') {
          if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) bad(`${where} has negative_slope ${describe(c.negative_slope)} threshold ${describe(c.threshold)}, expected 0`);
          act = c.max_value === 6 ? 'relu6' : c.max_value === null || c.max_value === undefined ? 'relu' : bad(`${where} has max_value ${describe(c.max_value)}, expected 6 or none`);
        } else {
          const a = c.activation;
          act = a === 'relu6' || a === 'relu' || a === 'softmax' || a === 'linear' ? a : bad(`${where} has activation ${describe(a)}, expected relu6, relu or (last) softmax`);
        }
        if (act === 'softmax' || act === 'linear') {
          if (!classifier) bad(`${where} (${act}) before the classifier`);
          softmax = act === 'softmax';
          break;
        }
        if (!conv || pooled || conv.activation || pendingPad) bad(`unexpected ${where}; expected it after a convolution and its BatchNormalization`);
        conv!.activation = act;
        break;
      }
      case 'GlobalAveragePooling2D':
        checkChannelsLast(layer);
        if (pooled || pendingPad) bad(`unexpected ${where}`);
        pooled = true;
        break;
      case 'Reshape':
      case 'Dropout':
      case 'Flatten':
        if (!pooled) bad(`unexpected ${where} before the pooling`);
        break;
      case 'Dense':
        if (!pooled || classifier) bad(`unexpected ${where}`);
        if (c.activation !== undefined && c.activation !== 'linear' && c.activation !== 'softmax') bad(`${where} has activation ${describe(c.activation)}, expected linear or softmax`);
        classifier = { layer, dense: true };
        softmax = c.activation === 'softmax';
        break;
      default:
        bad(`unsupported ${where}`);
    }
  }
  const bodyCount = MOBILENET_V1_CONV_DEFS.length * 2 - 1;
  if (convs.length !== bodyCount || !pooled || !classifier) {
    bad(`found ${convs.length} convolutions${pooled ? ', a GlobalAveragePooling2D' : ', no pooling'}${classifier ? ' and a classifier' : ', no classifier'}; expected ${bodyCount}, GlobalAveragePooling2D, conv_preds or Dense`);
  }
  const head = classifier!;

  // Weights by Keras name.
  const used = new Set<string>();
  const get = (layer: string, field: string, required: boolean): NamedTensor | undefined => {
    let name = `${layer}/${field}`;
    if (!tensors.has(name)) {
      const matches = [...tensors.keys()].filter((n) => n.endsWith(`/${layer}/${field}`));
      if (matches.length > 1) fail(ErrorCodes.DUPLICATE_TENSOR, `weights ${matches.join(', ')} all end in ${layer}/${field}`);
      if (matches.length === 0) {
        if (required) fail(ErrorCodes.WEIGHT_MISSING, `layer ${layer}: weight ${layer}/${field} is not in weightsManifest`);
        return undefined;
      }
      name = matches[0]!;
    }
    used.add(name);
    return tensors.get(name);
  };

  // Activation and epsilon: one of each for the whole body.
  const activations = new Set(convs.map((s) => s.activation));
  if (activations.size !== 1 || activations.has(null)) bad(`activations ${describe([...activations])}: every convolution needs the same ReLU6 (or ReLU) after its BatchNormalization`);
  const epsilons = new Set(convs.map((s) => (s.bn ? (s.bn.config.epsilon ?? 1e-3) : null)));
  if (epsilons.size !== 1 || epsilons.has(null)) bad(`BatchNormalization epsilons ${describe([...epsilons])}: every convolution needs one, all with the same epsilon`);
  const epsilon = [...epsilons][0];
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) bad(`BatchNormalization epsilon ${describe(epsilon)}`);

  // Padding: SAME, ZeroPadding2D((0,1),(0,1)) + VALID, or ZeroPadding2D((1,1)) + VALID.
  const styles = new Set<string>();
  for (const s of convs) {
    const where = `layer ${s.layer.name}`;
    if (s.kernel[0] === 1 && s.kernel[1] === 1) {
      if (s.pad) bad(`${where}: a 1x1 convolution after ZeroPadding2D`);
      continue;
    }
    const p = s.pad;
    if (s.padding === 'same') {
      if (p) bad(`${where}: padding "same" after ZeroPadding2D ${describe(p)}`);
      if (s.stride > 1) styles.add('same');
    } else if (p && p[0][0] === 1 && p[0][1] === 1 && p[1][0] === 1 && p[1][1] === 1) {
      styles.add(s.stride > 1 || s.kernel[0] !== 3 ? 'symmetric' : 'either');
    } else if (p && p[0][0] === 0 && p[0][1] === 1 && p[1][0] === 0 && p[1][1] === 1 && s.stride === 2 && s.kernel[0] === 3 && s.kernel[1] === 3) {
      styles.add('keras');
    } else {
      bad(`${where}: padding "valid" after ZeroPadding2D ${describe(p)} with a ${s.kernel.join('x')} kernel and stride ${s.stride}; expected SAME, ((0,1),(0,1)) before a 3x3 stride 2, or ((1,1),(1,1))`);
    }
  }
  styles.delete('either');
  if (styles.has('symmetric') && styles.size > 1) bad(`stride-2 layers mix symmetric and TF SAME padding (${[...styles].join(', ')})`);
  const padding = styles.has('symmetric') ? 'symmetric' : 'same';

  const last = get(convs[bodyCount - 1]!.layer.name, 'kernel', true)!;
  const headKernel = get(head.layer.name, 'kernel', true)!;
  const numClasses = headKernel.shape[headKernel.shape.length - 1];
  if (last.shape.length !== 4 || !(last.shape[3]! > 0)) bad(`${convs[bodyCount - 1]!.layer.name}/kernel has shape ${formatShape(last.shape)}, expected [1, 1, C, C']`);
  if (!(typeof numClasses === 'number' && numClasses > 0 && numClasses <= MAX_CHANNELS)) bad(`${head.layer.name}/kernel has shape ${formatShape(headKernel.shape)}; expected [..., K] with 1 <= K <= ${MAX_CHANNELS}`);
  const options: MobileNetOptions = {
    depthMultiplier: last.shape[3]! / MOBILENET_V1_CONV_DEFS[MOBILENET_V1_CONV_DEFS.length - 1]!.depth,
    inputSize: h === w ? h : [h, w],
    numClasses,
    activation: [...activations][0]!,
    batchNormEpsilon: epsilon as number,
    ...(padding === 'symmetric' ? { padding } : {}),
  };
  let arch = architecture(options);
  const pool = arch.layers.find((l) => l.kind === 'avgpool');
  if (pool && pool.kind === 'avgpool' && (pool.kernel[0] !== pool.inShape[0] || pool.kernel[1] !== pool.inShape[1])) {
    options.globalPool = true;
    arch = architecture(options);
  }

  // Layer by layer against the table.
  const table = convLayers(arch);
  const weights: WeightMap = new Map();
  convs.forEach((s, i) => {
    const layer = table[i]!;
    const kind = s.depthwise ? 'depthwise' : i === 0 ? 'conv' : 'pointwise';
    if (kind !== layer.kind || s.stride !== layer.stride || s.kernel[0] !== layer.kernel[0] || s.kernel[1] !== layer.kernel[1]) {
      bad(`layer ${s.layer.name} is a ${s.kernel.join('x')} ${s.depthwise ? 'depthwise' : 'full'} convolution with stride ${s.stride}; ${layer.name} is ${layer.kind} ${layer.kernel.join('x')} with stride ${layer.stride}`);
    }
    if (s.pad && s.pad[0][0] === 0 && (layer.inShape[0] % 2 !== 0 || layer.inShape[1] % 2 !== 0)) {
      badOption('inputSize', options.inputSize, `an input that keeps ${s.layer.name}'s input even: Keras' ZeroPadding2D((0,1),(0,1)) + VALID equals TF SAME only for even sizes, and it gets ${layer.inShape[0]}x${layer.inShape[1]}`);
    }
    const kernel = get(s.layer.name, s.depthwise ? 'depthwise_kernel' : 'kernel', true)!;
    weights.set(`${layer.scope}/${s.depthwise ? 'depthwise_weights' : 'weights'}`, kernel);
    const bias = s.useBias ? get(s.layer.name, 'bias', true)! : undefined;
    const bn = s.bn!;
    const channels = kernel.shape[kernel.shape.length - (s.depthwise ? 2 : 1)] ?? 0;
    // Sizes that come from a shape with a zero in it have no data behind them: cap before allocating.
    if (channels > MAX_CHANNELS) fail(ErrorCodes.WEIGHT_SHAPE, `${s.layer.name}: kernel shape ${formatShape(kernel.shape)} has more than ${MAX_CHANNELS} channels`);
    const ones = () => ({ shape: [channels], data: new Float32Array(channels).fill(1) });
    const zeros = () => ({ shape: [channels], data: new Float32Array(channels) });
    const gamma = bn.config.scale === false ? ones() : get(bn.name, 'gamma', true)!;
    const beta = bn.config.center === false ? zeros() : get(bn.name, 'beta', true)!;
    let mean = get(bn.name, 'moving_mean', true)!;
    const variance = get(bn.name, 'moving_variance', true)!;
    if (bias) {
      // BN(x + b) = BN'(x) with moving_mean' = moving_mean - b.
      if (bias.data.length !== mean.data.length) fail(ErrorCodes.WEIGHT_SHAPE, `${s.layer.name}/bias: shape ${formatShape(bias.shape)}, expected ${formatShape(mean.shape)}`);
      mean = { shape: mean.shape, data: mean.data.map((m, k) => m - bias.data[k]!) };
    }
    weights.set(`${layer.scope}/BatchNorm/gamma`, gamma);
    weights.set(`${layer.scope}/BatchNorm/beta`, beta);
    weights.set(`${layer.scope}/BatchNorm/moving_mean`, mean);
    weights.set(`${layer.scope}/BatchNorm/moving_variance`, variance);
  });
  const logits = table[bodyCount]!;
  const k = headKernel.shape;
  const headBias = head.layer.config.use_bias !== false ? get(head.layer.name, 'bias', true)! : { shape: [numClasses!], data: new Float32Array(numClasses!) };
  if (head.dense) {
    if (k.length !== 2) fail(ErrorCodes.WEIGHT_SHAPE, `${head.layer.name}/kernel: expected a Dense kernel [C, K], got ${formatShape(k)}`);
    weights.set(`${logits.scope}/weights`, { shape: [1, 1, k[0]!, k[1]!], data: headKernel.data });
  } else {
    weights.set(`${logits.scope}/weights`, headKernel);
  }
  weights.set(`${logits.scope}/biases`, headBias);
  const unused = [...tensors.keys()].filter((n) => !used.has(n));
  if (unused.length > 0) fail(ErrorCodes.WEIGHT_UNEXPECTED, `weightsManifest tensor${unused.length > 1 ? 's' : ''} ${unused.join(', ')} not read by any layer`);
  checkWeights(arch, weights, { strict: true });
  return { format: 'tfjs-layers', options, weights, pixelNormalization: 'unit-signed' };
}

function readLayers(json: Obj): KerasLayer[] {
  const topo = json.modelTopology;
  if (!isObject(topo)) fail(ErrorCodes.MANIFEST, 'modelTopology: expected the Keras model config');
  const model = isObject(topo.model_config) ? topo.model_config : topo;
  const cls = model.class_name;
  if (cls !== 'Model' && cls !== 'Functional' && cls !== 'Sequential') bad(`model class ${describe(cls)}, expected Model, Functional or Sequential`);
  const config = model.config;
  const raw = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > 1000) return bad('modelTopology has no list of layers');
  const layers = (raw as unknown[]).map((l, i): KerasLayer => {
    if (!isObject(l) || typeof l.class_name !== 'string' || !isObject(l.config)) fail(ErrorCodes.MANIFEST, `modelTopology layer ${i}: expected {class_name, config}`);
    const name = l.config.name ?? l.name;
    if (typeof name !== 'string' || name === '') fail(ErrorCodes.MANIFEST, `modelTopology layer ${i}: no name`);
    return { className: l.class_name, name, config: l.config };
  });
  // Sequential models without an InputLayer carry the input shape on their first layer.
  if (layers[0]!.className !== 'InputLayer' && (layers[0]!.config.batch_input_shape || layers[0]!.config.batchInputShape)) {
    layers.unshift({ className: 'InputLayer', name: 'input', config: { batch_input_shape: layers[0]!.config.batch_input_shape ?? layers[0]!.config.batchInputShape } });
  }
  const names = new Set<string>();
  for (const l of layers) {
    if (names.has(l.name)) fail(ErrorCodes.MANIFEST, `modelTopology: layer ${l.name} is defined twice`);
    names.add(l.name);
  }
  // Functional models: each layer must read the one before it (Keras 2 inbound_nodes [[[name, 0, 0, {}]]]).
  (raw as Obj[]).forEach((l, i) => {
    const inbound = l.inbound_nodes;
    if (i === 0 || !Array.isArray(inbound)) return;
    const node = inbound[0];
    if (inbound.length !== 1 || !Array.isArray(node) || node.length !== 1 || !Array.isArray(node[0])) return; // other serialisations: order only
    const from = (node[0] as unknown[])[0];
    const prev = layers[i - 1 + (layers.length - raw.length)]!.name;
    if (from !== prev) bad(`layer ${layers[i + (layers.length - raw.length)]!.name} reads ${describe(from)}, expected ${prev}: the model is not a chain`);
  });
  return layers;
}

function checkChannelsLast(layer: KerasLayer): void {
  const f = layer.config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last') bad(`layer ${layer.name} has data_format ${describe(f)}, expected channels_last`);
}

function pair(v: unknown, where: string): [number, number] {
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1 && x <= 16)) {
    return bad(`${where} is ${describe(v)}, expected an integer or a pair of integers from 1 to 16`);
  }
  return [p[0], p[1]];
}

/** ZeroPadding2D's `padding`: p, [p, q] (symmetric per axis) or [[top, bottom], [left, right]]. */
function readPadding(layer: KerasLayer): [[number, number], [number, number]] {
  const v = layer.config.padding;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x <= 16;
  if (ok(v)) return [[v, v], [v, v]];
  if (Array.isArray(v) && v.length === 2) {
    if (ok(v[0]) && ok(v[1])) return [[v[0], v[0]], [v[1], v[1]]];
    if (v.every((a) => Array.isArray(a) && a.length === 2 && a.every(ok))) return v as [[number, number], [number, number]];
  }
  return bad(`layer ${layer.name} has padding ${describe(v)}, expected p, [p, q] or [[top, bottom], [left, right]]`);
}

function architecture(options: MobileNetOptions): Architecture {
  try {
    return buildArchitecture(options);
  } catch (e) {
    return bad(`the layers describe no buildable MobileNet v1 (${describe(options)}): ${(e as Error).message}`);
  }
}
