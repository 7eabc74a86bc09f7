/**
 * Post-training quantization of a float MobileNet v1 to TFLite's full-integer int8 scheme, with
 * the arithmetic of TFLite's converter (`tf.lite.TFLiteConverter` with `optimizations =
 * [tf.lite.Optimize.DEFAULT]`, a `representative_dataset`, `target_spec.supported_ops =
 * [TFLITE_BUILTINS_INT8]`, `inference_input_type = inference_output_type = tf.int8`).
 *
 * The converter's pipeline, and what stands for each step here:
 *
 * 1. Calibration (tensorflow/lite/python/optimize/calibrator.py, the C++ calibrator's MinMax
 *    logger): the float model runs on the representative images; every tensor keeps the min and
 *    max over all of them. Here: ./calibrate.ts runs our float engine with every end point as
 *    output (the ReLU6 outputs of the 27 convolutions, AvgPool_1a, Logits).
 * 2. Stats to quantization parameters (the MLIR quantizer, tensorflow/compiler/mlir/lite/
 *    quantization/: ConvertStatsToQDQs, GetQuantizedType with `legacy_float_scale = true`, the
 *    default of `mlir::lite::QuantizeModel`, which reproduces the float arithmetic of the older
 *    quantizer tensorflow/lite/tools/optimize/quantization_utils.cc
 *    `GetAsymmetricQuantizationParams`):
 *      - the range is widened to include 0 (rmin = min(min, 0), rmax = max(max, 0)), then
 *        `ExpandVerySmallRange`: a range narrower than 1e-6 becomes at least [-5e-7, 5e-7];
 *      - scale = float32((float32(rmax) - float32(rmin)) / 255);
 *      - zero point: zp_from_min = float32(-128 - rmin / scale), clamped to [-128, 127] and
 *        rounded half away from zero (std::round): the nudge that makes real 0 exactly
 *        representable (it moves the range by less than half a step).
 *    `asymmetricParams` below. ReLU6 outputs: rmin = 0, so zero point -128.
 * 3. Ops whose output must share the input's parameters (TFLite's kernels require it:
 *    AVERAGE_POOL_2D and RESHAPE int8 check equal scale and zero point) take their input's;
 *    SOFTMAX int8 outputs are fixed at scale 1/256, zero point -128 (its kernel requires them).
 * 4. Weights (the MLIR quantizer's per-axis weight type, `narrow_range`, symmetric): per output
 *    channel, h = max |w|; scale = float32(h / 127) (`DownCastScale`: float32(float32(h) -
 *    float32(-h)) / 254, the same float); q = clamp(round_half_away(double(w) / scale), -127,
 *    127) (quantfork's `quantizeF32ToInt8`); zero point 0; quantized_dimension 0 for CONV_2D's
 *    OHWI filter, 3 for DEPTHWISE_CONV_2D's [1, kh, kw, C]. A channel whose weights are all 0
 *    (h = 0) gets the expanded range: scale = float32(1e-6 / 254). `symmetricPerChannel`.
 * 5. Biases: int32, zero point 0, scale[c] = float32(input_scale * weight_scale[c]);
 *    q = clamp(round_half_away(float32(b / scale[c])), -(2^31 - 1), 2^31 - 1). Where a bias
 *    would take more than half the int32 range (|b| >= 0.5 * input_scale * weight_scale *
 *    (2^31 - 1)), the weight scale is first widened so it does not (the older quantizer's
 *    `AdjustWeightsForBiasScale`; the MLIR driver's `SetBiasParamsWithAdjustments` does the
 *    same). `quantizeBias`.
 * 6. Input and output: with inference_input_type int8 the converter drops the QUANTIZE at the
 *    input and the input tensor becomes int8 with the parameters of the input's calibrated
 *    range; likewise the DEQUANTIZE at the output goes and the output is SOFTMAX's int8. Here
 *    the input range is the pixel normalisation's whole range over the 256 byte values ([-1, 1]
 *    for `unit-signed`: scale 2/255, zero point -1; [-1, 127/128] for `tflite-uint8`: scale
 *    1/128, zero point 0, so a pixel maps to pixel - 128 exactly), which is the calibrated range
 *    whenever the photos hold a 0 and a 255 byte, and which no image can exceed.
 *
 * The graph is the TF-Slim one as TFLite holds it (the Coral models'): CONV_2D, 13 x
 * (DEPTHWISE_CONV_2D, CONV_2D) with fused ReLU6, AVERAGE_POOL_2D (VALID, the whole map), the
 * logits CONV_2D 1x1, RESHAPE to [1, classes] (a shape tensor, as the converter writes the
 * SpatialSqueeze), SOFTMAX (beta 1). Operator versions as TFLite's op versioning gives them
 * for int8 with per-channel weights: CONV_2D 3, DEPTHWISE_CONV_2D 3, AVERAGE_POOL_2D 2,
 * RESHAPE 1, SOFTMAX 2; `min_runtime_version` "1.14.0".
 */
