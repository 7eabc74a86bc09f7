/**
 * A small TFLite flatbuffer writer for tests: tiny hand-made models (one SOFTMAX, one int8
 * convolution, a whole int8 MobileNet of random weights) to run through both our integer
 * reference and the real interpreter, and to feed our reader.
 *
 * The file is laid out front to back: the root offset and "TFL3", then each table's vtable and
 * table, then the table's children (vectors, strings, subtables), so every uoffset points
 * forward as the format requires. Scalars sit at their natural alignment within the buffer,
 * vector lengths on 4 bytes with the elements aligned to their size (int64 on 8, byte buffers
 * on 16), which is what the flatbuffers verifier TFLite runs checks.
 *
 * Schema ids (tensorflow/lite/schema/schema.fbs): Model {version 0, operator_codes 1,
 * subgraphs 2, buffers 4}; OperatorCode {deprecated_builtin_code 0 (int8), version 2,
 * builtin_code 3}; SubGraph {tensors 0, inputs 1, outputs 2, operators 3}; Tensor {shape 0,
 * type 1 (int8), buffer 2, name 3, quantization 4}; QuantizationParameters {scale 2, zero_point 3,
 * quantized_dimension 6}; Operator {opcode_index 0, inputs 1, outputs 2, builtin_options_type 3
 * (uint8), builtin_options 4}; Buffer {data 0}.
 */

export type Scalar = { kind: 'i8' | 'u8' | 'bool'; v: number } | { kind: 'i32' | 'u32' | 'f32'; v: number };
export type Node =
  | { kind: 'table'; fields: (Scalar | { kind: 'ref'; v: Node } | undefined)[] }
  | { kind: 'vec-tables'; items: Node[] }
  | { kind: 'vec-i32' | 'vec-f32' | 'vec-i64'; items: readonly number[] }
  | { kind: 'vec-u8'; bytes: Uint8Array }
  | { kind: 'string'; s: string };

class Builder {
  bytes = new Uint8Array(1 << 16);
  view = new DataView(this.bytes.buffer);
  len = 0;

