/**
 * Quantized inference exactly as TFLite computes it: the integer reference path, beside the
 * float one (src/reference/). Read a uint8 or int8 MobileNet v1 with `readTfliteQuantized`
 * (src/formats/tflite.ts), run it with `runQuantizedReference`, get the end points as integers
 * with their scale and zero point.
 *
 *   const model = readTfliteQuantized(bytes);                  // QuantizedModel
 *   const x = pixelsToQuantizedInput(model, [rgb]);            // rgb: preprocessImage(bytes, size)
 *   const out = runQuantizedReference(model, x, 1, new Set(['Logits', 'Predictions']));
 *   out.get('Predictions')   // { data: Uint8Array, shape: [1, 1001], dtype, scale: 1/256, zeroPoint: 0 }
 *   dequantizeEndpoint(out.get('Logits')!)                     // float32, as TFLite's Dequantize
 *
 * What "exactly" means: the arithmetic of TFLite's reference kernels in the default build
 * (tensorflow/lite/kernels/internal/reference/*, common.cc with TFLITE_SINGLE_ROUNDING off,
 * quantization_util.cc without TFLITE_EMULATE_FLOAT), every step in int32 as C does it, every
 * parameter derived as the kernels' Prepare functions derive it (kernel_util.cc), file paths and
 * function names cited in ./fixedpoint.ts and ./kernels.ts. The model arrives with that
 * arithmetic's parameters precomputed per layer (QuantConvLayer.requant: QuantizeMultiplier
 * significands and shifts per output channel, offsets, the ReLU6 clamp) so another engine can
 * use the very same integers; ./kernels.ts documents the accumulation contract.
 *
 * Where TFLite's interpreter differs from its reference kernels (measured against the real
 * interpreter, @tensorflow/tfjs-tflite 0.0.1-alpha.10, in test/quant/interpreter.test.ts; each
 * difference has an emulation here, `QuantRunOptions`, so every one is accounted for):
 *
 * 1. Requantization of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.
 *    - Under the XNNPACK delegate, which TFLite applies by default (it cannot be switched off by
 *      an option of that runner) and which takes the uint8 convolutions and the int8 ones with
 *      per-channel weights: float32 with one rounding, round-half-to-even(f32(f32(acc) *
 *      f32(f32(s_in * s_w) / s_out))) (`'xnnpack-fp32'`). The reference does
 *      MultiplyByQuantizedMultiplier: two roundings (SaturatingRoundingDoublingHighMul to 31
 *      bits, then RoundingDivideByPOT). They differ by one level, the reference above, where
 *      the first rounding lands exactly on a half of the second (e.g. 157.4985 with a right
 *      shift of 8: 157.5, then 158; XNNPACK 157): 0.1-4% of each layer's outputs on the Coral
 *      models, differences which then propagate through the network.
 *    - TFLite's builtin kernels (XNNPACK off): uint8 CONV_2D (gemmlowp's output pipeline) and
 *      DEPTHWISE_CONV_2D (uint8 and int8) round as the reference; int8 CONV_2D and
 *      FULLY_CONNECTED go through ruy, which rounds once, (acc * m + 2^(30 - shift)) >> (31 -
 *      shift) (`'single-rounding'`, also what a TFLITE_SINGLE_ROUNDING build does everywhere).
 * 2. SOFTMAX (uint8 / int8): TFLite registers its optimized kernel by default, a float32 lookup
 *    table of expf (optimized_ops.h `Softmax`, `PopulateSoftmaxLookupTable`), where the
 *    reference uses gemmlowp's fixed-point exp_on_negative_values and
 *    one_over_one_plus_x_for_x_in_0_1 (`'lut'` emulates the former). Both round to 1/256; they
 *    differ by a level in rare rows (none of the 24 photo x model rows; 2 of 3000 random 10-class
 *    rows). XNNPACK does not take quantized softmax.
 * 3. AVERAGE_POOL_2D, RESHAPE: the interpreter runs the builtin kernels (XNNPACK leaves the
 *    quantized pool alone), which compute as the reference: no difference.
 * 4. The reference softmax aborts (TFLITE_CHECK) when 512 or more entries of a row lie within a
 *    few levels of its maximum (num_bits_over_unit + 23 > 31); every probability is then under
 *    half a level, and this path returns 0 levels there (see `softmax` in ./kernels.ts).
 * 5. XNNPACK clamps to its own quantization of the ReLU6 bounds (lrintf: ties to even) where
 *    CalculateActivationRangeQuantized rounds ties away from zero; they differ only when
 *    6 / scale is a float exactly halfway (e.g. scale 0.48: 12.5 -> 13 here, 12 in XNNPACK). The
 *    emulation keeps TFLite's bounds. (Not met by the Coral models: 6 / scale = 255.0089.)
 *
 * Measured (test/quant/interpreter.test.ts), three Coral models x eight photos: the reference =
 * the interpreter with XNNPACK kept off on every entry of the logits and Predictions; the
 * reference vs the interpreter as it runs by default: top-1 equal on 24 of 24, Predictions
 * equal on 99.24% / 99.45% / 99.64% of the entries (0.25_128 / 0.5_160 / 0.75_192), every
 * difference traced, op by op, to XNNPACK's requantization; `{ requantization: 'xnnpack-fp32',
 * softmax: 'lut' }` = the default interpreter on every entry. int8 models (written by the test
 * writer) likewise, op by op and end to end.
 *
 * Bit-exactness of the transcription itself was also checked outside the repository against
 * the C++ sources compiled as they are (tflite-micro's reference kernels with gemmlowp's
 * fixedpoint.h): QuantizeMultiplier, MultiplyByQuantizedMultiplier, exp_on_negative_values,
 * one_over_one_plus_x_for_x_in_0_1, uint8/int8 Softmax, int8 ConvPerChannel /
 * DepthwiseConvPerChannel, uint8/int8 AveragePool on random inputs: no difference.
 *
 * Making int8 models (`mobilenet quantize`, src/cli/quantize.ts): ./calibrate.ts runs a float
 * model on representative photos and keeps every end point's min and max; ./ptq.ts turns them
 * and the folded float weights into a TFLite int8 file with the arithmetic of TFLite's converter
 * (per-channel symmetric int8 weights, per-tensor asymmetric int8 activations, int32 biases,
 * int8 input and output), written by src/formats/tflite-writer.ts. Measured in
 * test/quant/quantize.test.ts: the interpreter on such a file is `{ requantization:
 * 'xnnpack-fp32', softmax: 'lut' }` by default and `{ requantization: { CONV_2D:
 * 'single-rounding' }, softmax: 'lut' }` with XNNPACK kept off, on every entry of every end point.
 */