import { ErrorCodes, fail } from '../errors.js';
import { normalizePixels, type PixelNormalization } from '../image/normalize.js';
import { buildArchitecture, convLayers, type Architecture, type ConvLayer, type PoolLayer } from '../model/architecture.js';
import type { FoldedLayer } from '../model/fold.js';
import {
  appendZip, imageClassifierMetadata, metadataString, writeTflite,
  type TfliteOperatorSpec, type TfliteTensorSpec,
} from '../formats/tflite-writer.js';
import { roundHalfAwayFromZero } from './fixedpoint.js';

const f32 = Math.fround;
const INT32_MAX = 2147483647;
/** The MLIR quantizer's kNearZeroTolerance and kSmallestHalfRange. */
const NEAR_ZERO_TOLERANCE = 1.0e-6;
const SMALLEST_HALF_RANGE = NEAR_ZERO_TOLERANCE / 2;

/** A float range seen in calibration. */
export interface FloatRange {
  readonly min: number;
  readonly max: number;
}

/** Per-tensor affine int8 parameters: real = scale * (q - zeroPoint). */
export interface Int8Params {
  readonly scale: number;
  readonly zeroPoint: number;
  /** The range the parameters were made from (after widening to include 0). */
  readonly min: number;
  readonly max: number;
}

/** Step 2: int8 activation parameters of a calibrated range (see the module comment). */
export function asymmetricParams(range: FloatRange, qmin = -128, qmax = 127): Int8Params {
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max) || range.min > range.max) {
    fail(ErrorCodes.INPUT, `quantize: the calibrated range [${range.min}, ${range.max}] is not a finite interval`);
  }
  let rmin = Math.min(range.min, 0);
  let rmax = Math.max(range.max, 0);
  if (!(rmax - rmin > NEAR_ZERO_TOLERANCE)) {
    rmin = Math.min(rmin, -SMALLEST_HALF_RANGE);
    rmax = Math.max(rmax, SMALLEST_HALF_RANGE);
  }
  const scale = f32(f32(f32(rmax) - f32(rmin)) / (qmax - qmin));
  const fromMin = f32(qmin - rmin / scale);
  const zeroPoint = fromMin < qmin ? qmin : fromMin > qmax ? qmax : roundHalfAwayFromZero(fromMin);
  return { scale, zeroPoint, min: rmin, max: rmax };
}

/** Step 4's result: int8 weights with one scale per output channel. */
export interface PerChannelWeights {
  readonly data: Int8Array;
  readonly scales: Float32Array;
}

/**
 * Step 4: symmetric int8 per channel. `values` in the TFLite layout, `channels` output channels
 * along `channelOf(i)`; `minHalfRange[c]` widens a channel's range (step 5's adjustment).
 */
export function symmetricPerChannel(values: Float32Array, channels: number, channelOf: (i: number) => number, minHalfRange?: Float32Array): PerChannelWeights {
  const half = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = channelOf(i);
    const a = Math.abs(values[i]!);
    if (a > half[c]!) half[c] = a;
  }
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let h = half[c]!;
    if (minHalfRange && minHalfRange[c]! > h) h = minHalfRange[c]!;
    // ExpandVerySmallRange on [-h, h]; then DownCastScale: (float(h) - float(-h)) / 254.
    if (!(2 * h > NEAR_ZERO_TOLERANCE)) h = Math.max(h, SMALLEST_HALF_RANGE);
    scales[c] = f32(f32(f32(h) - f32(-h)) / 254);
  }
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = roundHalfAwayFromZero(values[i]! / scales[channelOf(i)]!);
    data[i] = q < -127 ? -127 : q > 127 ? 127 : q;
  }
  return { data, scales };
}