  ensure(n: number): void {
    if (this.len + n <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.len));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }
  /** Pads with zeros until (len + extra) is a multiple of `a`. */
  align(a: number, extra = 0): void {
    const pad = (a - ((this.len + extra) % a)) % a;
    this.ensure(pad);
    this.len += pad;
  }
  skip(n: number): number {
    this.ensure(n);
    const at = this.len;
    this.len += n;
    return at;
  }

  write(node: Node): number {
    switch (node.kind) {
      case 'table':
        return this.table(node.fields);
      case 'vec-tables': {
        this.align(4);
        const at = this.skip(4 + 4 * node.items.length);
        this.view.setUint32(at, node.items.length, true);
        node.items.forEach((item, i) => {
          const slot = at + 4 + 4 * i;
          const pos = this.write(item);
          this.view.setUint32(slot, pos - slot, true);
        });
        return at;
      }
      case 'vec-i32':
      case 'vec-f32': {
        this.align(4);
        const at = this.skip(4 + 4 * node.items.length);
        this.view.setUint32(at, node.items.length, true);
        node.items.forEach((v, i) => (node.kind === 'vec-i32' ? this.view.setInt32(at + 4 + 4 * i, v, true) : this.view.setFloat32(at + 4 + 4 * i, v, true)));
        return at;
      }
      case 'vec-i64': {
        this.align(8, 4);
        const at = this.skip(4 + 8 * node.items.length);
        this.view.setUint32(at, node.items.length, true);
        node.items.forEach((v, i) => this.view.setBigInt64(at + 4 + 8 * i, BigInt(v), true));
        return at;
      }
      case 'vec-u8': {
        this.align(16, 4);
        const at = this.skip(4 + node.bytes.length);
        this.view.setUint32(at, node.bytes.length, true);
        this.bytes.set(node.bytes, at + 4);
        return at;
      }
      case 'string': {
        const s = new TextEncoder().encode(node.s);
        this.align(4);
        const at = this.skip(4 + s.length + 1);
        this.view.setUint32(at, s.length, true);
        this.bytes.set(s, at + 4);
        return at;
      }
    }
  }

  private table(fields: (Scalar | { kind: 'ref'; v: Node } | undefined)[]): number {
    const size = (f: Scalar | { kind: 'ref' }) => (f.kind === 'i8' || f.kind === 'u8' || f.kind === 'bool' ? 1 : 4);
    const present = fields.map((f, id) => ({ f, id })).filter((e): e is { f: Scalar | { kind: 'ref'; v: Node }; id: number } => e.f !== undefined);
    present.sort((a, b) => size(b.f) - size(a.f) || a.id - b.id);
    const offsets = new Map<number, number>();
    let cur = 4;
    for (const { f, id } of present) {
      const s = size(f);
      cur = Math.ceil(cur / s) * s;
      offsets.set(id, cur);
      cur += s;
    }
    const objSize = Math.ceil(cur / 4) * 4;
    const slots = fields.length;
    this.align(2);
    const vt = this.skip(4 + 2 * slots);
    this.view.setUint16(vt, 4 + 2 * slots, true);
    this.view.setUint16(vt + 2, objSize, true);
    for (let id = 0; id < slots; id++) this.view.setUint16(vt + 4 + 2 * id, offsets.get(id) ?? 0, true);
    this.align(4);
    const at = this.skip(objSize);
    this.view.setInt32(at, at - vt, true);
    for (const { f, id } of present) {
      const p = at + offsets.get(id)!;
      switch (f.kind) {
        case 'i8':
          this.view.setInt8(p, f.v);
          break;
        case 'u8':
        case 'bool':
          this.view.setUint8(p, f.v);
          break;
        case 'i32':
          this.view.setInt32(p, f.v, true);
          break;
        case 'u32':
          this.view.setUint32(p, f.v, true);
          break;
        case 'f32':
          this.view.setFloat32(p, f.v, true);
          break;
        case 'ref':
          break;
      }
    }
    for (const { f, id } of present) {
      if (f.kind !== 'ref') continue;
      const slot = at + offsets.get(id)!;
      const pos = this.write(f.v);
      this.view.setUint32(slot, pos - slot, true);
    }
    return at;
  }
}

/** Serializes a root table as a TFLite file (file identifier "TFL3"). */
export function serialize(root: Node): Uint8Array {
  const b = new Builder();
  b.skip(8);
  b.bytes.set([0x54, 0x46, 0x4c, 0x33], 4);
  const at = b.write(root);
  b.view.setUint32(0, at, true);
  return b.bytes.slice(0, b.len);
}

// ---------------------------------------------------------------------------------------------
// Models

export const T = { FLOAT32: 0, INT32: 2, UINT8: 3, INT16: 7, INT8: 9 } as const;
export const Op = { AVERAGE_POOL_2D: 1, CONV_2D: 3, DEPTHWISE_CONV_2D: 4, DEQUANTIZE: 6, FULLY_CONNECTED: 9, RESHAPE: 22, SOFTMAX: 25, SQUEEZE: 43, QUANTIZE: 114 } as const;
export const Opt = { Conv2DOptions: 1, DepthwiseConv2DOptions: 2, Pool2DOptions: 5, FullyConnectedOptions: 8, SoftmaxOptions: 9, ReshapeOptions: 17 } as const;
export const Act = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 } as const;

export interface WTensor {
  name: string;
  shape: readonly number[];
  type: number;
  /** Constant contents (little-endian bytes); absent for activations. */
  data?: Uint8Array;
  scale?: readonly number[];
  zeroPoint?: readonly number[];
  quantizedDimension?: number;
}

export interface WOperator {
  code: number;
  version?: number;
  inputs: readonly number[];
  outputs: readonly number[];
  optionsType?: number;
  options?: Node;
}

