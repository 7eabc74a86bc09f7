/**
 * TFLite flatbuffers (schema version 3), as the Coral `mobilenet_v1_*_quant.tflite` models
 * ship them (shared/models/PROVENANCE.md, section 2): read with a small strict flatbuffer
 * reader of our own, mapped onto the layer table, weights dequantized to float32
 * (`readTfliteModel`); or kept as integers for the integer reference path, uint8 and int8
 * (`readTfliteQuantized`, src/quant/: see its comment below).
 *
 * The reader checks every offset, vtable and vector length against the buffer before it reads
 * (ERR_TFLITE naming the table and field, what was expected and what was found), so a corrupt
 * file cannot read out of bounds, loop or allocate more than the file's size. The schema
 * fields read (field ids in brackets, from tensorflow/lite/schema/schema.fbs):
 *
 *   Model          version[0] operator_codes[1] subgraphs[2] buffers[4] metadata[6]
 *   OperatorCode   deprecated_builtin_code[0] (int8) builtin_code[3] (int32); code = max of the two
 *   SubGraph       tensors[0] inputs[1] outputs[2] operators[3]
 *   Tensor         shape[0] type[1] buffer[2] name[3] quantization[4] sparsity[6]
 *   Quantization   scale[2] (float) zero_point[3] (int64) quantized_dimension[6] (int32)
 *   Operator       opcode_index[0] inputs[1] outputs[2] builtin_options_type[3] builtin_options[4]
 *   Conv2DOptions           padding[0] stride_w[1] stride_h[2] fused_activation[3] dilation_w[4] dilation_h[5]
 *   DepthwiseConv2DOptions  padding[0] stride_w[1] stride_h[2] depth_multiplier[3] fused_activation[4] dilation_w[5] dilation_h[6]
 *   Pool2DOptions           padding[0] stride_w[1] stride_h[2] filter_width[3] filter_height[4] fused_activation[5]
 *   FullyConnectedOptions   fused_activation[0] weights_format[1]   (readTfliteQuantized)
 *   SoftmaxOptions          beta[0] (float)                         (readTfliteQuantized)
 *   Buffer         data[0] offset[1] size[2]
 *   Metadata       name[0] buffer[1]
 *
 * The graph must be the MobileNet v1 chain: CONV_2D (Conv2d_0), 13 x (DEPTHWISE_CONV_2D,
 * CONV_2D), all SAME, dilation 1, fused ReLU6, strides as the layer table says; then
 * AVERAGE_POOL_2D (VALID, the table's AvgPool_1a window); the logits CONV_2D (no activation);
 * then optionally RESHAPE or SQUEEZE and SOFTMAX. Every activation tensor's shape is checked
 * against the table. Anything else is refused naming the operator.
 *
 * Weights: uint8 per-tensor asymmetric, real = fround(scale * (q - zero_point)); int8 per
 * tensor or per channel (TFLite's int8 scheme, scale[c] along quantized_dimension), likewise;
 * int32 biases real = fround(scale * (q - zero_point)) (zero_point 0 in practice; one scale per
 * channel in the int8 scheme); float32 tensors as they are. Layouts: CONV_2D filter OHWI
 * [O,kh,kw,I] -> HWIO; DEPTHWISE [1,kh,kw,C] -> [kh,kw,C,1] (the same bytes); logits
 * [K,1,1,C] -> [1,1,C,K]. BatchNorm is folded: `<scope>/biases`.
 * A uint8 input quantized as (u8 - 128) / 128, or an int8 one as u8 - 128 (scale 1/128, zero
 * point 0), gives pixelNormalization 'tflite-uint8'; another int8 input (its calibrated [-1, 1]
 * range) or a float32 input, 'unit-signed'.
 *
 * Labels: the files carry a zip appended after the flatbuffer with the labels file named in
 * the TFLite metadata (`TFLITE_METADATA`, a ModelMetadata flatbuffer, its TENSOR_AXIS_LABELS
 * associated file). We read it with a tiny zip reader (stored or deflated entries, inflated by
 * fflate, in every runtime). Anything wrong there only means no labels.
 */
import { inflateSync } from 'fflate';
import { ErrorCodes, describe, fail } from '../errors.js';
import { MOBILENET_V1_CONV_DEFS, buildArchitecture, convLayers, type Architecture, type ConvLayer, type MobileNetOptions } from '../model/architecture.js';
import { checkWeights, formatShape, type NamedTensor, type WeightMap } from '../model/weights.js';
import { BODY_CONVS, alphaByAgreement, bodyLayerName, chainMismatch } from './layer-table.js';
import type { LoadedModel } from './types.js';

export const bad = (message: string): never => fail(ErrorCodes.TFLITE, message);

// ---------------------------------------------------------------------------------------------
// A strict flatbuffer reader

export class Flatbuffer {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    /** Prefix for messages: "tflite" or "tflite metadata". */
    readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(pos: number, size: number, where: string): void {
    if (!(pos >= 0 && size >= 0 && pos + size <= this.bytes.length)) {
      bad(`${this.what}: ${where} needs bytes ${pos}..${pos + size}, the buffer has ${this.bytes.length}`);
    }
  }

