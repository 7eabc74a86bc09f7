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
import { ErrorCodes, MobilenetError, badOption, describe, fail } from '../errors.js';
import type { URLLike } from '../dom-types.js';
import { checkFetchOptions, type FetchOptions } from '../fetch.js';
import {
  MOBILENET_V1_CONV_DEFS,
  buildArchitecture,
  convLayers,
  type Architecture,
  type ConvLayer,
  type MobileNetOptions,
} from '../model/architecture.js';
import { checkWeights, formatShape, type NamedTensor, type WeightMap } from '../model/weights.js';
import { BODY_CONVS, alphaByAgreement, chainMismatch } from './layer-table.js';
import type { LoadedModel } from './types.js';
import { LAYERS_MODEL as LAYERS, isObject, readTfjsModelFiles, readWeights, type Obj } from './tfjs-manifest.js';
/** Largest channel or class count accepted (bounds the ones/zeros made for scale=false, center=false, use_bias=false). */
const MAX_CHANNELS = 1 << 20;

const bad = (message: string): never => fail(ErrorCodes.MANIFEST, `layers model is not a Keras MobileNet v1: ${message}`);

// ---------------------------------------------------------------------------------------------
// Files

/** Loads from a directory (its model.json) or a model.json path, or a URL (`options` as for any load). */
export async function loadTfjsLayersModel(source: string | URLLike, options: FetchOptions = {}): Promise<LoadedModel> {
  if (!(source instanceof URL) && (typeof source !== 'string' || source === '')) badOption('source', source, 'a directory or model.json path, or a URL');
  checkFetchOptions(options);
  const { json, shards } = await readTfjsModelFiles(source, options, LAYERS);
  return parseTfjsLayersModel(json, shards);
}

// ---------------------------------------------------------------------------------------------
// The topology

interface KerasLayer {
  className: string;
  name: string;
  config: Obj;
}

type Pad = [[number, number], [number, number]];
type BodyActivation = 'relu6' | 'relu';

interface ConvStep {
  layer: KerasLayer;
  depthwise: boolean;
  kernel: [number, number];
  stride: number;
  /** Explicit ZeroPadding2D before it: [[top, bottom], [left, right]], or null. */
  pad: Pad | null;
  padding: 'same' | 'valid';
  useBias: boolean;
  bn: KerasLayer | null;
  activation: BodyActivation | null;
}

interface Classifier {
  layer: KerasLayer;
  dense: boolean;
}

/** Parses model.json (text or parsed) and its shards, in manifest order. */
export function parseTfjsLayersModel(modelJson: string | object, shards: Uint8Array[]): LoadedModel {
  const { json, tensors: raw } = readWeights(modelJson, shards, LAYERS);
  // Float32 only (LAYERS), so every tensor is a NamedTensor.
  const tensors = new WeightLookup(new Map([...raw].map(([name, t]): [string, NamedTensor] => [name, { shape: t.shape, data: t.data as Float32Array }])));
  const layers = readLayers(json);
  const inputSize = readInputSize(layers[0]);
  const { convs, head } = walkChain(layers.slice(1));
  const settings = bodySettings(convs);
  const padding = paddingStyle(convs);
  const { options, arch, headKernel } = deriveOptions(convs, head, tensors, { inputSize, ...settings, padding });
  const table = convLayers(arch);
  const weights: WeightMap = new Map([
    ...convs.flatMap((step, i) => bodyWeights(step, table[i]!, i, tensors, options)),
    ...headWeights(head, headKernel, table[BODY_CONVS]!, tensors),
  ]);
  tensors.checkAllUsed();
  const kerasNames = new Map([...convs.map((s, i): [string, string] => [table[i]!.scope, s.layer.name]), [table[BODY_CONVS]!.scope, head.layer.name]]);
  inKerasTerms(kerasNames, () => checkWeights(arch, weights, { strict: true }));
  return { format: 'tfjs-layers', options, weights, pixelNormalization: 'unit-signed' };
}