export { isQuantizedTflite, readTfliteQuantized } from './tflite-reader.js';
export {
  MAX_QUANT_BATCH,
  dequantizeEndpoint,
  pixelsToQuantizedInput,
  quantizeValues,
  runQuantizedReference,
  type QuantRunOptions,
  type QuantizedEndpoint,
} from './reference.js';
export type {
  FusedActivation,
  IntArray,
  IntDType,
  QuantBias,
  QuantConvLayer,
  QuantConvOp,
  QuantLayer,
  QuantParams,
  QuantPoolLayer,
  QuantReshapeLayer,
  QuantSoftmaxLayer,
  QuantTensor,
  QuantWeights,
  QuantizedModel,
  Requantization,
  SoftmaxParams,
} from './model.js';
export {
  averagePool2d,
  conv2d,
  depthwiseConv2d,
  dequantize,
  fullyConnected,
  offsetWeights,
  quantize,
  requantize,
  requantizeFp32,
  roundHalfToEven,
  softmax,
  softmaxLut,
  type ConvGeometry,
  type PoolGeometry,
  type RequantizationMode,
  type SoftmaxMode,
} from './kernels.js';
export {
  DTYPE_RANGE,
  INT32_MAX,
  INT32_MIN,
  calculateActivationRangeQuantized,
  convolutionMultiplier,
  expOnNegativeValues,
  frexp,
  getReciprocal,
  multiplyByQuantizedMultiplier,
  multiplyByQuantizedMultiplierGreaterThanOne,
  multiplyByQuantizedMultiplierSingleRounding,
  oneOverOnePlusXForXIn01,
  quantizeMultiplier,
  roundHalfAwayFromZero,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
  softmaxParams,
  type QuantizedMultiplier,
} from './fixedpoint.js';
export { RangeCollector, calibrate, calibrationEndpoints } from './calibrate.js';
export {
  asymmetricParams,
  biasSafeHalfRange,
  checkQuantizable,
  normalizationRange,
  quantizeBias,
  quantizeToTflite,
  symmetricPerChannel,
  type CalibrationRanges,
  type FloatModelSource,
  type FloatRange,
  type Int8Params,
  type QuantizeOptions,
  type QuantizeResult,
} from './ptq.js';
