/**
 * The integer graph of a uint8 or int8 TFLite MobileNet v1: `readTfliteQuantized` (for the
 * integer paths, src/quant/) beside `readTfliteModel` (./tflite.ts, the float path on
 * dequantized weights), sharing its strict flatbuffer reader and graph checks. A module of its
 * own so that bundles without the integer path leave it out (it is imported lazily by `load()`
 * of a TFLite file, unless `dequantize: true`).
 */

import { describe } from '../errors.js';
import { convLayers, type ConvLayer, type MobileNetOptions } from '../model/architecture.js';
import { formatShape } from '../model/weights.js';
import {
  DTYPE_RANGE, calculateActivationRangeQuantized, convolutionMultiplier, quantizeMultiplier, softmaxParams,
  type FusedActivation, type IntDType, type SoftmaxParams,
} from './fixedpoint.js';
import { offsetWeights } from './kernels.js';
import type { QuantConvLayer, QuantLayer, QuantParams, QuantPoolLayer, QuantReshapeLayer, QuantTensor, QuantizedModel } from './model.js';
import { BODY_CONVS, bodyLayerName, chainMismatch } from '../formats/layer-table.js';
import {
  ACTIVATION_NAMES, Activation, BuiltinOperator, OptionsType, TensorType, architecture, bad, builtinOptions, checkPool, checkShape, foundConv,
  opLabel, parseTflite, readConv, readLabels, readPool, tfliteOptions, typeName, type ConvStep, type TfliteModel, type TfliteOperator, type TfliteTensor,
} from '../formats/tflite.js';

/**
 * True when a TFLite file's convolutions hold integer weights (a uint8 or int8 model, which
 * `readTfliteQuantized` reads); false for a float32 one. Throws ERR_TFLITE as `parseTflite` does.
 */
export function isQuantizedTflite(bytes: Uint8Array): boolean {
  const model = parseTflite(bytes);
  const conv = model.operators.find((op) => op.code === BuiltinOperator.CONV_2D || op.code === BuiltinOperator.DEPTHWISE_CONV_2D);
  const filter = conv ? model.tensors[conv.inputs[1]!] : undefined;
  return filter?.type === TensorType.UINT8 || filter?.type === TensorType.INT8;
}

// ---------------------------------------------------------------------------------------------
// The integer graph: readTfliteQuantized

/**
 * Reads a uint8 or int8 TFLite MobileNet v1 as integers for the integer reference path
 * (src/quant/): the same strict flatbuffer reader and graph checks as `readTfliteModel`, the
 * layers mapped onto the layer table (end points Conv2d_0 ... Conv2d_13_pointwise, AvgPool_1a,
 * Logits, Predictions), nothing dequantized.
 *
 * The graph: optionally QUANTIZE (float32 input); CONV_2D (Conv2d_0), 13 x (DEPTHWISE_CONV_2D,
 * CONV_2D); AVERAGE_POOL_2D; the logits as CONV_2D [1x1], or as FULLY_CONNECTED (after an
 * optional RESHAPE/SQUEEZE); optionally RESHAPE/SQUEEZE, SOFTMAX, DEQUANTIZE.
 *
 * Quantization accepted (src/quant/model.ts): uint8 per-tensor asymmetric throughout, or int8
 * activations per tensor with symmetric int8 weights per channel (quantized_dimension = output
 * channel axis) or per tensor; int32 biases with zero point 0. Refused with ERR_TFLITE naming
 * the tensor and the parameter: per-channel uint8 weights, int16 activations, asymmetric int8
 * weights (a non-zero weight zero point), a missing or invalid scale or zero point, weights of
 * another type than the activations, a uint8 bias whose scale is not input scale x weight scale
 * (TFLite's own check), a requantization shift outside [-31, 30], a fused activation other than
 * NONE / RELU / RELU6 (RELU_N1_TO_1, TANH, SIGN_BIT are not implemented), AVERAGE_POOL_2D or
 * RESHAPE changing the quantization, a SOFTMAX output other than scale 1/256 with zero point 0
 * (uint8) or -128 (int8), or a SOFTMAX beta <= 0.
 */