  u8(pos: number, where: string): number {
    this.need(pos, 1, where);
    return this.view.getUint8(pos);
  }
  i8(pos: number, where: string): number {
    this.need(pos, 1, where);
    return this.view.getInt8(pos);
  }
  u16(pos: number, where: string): number {
    this.need(pos, 2, where);
    return this.view.getUint16(pos, true);
  }
  i32(pos: number, where: string): number {
    this.need(pos, 4, where);
    return this.view.getInt32(pos, true);
  }
  u32(pos: number, where: string): number {
    this.need(pos, 4, where);
    return this.view.getUint32(pos, true);
  }

  /** Follows a uoffset stored at `pos`. */
  deref(pos: number, where: string): number {
    const target = pos + this.u32(pos, where);
    this.need(target, 4, `${where} (offset ${target})`);
    return target;
  }

  table(pos: number, where: string): Table {
    const soffset = this.i32(pos, `${where} table`);
    const vt = pos - soffset;
    const vtSize = this.u16(vt, `${where} vtable`);
    const objSize = this.u16(vt + 2, `${where} vtable`);
    if (vtSize < 4 || vtSize % 2 !== 0) bad(`${this.what}: ${where} has a vtable of ${vtSize} bytes (expected an even size >= 4)`);
    this.need(vt, vtSize, `${where} vtable`);
    if (objSize < 4) bad(`${this.what}: ${where} has an object size of ${objSize} bytes (expected >= 4)`);
    this.need(pos, objSize, `${where} object`);
    return new Table(this, pos, vt, vtSize, objSize, where);
  }

  root(where: string): Table {
    return this.table(this.deref(0, `${where} root offset`), where);
  }
}

export class Table {
  constructor(
    readonly fb: Flatbuffer,
    readonly pos: number,
    readonly vt: number,
    readonly vtSize: number,
    readonly objSize: number,
    readonly where: string,
  ) {}

  /** Absolute position of field `id` (size bytes), or null when absent. */
  field(id: number, size: number, name: string): number | null {
    const slot = 4 + 2 * id;
    if (slot + 2 > this.vtSize) return null;
    const off = this.fb.u16(this.vt + slot, `${this.where}.${name}`);
    if (off === 0) return null;
    if (off + size > this.objSize) bad(`${this.fb.what}: ${this.where}.${name} lies at byte ${off} of a ${this.objSize}-byte table`);
    return this.pos + off;
  }

  u8(id: number, name: string, dflt: number): number {
    const p = this.field(id, 1, name);
    return p === null ? dflt : this.fb.u8(p, `${this.where}.${name}`);
  }
  i8(id: number, name: string, dflt: number): number {
    const p = this.field(id, 1, name);
    return p === null ? dflt : this.fb.i8(p, `${this.where}.${name}`);
  }
  i32(id: number, name: string, dflt: number): number {
    const p = this.field(id, 4, name);
    return p === null ? dflt : this.fb.i32(p, `${this.where}.${name}`);
  }
  u32(id: number, name: string, dflt: number): number {
    const p = this.field(id, 4, name);
    return p === null ? dflt : this.fb.u32(p, `${this.where}.${name}`);
  }
  f32(id: number, name: string, dflt: number): number {
    const p = this.field(id, 4, name);
    if (p === null) return dflt;
    this.fb.need(p, 4, `${this.where}.${name}`);
    return this.fb.view.getFloat32(p, true);
  }
  /** uint64 as a number; refused when not a safe integer. */
  u64(id: number, name: string, dflt: number): number {
    const p = this.field(id, 8, name);
    if (p === null) return dflt;
    const lo = this.fb.u32(p, `${this.where}.${name}`);
    const hi = this.fb.u32(p + 4, `${this.where}.${name}`);
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) bad(`${this.fb.what}: ${this.where}.${name} is ${v}, beyond 2^53`);
    return v;
  }

  table(id: number, name: string): Table | null {
    const p = this.field(id, 4, name);
    return p === null ? null : this.fb.table(this.fb.deref(p, `${this.where}.${name}`), `${this.where}.${name}`);
  }

  /** A vector's element start and length, checked to fit the buffer. */
  vector(id: number, name: string, elemSize: number): { start: number; length: number } | null {
    const p = this.field(id, 4, name);
    if (p === null) return null;
    const where = `${this.where}.${name}`;
    const at = this.fb.deref(p, where);
    const length = this.fb.u32(at, `${where} length`);
    const start = at + 4;
    if (length * elemSize > this.fb.bytes.length - start) {
      bad(`${this.fb.what}: ${where} declares ${length} elements (${length * elemSize} bytes) at byte ${start}; the buffer has ${this.fb.bytes.length - start} bytes left`);
    }
    return { start, length };
  }

  string(id: number, name: string): string | null {
    const v = this.vector(id, name, 1);
    if (v === null) return null;
    return new TextDecoder('utf-8').decode(this.fb.bytes.subarray(v.start, v.start + v.length));
  }

  tables(id: number, name: string): Table[] {
    const v = this.vector(id, name, 4);
    if (v === null) return [];
    const out: Table[] = [];
    for (let i = 0; i < v.length; i++) {
      const at = v.start + 4 * i;
      out.push(this.fb.table(this.fb.deref(at, `${this.where}.${name}[${i}]`), `${this.where}.${name}[${i}]`));
    }
    return out;
  }

  ints(id: number, name: string): number[] {
    const v = this.vector(id, name, 4);
    if (v === null) return [];
    return Array.from({ length: v.length }, (_, i) => this.fb.view.getInt32(v.start + 4 * i, true));
  }

  floats(id: number, name: string): number[] {
    const v = this.vector(id, name, 4);
    if (v === null) return [];
    return Array.from({ length: v.length }, (_, i) => this.fb.view.getFloat32(v.start + 4 * i, true));
  }

  /** int64 values; refused unless safe integers. */
  longs(id: number, name: string): number[] {
    const v = this.vector(id, name, 8);
    if (v === null) return [];
    return Array.from({ length: v.length }, (_, i) => {
      const big = this.fb.view.getBigInt64(v.start + 8 * i, true);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) bad(`${this.fb.what}: ${this.where}.${name}[${i}] is ${big}, beyond 2^53`);
      return Number(big);
    });
  }

  bytes(id: number, name: string): Uint8Array | null {
    const v = this.vector(id, name, 1);
    return v === null ? null : this.fb.bytes.subarray(v.start, v.start + v.length);
  }
}