/** Runs the layer table's check; its message about a TF-Slim scope also names the file's Keras layer. */
function inKerasTerms(kerasNames: ReadonlyMap<string, string>, check: () => void): void {
  try {
    check();
  } catch (e) {
    const scope = e instanceof MobilenetError ? /MobilenetV1\/(?:Logits\/Conv2d_1c_1x1|Conv2d_\d+(?:_depthwise|_pointwise)?)(?=\/)/.exec(e.message)?.[0] : undefined;
    const keras = scope === undefined ? undefined : kerasNames.get(scope);
    if (keras !== undefined) fail((e as MobilenetError).code, `${(e as Error).message} (Keras layer ${keras})`, e);
    throw e;
  }
}

/** The InputLayer's [H, W] (224 for an open size). */
function readInputSize(first: KerasLayer | undefined): [number, number] {
  if (!first || first.className !== 'InputLayer') bad(`the first layer is ${first ? `${first.name} (${first.className})` : 'missing'}, expected an InputLayer`);
  const shape = first!.config.batch_input_shape ?? first!.config.batchInputShape ?? first!.config.batch_shape;
  if (!Array.isArray(shape) || shape.length !== 4 || shape[3] !== 3) bad(`input shape ${describe(shape)}; expected [null, H, W, 3] (channels last)`);
  const [, hRaw, wRaw] = shape as unknown[];
  const dim = (v: unknown) => (v === null ? 224 : typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 8192 ? v : bad(`input shape ${describe(shape)} has a size ${describe(v)}`));
  return [dim(hRaw), dim(wRaw)];
}

// ---------------------------------------------------------------------------------------------
// Walking the chain: each layer gives the next state, nothing else is changed

interface Chain {
  readonly convs: readonly ConvStep[];
  /** A ZeroPadding2D waiting for its convolution. */
  readonly pendingPad: Pad | null;
  readonly pooled: boolean;
  readonly classifier: Classifier | null;
  readonly softmax: boolean;
}

const START: Chain = { convs: [], pendingPad: null, pooled: false, classifier: null, softmax: false };

/** The layers after the InputLayer as the MobileNet chain: the body's convolutions in order and the classifier. */
function walkChain(layers: readonly KerasLayer[]): { convs: ConvStep[]; head: Classifier } {
  const chain = layers.reduce(addLayer, START);
  const { convs, pooled, classifier } = chain;
  const mismatch = chainMismatch(convs.map((s) => ({ name: `layer ${s.layer.name}`, depthwise: s.depthwise })));
  if (convs.length !== BODY_CONVS || !pooled || !classifier) {
    bad(`found ${convs.length} convolutions${pooled ? ', a GlobalAveragePooling2D' : ', no pooling'}${classifier ? ' and a classifier' : ', no classifier'}; ` +
      `expected ${BODY_CONVS}, GlobalAveragePooling2D, conv_preds or Dense${mismatch ? `: ${mismatch}` : ''}`);
  }
  if (mismatch) bad(mismatch);
  return { convs: [...convs], head: classifier! };
}

function addLayer(chain: Chain, layer: KerasLayer): Chain {
  const where = `layer ${layer.name} (${layer.className})`;
  // keras_applications' MobileNet reshapes after act_softmax (conv_preds, act_softmax, reshape_2): shape only.
  if (chain.softmax && layer.className !== 'Reshape' && layer.className !== 'Flatten') bad(`${where} follows the softmax`);
  switch (layer.className) {
    case 'ZeroPadding2D':
      return addPadding(chain, layer, where);
    case 'Conv2D':
    case 'DepthwiseConv2D':
      return addConv(chain, layer, where);
    case 'BatchNormalization':
      return addBatchNorm(chain, layer, where);
    case 'ReLU':
    case 'Activation':
      return addActivation(chain, layer, where);
    case 'GlobalAveragePooling2D':
      checkChannelsLast(layer);
      if (chain.pooled || chain.pendingPad) bad(`unexpected ${where}`);
      return { ...chain, pooled: true };
    case 'Reshape':
    case 'Dropout':
    case 'Flatten':
      if (!chain.pooled) bad(`unexpected ${where} before the pooling`);
      return chain;
    case 'Dense':
      return addDense(chain, layer, where);
    default:
      return bad(`unsupported ${where}`);
  }
}

function addPadding(chain: Chain, layer: KerasLayer, where: string): Chain {
  if (chain.pooled || chain.pendingPad) bad(`unexpected ${where}`);
  checkChannelsLast(layer);
  return { ...chain, pendingPad: readPadding(layer) };
}