/**
 * Step 5's adjustment: per channel, the smallest weight half-range that keeps the quantized bias
 * within half the int32 range (0 where the weights' own range already does).
 */
export function biasSafeHalfRange(bias: Float32Array, inputScale: number, weightScales: Float32Array): Float32Array {
  const out = new Float32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const b = Math.abs(bias[c]!);
    if (b >= 0.5 * inputScale * weightScales[c]! * INT32_MAX) out[c] = f32(((2 * b) / INT32_MAX) * (127 / inputScale));
  }
  return out;
}

/** Step 5: int32 biases and their scales (input scale x weight scale per channel, float32). */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { data: Int32Array; scales: Float32Array } {
  const scales = new Float32Array(bias.length);
  const data = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const s = f32(f32(inputScale) * weightScales[c]!);
    scales[c] = s;
    const q = roundHalfAwayFromZero(f32(bias[c]! / s));
    data[c] = q > INT32_MAX ? INT32_MAX : q < -INT32_MAX ? -INT32_MAX : q;
  }
  return { data, scales };
}

// ---------------------------------------------------------------------------------------------
// The model

/** What is quantized: a float model as the engine holds it (`MobileNet` has these fields). */
export interface FloatModelSource {
  readonly architecture: Architecture;
  /** BatchNorm folded, TF layouts (src/model/fold.ts). */
  readonly folded: readonly FoldedLayer[];
  readonly normalization: PixelNormalization;
  readonly labels: readonly string[] | null;
}

/** Calibration: min and max per end point over the representative images. */
export interface CalibrationRanges {
  /** Images the ranges were taken over. */
  readonly images: number;
  /** Every convolution's end point (Conv2d_0 ... Conv2d_13_pointwise), AvgPool_1a and Logits. */
  readonly ranges: ReadonlyMap<string, FloatRange>;
  /** The normalised input values seen (for the record; the input's parameters use the normalisation's whole range). */
  readonly input: FloatRange;
}

export interface QuantizeOptions {
  /** Model description (Model.description and the metadata's). */
  readonly description?: string;
  /** Labels to embed; default the source's. */
  readonly labels?: readonly string[] | null;
  /** The labels file's name inside the file. Default `labels.txt`. */
  readonly labelsFile?: string;
}

/** One tensor's parameters, as written. */
export interface QuantizedTensorReport {
  readonly name: string;
  /** The end point it holds (input, Conv2d_0, ..., Predictions). */
  readonly endpoint: string;
  readonly scale: number;
  readonly zeroPoint: number;
  /** The calibrated range (before widening); null where the parameters are fixed or inherited. */
  readonly calibrated: FloatRange | null;
}

export interface QuantizeResult {
  readonly bytes: Uint8Array;
  readonly activations: readonly QuantizedTensorReport[];
  /** Per convolution: its weight scales' range and the channels whose range was widened for the bias. */
  readonly weights: readonly { readonly layer: string; readonly channels: number; readonly minScale: number; readonly maxScale: number; readonly zeroChannels: number; readonly widenedForBias: number }[];
  readonly labels: number;
}

/** The normalisations an int8 input can carry: a pixel's real value is (pixel - mean) / std. */
const NORMALIZATION_MEAN_STD: Partial<Record<PixelNormalization, { mean: number; std: number }>> = {
  'unit-signed': { mean: 127.5, std: 127.5 },
  'tflite-uint8': { mean: 128, std: 128 },
};

const notStandard = (what: string): never =>
  fail(ErrorCodes.OPTION, `quantize: writes the TF-Slim MobileNet v1 graph (TF SAME padding, ReLU6, the 14 standard conv defs, a classifier); this model ${what}`);