// ---------------------------------------------------------------------------------------------
// The schema subset

export const BuiltinOperator = {
  AVERAGE_POOL_2D: 1,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  RESHAPE: 22,
  SOFTMAX: 25,
  SQUEEZE: 43,
  QUANTIZE: 114,
} as const;
const OPERATOR_NAMES: Record<number, string> = {
  0: 'ADD', 1: 'AVERAGE_POOL_2D', 2: 'CONCATENATION', 3: 'CONV_2D', 4: 'DEPTHWISE_CONV_2D', 6: 'DEQUANTIZE',
  9: 'FULLY_CONNECTED', 14: 'LOGISTIC', 17: 'MAX_POOL_2D', 18: 'MUL', 19: 'RELU', 21: 'RELU6', 22: 'RESHAPE',
  25: 'SOFTMAX', 32: 'CUSTOM', 34: 'PAD', 40: 'MEAN', 41: 'SUB', 43: 'SQUEEZE', 114: 'QUANTIZE', 117: 'HARD_SWISH',
};
const opName = (code: number) => OPERATOR_NAMES[code] ?? `builtin operator ${code}`;

export const TensorType = { FLOAT32: 0, INT32: 2, UINT8: 3, INT16: 7, INT8: 9 } as const;
const TYPE_NAMES = ['FLOAT32', 'FLOAT16', 'INT32', 'UINT8', 'INT64', 'STRING', 'BOOL', 'INT16', 'COMPLEX64', 'INT8', 'FLOAT64'];
export const typeName = (t: number) => TYPE_NAMES[t] ?? `type ${t}`;
const TYPE_BYTES: Record<number, number> = { 0: 4, 2: 4, 3: 1, 9: 1 };

const Padding = { SAME: 0, VALID: 1 } as const;
export const Activation = { NONE: 0, RELU: 1, RELU6: 3 } as const;
export const ACTIVATION_NAMES = ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH', 'SIGN_BIT'];
export const OptionsType = { Conv2DOptions: 1, DepthwiseConv2DOptions: 2, Pool2DOptions: 5, FullyConnectedOptions: 8, SoftmaxOptions: 9 } as const;

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: number;
  buffer: number;
  scale: number[];
  zeroPoint: number[];
  /** The axis of per-channel scales (QuantizationParameters.quantized_dimension), 0 when absent. */
  quantizedDimension: number;
}

export interface TfliteOperator {
  index: number;
  code: number;
  inputs: number[];
  outputs: number[];
  optionsType: number;
  options: Table | null;
}

export interface TfliteModel {
  version: number;
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
  /** Buffer data by index (empty when the buffer holds none). */
  buffers: Uint8Array[];
  /** Metadata entries: name -> buffer index. */
  metadata: Map<string, number>;
}