export function readTfliteQuantized(bytes: Uint8Array): QuantizedModel {
  const model = parseTflite(bytes);
  const ops = model.operators;
  if (model.inputs.length !== 1) bad(`tflite: expected 1 subgraph input, found ${model.inputs.length}`);
  const first = model.tensors[model.inputs[0]!]!;
  const [n, h, w, c] = first.shape;
  if (first.shape.length !== 4 || n !== 1 || c !== 3 || !(h! >= 1 && h! <= 8192) || !(w! >= 1 && w! <= 8192)) {
    bad(`tflite: input ${first.name} has shape ${formatShape(first.shape)}; expected [1, H, W, 3]`);
  }
  let at = 0;
  let cur = first.index;
  const next = (what: string): TfliteOperator => {
    const op = ops[at];
    if (op === undefined) return bad(`tflite: the graph ends after ${at} operators; expected ${what}`);
    if (op.inputs[0] !== cur) bad(`tflite: ${opLabel(op)} reads tensor ${op.inputs[0]}, expected ${cur} (the previous operator's output): the graph is not a chain`);
    if (op.outputs.length !== 1) bad(`tflite: ${opLabel(op)} has ${op.outputs.length} outputs, expected 1`);
    at++;
    cur = op.outputs[0]!;
    return op;
  };
  const peek = () => ops[at]?.code;

  let floatInput: QuantizedModel['floatInput'];
  if (first.type === TensorType.FLOAT32) {
    if (peek() !== BuiltinOperator.QUANTIZE) bad(`tflite: input ${first.name} is FLOAT32 and the first operator is not QUANTIZE; the integer path needs an integer input`);
    next('QUANTIZE');
    floatInput = { name: first.name, index: first.index };
  }
  const input = activation(model.tensors[cur]!, 'the network input');
  const dtype = input.dtype;
  const act = (t: TfliteTensor, role: string) => {
    const p = activation(t, role);
    if (p.dtype !== dtype) bad(`tflite: tensor ${t.name} (${role}) is ${p.dtype.toUpperCase()}; the input is ${dtype.toUpperCase()} (mixed activation types are not supported)`);
    return p;
  };

  // Body, pool, logits.
  const steps: ConvStep[] = [];
  for (let i = 0; i < BODY_CONVS; i++) {
    const code = peek();
    if (code !== BuiltinOperator.CONV_2D && code !== BuiltinOperator.DEPTHWISE_CONV_2D) {
      const found = ops[at] ? opLabel(ops[at]!) : 'the end of the graph';
      bad(`tflite: found ${found} after ${i} convolutions; ${chainMismatch(steps.map(foundConv)) ?? `expected ${bodyLayerName(i)}`}`);
    }
    const op = next(bodyLayerName(i));
    steps.push(readConv(op, opLabel(op), model.tensors, model.tensors[cur]!));
  }
  const mismatch = chainMismatch(steps.map(foundConv));
  if (mismatch) bad(`tflite: ${mismatch}`);
  if (peek() !== BuiltinOperator.AVERAGE_POOL_2D) bad(`tflite: expected AVERAGE_POOL_2D after ${bodyLayerName(BODY_CONVS - 1)}, found ${ops[at] ? opLabel(ops[at]!) : 'the end of the graph'}`);
  const poolOp = next('AVERAGE_POOL_2D');
  const pool = readPool(poolOp, opLabel(poolOp), model.tensors[cur]!);
  const poolOptions = builtinOptions(poolOp, OptionsType.Pool2DOptions, opLabel(poolOp));
  const poolStride = [poolOptions.i32(2, 'stride_h', 0), poolOptions.i32(1, 'stride_w', 0)];
  if (poolStride[0] !== poolStride[1] || poolStride[0]! < 1) bad(`tflite: ${opLabel(poolOp)} has strides ${poolStride[0]}x${poolStride[1]}, expected equal positive strides`);

  const reshapes: TfliteOperator[] = [];
  const isReshape = (code: number | undefined) => code === BuiltinOperator.RESHAPE || code === BuiltinOperator.SQUEEZE;
  let logitsStep: ConvStep;
  if (peek() === BuiltinOperator.CONV_2D) {
    const op = next('the logits');
    logitsStep = readConv(op, opLabel(op), model.tensors, model.tensors[cur]!);
  } else {
    if (isReshape(peek())) reshapes.push(next('RESHAPE'));
    if (peek() !== BuiltinOperator.FULLY_CONNECTED) bad(`tflite: expected the logits (CONV_2D, or FULLY_CONNECTED) after AVERAGE_POOL_2D, found ${ops[at] ? opLabel(ops[at]!) : 'the end of the graph'}`);
    const op = next('FULLY_CONNECTED');
    logitsStep = readFullyConnected(op, model.tensors, model.tensors[cur]!);
  }
  if (isReshape(peek())) reshapes.push(next('RESHAPE'));
  const logitsOutput = cur;
  let softmaxOp: TfliteOperator | undefined;
  if (peek() === BuiltinOperator.SOFTMAX) softmaxOp = next('SOFTMAX');
  let floatOutput: QuantizedModel['floatOutput'];
  const lastInteger = cur;
  if (peek() === BuiltinOperator.DEQUANTIZE) {
    next('DEQUANTIZE');
    floatOutput = { name: model.tensors[cur]!.name, index: cur };
  }
  if (at < ops.length) bad(`tflite: unexpected ${opLabel(ops[at]!)} after the ${floatOutput ? 'DEQUANTIZE' : softmaxOp ? 'SOFTMAX' : 'logits'}`);
  if (model.outputs.length !== 1 || model.outputs[0] !== cur) bad(`tflite: subgraph outputs ${describe(model.outputs)}; expected [${cur}], the last operator's output`);

  // The layer table.
  const convs = [...steps, logitsStep];
  const bodyAct = steps[0]!.activation;
  if (bodyAct !== Activation.RELU6 && bodyAct !== Activation.RELU) {
    bad(`tflite: operator ${steps[0]!.op.index} (Conv2d_0) fuses ${ACTIVATION_NAMES[bodyAct] ?? bodyAct}; the integer path implements NONE, RELU and RELU6`);
  }
  const options: MobileNetOptions = { ...tfliteOptions(convs, h!, w!), ...(bodyAct === Activation.RELU ? { activation: 'relu' as const } : {}) };
  const arch = architecture(options);
  const tableConvs = convLayers(arch);
  checkPool(pool, arch);
  const poolLayer = arch.layers.find((l) => l.kind === 'avgpool')!;

  const layers: QuantLayer[] = [];
  let prev: QuantTensor = input;
  convs.forEach((step, i) => {
    const layer = tableConvs[i]!;
    const q = quantConv(model, step, i, layer, prev, act, dtype);
    layers.push(q);
    prev = q.output;
    if (i === BODY_CONVS - 1) {
      const out = act(pool.output, 'AvgPool_1a output');
      sameParams(prev, out, `${opLabel(pool.op)} (AvgPool_1a)`);
      const [actMin, actMax] = calculateActivationRangeQuantized('none', dtype, out.scale, out.zeroPoint);
      layers.push({
        type: 'avgpool', op: 'AVERAGE_POOL_2D', name: poolLayer.name, operatorIndex: pool.op.index, input: prev,
        output: { ...out, name: pool.output.name, index: pool.output.index, shape: [...pool.output.shape] },
        filter: pool.filter, stride: poolStride[0]!, padTop: 0, padLeft: 0, actMin, actMax,
      });
      prev = (layers[layers.length - 1] as QuantPoolLayer).output;
    }
  });
  // RESHAPE/SQUEEZE: no-ops on data; they must keep the quantization.
  for (const op of reshapes) {
    const from = act(model.tensors[op.inputs[0]!]!, `${opLabel(op)} input`);
    const to = act(model.tensors[op.outputs[0]!]!, `${opLabel(op)} output`);
    sameParams(from, to, opLabel(op));
  }
  const reshapeAfterLogits = reshapes.filter((op) => op.index > logitsStep.op.index);
  const reshapeBeforeLogits = reshapes.filter((op) => op.index < logitsStep.op.index);
  const tensorRef = (i: number, role: string): QuantTensor => ({ ...act(model.tensors[i]!, role), name: model.tensors[i]!.name, index: i, shape: [...model.tensors[i]!.shape] });
  for (const op of reshapeBeforeLogits) {
    const logitsAt = layers.findIndex((l) => l.type === 'conv' && l.name === 'Logits');
    layers.splice(logitsAt, 0, { type: 'reshape', op: op.code === BuiltinOperator.SQUEEZE ? 'SQUEEZE' : 'RESHAPE', operatorIndex: op.index, input: tensorRef(op.inputs[0]!, 'reshape input'), output: tensorRef(op.outputs[0]!, 'reshape output') });
  }
  for (const op of reshapeAfterLogits) {
    layers.push({ type: 'reshape', op: op.code === BuiltinOperator.SQUEEZE ? 'SQUEEZE' : 'RESHAPE', operatorIndex: op.index, input: tensorRef(op.inputs[0]!, 'reshape input'), output: tensorRef(op.outputs[0]!, 'reshape output') });
  }
  if (softmaxOp) {
    const o = builtinOptions(softmaxOp, OptionsType.SoftmaxOptions, opLabel(softmaxOp));
    const beta = o.f32(0, 'beta', 0);
    if (!(beta > 0) || !Number.isFinite(beta)) bad(`tflite: ${opLabel(softmaxOp)} has beta ${beta}; expected a finite positive number`);
    const sIn = tensorRef(logitsOutput, 'SOFTMAX input');
    const sOut = tensorRef(softmaxOp.outputs[0]!, 'SOFTMAX output');
    const wantZero = dtype === 'uint8' ? 0 : -128;
    if (sOut.scale !== 1 / 256 || sOut.zeroPoint !== wantZero) {
      bad(`tflite: ${opLabel(softmaxOp)} output ${sOut.name} has scale ${sOut.scale} and zero point ${sOut.zeroPoint}; TFLite's ${dtype} softmax needs scale 1/256 (0.00390625) and zero point ${wantZero}`);
    }
    let params: SoftmaxParams;
    try {
      params = softmaxParams(beta, sIn.scale);
    } catch (e) {
      return bad(`tflite: ${opLabel(softmaxOp)}: beta ${beta} x input scale ${sIn.scale} gives no softmax multiplier (${(e as Error).message})`);
    }
    layers.push({ type: 'softmax', op: 'SOFTMAX', name: 'Predictions', operatorIndex: softmaxOp.index, input: sIn, output: sOut, beta, params });
  }
  const output = tensorRef(lastInteger, 'the last integer tensor');
  const named = layers.filter((l): l is Exclude<QuantLayer, QuantReshapeLayer> => l.type !== 'reshape');
  const exact = input.scale === 1 / 128 && ((dtype === 'uint8' && input.zeroPoint === 128) || (dtype === 'int8' && input.zeroPoint === 0));
  const labels = readLabels(bytes, model, arch.options.numClasses);
  return {
    format: 'tflite',
    dtype,
    options,
    architecture: arch,
    input: { ...input, name: model.tensors[input.index]!.name, shape: [...model.tensors[input.index]!.shape] },
    ...(floatInput ? { floatInput } : {}),
    output,
    ...(floatOutput ? { floatOutput } : {}),
    layers,
    endpoints: named.map((l) => l.name),
    pixelNormalization: exact ? 'tflite-uint8' : 'unit-signed',
    ...(labels ? { labels } : {}),
  };
}