/** Refuses what the TFLite graph written here cannot express, before any work. */
export function checkQuantizable(source: FloatModelSource): void {
  const arch = source.architecture;
  const o = arch.options;
  if (!NORMALIZATION_MEAN_STD[source.normalization]) {
    fail(ErrorCodes.OPTION, `quantize: the model's pixel normalisation is ${source.normalization}; an int8 input can carry unit-signed or tflite-uint8 (one range for the three channels)`);
  }
  if (o.flavour !== 'tf') notStandard(`is the ${o.flavour} flavour`);
  if (o.activation !== 'relu6') notStandard(`uses ${o.activation}`);
  if (o.padding !== 'same' || o.useExplicitPadding) notStandard('pads explicitly');
  if (!arch.endpoints.includes('Logits') || !arch.endpoints.includes('Predictions')) notStandard('has no classifier');
  // What the file will be read back as: the reader derives alpha, the input size and the classes.
  const reread = buildArchitecture({ depthMultiplier: o.depthMultiplier, inputSize: [o.inputHeight, o.inputWidth], numClasses: o.numClasses });
  const a = convLayers(arch);
  const b = convLayers(reread);
  const same = a.length === b.length && a.every((l, i) => {
    const m = b[i]!;
    return l.kind === m.kind && l.stride === m.stride && l.dilation === 1 && m.dilation === 1 && l.kernel.join() === m.kernel.join() && l.inShape.join() === m.inShape.join() && l.outShape.join() === m.outShape.join() && JSON.stringify(l.padding) === JSON.stringify(m.padding);
  });
  const poolA = arch.layers.find((l): l is PoolLayer => l.kind === 'avgpool');
  const poolB = reread.layers.find((l): l is PoolLayer => l.kind === 'avgpool');
  if (!same || !poolA || !poolB || poolA.kernel.join() !== poolB.kernel.join() || poolA.outShape.join() !== '1,1,' + poolA.outShape[2]) {
    notStandard('has layers other than the standard table (output stride, minimum depth, conv defs or pooling)');
  }
  if (source.folded.length !== a.length) notStandard(`has ${source.folded.length} weighted layers for ${a.length} convolutions`);
}

