/**
 * The integer reference path: a `QuantizedModel` run layer by layer with TFLite's reference
 * integer kernels (./kernels.ts), returning the end points asked for as integer arrays with
 * their scale and zero point. The arithmetic is exactly TFLite's reference kernels'; where the
 * interpreter's default (optimized, XNNPACK) kernels differ, see ./index.ts.
 */
import { ErrorCodes, describe, fail, typeNameOf } from '../errors.js';
import { normalizePixels } from '../image/normalize.js';
import {
  averagePool2d, allocate, conv2d, depthwiseConv2d, dequantize, fullyConnected, quantize, softmax, softmaxLut,
  type IntArray, type RequantizationMode, type SoftmaxMode,
} from './kernels.js';
import type { IntDType, QuantConvLayer, QuantConvOp, QuantizedModel, QuantParams } from './model.js';

/** One end point's values: integers of `dtype`, real = scale * (q - zeroPoint). */
export interface QuantizedEndpoint extends QuantParams {
  readonly name: string;
  /** NHWC for feature maps ([N, H, W, C]); [N, classes] for Logits and Predictions. */
  readonly shape: readonly number[];
  readonly data: IntArray;
}

/**
 * Which arithmetic: TFLite's reference kernels (the default, the oracle), or, op by op, what
 * TFLite's interpreter computes instead (see RequantizationMode and SoftmaxMode in
 * ./kernels.ts). `requantization` is one mode for every convolution or one per operator type.
 * Measured against @tensorflow/tfjs-tflite 0.0.1-alpha.10 (test/quant/interpreter.test.ts),
 * the interpreter is, end point for end point:
 * - uint8, as it runs by default (XNNPACK takes every convolution):
 *   `{ requantization: 'xnnpack-fp32', softmax: 'lut' }`;
 * - uint8, builtin kernels (XNNPACK kept off): `{ softmax: 'lut' }`;
 * - int8 with per-channel weights, by default (XNNPACK takes CONV_2D and DEPTHWISE_CONV_2D, not
 *   FULLY_CONNECTED): `{ requantization: { CONV_2D: 'xnnpack-fp32', DEPTHWISE_CONV_2D:
 *   'xnnpack-fp32', FULLY_CONNECTED: 'single-rounding' }, softmax: 'lut' }`;
 * - int8, builtin kernels (and by default with per-tensor weights, which XNNPACK leaves alone in
 *   that build): `{ requantization: { CONV_2D: 'single-rounding', FULLY_CONNECTED:
 *   'single-rounding' }, softmax: 'lut' }`.
 */
export interface QuantRunOptions {
  readonly requantization?: RequantizationMode | Partial<Record<QuantConvOp, RequantizationMode>>;
  readonly softmax?: SoftmaxMode;
}

const REQUANTIZATION_MODES: readonly string[] = ['reference', 'single-rounding', 'xnnpack-fp32'];

/** The largest batch accepted (keeps every allocation bounded). */
export const MAX_QUANT_BATCH = 4096;

/**
 * Runs `model` on `batch` images `input` (NHWC, the model's input integers: Uint8Array for a
 * uint8 model, Int8Array for an int8 one, batch x H x W x 3 values) and returns the end points
 * named in `keep` (all of them when `keep` is omitted), in layer order. ERR_INPUT on a wrong
 * type or length, ERR_OPTION on an unknown end point name.
 */
export function runQuantizedReference(
  model: QuantizedModel, input: Uint8Array | Int8Array, batch: number, keep?: ReadonlySet<string>, options: QuantRunOptions = {},
): Map<string, QuantizedEndpoint> {
  const requantization = options.requantization ?? 'reference';
  const softmaxMode = options.softmax ?? 'reference';
  const modeFor = (op: QuantConvOp): RequantizationMode => (typeof requantization === 'string' ? requantization : requantization[op] ?? 'reference');
  for (const op of ['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED'] as const) {
    if (!REQUANTIZATION_MODES.includes(modeFor(op))) fail(ErrorCodes.OPTION, `option requantization: expected one of ${REQUANTIZATION_MODES.join(', ')} (or an object of them by operator), got ${describe(requantization)}`);
  }
  if (softmaxMode !== 'reference' && softmaxMode !== 'lut') fail(ErrorCodes.OPTION, `option softmax: expected 'reference' or 'lut', got ${describe(softmaxMode)}`);
  const want = model.input.dtype === 'uint8' ? Uint8Array : Int8Array;
  if (!(input instanceof want)) {
    fail(ErrorCodes.INPUT, `quantized input: expected a ${want.name} (the model's input is ${model.input.dtype}), got ${typeNameOf(input)}`);
  }
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > MAX_QUANT_BATCH) fail(ErrorCodes.INPUT, `quantized input: batch ${describe(batch)}, expected an integer from 1 to ${MAX_QUANT_BATCH}`);
  const dims = model.input.shape.slice(1);
  const per = dims.reduce((a, d) => a * d, 1);
  if (input.length !== batch * per) {
    fail(ErrorCodes.INPUT, `quantized input: ${input.length} values for batch ${batch}; expected ${[batch, ...dims].join(' x ')} = ${batch * per}`);
  }
  if (keep) {
    for (const name of keep) {
      if (!model.endpoints.includes(name)) fail(ErrorCodes.OPTION, `quantized end point ${describe(name)}: expected one of ${model.endpoints.join(', ')}`);
    }
  }
  const out = new Map<string, QuantizedEndpoint>();
  let x: IntArray = input;
  for (const layer of model.layers) {
    switch (layer.type) {
      case 'conv':
        x = runConv(layer, x, batch, modeFor(layer.op));
        break;
      case 'avgpool': {
        const [, inH, inW, C] = layer.input.shape;
        const [, outH, outW] = layer.output.shape;
        const y = allocate(layer.output.dtype, batch * outH! * outW! * C!);
        averagePool2d(
          { batch, inH: inH!, inW: inW!, C: C!, outH: outH!, outW: outW!, filterH: layer.filter[0], filterW: layer.filter[1], stride: layer.stride, padTop: layer.padTop, padLeft: layer.padLeft },
          layer.input.dtype, x, layer.actMin, layer.actMax, y,
        );
        x = y;
        break;
      }
      case 'reshape':
        break;
      case 'softmax': {
        const depth = layer.input.shape[layer.input.shape.length - 1]!;
        const y = allocate(layer.output.dtype, x.length);
        if (softmaxMode === 'lut') softmaxLut(x.length / depth, depth, layer.input.dtype, x, layer.input.scale, layer.beta, y);
        else softmax(x.length / depth, depth, layer.input.dtype, x, layer.params, y);
        x = y;
        break;
      }
    }
    if (layer.type !== 'reshape' && (!keep || keep.has(layer.name))) {
      const shape = layer.name === 'Logits' || layer.type === 'softmax' ? [batch, layer.output.shape[layer.output.shape.length - 1]!] : [batch, ...layer.output.shape.slice(1)];
      out.set(layer.name, { name: layer.name, shape, data: x, dtype: layer.output.dtype, scale: layer.output.scale, zeroPoint: layer.output.zeroPoint });
    }
  }
  return out;
}

