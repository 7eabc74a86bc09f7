/**
 * MobileNet v1 as an ONNX model (opset 13, IR version 7), from the layer table and the folded
 * weights, encoded with protobufjs against ONNX's own schema (schema.ts).
 *
 * The graph is the exact model a golden bundle holds:
 *
 *   input  `input`  float [N, H, W, 3], NHWC, N fixed (the bundle's batch)
 *   Transpose to NCHW, then per layer of the layer table:
 *     conv / depthwise / pointwise   Conv (group C for depthwise) with the folded filter,
 *                                    transposed to OIHW, and the folded bias; `pads` are the
 *                                    layer table's [top, left, bottom, right] (TF's SAME is
 *                                    asymmetric: the odd pixel after), `dilations` its rate;
 *                                    then Clip(0, 6) (relu6) or Relu
 *     AvgPool_1a                     AveragePool (kernel, stride, no padding) or GlobalAveragePool
 *     Logits                         Conv 1x1, then Squeeze of H and W (spatial squeeze) or NHWC
 *     Predictions                    Softmax over the last axis of Logits
 *   outputs: every requested end point, named exactly as the end point (`Conv2d_0`, ...,
 *   `Logits`, `Predictions`), NHWC (`[N, h, w, C]`; `[N, K]` for squeezed Logits and
 *   Predictions), each from a Transpose of the NCHW activation.
 *
 * BatchNorm is folded (the bundle's folded.safetensors, the same float32 bits), so the model
 * has no BatchNormalization node and every runtime starts from the same weights.
 * Initializers: `<scope>/weights_OIHW` (or `depthwise_weights_OIHW`), `<scope>/biases`.
 *
 * Deterministic: the same layer table, weights and options give the same bytes.
 */
import type { Architecture, ConvLayer, Layer } from '../model/architecture.js';
import type { FoldedLayer } from '../model/fold.js';
import { badOption } from '../errors.js';
import { DataType, encodeModel } from './schema.js';

export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 7;

export interface OnnxExportOptions {
  /** The fixed batch size of the input and every output. */
  batch: number;
  /** End points to expose as graph outputs (default: every end point), any order; written in network order. */
  outputs?: readonly string[];
  /** producer_version (this package's version). */
  producerVersion: string;
  /** Extra metadata_props (key/value strings), written sorted by key. */
  metadata?: Readonly<Record<string, string>>;
  docString?: string;
}

/** An end point's NHWC shape as the engine (and the bundle) gives it. */
export function endpointShape(arch: Architecture, name: string, batch: number): number[] {
  const layer = arch.layers.find((l) => l.name === name);
  if (!layer) badOption('outputs', name, `an end point among ${arch.endpoints.join(', ')}`);
  const [h, w, c] = layer.outShape;
  const squeezed = (name === 'Logits' || name === 'Predictions') && arch.options.spatialSqueeze;
  return squeezed ? [batch, c] : [batch, h, w, c];
}

/** Little-endian float32 bytes. */
function float32Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}

/** TF filter layouts to ONNX's `[out, in / group, kh, kw]`. */
export function onnxFilter(layer: ConvLayer, filter: Float32Array): { dims: number[]; data: Float32Array } {
  const [kh, kw] = layer.kernel;
  const inC = layer.inShape[2];
  const outC = layer.outShape[2];
  const out = new Float32Array(filter.length);
  if (layer.kind === 'depthwise') {
    // [kh, kw, C] -> [C, 1, kh, kw]
    for (let c = 0; c < outC; c++) for (let t = 0; t < kh * kw; t++) out[c * kh * kw + t] = filter[t * outC + c]!;
    return { dims: [outC, 1, kh, kw], data: out };
  }
  // [kh, kw, in, out] -> [out, in, kh, kw]
  for (let o = 0; o < outC; o++) {
    for (let i = 0; i < inC; i++) {
      for (let t = 0; t < kh * kw; t++) out[(o * inC + i) * kh * kw + t] = filter[(t * inC + i) * outC + o]!;
    }
  }
  return { dims: [outC, inC, kh, kw], data: out };
}

type Attribute = Record<string, unknown>;
const ints = (name: string, values: readonly number[]): Attribute => ({ name, type: 'INTS', ints: [...values] });
const int = (name: string, i: number): Attribute => ({ name, type: 'INT', i });

const floatTensor = (name: string, dims: readonly number[], data: Float32Array) => ({ name, dims: [...dims], data_type: DataType.FLOAT, raw_data: float32Bytes(data) });
const int64Tensor = (name: string, dims: readonly number[], values: readonly number[]) => ({ name, dims: [...dims], data_type: DataType.INT64, int64_data: [...values] });

function valueInfo(name: string, dims: readonly number[]) {
  return { name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_value: d })) } } } };
}

/**
 * Encodes the network as an ONNX model whose outputs are the requested end points (NHWC,
 * named as the end points). `folded` is the model's folded weights (one entry per conv layer).
 */