/** Reads the flatbuffer structure (no graph semantics). */
export function parseTflite(bytes: Uint8Array): TfliteModel {
  if (!(bytes instanceof Uint8Array)) fail(ErrorCodes.OPTION, `tflite: expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 8) fail(ErrorCodes.FILE_TOO_SHORT, `tflite: needs at least 8 bytes (root offset and "TFL3"), has ${bytes.length}`);
  const ident = String.fromCharCode(...bytes.subarray(4, 8));
  if (ident !== 'TFL3') bad(`tflite: file identifier is ${JSON.stringify(ident)}, expected "TFL3"`);
  const fb = new Flatbuffer(bytes, 'tflite');
  const model = fb.root('Model');
  const version = model.u32(0, 'version', 0);
  if (version !== 3) bad(`tflite: schema version ${version}, expected 3`);

  const codes = model.tables(1, 'operator_codes').map((oc) => {
    const deprecated = oc.i8(0, 'deprecated_builtin_code', 0);
    const builtin = oc.i32(3, 'builtin_code', 0);
    return Math.max(deprecated, builtin);
  });

  const buffers = model.tables(4, 'buffers').map((b, i) => {
    const data = b.bytes(0, 'data');
    const offset = b.u64(1, 'offset', 0);
    const size = b.u64(2, 'size', 0);
    if (offset > 1) {
      // Buffers of files above 2 GB live outside the flatbuffer, at a file offset.
      if (offset + size > bytes.length) bad(`tflite: buffers[${i}] needs bytes ${offset}..${offset + size}, the file has ${bytes.length}`);
      return bytes.subarray(offset, offset + size);
    }
    return data ?? new Uint8Array(0);
  });

  const subgraphs = model.tables(2, 'subgraphs');
  if (subgraphs.length !== 1) bad(`tflite: expected 1 subgraph, found ${subgraphs.length}`);
  const sg = subgraphs[0]!;
  const tensors = sg.tables(0, 'tensors').map((t, index): TfliteTensor => {
    const q = t.table(4, 'quantization');
    if (t.field(6, 4, 'sparsity') !== null) bad(`tflite: tensor ${index} is sparse; sparse tensors are not supported`);
    return {
      index,
      name: t.string(3, 'name') ?? `#${index}`,
      shape: t.ints(0, 'shape'),
      type: t.i8(1, 'type', 0),
      buffer: t.u32(2, 'buffer', 0),
      scale: q ? q.floats(2, 'scale') : [],
      zeroPoint: q ? q.longs(3, 'zero_point') : [],
      quantizedDimension: q ? q.i32(6, 'quantized_dimension', 0) : 0,
    };
  });
  const tensorIndex = (i: number, where: string) => {
    if (!(i >= 0 && i < tensors.length)) bad(`tflite: ${where} refers to tensor ${i}; the subgraph has ${tensors.length}`);
    return i;
  };
  const operators = sg.tables(3, 'operators').map((op, index): TfliteOperator => {
    const where = `operators[${index}]`;
    const opcode = op.u32(0, 'opcode_index', 0);
    if (opcode >= codes.length) bad(`tflite: ${where} has opcode_index ${opcode}; operator_codes has ${codes.length}`);
    return {
      index,
      code: codes[opcode]!,
      // -1 marks an optional input left out (a convolution without bias).
      inputs: op.ints(1, 'inputs').map((i) => (i === -1 ? -1 : tensorIndex(i, `${where}.inputs`))),
      outputs: op.ints(2, 'outputs').map((i) => tensorIndex(i, `${where}.outputs`)),
      optionsType: op.u8(3, 'builtin_options_type', 0),
      options: op.table(4, 'builtin_options'),
    };
  });
  for (const t of tensors) {
    if (t.buffer >= buffers.length) bad(`tflite: tensor ${t.name} refers to buffer ${t.buffer}; the model has ${buffers.length}`);
  }
  const metadata = new Map<string, number>();
  for (const m of model.tables(6, 'metadata')) {
    const name = m.string(0, 'name');
    if (name !== null) metadata.set(name, m.u32(1, 'buffer', 0));
  }
  return {
    version,
    tensors,
    operators,
    inputs: sg.ints(1, 'inputs').map((i) => tensorIndex(i, 'subgraph inputs')),
    outputs: sg.ints(2, 'outputs').map((i) => tensorIndex(i, 'subgraph outputs')),
    buffers,
    metadata,
  };
}

// ---------------------------------------------------------------------------------------------
// The graph onto the layer table

export interface ConvStep {
  op: TfliteOperator;
  depthwise: boolean;
  stride: number;
  activation: number;
  filter: TfliteTensor;
  bias: TfliteTensor;
  output: TfliteTensor;
}

/** Loads a MobileNet v1 from TFLite bytes; see the module comment. */
export function readTfliteModel(bytes: Uint8Array): LoadedModel {
  const model = parseTflite(bytes);
  const { input, h, w, pixelNormalization } = readInput(model);
  const { convs, pool } = walkOperators(model, input);
  const options = tfliteOptions(convs, h, w);
  const arch = architecture(options);
  const weights = mapConvs(model, convs, convLayers(arch));
  checkPool(pool, arch);
  checkWeights(arch, weights, { strict: true });
  const labels = readLabels(bytes, model, arch.options.numClasses);
  return { format: 'tflite', options, weights, pixelNormalization, ...(labels ? { labels } : {}) };
}