function addConv(chain: Chain, layer: KerasLayer, where: string): Chain {
  checkChannelsLast(layer);
  const c = layer.config;
  const depthwise = layer.className === 'DepthwiseConv2D';
  const kernel = pair(c.kernel_size, `${where} kernel_size`);
  const strides = pair(c.strides ?? [1, 1], `${where} strides`);
  const dilation = pair(c.dilation_rate ?? [1, 1], `${where} dilation_rate`);
  if (strides[0] !== strides[1]) bad(`${where} has strides ${describe(c.strides)}, expected equal strides`);
  if (dilation[0] !== 1 || dilation[1] !== 1) bad(`${where} has dilation_rate ${describe(c.dilation_rate)}, expected 1`);
  if (c.padding !== 'same' && c.padding !== 'valid') bad(`${where} has padding ${describe(c.padding)}, expected "same" or "valid"`);
  if (c.activation !== undefined && c.activation !== 'linear' && !(chain.pooled && c.activation === 'softmax')) bad(`${where} has activation ${describe(c.activation)}, expected linear (the activation is its own layer)`);
  if (depthwise && (c.depth_multiplier ?? 1) !== 1) bad(`${where} has depth_multiplier ${describe(c.depth_multiplier)}, expected 1`);
  if (c.groups !== undefined && c.groups !== 1) bad(`${where} has groups ${describe(c.groups)}, expected 1`);
  if (chain.pooled) {
    if (chain.classifier || depthwise) bad(`unexpected ${where} after the classifier`);
    return { ...chain, classifier: { layer, dense: false }, softmax: c.activation === 'softmax' };
  }
  const step: ConvStep = {
    layer, depthwise, kernel, stride: strides[0], pad: chain.pendingPad, padding: c.padding as 'same' | 'valid', useBias: c.use_bias !== false, bn: null, activation: null,
  };
  return { ...chain, convs: [...chain.convs, step], pendingPad: null };
}

/** The chain with its last convolution replaced by `patch` applied to it. */
const withLastConv = (chain: Chain, patch: Partial<ConvStep>): Chain => ({
  ...chain,
  convs: [...chain.convs.slice(0, -1), { ...chain.convs[chain.convs.length - 1]!, ...patch }],
});

function addBatchNorm(chain: Chain, layer: KerasLayer, where: string): Chain {
  const conv = chain.convs[chain.convs.length - 1];
  if (!conv || chain.pooled || conv.bn || conv.activation || chain.pendingPad) bad(`unexpected ${where}; expected it right after a convolution`);
  const axis = layer.config.axis;
  if (!(axis === undefined || axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === 3 || axis[0] === -1)))) {
    bad(`${where} normalises axis ${describe(axis)}, expected the channel axis (-1 or 3)`);
  }
  return withLastConv(chain, { bn: layer });
}

function addActivation(chain: Chain, layer: KerasLayer, where: string): Chain {
  const act = activationOf(layer, where);
  if (act === 'softmax' || act === 'linear') {
    if (!chain.classifier) bad(`${where} (${act}) before the classifier`);
    return { ...chain, softmax: act === 'softmax' };
  }
  const conv = chain.convs[chain.convs.length - 1];
  if (!conv || chain.pooled || conv.activation || chain.pendingPad) bad(`unexpected ${where}; expected it after a convolution and its BatchNormalization`);
  return withLastConv(chain, { activation: act });
}

/** What a ReLU or Activation layer computes. */
function activationOf(layer: KerasLayer, where: string): BodyActivation | 'softmax' | 'linear' {
  const c = layer.config;
  if (layer.className === 'ReLU') {
    if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) bad(`${where} has negative_slope ${describe(c.negative_slope)} threshold ${describe(c.threshold)}, expected 0`);
    return c.max_value === 6 ? 'relu6' : c.max_value === null || c.max_value === undefined ? 'relu' : bad(`${where} has max_value ${describe(c.max_value)}, expected 6 or none`);
  }
  const a = c.activation;
  return a === 'relu6' || a === 'relu' || a === 'softmax' || a === 'linear' ? a : bad(`${where} has activation ${describe(a)}, expected relu6, relu or (last) softmax`);
}

