/**
 * The layer table: MobileNet v1 as TF-Slim's `mobilenet_v1` / `mobilenet_v1_base` define it,
 * resolved for one set of options into a flat list of layers with every shape, padding,
 * dilation, parameter count and Mult-Add count worked out.
 *
 * This table is the single source for the builder, the summary, the tests and the benchmarks:
 * nothing else in the engine re-derives a shape.
 */
import { badOption, describe } from '../errors.js';

export type ConvDefType = 'Conv' | 'DepthSepConv';

/** One entry of TF-Slim's `conv_defs` list. */
export interface ConvDef {
  readonly type: ConvDefType;
  readonly kernel: readonly [number, number];
  readonly stride: number;
  readonly depth: number;
}

const conv = (stride: number, depth: number): ConvDef => ({ type: 'Conv', kernel: [3, 3], stride, depth });
const sep = (stride: number, depth: number): ConvDef => ({ type: 'DepthSepConv', kernel: [3, 3], stride, depth });

/** TF-Slim's `_CONV_DEFS`: the 14-entry MobileNet v1 body. */
export const MOBILENET_V1_CONV_DEFS: readonly ConvDef[] = [
  conv(2, 32),
  sep(1, 64),
  sep(2, 128),
  sep(1, 128),
  sep(2, 256),
  sep(1, 256),
  sep(2, 512),
  sep(1, 512),
  sep(1, 512),
  sep(1, 512),
  sep(1, 512),
  sep(1, 512),
  sep(2, 1024),
  sep(1, 1024),
];

/** Paper Table 4: every depthwise separable block replaced by a full 3x3 convolution. */
export const CONV_MOBILENET_CONV_DEFS: readonly ConvDef[] = MOBILENET_V1_CONV_DEFS.map((d) => ({
  ...d,
  type: 'Conv' as const,
}));

/** Paper Table 5: the five 14x14x512 separable blocks (entries 7 to 11) removed. */
export const SHALLOW_MOBILENET_CONV_DEFS: readonly ConvDef[] = MOBILENET_V1_CONV_DEFS.filter(
  (_, i) => i < 7 || i > 11,
);

export const CONV_DEFS_PRESETS = {
  mobilenet_v1: MOBILENET_V1_CONV_DEFS,
  conv: CONV_MOBILENET_CONV_DEFS,
  shallow: SHALLOW_MOBILENET_CONV_DEFS,
} as const;
export type ConvDefsPreset = keyof typeof CONV_DEFS_PRESETS;

export type Activation = 'relu6' | 'relu' | 'none';
/** `same`: TF's SAME (asymmetric on stride 2 with even input); `symmetric`: PyTorch's padding=(k-1)/2*dilation. */
export type PaddingMode = 'same' | 'symmetric';
export type Flavour = 'tf' | 'torch';

export interface MobileNetOptions {
  /** TF-Slim flavour (default) or the seed's PyTorch MobileNet: symmetric padding, ReLU, BatchNorm eps 1e-5, AvgPool2d(7), 1000 classes. */
  flavour?: Flavour;
  /** Width multiplier alpha, any value > 0. */
  depthMultiplier?: number;
  /** The same as `depthMultiplier` (the paper's name); give one or the other, or both equal. */
  alpha?: number;
  minDepth?: number;
  /** Input height and width (one number for a square input). Default 224. */
  inputSize?: number | readonly [number, number];
  /** Resolution multiplier: a convenience for inputSize = round(224 * rho). */
  rho?: number;
  convDefs?: ConvDefsPreset | readonly ConvDef[];
  /** Stop after this end point, as `mobilenet_v1_base` does: no pooling and no classifier. */
  finalEndpoint?: string;
  outputStride?: 8 | 16 | 32 | null;
  useExplicitPadding?: boolean;
  globalPool?: boolean;
  /** 0 or null: no classifier, the pooled features are the output. */
  numClasses?: number | null;
  spatialSqueeze?: boolean;
  activation?: 'relu6' | 'relu';
  padding?: PaddingMode;
  batchNormEpsilon?: number;
}