/** The one input tensor: [1, H, W, 3], UINT8 quantized as (u8 - 128) / 128, or FLOAT32. */
function readInput(model: TfliteModel): { input: TfliteTensor; h: number; w: number; pixelNormalization: LoadedModel['pixelNormalization'] } {
  if (model.inputs.length !== 1) bad(`tflite: expected 1 subgraph input, found ${model.inputs.length}`);
  const input = model.tensors[model.inputs[0]!]!;
  const [n, h, w, c] = input.shape;
  if (input.shape.length !== 4 || n !== 1 || c !== 3 || !(h! >= 1 && h! <= 8192) || !(w! >= 1 && w! <= 8192)) {
    bad(`tflite: input ${input.name} has shape ${formatShape(input.shape)}; expected [1, H, W, 3]`);
  }
  if (input.type === TensorType.UINT8) {
    if (input.scale.length !== 1 || input.scale[0] !== 0.0078125 || input.zeroPoint[0] !== 128) {
      bad(`tflite: input ${input.name} is quantized with scale ${describe(input.scale)} zero point ${describe(input.zeroPoint)}; expected 0.0078125 and 128 ((u8 - 128) / 128)`);
    }
    return { input, h: h!, w: w!, pixelNormalization: 'tflite-uint8' };
  }
  if (input.type === TensorType.FLOAT32) return { input, h: h!, w: w!, pixelNormalization: 'unit-signed' };
  if (input.type === TensorType.INT8) {
    // TFLite's int8 scheme (a converter's inference_input_type=int8): the input's parameters are
    // its calibrated range; scale 1/128 zero point 0 is (u8 - 128) / 128 exactly, anything else
    // a [-1, 1] input, as readTfliteQuantized decides.
    const [scale, zero] = [input.scale[0], input.zeroPoint[0]];
    if (input.scale.length !== 1 || input.zeroPoint.length !== 1 || !(scale! > 0) || !Number.isFinite(scale) || !(zero! >= -128 && zero! <= 127)) {
      bad(`tflite: input ${input.name} is INT8 quantized with scale ${describe(input.scale)} zero point ${describe(input.zeroPoint)}; expected one positive scale and one zero point in -128..127`);
    }
    return { input, h: h!, w: w!, pixelNormalization: scale === 0.0078125 && zero === 0 ? 'tflite-uint8' : 'unit-signed' };
  }
  return bad(`tflite: input ${input.name} is ${typeName(input.type)}; expected UINT8, INT8 or FLOAT32`);
}

interface PoolStep {
  op: TfliteOperator;
  filter: [number, number];
  output: TfliteTensor;
}

/** Where the walk is: what was read so far, and the tensor the next operator must read. */
interface Walk {
  readonly convs: readonly ConvStep[];
  readonly pool: PoolStep | null;
  /** 0: body and pool, 1: after the logits (RESHAPE/SQUEEZE), 2: after SOFTMAX. */
  readonly tail: 0 | 1 | 2;
  /** The previous operator's output. */
  readonly cur: number;
}

export const opLabel = (op: TfliteOperator) => `operator ${op.index} (${opName(op.code)})`;

/**
 * Walks the operators from the input, each reading the previous one's output: 27 convolutions in
 * the table's order, AVERAGE_POOL_2D, the logits convolution, then RESHAPE/SQUEEZE and SOFTMAX
 * optionally; the subgraph's output is the last operator's.
 */
function walkOperators(model: TfliteModel, input: TfliteTensor): { convs: ConvStep[]; pool: PoolStep } {
  const start: Walk = { convs: [], pool: null, tail: 0, cur: input.index };
  const end = model.operators.reduce((walk, op) => addOperator(walk, op, model.tensors), start);
  const { convs, pool } = end;
  const mismatch = chainMismatch(convs.slice(0, BODY_CONVS).map(foundConv));
  if (convs.length !== BODY_CONVS + 1 || pool === null) {
    return bad(`tflite: found ${convs.length} convolutions${pool ? ' and a pool' : ' and no pool'}; expected ${BODY_CONVS}, AVERAGE_POOL_2D, the logits convolution${mismatch ? `: ${mismatch}` : ''}`);
  }
  if (mismatch) bad(`tflite: ${mismatch}`);
  if (model.outputs.length !== 1 || model.outputs[0] !== end.cur) {
    bad(`tflite: subgraph outputs ${describe(model.outputs)}; expected [${end.cur}], the last operator's output`);
  }
  return { convs: [...convs], pool };
}

export const foundConv = (s: ConvStep) => ({ name: `${opLabel(s.op)}, output ${s.output.name}`, depthwise: s.depthwise });

function addOperator(walk: Walk, op: TfliteOperator, tensors: TfliteTensor[]): Walk {
  const name = opLabel(op);
  if (op.inputs[0] !== walk.cur) bad(`tflite: ${name} reads tensor ${op.inputs[0]}, expected ${walk.cur} (the previous operator's output): the graph is not a chain`);
  if (op.outputs.length !== 1) bad(`tflite: ${name} has ${op.outputs.length} outputs, expected 1`);
  const output = tensors[op.outputs[0]!]!;
  const { convs, pool, tail } = walk;
  const moved = { ...walk, cur: output.index };
  switch (op.code) {
    case BuiltinOperator.CONV_2D:
    case BuiltinOperator.DEPTHWISE_CONV_2D:
      if (tail > 0 || convs.length > BODY_CONVS + 1 || (pool !== null && convs.length !== BODY_CONVS)) bad(`tflite: unexpected ${name} after the logits`);
      return { ...moved, convs: [...convs, readConv(op, name, tensors, output)] };
    case BuiltinOperator.AVERAGE_POOL_2D: {
      if (pool !== null || convs.length !== BODY_CONVS) {
        const mismatch = pool === null ? chainMismatch(convs.map(foundConv)) : null;
        bad(`tflite: ${name} after ${convs.length} convolutions; expected one pool after ${BODY_CONVS}${mismatch ? `: ${mismatch}` : ''}`);
      }
      return { ...moved, pool: readPool(op, name, output) };
    }
    case BuiltinOperator.RESHAPE:
    case BuiltinOperator.SQUEEZE:
      if (convs.length !== BODY_CONVS + 1 || tail !== 0) bad(`tflite: unexpected ${name}; expected it right after the logits convolution`);
      return { ...moved, tail: 1 };
    case BuiltinOperator.SOFTMAX:
      if (convs.length !== BODY_CONVS + 1 || tail === 2) bad(`tflite: unexpected ${name}; expected it after the logits`);
      return { ...moved, tail: 2 };
    default:
      return bad(`tflite: unsupported ${name}; a MobileNet v1 has CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, RESHAPE/SQUEEZE, SOFTMAX`);
  }
}

