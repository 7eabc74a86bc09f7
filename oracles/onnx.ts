/**
 * oracles/: MobileNet v1 in other engines: TF.js ops rebuilt from TF-Slim's definition (tfjs.ts)
 * and the folded network as an ONNX graph (onnx.ts), for test/ to check our engine against and
 * bench/ to time as peers. They take only types from src/, never our engine or kernels.
 *
 * The folded network as an ONNX model, for onnxruntime (node and web) to run as a witness and
 * as a benchmark peer. The protobuf is written by hand: only the handful of ModelProto fields
 * a plain feed-forward graph needs, so no protobuf library is pulled in.
 *
 * Graph: input [N,H,W,3] NHWC -> Transpose to NCHW -> per layer Conv (group = C for
 * depthwise) with its bias, then Clip(0, 6) or Relu -> AveragePool / GlobalAveragePool ->
 * Transpose back to NHWC -> output [N, oh, ow, C] of the architecture's output end point
 * (Logits `[N, K]` has the same flat layout as `[N, 1, 1, K]`).
 *
 * TF SAME layers use `auto_pad: SAME_UPPER`, so onnxruntime works out the asymmetric padding
 * itself; symmetric and explicit layers take the layer table's pads, and so do dilated ones
 * (onnxruntime refuses SAME_UPPER with a dilation).
 */
import type { Architecture, ConvLayer } from '../src/model/architecture.js';
import type { FoldedLayer } from '../src/model/fold.js';

// --- protobuf wire format: varint (0), length-delimited (2) ---

type Bytes = Uint8Array | number[];

function concat(parts: readonly Bytes[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function varint(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`onnx: cannot encode ${value} as a varint`);
  const out: number[] = [];
  while (value > 127) {
    out.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

const int = (field: number, value: number): Bytes => [...varint(field * 8), ...varint(value)];
const bytes = (field: number, data: Uint8Array): Uint8Array => concat([varint(field * 8 + 2), varint(data.length), data]);
const str = (field: number, s: string): Uint8Array => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, parts: readonly Bytes[]): Uint8Array => bytes(field, concat(parts));

// --- ONNX messages (field numbers from onnx.proto) ---

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

/** TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian floats). */
function tensorProto(name: string, dims: readonly number[], data: Float32Array): Uint8Array {
  return concat([...dims.map((d) => int(1, d)), int(2, FLOAT), str(8, name), bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))]);
}

/** ValueInfoProto { name = 1, type = 2: TypeProto { tensor_type = 1: { elem_type = 1, shape = 2: { dim = 1: { dim_value = 1 } } } } } */
function valueInfo(name: string, dims: readonly number[]): Uint8Array {
  const shape = dims.map((d) => msg(1, [int(1, d)]));
  return concat([str(1, name), msg(2, [msg(1, [int(1, FLOAT), msg(2, shape)])])]);
}

/** AttributeProto: name = 1, type = 20, i = 3, s = 4, ints = 8. */
type Attribute = Uint8Array;
const attrInt = (name: string, v: number): Attribute => concat([str(1, name), int(20, ATTR_INT), int(3, v)]);
const attrInts = (name: string, vs: readonly number[]): Attribute => concat([str(1, name), int(20, ATTR_INTS), ...vs.map((v) => int(8, v))]);
const attrString = (name: string, s: string): Attribute => concat([str(1, name), int(20, ATTR_STRING), str(4, s)]);

/** NodeProto: input = 1, output = 2, op_type = 4, attribute = 5. */
function node(op: string, inputs: readonly string[], output: string, attributes: readonly Attribute[] = []): Uint8Array {
  return concat([...inputs.map((i) => str(1, i)), str(2, output), str(4, op), ...attributes.map((a) => bytes(5, a))]);
}

/** ModelProto { ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 { version = 2 } } around a GraphProto. */
function modelProto(nodes: Uint8Array[], initializers: Uint8Array[], input: Uint8Array, output: Uint8Array): Uint8Array {
  // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
  const graph = concat([...nodes.map((n) => bytes(1, n)), str(2, 'mobilenet_v1'), ...initializers.map((t) => bytes(5, t)), bytes(11, input), bytes(12, output)]);
  return concat([int(1, 8), str(2, 'mobilenet-wasm'), bytes(7, graph), msg(8, [int(2, 13)])]);
}

// --- MobileNet ---

/** TF filter layouts to ONNX `[out, in / group, kh, kw]`. */
function onnxFilter(layer: ConvLayer, filter: Float32Array): { dims: number[]; data: Float32Array } {
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

/**
 * Encodes the network, up to the architecture's output end point, for a fixed batch size.
 * Input name `input` [N,H,W,3]; output name `output`, NHWC.
 */
export function mobilenetToOnnx(arch: Architecture, folded: readonly FoldedLayer[], batch: number): Uint8Array {
  const o = arch.options;
  const byName = new Map(folded.map((f) => [f.layer.name, f]));
  const nodes: Uint8Array[] = [];
  const initializers: Uint8Array[] = [];
  if (o.activation === 'relu6') initializers.push(tensorProto('zero', [], new Float32Array([0])), tensorProto('six', [], new Float32Array([6])));
  nodes.push(node('Transpose', ['input'], 'x', [attrInts('perm', [0, 3, 1, 2])]));
  let x = 'x';
  let shape = arch.inputShape;
  for (const layer of arch.layers) {
    const y = layer.name;
    if (layer.kind === 'softmax') break;
    if (layer.kind === 'avgpool') {
      nodes.push(
        layer.global
          ? node('GlobalAveragePool', [x], y)
          : node('AveragePool', [x], y, [attrInts('kernel_shape', layer.kernel), attrInts('strides', [layer.stride, layer.stride])]),
      );
    } else {
      const { filter, bias } = byName.get(layer.name)!;
      const w = onnxFilter(layer, filter);
      initializers.push(tensorProto(`${y}/W`, w.dims, w.data), tensorProto(`${y}/B`, [bias.length], bias));
      const { top, bottom, left, right } = layer.padding;
      const sameMode = o.padding === 'same' && !o.useExplicitPadding && layer.dilation === 1;
      const attributes = [
        attrInts('kernel_shape', layer.kernel),
        attrInts('strides', [layer.stride, layer.stride]),
        attrInts('dilations', [layer.dilation, layer.dilation]),
        attrInt('group', layer.kind === 'depthwise' ? layer.inShape[2] : 1),
        sameMode ? attrString('auto_pad', 'SAME_UPPER') : attrInts('pads', [top, left, bottom, right]),
      ];
      const conv = layer.activation === 'none' ? y : `${y}/conv`;
      nodes.push(node('Conv', [x, `${y}/W`, `${y}/B`], conv, attributes));
      if (layer.activation === 'relu6') nodes.push(node('Clip', [conv, 'zero', 'six'], y));
      if (layer.activation === 'relu') nodes.push(node('Relu', [conv], y));
    }
    x = y;
    shape = layer.outShape;
    if (layer.name === arch.output) break;
  }
  nodes.push(node('Transpose', [x], 'output', [attrInts('perm', [0, 2, 3, 1])]));
  const [h, w] = arch.inputShape;
  return modelProto(nodes, initializers, valueInfo('input', [batch, h, w, 3]), valueInfo('output', [batch, ...shape]));
}