/** An activation tensor's per-tensor quantization, checked. */
function activation(t: TfliteTensor, role: string): QuantTensor {
  if (t.type === TensorType.INT16) bad(`tflite: tensor ${t.name} (${role}) is INT16: int16 activations (the 16x8 scheme) are not supported`);
  if (t.type !== TensorType.UINT8 && t.type !== TensorType.INT8) bad(`tflite: tensor ${t.name} (${role}) is ${typeName(t.type)}; the integer path needs UINT8 or INT8 activations`);
  const dtype: IntDType = t.type === TensorType.UINT8 ? 'uint8' : 'int8';
  if (t.scale.length === 0) bad(`tflite: tensor ${t.name} (${role}) has no quantization scale`);
  if (t.zeroPoint.length === 0) bad(`tflite: tensor ${t.name} (${role}) has no quantization zero point`);
  if (t.scale.length !== 1 || t.zeroPoint.length !== 1) {
    bad(`tflite: tensor ${t.name} (${role}) has ${t.scale.length} scales and ${t.zeroPoint.length} zero points; activations must be quantized per tensor (one of each)`);
  }
  const scale = t.scale[0]!;
  const zeroPoint = t.zeroPoint[0]!;
  if (!(scale > 0) || !Number.isFinite(scale)) bad(`tflite: tensor ${t.name} (${role}) has quantization scale ${scale}; expected a finite positive number`);
  const [lo, hi] = DTYPE_RANGE[dtype];
  if (zeroPoint < lo || zeroPoint > hi) bad(`tflite: tensor ${t.name} (${role}) has zero point ${zeroPoint}; expected ${lo}..${hi} for ${typeName(t.type)}`);
  return { dtype, scale, zeroPoint, name: t.name, index: t.index, shape: [...t.shape] };
}