export function readPool(op: TfliteOperator, name: string, output: TfliteTensor): PoolStep {
  const o = builtinOptions(op, OptionsType.Pool2DOptions, name);
  const padding = o.i8(0, 'padding', 0);
  if (padding !== Padding.VALID) bad(`tflite: ${name} has padding ${padding === Padding.SAME ? 'SAME' : padding}, expected VALID`);
  const act = o.i8(5, 'fused_activation_function', 0);
  if (act !== Activation.NONE) bad(`tflite: ${name} fuses ${ACTIVATION_NAMES[act] ?? act}, expected NONE`);
  return { op, filter: [o.i32(4, 'filter_height', 0), o.i32(3, 'filter_width', 0)], output };
}

/** Options from the shapes: alpha from the full convolutions' filters (OHWI) by agreement, classes from the logits. */
export function tfliteOptions(convs: readonly ConvStep[], h: number, w: number): MobileNetOptions {
  const last = convs[BODY_CONVS - 1]!.filter; // Conv2d_13_pointwise, OHWI
  const channels = convs.slice(0, BODY_CONVS).filter((s) => !s.depthwise).map((s) => (s.filter.shape.length === 4 ? s.filter.shape[0] : undefined));
  return {
    depthMultiplier: alphaByAgreement(channels) ?? last.shape[0]! / MOBILENET_V1_CONV_DEFS[MOBILENET_V1_CONV_DEFS.length - 1]!.depth,
    inputSize: h === w ? h : [h, w],
    numClasses: convs[BODY_CONVS]!.filter.shape[0]!,
  };
}

/** Every convolution against its table layer (kind, stride, activation, output shape), its weights dequantized into TF-Slim layouts. */
function mapConvs(model: TfliteModel, convs: readonly ConvStep[], layers: readonly ConvLayer[]): WeightMap {
  return new Map(convs.flatMap((step, i) => convWeights(model, step, i, layers[i]!)));
}

function convWeights(model: TfliteModel, step: ConvStep, i: number, layer: ConvLayer): [string, NamedTensor][] {
  const kind = step.depthwise ? 'depthwise' : i === 0 ? 'conv' : i === BODY_CONVS ? 'logits' : 'pointwise';
  if (kind !== layer.kind || step.stride !== layer.stride) {
    bad(`tflite: operator ${step.op.index} is a ${kind} convolution with stride ${step.stride}; ${layer.name} is ${layer.kind} with stride ${layer.stride}`);
  }
  const wantAct = layer.kind === 'logits' ? Activation.NONE : Activation.RELU6;
  if (step.activation !== wantAct) {
    bad(`tflite: operator ${step.op.index} (${layer.name}) fuses ${ACTIVATION_NAMES[step.activation] ?? step.activation}; expected ${ACTIVATION_NAMES[wantAct]}`);
  }
  const [oh, ow, oc] = layer.outShape;
  checkShape(step.output, [1, oh, ow, oc], layer.name);
  const filter = dequantize(model, step.filter);
  const bias: [string, NamedTensor] = [`${layer.scope}/biases`, { shape: [...step.bias.shape], data: dequantize(model, step.bias) }];
  const fs = step.filter.shape;
  if (fs.length !== 4) bad(`tflite: ${layer.name} filter ${step.filter.name} has shape ${formatShape(fs)}; expected rank 4`);
  if (layer.kind === 'depthwise') {
    if (fs[0] !== 1) bad(`tflite: ${layer.name} depthwise filter ${step.filter.name} has shape ${formatShape(fs)}; expected [1, kh, kw, C]`);
    return [[`${layer.scope}/depthwise_weights`, { shape: [fs[1]!, fs[2]!, fs[3]!, 1], data: filter }], bias];
  }
  return [[`${layer.scope}/weights`, { shape: [fs[1]!, fs[2]!, fs[3]!, fs[0]!], data: ohwiToHwio(filter, fs) }], bias];
}

/** The AVERAGE_POOL_2D's window and output against the table's AvgPool_1a. */
export function checkPool(found: PoolStep, arch: Architecture): void {
  const poolLayer = arch.layers.find((l) => l.kind === 'avgpool');
  if (!poolLayer || poolLayer.kind !== 'avgpool' || found.filter[0] !== poolLayer.kernel[0] || found.filter[1] !== poolLayer.kernel[1]) {
    bad(`tflite: AVERAGE_POOL_2D window ${describe(found.filter)}; the layer table's AvgPool_1a is ${describe(poolLayer?.kind === 'avgpool' ? poolLayer.kernel : null)}`);
  }
  checkShape(found.output, [1, ...(poolLayer as { outShape: readonly number[] }).outShape], 'AvgPool_1a');
}