/** The normalisation's real values over every byte value: the input's range. */
export function normalizationRange(normalization: PixelNormalization): FloatRange {
  const all = new Uint8Array(256 * 3);
  for (let i = 0; i < all.length; i++) all[i] = Math.floor(i / 3);
  const values = normalizePixels([all], 16, normalization).data as Float32Array;
  // normalizePixels takes size x size images: 16 x 16 x 3 = 768 = 256 x 3 values.
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** A folded filter (TF layout) in TFLite's layout, with the output channel of each element. */
function tfliteFilter(layer: ConvLayer, filter: Float32Array): { data: Float32Array; shape: number[]; channelOf: (i: number) => number; axis: number } {
  const [kh, kw] = layer.kernel;
  const inC = layer.inShape[2];
  const outC = layer.outShape[2];
  if (layer.kind === 'depthwise') {
    // [kh, kw, C] -> [1, kh, kw, C]: the same order.
    return { data: filter, shape: [1, kh, kw, outC], channelOf: (i) => i % outC, axis: 3 };
  }
  // conv [kh, kw, in, out], pointwise and logits [in, out] -> OHWI [out, kh, kw, in].
  const inner = kh * kw * inC;
  const data = new Float32Array(filter.length);
  for (let o = 0; o < outC; o++) for (let k = 0; k < inner; k++) data[o * inner + k] = filter[k * outC + o]!;
  return { data, shape: [outC, kh, kw, inC], channelOf: (i) => Math.floor(i / inner), axis: 0 };
}

const bytesOf = (a: Int8Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

/** Steps 2-6: the int8 TFLite file of `source` with the calibrated `ranges`. */
export function quantizeToTflite(source: FloatModelSource, calibration: CalibrationRanges, options: QuantizeOptions = {}): QuantizeResult {
  checkQuantizable(source);
  const arch = source.architecture;
  const o = arch.options;
  const layers = convLayers(arch);
  const pool = arch.layers.find((l): l is PoolLayer => l.kind === 'avgpool')!;
  const classes = o.numClasses;
  const rangeOf = (name: string): FloatRange => {
    const r = calibration.ranges.get(name);
    if (!r) fail(ErrorCodes.INPUT, `quantize: no calibrated range for ${name}`);
    return r;
  };

  const tensors: TfliteTensorSpec[] = [];
  const operators: TfliteOperatorSpec[] = [];
  const activations: QuantizedTensorReport[] = [];
  const weightsReport: QuantizeResult['weights'][number][] = [];
  const add = (t: TfliteTensorSpec) => tensors.push(t) - 1;
  const q = (p: Int8Params, withRange = true) => ({ scale: [p.scale], zeroPoint: [p.zeroPoint], ...(withRange ? { min: [p.min], max: [p.max] } : {}) });

  // Input: int8 with the parameters of the normalisation's range.
  const inputRange = normalizationRange(source.normalization);
  const inputParams = asymmetricParams(inputRange);
  let cur = add({ name: 'input', shape: [1, o.inputHeight, o.inputWidth, 3], type: 'INT8', quantization: q(inputParams) });
  activations.push({ name: 'input', endpoint: 'input', scale: inputParams.scale, zeroPoint: inputParams.zeroPoint, calibrated: calibration.input });
  let inParams = inputParams;

  const convOp = (layer: ConvLayer, folded: FoldedLayer) => {
    const outC = layer.outShape[2];
    const logits = layer.kind === 'logits';
    const filter = tfliteFilter(layer, folded.filter);
    // Weight scales, widened where the bias would not fit (step 5), then the weights and bias.
    const first = symmetricPerChannel(filter.data, outC, filter.channelOf);
    const widen = biasSafeHalfRange(folded.bias, inParams.scale, first.scales);
    const widened = widen.reduce((n, v) => n + (v > 0 ? 1 : 0), 0);
    const weights = widened ? symmetricPerChannel(filter.data, outC, filter.channelOf, widen) : first;
    const bias = quantizeBias(folded.bias, inParams.scale, weights.scales);
    const zeroChannels = (() => {
      const any = new Uint8Array(outC);
      filter.data.forEach((v, i) => v !== 0 && (any[filter.channelOf(i)] = 1));
      return any.reduce((n, v) => n + (v ? 0 : 1), 0);
    })();
    weightsReport.push({ layer: layer.name, channels: outC, minScale: Math.min(...weights.scales), maxScale: Math.max(...weights.scales), zeroChannels, widenedForBias: widened });
    const scope = layer.scope;
    const w = add({
      name: `${scope}/${layer.kind === 'depthwise' ? 'depthwise_weights' : 'weights'}`, shape: filter.shape, type: 'INT8', data: bytesOf(weights.data),
      quantization: { scale: Array.from(weights.scales), zeroPoint: new Array<number>(outC).fill(0), quantizedDimension: filter.axis },
    });
    const b = add({ name: `${scope}/biases`, shape: [outC], type: 'INT32', data: bytesOf(bias.data), quantization: { scale: Array.from(bias.scales), zeroPoint: new Array<number>(outC).fill(0) } });
    const calibrated = rangeOf(layer.name);
    const outParams = asymmetricParams(calibrated);
    const outName = logits ? `${scope}/BiasAdd` : `${scope}/Relu6`;
    const out = add({ name: outName, shape: [1, ...layer.outShape], type: 'INT8', quantization: q(outParams) });
    activations.push({ name: outName, endpoint: layer.name, scale: outParams.scale, zeroPoint: outParams.zeroPoint, calibrated });
    const padding = 'SAME' as const;
    const activation = logits ? ('NONE' as const) : ('RELU6' as const);
    operators.push(
      layer.kind === 'depthwise'
        ? { op: 'DEPTHWISE_CONV_2D', version: 3, inputs: [cur, w, b], outputs: [out], options: { type: 'DepthwiseConv2DOptions', padding, stride: layer.stride, depthMultiplier: 1, activation } }
        : { op: 'CONV_2D', version: 3, inputs: [cur, w, b], outputs: [out], options: { type: 'Conv2DOptions', padding, stride: layer.stride, activation } },
    );
    cur = out;
    inParams = outParams;
  };

  layers.slice(0, -1).forEach((layer, i) => convOp(layer, source.folded[i]!));
  // AvgPool_1a: VALID over the whole map, the input's parameters kept.
  const pooledName = 'MobilenetV1/Logits/AvgPool_1a/AvgPool';
  const pooled = add({ name: pooledName, shape: [1, ...pool.outShape], type: 'INT8', quantization: q(inParams) });
  activations.push({ name: pooledName, endpoint: pool.name, scale: inParams.scale, zeroPoint: inParams.zeroPoint, calibrated: null });
  operators.push({ op: 'AVERAGE_POOL_2D', version: 2, inputs: [cur], outputs: [pooled], options: { type: 'Pool2DOptions', padding: 'VALID', stride: pool.stride, filter: [pool.kernel[0], pool.kernel[1]], activation: 'NONE' } });
  cur = pooled;
  convOp(layers[layers.length - 1]!, source.folded[layers.length - 1]!);
  // SpatialSqueeze as the converter writes it: RESHAPE with a constant shape tensor.
  const shape = add({ name: 'MobilenetV1/Logits/SpatialSqueeze/shape', shape: [2], type: 'INT32', data: bytesOf(Int32Array.from([1, classes])) });
  const squeezedName = 'MobilenetV1/Logits/SpatialSqueeze';
  const squeezed = add({ name: squeezedName, shape: [1, classes], type: 'INT8', quantization: q(inParams) });
  operators.push({ op: 'RESHAPE', version: 1, inputs: [cur, shape], outputs: [squeezed] });
  const probs = add({ name: 'MobilenetV1/Predictions/Reshape_1', shape: [1, classes], type: 'INT8', quantization: { scale: [1 / 256], zeroPoint: [-128] } });
  activations.push({ name: 'MobilenetV1/Predictions/Reshape_1', endpoint: 'Predictions', scale: 1 / 256, zeroPoint: -128, calibrated: null });
  operators.push({ op: 'SOFTMAX', version: 2, inputs: [squeezed], outputs: [probs], options: { type: 'SoftmaxOptions', beta: 1 } });

  const labels = options.labels === undefined ? source.labels : options.labels;
  const withLabels = labels !== null && labels !== undefined && labels.length === classes;
  const labelsFile = options.labelsFile ?? 'labels.txt';
  const size = o.inputHeight === o.inputWidth ? `${o.inputHeight}` : `${o.inputHeight}x${o.inputWidth}`;
  const description = options.description ?? `MobileNet v1 ${o.depthMultiplier} ${size}, int8 (post-training quantization, per-channel weights, calibrated on ${calibration.images} images) by mobilenet-wasm`;
  const { mean, std } = NORMALIZATION_MEAN_STD[source.normalization]!;
  const metadata = [{ name: 'min_runtime_version', data: metadataString('1.14.0') }];
  if (withLabels) {
    metadata.push({
      name: 'TFLITE_METADATA',
      data: imageClassifierMetadata({
        name: 'ImageClassifier',
        description: 'Identify the most prominent object in the image from a known set of categories.',
        input: { name: 'image', description: 'Input image to be classified.', width: o.inputWidth, height: o.inputHeight, mean: [mean], std: [std] },
        output: { name: 'probability', description: 'Probabilities of the labels respectively.', labelsFile, labelsDescription: 'Labels for categories that the model can recognize.' },
      }),
    });
  }
  const flatbuffer = writeTflite({
    description,
    tensors,
    operators,
    inputs: [0],
    outputs: [probs],
    signature: { key: 'serving_default', inputs: ['input'], outputs: ['probability'] },
    metadata,
  });
  const bytes = withLabels ? appendZip(flatbuffer, { [labelsFile]: new TextEncoder().encode(`${labels.join('\n')}\n`) }) : flatbuffer;
  return { bytes, activations, weights: weightsReport, labels: withLabels ? labels.length : 0 };
}