export interface WModel {
  tensors: readonly WTensor[];
  operators: readonly WOperator[];
  inputs: readonly number[];
  outputs: readonly number[];
}

const i8 = (v: number): Scalar => ({ kind: 'i8', v });
const i32 = (v: number): Scalar => ({ kind: 'i32', v });
const u32 = (v: number): Scalar => ({ kind: 'u32', v });
const ref = (v: Node) => ({ kind: 'ref' as const, v });

export function writeTflite(m: WModel): Uint8Array {
  const codes = [...new Set(m.operators.map((o) => `${o.code}:${o.version ?? 1}`))];
  const buffers: Node[] = [{ kind: 'table', fields: [] }];
  const tensors = m.tensors.map((t): Node => {
    let buffer = 0;
    if (t.data) {
      buffer = buffers.length;
      buffers.push({ kind: 'table', fields: [ref({ kind: 'vec-u8', bytes: t.data })] });
    }
    const q: Node | undefined = t.scale || t.zeroPoint
      ? {
          kind: 'table',
          fields: [
            undefined,
            undefined,
            t.scale ? ref({ kind: 'vec-f32', items: t.scale }) : undefined,
            t.zeroPoint ? ref({ kind: 'vec-i64', items: t.zeroPoint }) : undefined,
            undefined,
            undefined,
            t.quantizedDimension ? i32(t.quantizedDimension) : undefined,
          ],
        }
      : undefined;
    return { kind: 'table', fields: [ref({ kind: 'vec-i32', items: t.shape }), i8(t.type), u32(buffer), ref({ kind: 'string', s: t.name }), q ? ref(q) : undefined] };
  });
  const operators = m.operators.map((o): Node => ({
    kind: 'table',
    fields: [
      u32(codes.indexOf(`${o.code}:${o.version ?? 1}`)),
      ref({ kind: 'vec-i32', items: o.inputs }),
      ref({ kind: 'vec-i32', items: o.outputs }),
      o.options ? { kind: 'u8', v: o.optionsType! } : undefined,
      o.options ? ref(o.options) : undefined,
    ],
  }));
  const opcodes = codes.map((key): Node => {
    const [code, version] = key.split(':').map(Number) as [number, number];
    return { kind: 'table', fields: [i8(Math.min(code, 127)), undefined, i32(version), i32(code)] };
  });
  const subgraph: Node = {
    kind: 'table',
    fields: [{ kind: 'ref', v: { kind: 'vec-tables', items: tensors } }, ref({ kind: 'vec-i32', items: m.inputs }), ref({ kind: 'vec-i32', items: m.outputs }), ref({ kind: 'vec-tables', items: operators })],
  };
  return serialize({
    kind: 'table',
    fields: [u32(3), ref({ kind: 'vec-tables', items: opcodes }), ref({ kind: 'vec-tables', items: [subgraph] }), undefined, ref({ kind: 'vec-tables', items: buffers })],
  });
}

/** Options tables. */
export const options = {
  conv: (stride: number, act: number, padding: 'SAME' | 'VALID' = 'SAME'): Node => ({ kind: 'table', fields: [i8(padding === 'SAME' ? 0 : 1), i32(stride), i32(stride), i8(act), i32(1), i32(1)] }),
  depthwise: (stride: number, act: number, padding: 'SAME' | 'VALID' = 'SAME'): Node => ({ kind: 'table', fields: [i8(padding === 'SAME' ? 0 : 1), i32(stride), i32(stride), i32(1), i8(act), i32(1), i32(1)] }),
  pool: (filterH: number, filterW: number, stride: number, padding: 'SAME' | 'VALID' = 'VALID'): Node => ({ kind: 'table', fields: [i8(padding === 'SAME' ? 0 : 1), i32(stride), i32(stride), i32(filterW), i32(filterH), i8(Act.NONE)] }),
  softmax: (beta: number): Node => ({ kind: 'table', fields: [{ kind: 'f32', v: beta }] }),
  fullyConnected: (act: number): Node => ({ kind: 'table', fields: [i8(act), i8(0)] }),
  reshape: (shape: readonly number[]): Node => ({ kind: 'table', fields: [ref({ kind: 'vec-i32', items: shape })] }),
};