function addDense(chain: Chain, layer: KerasLayer, where: string): Chain {
  const c = layer.config;
  if (!chain.pooled || chain.classifier) bad(`unexpected ${where}`);
  if (c.activation !== undefined && c.activation !== 'linear' && c.activation !== 'softmax') bad(`${where} has activation ${describe(c.activation)}, expected linear or softmax`);
  return { ...chain, classifier: { layer, dense: true }, softmax: c.activation === 'softmax' };
}

// ---------------------------------------------------------------------------------------------
// What the whole body must agree on

/** One activation and one BatchNorm epsilon for the whole body. */
function bodySettings(convs: readonly ConvStep[]): { activation: BodyActivation; epsilon: number } {
  const activations = new Set(convs.map((s) => s.activation));
  if (activations.size !== 1 || activations.has(null)) bad(`activations ${describe([...activations])}: every convolution needs the same ReLU6 (or ReLU) after its BatchNormalization`);
  const epsilons = new Set(convs.map((s) => (s.bn ? (s.bn.config.epsilon ?? 1e-3) : null)));
  if (epsilons.size !== 1 || epsilons.has(null)) bad(`BatchNormalization epsilons ${describe([...epsilons])}: every convolution needs one, all with the same epsilon`);
  const epsilon = [...epsilons][0];
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) bad(`BatchNormalization epsilon ${describe(epsilon)}`);
  return { activation: [...activations][0]!, epsilon: epsilon as number };
}

/** SAME, ZeroPadding2D((0,1),(0,1)) + VALID (both TF SAME), or ZeroPadding2D((1,1)) + VALID (symmetric); not mixed. */
function paddingStyle(convs: readonly ConvStep[]): 'same' | 'symmetric' {
  /** Style -> the first layer that uses it. */
  const styles = new Map<string, string>();
  for (const s of convs) {
    const style = paddingOf(s);
    if (style !== null && style !== 'either' && !styles.has(style)) styles.set(style, s.layer.name);
  }
  if (styles.has('symmetric') && styles.size > 1) {
    bad(`stride-2 layers mix symmetric and TF SAME padding (${[...styles].map(([style, layer]) => `${style} from layer ${layer}`).join(', ')})`);
  }
  return styles.has('symmetric') ? 'symmetric' : 'same';
}

/** A convolution's padding style, or null when it says nothing (a 1x1, a stride-1 SAME). */
function paddingOf(s: ConvStep): 'same' | 'symmetric' | 'keras' | 'either' | null {
  const where = `layer ${s.layer.name}`;
  const p = s.pad;
  if (s.kernel[0] === 1 && s.kernel[1] === 1) {
    if (p) bad(`${where}: a 1x1 convolution after ZeroPadding2D`);
    return null;
  }
  if (s.padding === 'same') {
    if (p) bad(`${where}: padding "same" after ZeroPadding2D ${describe(p)}`);
    return s.stride > 1 ? 'same' : null;
  }
  if (p && p[0][0] === 1 && p[0][1] === 1 && p[1][0] === 1 && p[1][1] === 1) return s.stride > 1 || s.kernel[0] !== 3 ? 'symmetric' : 'either';
  if (p && p[0][0] === 0 && p[0][1] === 1 && p[1][0] === 0 && p[1][1] === 1 && s.stride === 2 && s.kernel[0] === 3 && s.kernel[1] === 3) return 'keras';
  return bad(`${where}: padding "valid" after ZeroPadding2D ${describe(p)} with a ${s.kernel.join('x')} kernel and stride ${s.stride}; expected SAME, ((0,1),(0,1)) before a 3x3 stride 2, or ((1,1),(1,1))`);
}

// ---------------------------------------------------------------------------------------------
// Weights by Keras name

/** The manifest's tensors by Keras name (exact, or a unique `.../<layer>/<field>` suffix), remembering which were read. */
class WeightLookup {
  private readonly used = new Set<string>();
  /** `<layer>/<field>` (the last two parts) -> the names that end in it after a prefix. */
  private readonly bySuffix = new Map<string, string[]>();

  constructor(private readonly tensors: ReadonlyMap<string, NamedTensor>) {
    for (const name of tensors.keys()) {
      const parts = name.split('/');
      if (parts.length < 3) continue;
      const key = parts.slice(-2).join('/');
      const list = this.bySuffix.get(key);
      if (list) list.push(name);
      else this.bySuffix.set(key, [name]);
    }
  }