export function builtinOptions(op: TfliteOperator, type: number, name: string): Table {
  if (op.optionsType !== type || op.options === null) bad(`tflite: ${name} has builtin_options type ${op.optionsType}${op.options ? '' : ' (absent)'}, expected ${type}`);
  return op.options!;
}

export function readConv(op: TfliteOperator, name: string, tensors: TfliteTensor[], output: TfliteTensor): ConvStep {
  const depthwise = op.code === BuiltinOperator.DEPTHWISE_CONV_2D;
  const o = builtinOptions(op, depthwise ? OptionsType.DepthwiseConv2DOptions : OptionsType.Conv2DOptions, name);
  const padding = o.i8(0, 'padding', 0);
  const strideW = o.i32(1, 'stride_w', 0);
  const strideH = o.i32(2, 'stride_h', 0);
  const activation = o.i8(depthwise ? 4 : 3, 'fused_activation_function', 0);
  const dilationW = o.i32(depthwise ? 5 : 4, 'dilation_w_factor', 1);
  const dilationH = o.i32(depthwise ? 6 : 5, 'dilation_h_factor', 1);
  if (padding !== Padding.SAME) bad(`tflite: ${name} has padding ${padding === Padding.VALID ? 'VALID' : padding}, expected SAME`);
  if (strideW !== strideH || strideW < 1) bad(`tflite: ${name} has strides ${strideH}x${strideW}, expected equal positive strides`);
  if (dilationW !== 1 || dilationH !== 1) bad(`tflite: ${name} has dilation ${dilationH}x${dilationW}, expected 1`);
  if (depthwise) {
    const multiplier = o.i32(3, 'depth_multiplier', 0);
    if (multiplier !== 1 && multiplier !== 0) bad(`tflite: ${name} has depth_multiplier ${multiplier}, expected 1`);
  }
  if (op.inputs.length !== 3 || op.inputs[1]! < 0 || op.inputs[2]! < 0) bad(`tflite: ${name} has inputs ${describe(op.inputs)}; expected [input, filter, bias]`);
  return { op, depthwise, stride: strideW, activation, filter: tensors[op.inputs[1]!]!, bias: tensors[op.inputs[2]!]!, output };
}

export function checkShape(t: TfliteTensor, expected: readonly number[], layer: string): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    bad(`tflite: ${layer} output ${t.name} has shape ${formatShape(t.shape)}; the layer table gives ${formatShape(expected)}`);
  }
}

export function architecture(options: MobileNetOptions): Architecture {
  try {
    return buildArchitecture(options);
  } catch (e) {
    return bad(`tflite: the graph describes no buildable MobileNet v1 (${describe(options)}): ${(e as Error).message}`);
  }
}