function runConv(layer: QuantConvLayer, x: IntArray, batch: number, mode: RequantizationMode): IntArray {
  const [, inH, inW, inC] = layer.op === 'FULLY_CONNECTED' ? [1, 1, 1, layer.filter.shape[1]!] : layer.input.shape;
  const outShape = layer.output.shape;
  const outC = outShape[outShape.length - 1]!;
  const [outH, outW] = layer.op === 'FULLY_CONNECTED' ? [1, 1] : [outShape[1]!, outShape[2]!];
  const y = allocate(layer.output.dtype, batch * outH * outW * outC);
  const g = { batch, inH: inH!, inW: inW!, inC: inC!, outH, outW, outC, kernelH: layer.kernel[0], kernelW: layer.kernel[1], stride: layer.stride, padTop: layer.padTop, padLeft: layer.padLeft };
  if (layer.op === 'DEPTHWISE_CONV_2D') depthwiseConv2d(g, x, layer.filterOffsetData, layer.bias.data, layer.requant, y, mode);
  else if (layer.op === 'FULLY_CONNECTED') fullyConnected(batch, inC!, outC, x, layer.filterOffsetData, layer.bias.data, layer.requant, y, mode);
  else conv2d(g, x, layer.filterOffsetData, layer.bias.data, layer.requant, y, mode);
  return y;
}

/** An end point's real values: TFLite's Dequantize, float32(scale * (q - zeroPoint)). */
export function dequantizeEndpoint(t: { readonly data: IntArray; readonly scale: number; readonly zeroPoint: number }): Float32Array {
  return dequantize(t.data, t.scale, t.zeroPoint);
}

/** Real values to a tensor's integers: TFLite's Quantize (AffineQuantize), e.g. for a float-input model's QUANTIZE. */
export function quantizeValues(values: Float32Array, params: { readonly dtype: IntDType; readonly scale: number; readonly zeroPoint: number }): IntArray {
  return quantize(values, params.dtype, params.scale, params.zeroPoint);
}

/**
 * Size x size RGB images (uint8, src/image/pipeline.ts `preprocessImage`) to the model's input
 * integers. An input quantized as (u8 - 128) / 128 (uint8 scale 1/128 zero point 128, or int8
 * scale 1/128 zero point 0) takes the pixels exactly (uint8: as they are; int8: u8 - 128);
 * any other input gets the pixels normalised per `model.pixelNormalization` in float32, then
 * quantized with TFLite's Quantize, as the interpreter would quantize that float input.
 */
export function pixelsToQuantizedInput(model: QuantizedModel, images: readonly Uint8Array[]): Uint8Array | Int8Array {
  const [, h, w, c] = model.input.shape;
  if (h !== w || c !== 3) fail(ErrorCodes.INPUT, `quantized input: the model's input is ${describe(model.input.shape)}; pixels need a square RGB input`);
  const per = h! * w! * 3;
  images.forEach((img, i) => {
    if (!(img instanceof Uint8Array) || img.length !== per) fail(ErrorCodes.INPUT, `quantized input: image ${i} has ${img?.length} bytes, expected ${h} x ${w} x 3 = ${per}`);
  });
  const { dtype, scale, zeroPoint } = model.input;
  const exact = scale === 1 / 128 && ((dtype === 'uint8' && zeroPoint === 128) || (dtype === 'int8' && zeroPoint === 0));
  if (exact) {
    const out = dtype === 'uint8' ? new Uint8Array(images.length * per) : new Int8Array(images.length * per);
    images.forEach((img, i) => {
      if (dtype === 'uint8') out.set(img, i * per);
      else for (let k = 0; k < per; k++) out[i * per + k] = img[k]! - 128;
    });
    return out;
  }
  const real = normalizePixels(images, h!, model.pixelNormalization).data as Float32Array;
  return quantize(real, dtype, scale, zeroPoint) as Uint8Array | Int8Array;
}