export function mobilenetToOnnxModel(arch: Architecture, folded: readonly FoldedLayer[], options: OnnxExportOptions): Uint8Array {
  const { batch } = options;
  if (!Number.isSafeInteger(batch) || batch < 1) badOption('batch', batch, 'a positive integer');
  const wanted = new Set(options.outputs ?? arch.endpoints);
  for (const name of wanted) if (!arch.endpoints.includes(name)) badOption('outputs', name, `end points among ${arch.endpoints.join(', ')}`);
  if (wanted.size === 0) badOption('outputs', [], 'at least one end point');
  const outputs = arch.endpoints.filter((e) => wanted.has(e));
  const last = Math.max(...outputs.map((e) => arch.layers.findIndex((l) => l.name === e)));
  const byName = new Map(folded.map((f) => [f.layer.name, f]));
  const o = arch.options;

  const nodes: Record<string, unknown>[] = [];
  const initializers: Record<string, unknown>[] = [];
  const node = (opType: string, name: string, input: string[], output: string, attribute: Attribute[] = []) =>
    nodes.push({ name, op_type: opType, input, output: [output], attribute });

  if (o.activation === 'relu6') initializers.push(floatTensor('relu6/min', [], Float32Array.of(0)), floatTensor('relu6/max', [], Float32Array.of(6)));
  node('Transpose', 'input/to_NCHW', ['input'], 'input/NCHW', [ints('perm', [0, 3, 1, 2])]);
  let x = 'input/NCHW';
  const toNhwc = (layer: Layer, nchw: string) => {
    if (wanted.has(layer.name)) node('Transpose', `${layer.name}/to_NHWC`, [nchw], layer.name, [ints('perm', [0, 2, 3, 1])]);
  };

  for (let i = 0; i <= last; i++) {
    const layer = arch.layers[i]!;
    const y = `${layer.name}/NCHW`;
    if (layer.kind === 'softmax') {
      // Softmax over the classes: the last axis of Logits as the graph holds it (NHWC or [N, K]).
      node('Softmax', 'Predictions/Softmax', ['Logits'], 'Predictions', [int('axis', -1)]);
      continue;
    }
    if (layer.kind === 'avgpool') {
      if (layer.global) node('GlobalAveragePool', `${layer.name}/GlobalAveragePool`, [x], y);
      else node('AveragePool', `${layer.name}/AveragePool`, [x], y, [ints('kernel_shape', layer.kernel), ints('strides', [layer.stride, layer.stride])]);
      toNhwc(layer, y);
      x = y;
      continue;
    }
    const params = byName.get(layer.name);
    if (!params) badOption('folded', layer.name, `folded weights for every convolution of the layer table (missing ${layer.name})`);
    const w = onnxFilter(layer, params.filter);
    const wName = `${layer.scope}/${layer.kind === 'depthwise' ? 'depthwise_weights' : 'weights'}_OIHW`;
    const bName = `${layer.scope}/biases`;
    initializers.push(floatTensor(wName, w.dims, w.data), floatTensor(bName, [params.bias.length], params.bias));
    const { top, bottom, left, right } = layer.padding;
    const conv = layer.activation === 'none' ? y : `${layer.name}/preactivation`;
    node('Conv', `${layer.name}/Conv`, [x, wName, bName], conv, [
      ints('kernel_shape', layer.kernel),
      ints('strides', [layer.stride, layer.stride]),
      ints('dilations', [layer.dilation, layer.dilation]),
      ints('pads', [top, left, bottom, right]),
      int('group', layer.kind === 'depthwise' ? layer.inShape[2] : 1),
    ]);
    if (layer.activation === 'relu6') node('Clip', `${layer.name}/Relu6`, [conv, 'relu6/min', 'relu6/max'], y);
    else if (layer.activation === 'relu') node('Relu', `${layer.name}/Relu`, [conv], y);
    if (layer.kind === 'logits') {
      // Logits always exists as a named NHWC (or squeezed) tensor: Predictions reads it.
      if (o.spatialSqueeze) {
        initializers.push(int64Tensor('Logits/squeeze_axes', [2], [2, 3]));
        node('Squeeze', 'Logits/Squeeze', [y, 'Logits/squeeze_axes'], 'Logits');
      } else {
        node('Transpose', 'Logits/to_NHWC', [y], 'Logits', [ints('perm', [0, 2, 3, 1])]);
      }
    } else {
      toNhwc(layer, y);
    }
    x = y;
  }

  const metadata = Object.entries(options.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
  return encodeModel({
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'mobilenet-wasm',
    producer_version: options.producerVersion,
    doc_string: options.docString ?? 'MobileNet v1 (TF-Slim layer table), BatchNorm folded; input and outputs NHWC, outputs named as the end points',
    graph: {
      name: 'mobilenet_v1',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('input', [batch, ...arch.inputShape])],
      output: outputs.map((e) => valueInfo(e, endpointShape(arch, e, batch))),
    },
    metadata_props: metadata,
  });
}