  /** The tensor `layer/field`, marked as read; a missing one is ERR_WEIGHT_MISSING when `required`. */
  get(layer: string, field: string, required: true): NamedTensor;
  get(layer: string, field: string, required: boolean): NamedTensor | undefined;
  get(layer: string, field: string, required: boolean): NamedTensor | undefined {
    const name = this.resolve(layer, field);
    if (name === undefined) {
      if (required) fail(ErrorCodes.WEIGHT_MISSING, `layer ${layer}: weight ${layer}/${field} is not in weightsManifest`);
      return undefined;
    }
    this.used.add(name);
    return this.tensors.get(name);
  }

  /** The tensor `layer/field` if there is exactly one, without marking it read. */
  peek(layer: string, field: string): NamedTensor | undefined {
    try {
      const name = this.resolve(layer, field);
      return name === undefined ? undefined : this.tensors.get(name);
    } catch {
      return undefined;
    }
  }

  /** Every manifest tensor was read by some layer (ERR_WEIGHT_UNEXPECTED otherwise). */
  checkAllUsed(): void {
    const unused = [...this.tensors.keys()].filter((n) => !this.used.has(n));
    if (unused.length > 0) fail(ErrorCodes.WEIGHT_UNEXPECTED, `weightsManifest tensor${unused.length > 1 ? 's' : ''} ${unused.join(', ')} not read by any layer`);
  }

  private resolve(layer: string, field: string): string | undefined {
    const exact = `${layer}/${field}`;
    if (this.tensors.has(exact)) return exact;
    const suffix = `/${exact}`;
    const matches = layer.includes('/') || field.includes('/')
      ? [...this.tensors.keys()].filter((n) => n.endsWith(suffix))
      : (this.bySuffix.get(exact) ?? []);
    if (matches.length > 1) fail(ErrorCodes.DUPLICATE_TENSOR, `weights ${matches.join(', ')} all end in ${exact}`);
    return matches[0];
  }
}

// ---------------------------------------------------------------------------------------------
// Options, then layer by layer against the table

interface BodyFacts {
  inputSize: [number, number];
  activation: BodyActivation;
  epsilon: number;
  padding: 'same' | 'symmetric';
}

/**
 * The options the file describes: alpha from the pointwise kernels by agreement (see
 * alphaByAgreement; the last one's shape is checked), classes from the classifier's kernel.
 */
function deriveOptions(convs: readonly ConvStep[], head: Classifier, tensors: WeightLookup, facts: BodyFacts): { options: MobileNetOptions; arch: Architecture; headKernel: NamedTensor } {
  const lastLayer = convs[BODY_CONVS - 1]!.layer.name;
  const last = tensors.get(lastLayer, 'kernel', true);
  const headKernel = tensors.get(head.layer.name, 'kernel', true);
  const numClasses = headKernel.shape[headKernel.shape.length - 1];
  if (last.shape.length !== 4 || !(last.shape[3]! > 0)) bad(`${lastLayer}/kernel has shape ${formatShape(last.shape)}, expected [1, 1, C, C']`);
  if (!(typeof numClasses === 'number' && numClasses > 0 && numClasses <= MAX_CHANNELS)) bad(`${head.layer.name}/kernel has shape ${formatShape(headKernel.shape)}; expected [..., K] with 1 <= K <= ${MAX_CHANNELS}`);
  const channels = convs.filter((s) => !s.depthwise).map((s) => {
    const k = tensors.peek(s.layer.name, 'kernel');
    return k && k.shape.length === 4 ? k.shape[3] : undefined;
  });
  const [h, w] = facts.inputSize;
  const options: MobileNetOptions = {
    depthMultiplier: alphaByAgreement(channels) ?? last.shape[3]! / MOBILENET_V1_CONV_DEFS[MOBILENET_V1_CONV_DEFS.length - 1]!.depth,
    inputSize: h === w ? h : [h, w],
    numClasses,
    activation: facts.activation,
    batchNormEpsilon: facts.epsilon,
    ...(facts.padding === 'symmetric' ? { padding: facts.padding } : {}),
  };
  const arch = architecture(options);
  const pool = arch.layers.find((l) => l.kind === 'avgpool');
  if (pool && pool.kind === 'avgpool' && (pool.kernel[0] !== pool.inShape[0] || pool.kernel[1] !== pool.inShape[1])) {
    const global = { ...options, globalPool: true };
    return { options: global, arch: architecture(global), headKernel };
  }
  return { options, arch, headKernel };
}