function sameParams(a: QuantParams, b: QuantParams, where: string): void {
  if (a.dtype !== b.dtype || Math.abs(a.scale - b.scale) > 1e-6 * a.scale || a.zeroPoint !== b.zeroPoint) {
    bad(`tflite: ${where} changes the quantization from scale ${a.scale} zero point ${a.zeroPoint} to scale ${b.scale} zero point ${b.zeroPoint}; it must keep it (TFLite requantizes neither)`);
  }
}

/** A FULLY_CONNECTED logits operator as a convolution step (1x1, stride 1). */
function readFullyConnected(op: TfliteOperator, tensors: TfliteTensor[], output: TfliteTensor): ConvStep {
  const name = opLabel(op);
  const o = builtinOptions(op, OptionsType.FullyConnectedOptions, name);
  const format = o.i8(1, 'weights_format', 0);
  if (format !== 0) bad(`tflite: ${name} has weights_format ${format}; expected DEFAULT (0)`);
  if (op.inputs.length < 3 || op.inputs[1]! < 0 || op.inputs[2]! < 0) bad(`tflite: ${name} has inputs ${describe(op.inputs)}; expected [input, weights, bias]`);
  return { op, depthwise: false, stride: 1, activation: o.i8(0, 'fused_activation_function', 0), filter: tensors[op.inputs[1]!]!, bias: tensors[op.inputs[2]!]!, output };
}