/** A constant tensor's values in float32: uint8 and int32 per-tensor affine, float32 as is. */
export function dequantize(model: TfliteModel, t: TfliteTensor): Float32Array {
  let count = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 1) bad(`tflite: tensor ${t.name} has shape ${formatShape(t.shape)}; expected positive dimensions`);
    count *= d;
  }
  const size = TYPE_BYTES[t.type];
  if (size === undefined) bad(`tflite: tensor ${t.name} is ${typeName(t.type)}; weights must be UINT8, INT8, INT32 or FLOAT32`);
  const data = model.buffers[t.buffer]!;
  if (data.length !== count * size!) {
    bad(`tflite: tensor ${t.name} ${typeName(t.type)} ${formatShape(t.shape)} needs ${count * size!} bytes, buffer ${t.buffer} has ${data.length}`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Float32Array(count);
  if (t.type === TensorType.FLOAT32) {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  if (t.scale.length > 1 && (t.type === TensorType.INT8 || t.type === TensorType.INT32)) return dequantizePerChannel(t, data, count);
  if (t.scale.length !== 1 || t.zeroPoint.length !== 1) {
    bad(`tflite: tensor ${t.name} has ${t.scale.length} scales and ${t.zeroPoint.length} zero points; only per-tensor quantization (one of each) is supported${t.type === TensorType.UINT8 ? ' for UINT8' : ''}`);
  }
  const scale = t.scale[0]!;
  const zero = t.zeroPoint[0]!;
  if (!(scale > 0) || !Number.isFinite(scale)) bad(`tflite: tensor ${t.name} has quantization scale ${scale}; expected a finite positive number`);
  if (t.type === TensorType.UINT8) {
    if (zero < 0 || zero > 255) bad(`tflite: tensor ${t.name} has zero point ${zero}; expected 0..255 for UINT8`);
    for (let i = 0; i < count; i++) out[i] = scale * (data[i]! - zero);
  } else if (t.type === TensorType.INT8) {
    if (zero < -128 || zero > 127) bad(`tflite: tensor ${t.name} has zero point ${zero}; expected -128..127 for INT8`);
    for (let i = 0; i < count; i++) out[i] = scale * (view.getInt8(i) - zero);
  } else {
    for (let i = 0; i < count; i++) out[i] = scale * (view.getInt32(4 * i, true) - zero);
  }
  return out;
}

/**
 * An INT8 or INT32 constant quantized per channel (TFLite's int8 scheme: weights along
 * quantized_dimension, biases along their one axis): real = fround(scale[c] * (q - zero_point[c])).
 */
function dequantizePerChannel(t: TfliteTensor, data: Uint8Array, count: number): Float32Array {
  const axis = t.shape.length === 1 ? 0 : t.quantizedDimension;
  const channels = t.shape[axis];
  if (!(axis >= 0 && axis < t.shape.length) || channels !== t.scale.length || t.zeroPoint.length !== t.scale.length) {
    bad(`tflite: tensor ${t.name} ${formatShape(t.shape)} has ${t.scale.length} scales and ${t.zeroPoint.length} zero points along quantized_dimension ${t.quantizedDimension}; expected one of each per index of that dimension`);
  }
  t.scale.forEach((s, c) => {
    if (!(s > 0) || !Number.isFinite(s)) bad(`tflite: tensor ${t.name} has quantization scale ${s} (channel ${c}); expected a finite positive number`);
  });
  const inner = t.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const int8 = t.type === TensorType.INT8;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const c = Math.floor(i / inner) % channels!;
    out[i] = t.scale[c]! * ((int8 ? view.getInt8(i) : view.getInt32(4 * i, true)) - t.zeroPoint[c]!);
  }
  return out;
}

/** [O, kh, kw, I] -> [kh, kw, I, O] */
function ohwiToHwio(data: Float32Array, [o, h, w, i]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  const inner = h! * w! * i!;
  for (let a = 0; a < o!; a++) for (let k = 0; k < inner; k++) out[k * o! + a] = data[a * inner + k]!;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Labels: TFLite metadata and the appended zip

/** The labels file's text, or undefined when anything is missing or wrong (labels are optional). */
export function readLabels(bytes: Uint8Array, model: TfliteModel, numClasses: number): string[] | undefined {
  try {
    const wanted = labelFileNames(model);
    const files = readZip(bytes);
    const name = wanted.find((n) => files.has(n)) ?? [...files.keys()].find((n) => /labels.*\.txt$/i.test(n));
    if (name === undefined) return undefined;
    const text = files.get(name)!();
    if (text === null) return undefined;
    const labels = new TextDecoder('utf-8', { fatal: true }).decode(text).replace(/\r?\n$/, '').split(/\r?\n/);
    return labels.length === numClasses ? labels : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Names of TENSOR_AXIS_LABELS files in the `TFLITE_METADATA` ModelMetadata flatbuffer:
 * ModelMetadata.subgraph_metadata[3] -> SubGraphMetadata.output_tensor_metadata[3] ->
 * TensorMetadata.associated_files[6] -> AssociatedFile {name[0], type[2]}; and the model's own
 * associated_files[6].
 */
function labelFileNames(model: TfliteModel): string[] {
  const index = model.metadata.get('TFLITE_METADATA');
  if (index === undefined || index >= model.buffers.length) return [];
  const fb = new Flatbuffer(model.buffers[index]!, 'tflite metadata');
  const meta = fb.root('ModelMetadata');
  const files = [...meta.tables(6, 'associated_files')];
  for (const sg of meta.tables(3, 'subgraph_metadata')) {
    for (const tm of sg.tables(3, 'output_tensor_metadata')) files.push(...tm.tables(6, 'associated_files'));
  }
  const TENSOR_AXIS_LABELS = 2;
  return files.filter((f) => f.i8(2, 'type', 0) === TENSOR_AXIS_LABELS).map((f) => f.string(0, 'name') ?? '').filter((n) => n !== '');
}

/** Largest file read out of the zip. */
const MAX_ZIP_ENTRY = 4 << 20;

/**
 * The entries of a zip at the end of `bytes` (the End Of Central Directory record within the
 * last 64 KiB), each a function giving its bytes (null when the entry is damaged).
 * Offsets are taken relative to where the zip starts, so a zip appended to a file works.
 */
export function readZip(bytes: Uint8Array): Map<string, () => Uint8Array | null> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const files = new Map<string, () => Uint8Array | null>();
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return files;
  const count = view.getUint16(eocd + 10, true);
  const cdSize = view.getUint32(eocd + 12, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  const base = eocd - cdSize - cdOffset; // where the zip starts in `bytes`
  if (base < 0) return files;
  let p = base + cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== 0x02014b50) break;
    const method = view.getUint16(p + 10, true);
    const compressed = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const local = base + view.getUint32(p + 42, true);
    if (p + 46 + nameLen > bytes.length) break;
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    files.set(name, () => {
      if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50 || size > MAX_ZIP_ENTRY) return null;
      const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      if (start + compressed > bytes.length) return null;
      const data = bytes.subarray(start, start + compressed);
      if (method === 0) return compressed === size ? data : null;
      if (method !== 8) return null;
      // The declared size bounds the output: a forged entry cannot inflate past it.
      try {
        const out = inflateSync(data, { out: new Uint8Array(size) });
        return out.length === size ? out : null;
      } catch {
        return null;
      }
    });
  }
  return files;
}