/** One body convolution checked against its table layer, and its TF-Slim weights (BatchNorm unfolded, a bias moved into moving_mean). */
function bodyWeights(s: ConvStep, layer: ConvLayer, i: number, tensors: WeightLookup, options: MobileNetOptions): [string, NamedTensor][] {
  const kind = s.depthwise ? 'depthwise' : i === 0 ? 'conv' : 'pointwise';
  if (kind !== layer.kind || s.stride !== layer.stride || s.kernel[0] !== layer.kernel[0] || s.kernel[1] !== layer.kernel[1]) {
    bad(`layer ${s.layer.name} is a ${s.kernel.join('x')} ${s.depthwise ? 'depthwise' : 'full'} convolution with stride ${s.stride}; ${layer.name} is ${layer.kind} ${layer.kernel.join('x')} with stride ${layer.stride}`);
  }
  if (s.pad && s.pad[0][0] === 0 && (layer.inShape[0] % 2 !== 0 || layer.inShape[1] % 2 !== 0)) {
    badOption('inputSize', options.inputSize, `an input that keeps ${s.layer.name}'s input even: Keras' ZeroPadding2D((0,1),(0,1)) + VALID equals TF SAME only for even sizes, and it gets ${layer.inShape[0]}x${layer.inShape[1]}`);
  }
  const kernel = tensors.get(s.layer.name, s.depthwise ? 'depthwise_kernel' : 'kernel', true);
  const bias = s.useBias ? tensors.get(s.layer.name, 'bias', true) : undefined;
  const bn = s.bn!;
  const channels = kernel.shape[kernel.shape.length - (s.depthwise ? 2 : 1)] ?? 0;
  // Sizes that come from a shape with a zero in it have no data behind them: cap before allocating.
  if (channels > MAX_CHANNELS) fail(ErrorCodes.WEIGHT_SHAPE, `${s.layer.name}: kernel shape ${formatShape(kernel.shape)} has more than ${MAX_CHANNELS} channels`);
  const gamma = bn.config.scale === false ? constant(channels, 1) : tensors.get(bn.name, 'gamma', true);
  const beta = bn.config.center === false ? constant(channels, 0) : tensors.get(bn.name, 'beta', true);
  const mean = tensors.get(bn.name, 'moving_mean', true);
  const variance = tensors.get(bn.name, 'moving_variance', true);
  if (bias && bias.data.length !== mean.data.length) fail(ErrorCodes.WEIGHT_SHAPE, `${s.layer.name}/bias: shape ${formatShape(bias.shape)}, expected ${formatShape(mean.shape)}`);
  return [
    [`${layer.scope}/${s.depthwise ? 'depthwise_weights' : 'weights'}`, kernel],
    [`${layer.scope}/BatchNorm/gamma`, gamma],
    [`${layer.scope}/BatchNorm/beta`, beta],
    // BN(x + b) = BN'(x) with moving_mean' = moving_mean - b.
    [`${layer.scope}/BatchNorm/moving_mean`, bias ? { shape: mean.shape, data: mean.data.map((m, k) => m - bias.data[k]!) } : mean],
    [`${layer.scope}/BatchNorm/moving_variance`, variance],
  ];
}

const constant = (channels: number, value: number): NamedTensor => ({ shape: [channels], data: new Float32Array(channels).fill(value) });

/** The classifier as the logits layer: conv_preds as it is, a Dense [C, K] as [1, 1, C, K]; zeros for no bias. */
function headWeights(head: Classifier, kernel: NamedTensor, logits: ConvLayer, tensors: WeightLookup): [string, NamedTensor][] {
  const k = kernel.shape;
  const numClasses = k[k.length - 1]!;
  const bias = head.layer.config.use_bias !== false ? tensors.get(head.layer.name, 'bias', true) : constant(numClasses, 0);
  if (head.dense && k.length !== 2) fail(ErrorCodes.WEIGHT_SHAPE, `${head.layer.name}/kernel: expected a Dense kernel [C, K], got ${formatShape(k)}`);
  return [
    [`${logits.scope}/weights`, head.dense ? { shape: [1, 1, k[0]!, k[1]!], data: kernel.data } : kernel],
    [`${logits.scope}/biases`, bias],
  ];
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