/** Every option with its value in force. */
export interface ResolvedOptions {
  flavour: Flavour;
  depthMultiplier: number;
  minDepth: number;
  inputHeight: number;
  inputWidth: number;
  convDefs: readonly ConvDef[];
  convDefsName: ConvDefsPreset | 'custom';
  finalEndpoint: string | null;
  outputStride: 8 | 16 | 32 | null;
  useExplicitPadding: boolean;
  globalPool: boolean;
  numClasses: number;
  spatialSqueeze: boolean;
  activation: 'relu6' | 'relu';
  padding: PaddingMode;
  batchNormEpsilon: number;
}

export interface Padding {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

/** [height, width, channels] of one image; the batch dimension is not part of the plan. */
export type HWC = readonly [number, number, number];

interface LayerBase {
  /** The end point name, as in TF-Slim's `end_points`. */
  readonly name: string;
  readonly inShape: HWC;
  readonly outShape: HWC;
  readonly params: number;
  readonly macs: number;
}

/** A convolution of any kind; BatchNorm (or the classifier's bias) becomes a per-channel bias. */
export interface ConvLayer extends LayerBase {
  readonly kind: 'conv' | 'depthwise' | 'pointwise' | 'logits';
  /** Variable scope of its weights, e.g. `MobilenetV1/Conv2d_1_depthwise`. */
  readonly scope: string;
  /** The op name in the seed's summary table, e.g. `MobilenetV1/Conv2d_1_depthwise/depthwise`. */
  readonly opName: string;
  readonly kernel: readonly [number, number];
  readonly stride: number;
  readonly dilation: number;
  readonly padding: Padding;
  readonly activation: Activation;
  /** True for BatchNorm'd layers; false for the classifier, which has plain biases. */
  readonly batchNorm: boolean;
}

export interface PoolLayer extends LayerBase {
  readonly kind: 'avgpool';
  readonly kernel: readonly [number, number];
  readonly stride: number;
  /** True for `global_pool` (mean over H and W); the window then covers the whole map. */
  readonly global: boolean;
}

export interface SoftmaxLayer extends LayerBase {
  readonly kind: 'softmax';
}

export type Layer = ConvLayer | PoolLayer | SoftmaxLayer;

export interface Architecture {
  readonly options: ResolvedOptions;
  readonly inputShape: HWC;
  readonly layers: readonly Layer[];
  /** Layers up to the final end point of the base network (the seed's `Total`). */
  readonly body: readonly ConvLayer[];
  /** Names of every end point, in order. */
  readonly endpoints: readonly string[];
  /** The end point the network returns by default (Logits, the pooled features, or finalEndpoint). */
  readonly output: string;
}

const DEFAULT_RESOLUTION = 224;
/** Largest accepted input side: keeps every allocation bounded. */
export const MAX_RESOLUTION = 8192;
/** Largest weight tensor or per-image activation, in elements: 2^30 float32 = 4 GiB, the wasm32 limit. */
const MAX_TENSOR_ELEMENTS = 2 ** 30;

const TORCH_DEFAULTS = {
  activation: 'relu',
  padding: 'symmetric',
  batchNormEpsilon: 1e-5,
  numClasses: 1000,
} as const;

/** The names `buildArchitecture` takes. */
export const ARCHITECTURE_OPTIONS = new Set([
  'flavour', 'depthMultiplier', 'alpha', 'minDepth', 'inputSize', 'rho', 'convDefs', 'finalEndpoint',
  'outputStride', 'useExplicitPadding', 'globalPool', 'numClasses', 'spatialSqueeze',
  'activation', 'padding', 'batchNormEpsilon',
]);

export function resolveOptions(options: MobileNetOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') badOption('options', options, 'an object');
  for (const key of Object.keys(options)) {
    if (!ARCHITECTURE_OPTIONS.has(key)) badOption(key, (options as Record<string, unknown>)[key], `one of the options ${[...ARCHITECTURE_OPTIONS].join(', ')}`);
  }
  const flavour = options.flavour ?? 'tf';
  if (flavour !== 'tf' && flavour !== 'torch') badOption('flavour', flavour, '"tf" or "torch"');
  const torch = flavour === 'torch';

  if (options.alpha !== undefined && options.depthMultiplier !== undefined && options.alpha !== options.depthMultiplier) {
    badOption('alpha', options.alpha, `the same value as depthMultiplier (${describe(options.depthMultiplier)}), or only one of the two`);
  }
  const depthMultiplier = options.depthMultiplier ?? options.alpha ?? 1;
  if (typeof depthMultiplier !== 'number' || !Number.isFinite(depthMultiplier) || depthMultiplier <= 0) {
    badOption(options.depthMultiplier === undefined ? 'alpha' : 'depthMultiplier', depthMultiplier, 'a finite number greater than zero');
  }
  const minDepth = options.minDepth ?? 8;
  if (!isPositiveInt(minDepth)) badOption('minDepth', minDepth, 'a positive integer');

  let inputHeight = DEFAULT_RESOLUTION;
  let inputWidth = DEFAULT_RESOLUTION;
  if (options.inputSize !== undefined && options.rho !== undefined) {
    badOption('rho', options.rho, 'to be left out when inputSize is given');
  }
  if (options.rho !== undefined) {
    const rho = options.rho;
    if (typeof rho !== 'number' || !Number.isFinite(rho) || rho <= 0) {
      badOption('rho', rho, 'a finite number greater than zero');
    }
    inputHeight = inputWidth = Math.round(DEFAULT_RESOLUTION * rho);
    if (inputHeight < 1 || inputHeight > MAX_RESOLUTION) {
      badOption('rho', rho, `a value giving an input of 1 to ${MAX_RESOLUTION} pixels (224 * rho)`);
    }
  } else if (options.inputSize !== undefined) {
    const s = options.inputSize;
    const pair = typeof s === 'number' ? [s, s] : Array.isArray(s) && s.length === 2 ? s : null;
    if (!pair || !pair.every((d) => isPositiveInt(d) && d <= MAX_RESOLUTION)) {
      badOption('inputSize', s, `an integer or [height, width] of integers from 1 to ${MAX_RESOLUTION}`);
    }
    [inputHeight, inputWidth] = pair as [number, number];
  }

  let convDefs: readonly ConvDef[];
  let convDefsName: ConvDefsPreset | 'custom';
  const cd = options.convDefs ?? 'mobilenet_v1';
  if (typeof cd === 'string') {
    if (!(cd in CONV_DEFS_PRESETS)) badOption('convDefs', cd, `a list of conv defs or one of ${Object.keys(CONV_DEFS_PRESETS).join(', ')}`);
    convDefs = CONV_DEFS_PRESETS[cd as ConvDefsPreset];
    convDefsName = cd as ConvDefsPreset;
  } else {
    convDefs = validateConvDefs(cd);
    convDefsName = 'custom';
  }

  const outputStride = options.outputStride ?? null;
  if (outputStride !== null && outputStride !== 8 && outputStride !== 16 && outputStride !== 32) {
    badOption('outputStride', outputStride, '8, 16, 32 or null');
  }
  const numClassesRaw = options.numClasses === undefined ? (torch ? TORCH_DEFAULTS.numClasses : 1001) : options.numClasses;
  const numClasses = numClassesRaw ?? 0;
  if (!Number.isSafeInteger(numClasses) || numClasses < 0) {
    badOption('numClasses', numClassesRaw, 'a non-negative integer, or null for no classifier');
  }
  const activation = options.activation ?? (torch ? TORCH_DEFAULTS.activation : 'relu6');
  if (activation !== 'relu6' && activation !== 'relu') badOption('activation', activation, '"relu6" or "relu"');
  const padding = options.padding ?? (torch ? TORCH_DEFAULTS.padding : 'same');
  if (padding !== 'same' && padding !== 'symmetric') badOption('padding', padding, '"same" or "symmetric"');
  const batchNormEpsilon = options.batchNormEpsilon ?? (torch ? TORCH_DEFAULTS.batchNormEpsilon : 1e-3);
  if (typeof batchNormEpsilon !== 'number' || !Number.isFinite(batchNormEpsilon) || batchNormEpsilon < 0) {
    badOption('batchNormEpsilon', batchNormEpsilon, 'a finite number >= 0');
  }
  for (const key of ['useExplicitPadding', 'globalPool', 'spatialSqueeze'] as const) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'boolean') badOption(key, v, 'true or false');
  }
  const useExplicitPadding = options.useExplicitPadding ?? false;
  if (useExplicitPadding && padding === 'symmetric') {
    badOption('useExplicitPadding', true, 'false with padding "symmetric" (explicit padding is a TF SAME emulation)');
  }
  const finalEndpoint = options.finalEndpoint ?? null;
  if (finalEndpoint !== null && typeof finalEndpoint !== 'string') {
    badOption('finalEndpoint', finalEndpoint, 'an end point name such as "Conv2d_13_pointwise"');
  }
  return {
    flavour,
    depthMultiplier,
    minDepth,
    inputHeight,
    inputWidth,
    convDefs,
    convDefsName,
    finalEndpoint,
    outputStride,
    useExplicitPadding,
    globalPool: options.globalPool ?? false,
    numClasses,
    spatialSqueeze: options.spatialSqueeze ?? true,
    activation,
    padding,
    batchNormEpsilon,
  };
}

