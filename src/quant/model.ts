/**
 * The quantized model: what `readTfliteQuantized` (src/formats/tflite.ts) reads from a uint8 or
 * int8 TFLite MobileNet v1 and what `runQuantizedReference` (./reference.ts) runs. It holds the
 * file's integer tensors as they are (TFLite layouts, no dequantization) and, per layer, the
 * requantization parameters TFLite's Prepare functions derive from the scales, so an engine or
 * a SIMD kernel reads exactly the integers the reference uses.
 *
 * Layers carry the layer table's end point names (src/model/architecture.ts): Conv2d_0,
 * Conv2d_1_depthwise, ..., Conv2d_13_pointwise, AvgPool_1a, Logits, Predictions. RESHAPE /
 * SQUEEZE are no-ops on data and are recorded as `reshape` steps without an end point of their
 * own (the Logits end point is the logits convolution's output, reported as [N, classes]).
 *
 * Quantization schemes held:
 *   uint8: per-tensor asymmetric everything (TFLite's legacy scheme, the Coral models):
 *          weights real = s * (q - z), filter_offset = -z;
 *   int8:  TFLite's full-integer scheme: per-tensor asymmetric int8 activations, symmetric int8
 *          weights (zero point 0) per channel (quantized_dimension = the output channel axis:
 *          0 for CONV_2D and FULLY_CONNECTED, 3 for DEPTHWISE_CONV_2D) or per tensor;
 *   both:  int32 biases with zero point 0, scale = input_scale * weight_scale (per channel).
 */
import type { Architecture, MobileNetOptions } from '../model/architecture.js';
import type { PixelNormalization } from '../image/normalize.js';
import type { FusedActivation, IntDType, SoftmaxParams } from './fixedpoint.js';
import type { IntArray, Requantization } from './kernels.js';

export type { FusedActivation, IntDType, SoftmaxParams } from './fixedpoint.js';
export type { IntArray, Requantization } from './kernels.js';

/** Per-tensor affine quantization of an activation: real = scale * (q - zeroPoint). */
export interface QuantParams {
  readonly dtype: IntDType;
  /** float32, as stored in the file. */
  readonly scale: number;
  readonly zeroPoint: number;
}

/** An activation tensor of the file: its name, its shape for batch 1, its quantization. */
export interface QuantTensor extends QuantParams {
  readonly name: string;
  /** Index in the file's subgraph. */
  readonly index: number;
  readonly shape: readonly number[];
}

/** A constant integer tensor (weights), unchanged from the file. */
export interface QuantWeights {
  readonly name: string;
  readonly dtype: IntDType;
  /** CONV_2D: OHWI [O, kh, kw, I]; DEPTHWISE_CONV_2D: [1, kh, kw, C]; FULLY_CONNECTED: [O, I]. */
  readonly shape: readonly number[];
  readonly data: IntArray;
  /** One scale per output channel, or one for the tensor (float32 values). */
  readonly scales: Float32Array;
  /** Same length as `scales`; all 0 for int8. */
  readonly zeroPoints: Int32Array;
  /** The axis `scales` runs along when there are several (TFLite's quantized_dimension). */
  readonly quantizedDimension: number;
}

export interface QuantBias {
  readonly name: string;
  readonly data: Int32Array;
  /** The file's bias scales (input scale x weight scale); informational, the kernels add the int32 as is. */
  readonly scales: Float32Array;
}

export type QuantConvOp = 'CONV_2D' | 'DEPTHWISE_CONV_2D' | 'FULLY_CONNECTED';

export interface QuantConvLayer {
  readonly type: 'conv';
  readonly op: QuantConvOp;
  /** The layer table's kind. */
  readonly kind: 'conv' | 'depthwise' | 'pointwise' | 'logits';
  /** The end point name (Conv2d_0, Conv2d_1_depthwise, ..., Logits). */
  readonly name: string;
  /** The operator's index in the file. */
  readonly operatorIndex: number;
  readonly input: QuantTensor;
  readonly output: QuantTensor;
  readonly filter: QuantWeights;
  readonly bias: QuantBias;
  readonly kernel: readonly [number, number];
  readonly stride: number;
  /** TF SAME padding before (top, left), as TFLite's ComputePaddingHeightWidth gives it; 0 for FULLY_CONNECTED. */
  readonly padTop: number;
  readonly padLeft: number;
  readonly activation: FusedActivation;
  /** `filter` + filter_offset, in the same layout (what the accumulation multiplies by). */
  readonly filterOffsetData: Int32Array;
  readonly requant: Requantization;
}

export interface QuantPoolLayer {
  readonly type: 'avgpool';
  readonly op: 'AVERAGE_POOL_2D';
  readonly name: string;
  readonly operatorIndex: number;
  readonly input: QuantTensor;
  readonly output: QuantTensor;
  readonly filter: readonly [number, number];
  readonly stride: number;
  readonly padTop: number;
  readonly padLeft: number;
  readonly actMin: number;
  readonly actMax: number;
}

export interface QuantReshapeLayer {
  readonly type: 'reshape';
  readonly op: 'RESHAPE' | 'SQUEEZE';
  readonly operatorIndex: number;
  readonly input: QuantTensor;
  readonly output: QuantTensor;
}

export interface QuantSoftmaxLayer {
  readonly type: 'softmax';
  readonly op: 'SOFTMAX';
  readonly name: string;
  readonly operatorIndex: number;
  readonly input: QuantTensor;
  readonly output: QuantTensor;
  /** float32, from SoftmaxOptions. */
  readonly beta: number;
  readonly params: SoftmaxParams;
}

export type QuantLayer = QuantConvLayer | QuantPoolLayer | QuantReshapeLayer | QuantSoftmaxLayer;

export interface QuantizedModel {
  readonly format: 'tflite';
  /** The activations' type: 'uint8' (the Coral models) or 'int8'. */
  readonly dtype: IntDType;
  /** Options for `buildArchitecture`, derived from the graph as `readTfliteModel` does. */
  readonly options: MobileNetOptions;
  readonly architecture: Architecture;
  /** The integer input the first convolution reads ([1, H, W, 3]). */
  readonly input: QuantTensor;
  /** Set when the file takes float32 and QUANTIZEs it (then `input` is the QUANTIZE output). */
  readonly floatInput?: { readonly name: string; readonly index: number };
  /** The last integer tensor (Predictions, or Logits without a softmax). */
  readonly output: QuantTensor;
  /** Set when the file DEQUANTIZEs its output to float32. */
  readonly floatOutput?: { readonly name: string; readonly index: number };
  readonly layers: readonly QuantLayer[];
  /** End point names in order (a subset of the architecture's: those the file has). */
  readonly endpoints: readonly string[];
  /**
   * How an 8-bit RGB pixel becomes the network's real input value (src/image/normalize.ts):
   * 'tflite-uint8' for an input quantized as (u8 - 128) / 128 (uint8 scale 1/128 zero point 128,
   * or int8 scale 1/128 zero point 0: then the pixel maps to the input integer exactly).
   */
  readonly pixelNormalization: PixelNormalization;
  readonly labels?: string[];
}