/** The integer data of a constant tensor, checked against its shape. */
function integerData(model: TfliteModel, t: TfliteTensor, role: string): Uint8Array | Int8Array | Int32Array {
  let count = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 1) bad(`tflite: tensor ${t.name} (${role}) has shape ${formatShape(t.shape)}; expected positive dimensions`);
    count *= d;
  }
  const size = t.type === TensorType.INT32 ? 4 : 1;
  const data = model.buffers[t.buffer]!;
  if (data.length !== count * size) bad(`tflite: tensor ${t.name} (${role}) ${typeName(t.type)} ${formatShape(t.shape)} needs ${count * size} bytes, buffer ${t.buffer} has ${data.length}`);
  const copy = data.slice();
  if (t.type === TensorType.INT32) {
    const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
    return Int32Array.from({ length: count }, (_, i) => view.getInt32(4 * i, true));
  }
  return t.type === TensorType.INT8 ? new Int8Array(copy.buffer, copy.byteOffset, count) : copy;
}

/** One convolution (or the FULLY_CONNECTED logits) against its table layer, with TFLite's Prepare arithmetic. */
function quantConv(
  model: TfliteModel, step: ConvStep, i: number, layer: ConvLayer, input: QuantTensor,
  act: (t: TfliteTensor, role: string) => QuantTensor, dtype: IntDType,
): QuantConvLayer {
  const fc = step.op.code === BuiltinOperator.FULLY_CONNECTED;
  const kind = step.depthwise ? 'depthwise' : i === 0 ? 'conv' : i === BODY_CONVS ? 'logits' : 'pointwise';
  const label = `operator ${step.op.index} (${layer.name})`;
  if (kind !== layer.kind || step.stride !== layer.stride) {
    bad(`tflite: operator ${step.op.index} is a ${kind} convolution with stride ${step.stride}; ${layer.name} is ${layer.kind} with stride ${layer.stride}`);
  }
  const activationName = ACTIVATION_NAMES[step.activation] ?? String(step.activation);
  const fused: FusedActivation | null = step.activation === Activation.NONE ? 'none' : step.activation === Activation.RELU ? 'relu' : step.activation === Activation.RELU6 ? 'relu6' : null;
  if (fused === null) bad(`tflite: ${label} fuses ${activationName}; the integer path implements NONE, RELU and RELU6`);
  if (fused !== layer.activation) bad(`tflite: ${label} fuses ${activationName}; the layer table has ${layer.activation.toUpperCase()} there`);
  const [oh, ow, oc] = layer.outShape;
  if (fc) {
    checkShape(step.output, [1, oc], layer.name);
  } else {
    checkShape(step.output, [1, oh, ow, oc], layer.name);
  }
  const output = act(step.output, `${layer.name} output`);

  // Weights.
  const f = step.filter;
  const role = `weights of ${layer.name}`;
  const wantType = dtype === 'uint8' ? TensorType.UINT8 : TensorType.INT8;
  if (f.type !== wantType) bad(`tflite: tensor ${f.name} (${role}) is ${typeName(f.type)}; a ${dtype.toUpperCase()} model needs ${typeName(wantType)} weights`);
  const [kh, kw] = layer.kernel;
  const inC = layer.inShape[2];
  const expected = fc ? [oc, inC] : step.depthwise ? [1, kh, kw, oc] : [oc, kh, kw, inC];
  if (f.shape.length !== expected.length || f.shape.some((d, k) => d !== expected[k])) bad(`tflite: tensor ${f.name} (${role}) has shape ${formatShape(f.shape)}; expected ${formatShape(expected)}`);
  const channelAxis = step.depthwise ? 3 : 0;
  if (f.scale.length === 0) bad(`tflite: tensor ${f.name} (${role}) has no quantization scale`);
  if (f.zeroPoint.length === 0) bad(`tflite: tensor ${f.name} (${role}) has no quantization zero point`);
  if (f.scale.length > 1) {
    if (dtype === 'uint8') bad(`tflite: tensor ${f.name} (${role}) has ${f.scale.length} scales: per-channel quantization of UINT8 weights is not supported (TFLite has it for INT8 weights only)`);
    if (f.scale.length !== oc || f.quantizedDimension !== channelAxis) {
      bad(`tflite: tensor ${f.name} (${role}) has ${f.scale.length} scales along quantized_dimension ${f.quantizedDimension}; expected ${oc} along dimension ${channelAxis} (the output channels)`);
    }
  }
  if (f.zeroPoint.length !== f.scale.length) bad(`tflite: tensor ${f.name} (${role}) has ${f.scale.length} scales and ${f.zeroPoint.length} zero points; expected as many of each`);
  f.scale.forEach((s, k) => {
    if (!(s > 0) || !Number.isFinite(s)) bad(`tflite: tensor ${f.name} (${role}) has quantization scale ${s}${f.scale.length > 1 ? ` (channel ${k})` : ''}; expected a finite positive number`);
  });
  f.zeroPoint.forEach((z, k) => {
    if (dtype === 'int8' && z !== 0) bad(`tflite: tensor ${f.name} (${role}) has zero point ${z}${f.scale.length > 1 ? ` (channel ${k})` : ''}: asymmetric INT8 weights are not supported (TFLite's int8 kernels take weight zero point 0)`);
    if (dtype === 'uint8' && (z < 0 || z > 255)) bad(`tflite: tensor ${f.name} (${role}) has zero point ${z}; expected 0..255 for UINT8`);
  });
  const data = integerData(model, f, role) as Uint8Array | Int8Array;

  // Bias.
  const b = step.bias;
  const biasRole = `bias of ${layer.name}`;
  if (b.type !== TensorType.INT32) bad(`tflite: tensor ${b.name} (${biasRole}) is ${typeName(b.type)}; expected INT32`);
  if (b.shape.length !== 1 || b.shape[0] !== oc) bad(`tflite: tensor ${b.name} (${biasRole}) has shape ${formatShape(b.shape)}; expected [${oc}]`);
  if (b.scale.length === 0) bad(`tflite: tensor ${b.name} (${biasRole}) has no quantization scale`);
  if (b.zeroPoint.length === 0) bad(`tflite: tensor ${b.name} (${biasRole}) has no quantization zero point`);
  b.zeroPoint.forEach((z) => {
    if (z !== 0) bad(`tflite: tensor ${b.name} (${biasRole}) has zero point ${z}; int32 biases must have zero point 0 (TFLite adds them as they are)`);
  });
  if (dtype === 'uint8') {
    // kernel_util.cc GetQuantizedConvolutionMultipler: bias scale = input scale x filter scale within 1e-6.
    const product = Math.fround(input.scale) * Math.fround(f.scale[0]!);
    const biasScale = Math.fround(b.scale[0]!);
    if (!(Math.abs(product - biasScale) <= 1e-6 * Math.min(product, biasScale))) {
      bad(`tflite: tensor ${b.name} (${biasRole}) has scale ${biasScale}; TFLite requires input scale x weight scale = ${product} (within 1e-6)`);
    }
  }
  const biasData = integerData(model, b, biasRole) as Int32Array;

  // Requantization (kernel_util.cc PopulateConvolutionQuantizationParams).
  const multiplier = new Int32Array(oc);
  const shift = new Int32Array(oc);
  // XNNPACK's float32 requantization scale (the 'xnnpack-fp32' emulation): input_scale *
  // kernel_scale / output_scale in float32, per channel for per-channel weights.
  const fp32Scale = new Float32Array(oc);
  for (let k = 0; k < oc; k++) {
    const fs = Math.fround;
    fp32Scale[k] = fs(fs(fs(input.scale) * fs(f.scale.length > 1 ? f.scale[k]! : f.scale[0]!)) / fs(output.scale));
    const real = dtype === 'uint8'
      ? convolutionMultiplier(input.scale, f.scale[0]!, output.scale, 'per-tensor-float-product')
      : convolutionMultiplier(input.scale, f.scale.length > 1 ? f.scale[k]! : f.scale[0]!, output.scale, 'per-channel-double');
    const m = quantizeMultiplier(real);
    if (m.shift < -31 || m.shift > 30) bad(`tflite: ${label}: the output multiplier ${real} (input scale x weight scale / output scale) needs shift ${m.shift}, outside [-31, 30]`);
    multiplier[k] = m.multiplier;
    shift[k] = m.shift;
  }
  const [actMin, actMax] = calculateActivationRangeQuantized(fused!, dtype, output.scale, output.zeroPoint);
  const filterOffset = dtype === 'uint8' ? 0 - f.zeroPoint[0]! || 0 : 0;
  return {
    type: 'conv',
    op: fc ? 'FULLY_CONNECTED' : step.depthwise ? 'DEPTHWISE_CONV_2D' : 'CONV_2D',
    kind: layer.kind,
    name: layer.name,
    operatorIndex: step.op.index,
    input,
    output,
    filter: { name: f.name, dtype, shape: [...f.shape], data, scales: Float32Array.from(f.scale), zeroPoints: Int32Array.from(f.zeroPoint), quantizedDimension: f.scale.length > 1 ? f.quantizedDimension : channelAxis },
    bias: { name: b.name, data: biasData, scales: Float32Array.from(b.scale) },
    kernel: fc ? [1, 1] : [kh, kw],
    stride: step.stride,
    padTop: fc ? 0 : layer.padding.top,
    padLeft: fc ? 0 : layer.padding.left,
    activation: fused!,
    filterOffsetData: offsetWeights(data, filterOffset),
    requant: { multiplier, shift, inputOffset: 0 - input.zeroPoint || 0, filterOffset, outputOffset: output.zeroPoint, actMin, actMax, fp32Scale },
  };
}