function validateConvDefs(defs: unknown): ConvDef[] {
  if (!Array.isArray(defs) || defs.length === 0) {
    badOption('convDefs', defs, 'a non-empty list of {type, kernel, stride, depth}');
  }
  return defs.map((d: unknown, i: number): ConvDef => {
    const def = d as Partial<ConvDef> | null;
    const where = `convDefs[${i}]`;
    if (def === null || typeof def !== 'object') badOption(where, d, 'an object {type, kernel, stride, depth}');
    if (def.type !== 'Conv' && def.type !== 'DepthSepConv') badOption(`${where}.type`, def.type, '"Conv" or "DepthSepConv"');
    const k = def.kernel as unknown;
    const kernel = typeof k === 'number' ? [k, k] : k;
    if (!Array.isArray(kernel) || kernel.length !== 2 || !kernel.every((v) => isPositiveInt(v) && v <= 15)) {
      badOption(`${where}.kernel`, k, 'an integer or [kh, kw] of integers from 1 to 15');
    }
    if (!isPositiveInt(def.stride) || def.stride > 16) badOption(`${where}.stride`, def.stride, 'an integer from 1 to 16');
    if (!isPositiveInt(def.depth) || def.depth > 65536) badOption(`${where}.depth`, def.depth, 'an integer from 1 to 65536');
    return { type: def.type, kernel: [kernel[0], kernel[1]], stride: def.stride, depth: def.depth };
  });
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

/** TF `SAME`: out = ceil(in / stride), the odd pixel of padding goes after. */
function samePadding(size: number, kernel: number, stride: number, dilation: number): [number, number, number] {
  const effective = kernel + (kernel - 1) * (dilation - 1);
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [out, before, total - before];
}

/**
 * `_fixed_padding` then VALID: padding independent of the input size. As in TF-Slim, the padding
 * comes from the kernel's first dimension on both axes (`padKernel`); the window is the real one.
 */
function fixedPadding(size: number, padKernel: number, kernel: number, stride: number, dilation: number): [number, number, number] {
  const total = padKernel + (padKernel - 1) * (dilation - 1) - 1;
  const before = Math.floor(total / 2);
  return [validOut(size + total, kernel + (kernel - 1) * (dilation - 1), stride), before, total - before];
}

/** PyTorch `padding=dilation*(k-1)//2` on both sides. */
function symmetricPadding(size: number, kernel: number, stride: number, dilation: number): [number, number, number] {
  const pad = Math.floor((dilation * (kernel - 1)) / 2);
  const effective = kernel + (kernel - 1) * (dilation - 1);
  return [validOut(size + 2 * pad, effective, stride), pad, pad];
}

function validOut(size: number, effective: number, stride: number): number {
  return size < effective ? 0 : Math.floor((size - effective) / stride) + 1;
}

/** Builds the layer table for one set of options; throws ERR_OPTION on anything out of range. */
export function buildArchitecture(options: MobileNetOptions = {}): Architecture {
  const o = resolveOptions(options);
  const depth = (d: number) => Math.max(Math.trunc(d * o.depthMultiplier), o.minDepth);
  const act: Activation = o.activation;
  const layers: Layer[] = [];
  const body: ConvLayer[] = [];
  const endpoints: string[] = [];
  let shape: HWC = [o.inputHeight, o.inputWidth, 3];

  const padFor = (kernel: readonly [number, number], axis: 0 | 1, stride: number, dilation: number, explicit: boolean) =>
    (size: number) => {
      const k = kernel[axis];
      if (k === 1 && stride === 1 && !(explicit && kernel[0] > 1)) return [size, 0, 0] as [number, number, number];
      if (o.padding === 'symmetric') return symmetricPadding(size, k, stride, dilation);
      return explicit ? fixedPadding(size, kernel[0], k, stride, dilation) : samePadding(size, k, stride, dilation);
    };

  const addConv = (
    kind: ConvLayer['kind'],
    name: string,
    opSuffix: string,
    kernel: readonly [number, number],
    stride: number,
    dilation: number,
    outChannels: number,
  ) => {
    const [h, w, c] = shape;
    // TF-Slim pads explicitly before full and depthwise convolutions, never before the 1x1 pointwise.
    const explicit = o.useExplicitPadding && (kind === 'conv' || kind === 'depthwise');
    const [oh, top, bottom] = padFor(kernel, 0, stride, dilation, explicit)(h);
    const [ow, left, right] = padFor(kernel, 1, stride, dilation, explicit)(w);
    if (oh < 1 || ow < 1) {
      badOption('inputSize', [o.inputHeight, o.inputWidth], `an input large enough for ${name} (its input is ${h}x${w}, its kernel ${kernel[0]}x${kernel[1]})`);
    }
    const outC = kind === 'depthwise' ? c : outChannels;
    const params = kind === 'depthwise' ? kernel[0] * kernel[1] * c : kernel[0] * kernel[1] * c * outC;
    if (params > MAX_TENSOR_ELEMENTS || oh * ow * outC > MAX_TENSOR_ELEMENTS) {
      badOption(
        'depthMultiplier, minDepth, numClasses or inputSize',
        { depthMultiplier: o.depthMultiplier, minDepth: o.minDepth, numClasses: o.numClasses, inputSize: [o.inputHeight, o.inputWidth] },
        `values for which every tensor has at most ${MAX_TENSOR_ELEMENTS} elements (${name} has ${params} weights and a ${oh}x${ow}x${outC} output)`,
      );
    }
    const layer: ConvLayer = {
      kind,
      name,
      scope: kind === 'logits' ? 'MobilenetV1/Logits/Conv2d_1c_1x1' : `MobilenetV1/${name}`,
      opName: kind === 'logits' ? 'MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D' : `MobilenetV1/${name}/${opSuffix}`,
      kernel,
      stride,
      dilation,
      padding: { top, bottom, left, right },
      activation: kind === 'logits' ? 'none' : act,
      batchNorm: kind !== 'logits',
      inShape: shape,
      outShape: [oh, ow, outC],
      params,
      macs: params * oh * ow,
    };
    layers.push(layer);
    endpoints.push(name);
    shape = layer.outShape;
    return layer;
  };

  // The running product of strides and the atrous rate, exactly as mobilenet_v1_base keeps them.
  let currentStride = 1;
  let rate = 1;
  let reached = false;
  for (let i = 0; i < o.convDefs.length && !reached; i++) {
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
    const base = `Conv2d_${i}`;
    if (def.type === 'Conv') {
      // TF-Slim gives a full convolution its own stride and no rate, even past output_stride.
      body.push(addConv('conv', base, 'Conv2D', def.kernel, def.stride, 1, depth(def.depth)));
      reached = o.finalEndpoint === base;
    } else {
      body.push(addConv('depthwise', `${base}_depthwise`, 'depthwise', def.kernel, layerStride, layerRate, 0));
      reached = o.finalEndpoint === `${base}_depthwise`;
      if (!reached) {
        body.push(addConv('pointwise', `${base}_pointwise`, 'Conv2D', [1, 1], 1, 1, depth(def.depth)));
        reached = o.finalEndpoint === `${base}_pointwise`;
      }
    }
  }
  if (o.finalEndpoint !== null && !reached) {
    badOption('finalEndpoint', o.finalEndpoint, `one of ${endpoints.join(', ')}`);
  }

  let output = endpoints[endpoints.length - 1]!;
  if (o.finalEndpoint === null) {
    const [h, w, c] = shape;
    let pool: PoolLayer;
    if (o.globalPool) {
      pool = { kind: 'avgpool', name: 'global_pool', kernel: [h, w], stride: 1, global: true, inShape: shape, outShape: [1, 1, c], params: 0, macs: 0 };
    } else if (o.flavour === 'torch') {
      // nn.AvgPool2d(7): stride equals the kernel, no padding, floor.
      const oh = validOut(h, 7, 7);
      const ow = validOut(w, 7, 7);
      if (oh < 1 || ow < 1) {
        badOption('inputSize', [o.inputHeight, o.inputWidth], `an input whose last feature map is at least 7x7 for AvgPool2d(7) (it is ${h}x${w}); use globalPool`);
      }
      pool = { kind: 'avgpool', name: 'AvgPool_1a', kernel: [7, 7], stride: 7, global: false, inShape: shape, outShape: [oh, ow, c], params: 0, macs: 0 };
    } else {
      // _reduced_kernel_size_for_small_input, then slim.avg_pool2d's default stride 2, VALID.
      const kh = Math.min(h, 7);
      const kw = Math.min(w, 7);
      pool = { kind: 'avgpool', name: 'AvgPool_1a', kernel: [kh, kw], stride: 2, global: false, inShape: shape, outShape: [validOut(h, kh, 2), validOut(w, kw, 2), c], params: 0, macs: 0 };
    }
    layers.push(pool);
    endpoints.push(pool.name);
    shape = pool.outShape;
    output = pool.name;
    if (o.numClasses > 0) {
      if (o.spatialSqueeze && (shape[0] !== 1 || shape[1] !== 1)) {
        badOption('spatialSqueeze', true, `false, or globalPool: true, for an input whose logits are ${shape[0]}x${shape[1]} (squeeze needs 1x1)`);
      }
      addConv('logits', 'Logits', 'Conv2D', [1, 1], 1, 1, o.numClasses);
      layers.push({ kind: 'softmax', name: 'Predictions', inShape: shape, outShape: shape, params: 0, macs: 0 });
      endpoints.push('Predictions');
      output = 'Logits';
    }
  }
  return { options: o, inputShape: [o.inputHeight, o.inputWidth, 3], layers, body, endpoints, output };
}

function isConvLayer(layer: Layer): layer is ConvLayer {
  return layer.kind === 'conv' || layer.kind === 'depthwise' || layer.kind === 'pointwise' || layer.kind === 'logits';
}

/** The weight tensors a layer reads, by TF-Slim variable name, with their TF layouts. */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * The variables of a layer in TF-Slim names and layouts: convolution `[kh, kw, in, out]`,
 * depthwise `[kh, kw, C, 1]`, then BatchNorm's four vectors (`folded: false`) or one bias
 * vector holding BatchNorm already folded (`folded: true`). The classifier always has biases.
 */
export function layerWeights(layer: ConvLayer, folded: boolean): WeightSpec[] {
  const [kh, kw] = layer.kernel;
  const inC = layer.inShape[2];
  const outC = layer.outShape[2];
  const specs: WeightSpec[] =
    layer.kind === 'depthwise'
      ? [{ name: `${layer.scope}/depthwise_weights`, shape: [kh, kw, inC, 1] }]
      : [{ name: `${layer.scope}/weights`, shape: [kh, kw, inC, outC] }];
  if (!layer.batchNorm || folded) {
    specs.push({ name: `${layer.scope}/biases`, shape: [outC] });
  } else {
    for (const v of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
      specs.push({ name: `${layer.scope}/BatchNorm/${v}`, shape: [outC] });
    }
  }
  return specs;
}

export function convLayers(arch: Architecture): ConvLayer[] {
  return arch.layers.filter(isConvLayer);
}

/** Every weight the architecture needs. */
export function expectedWeights(arch: Architecture, folded: boolean): WeightSpec[] {
  return convLayers(arch).flatMap((l) => layerWeights(l, folded));
}