export const bytesOf = {
  i8: (v: ArrayLike<number>) => new Uint8Array(Int8Array.from(v).buffer),
  u8: (v: ArrayLike<number>) => Uint8Array.from(v),
  i32: (v: ArrayLike<number>) => new Uint8Array(Int32Array.from(v).buffer),
};

/**
 * A parsed file (src/formats/tflite.ts `parseTflite`) back as a WModel, to edit and write again:
 * tensors with their data and quantization, operators with the options of the types a
 * MobileNet uses (Conv2D, DepthwiseConv2D, Pool2D, FullyConnected, Softmax, Reshape). Operator
 * versions and metadata are not kept.
 */
export function fromParsed(m: {
  tensors: readonly { name: string; shape: number[]; type: number; buffer: number; scale: number[]; zeroPoint: number[]; quantizedDimension: number }[];
  operators: readonly { code: number; inputs: number[]; outputs: number[]; optionsType: number; options: { i8(id: number, n: string, d: number): number; i32(id: number, n: string, d: number): number; f32(id: number, n: string, d: number): number; ints(id: number, n: string): number[] } | null }[];
  buffers: readonly Uint8Array[];
  inputs: readonly number[];
  outputs: readonly number[];
}): { tensors: WTensor[]; operators: WOperator[]; inputs: number[]; outputs: number[] } {
  const tensors = m.tensors.map((t): WTensor => ({
    name: t.name,
    shape: [...t.shape],
    type: t.type,
    ...(t.buffer > 0 && m.buffers[t.buffer]!.length > 0 ? { data: m.buffers[t.buffer]!.slice() } : {}),
    ...(t.scale.length ? { scale: [...t.scale] } : {}),
    ...(t.zeroPoint.length ? { zeroPoint: [...t.zeroPoint] } : {}),
    ...(t.quantizedDimension ? { quantizedDimension: t.quantizedDimension } : {}),
  }));
  const operators = m.operators.map((op): WOperator => {
    const o = op.options;
    let options: Node | undefined;
    if (o) {
      const f = (kinds: ('i8' | 'i32' | 'f32')[], defaults: number[]): Node => ({
        kind: 'table',
        fields: kinds.map((k, id) => ({ kind: k, v: k === 'i8' ? o.i8(id, 'f', defaults[id]!) : k === 'i32' ? o.i32(id, 'f', defaults[id]!) : o.f32(id, 'f', defaults[id]!) })),
      });
      switch (op.optionsType) {
        case Opt.Conv2DOptions: options = f(['i8', 'i32', 'i32', 'i8', 'i32', 'i32'], [0, 0, 0, 0, 1, 1]); break;
        case Opt.DepthwiseConv2DOptions: options = f(['i8', 'i32', 'i32', 'i32', 'i8', 'i32', 'i32'], [0, 0, 0, 0, 0, 1, 1]); break;
        case Opt.Pool2DOptions: options = f(['i8', 'i32', 'i32', 'i32', 'i32', 'i8'], [0, 0, 0, 0, 0, 0]); break;
        case Opt.FullyConnectedOptions: options = f(['i8', 'i8'], [0, 0]); break;
        case Opt.SoftmaxOptions: options = f(['f32'], [0]); break;
        case Opt.ReshapeOptions: options = { kind: 'table', fields: [{ kind: 'ref', v: { kind: 'vec-i32', items: o.ints(0, 'new_shape') } }] }; break;
        default: options = { kind: 'table', fields: [] };
      }
    }
    return { code: op.code, inputs: [...op.inputs], outputs: [...op.outputs], ...(options ? { optionsType: op.optionsType, options } : {}) };
  });
  return { tensors, operators, inputs: [...m.inputs], outputs: [...m.outputs] };
}
