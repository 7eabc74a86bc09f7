/**
 * ONNX's protobuf schema through protobufjs: the vendored onnx.proto (src/onnx/onnx.proto, held
 * as text in onnx-proto.ts) parsed once, on first use, field names as the .proto spells them
 * (`keepCase`: `raw_data`, `op_type`, `opset_import`). No protobuf is written by hand here: every
 * message is checked against the schema (`verify`) and encoded by protobufjs.
 */
import protobuf from 'protobufjs';
import { ONNX_PROTO } from './onnx-proto.js';

export interface OnnxSchema {
  root: protobuf.Root;
  ModelProto: protobuf.Type;
  GraphProto: protobuf.Type;
  NodeProto: protobuf.Type;
  TensorProto: protobuf.Type;
  AttributeProto: protobuf.Type;
  ValueInfoProto: protobuf.Type;
}

let schema: OnnxSchema | null = null;

/** The parsed schema (parsed on the first call, then shared). */
export function onnxSchema(): OnnxSchema {
  if (schema) return schema;
  const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  const type = (name: string) => root.lookupType(`onnx.${name}`);
  schema = {
    root,
    ModelProto: type('ModelProto'),
    GraphProto: type('GraphProto'),
    NodeProto: type('NodeProto'),
    TensorProto: type('TensorProto'),
    AttributeProto: type('AttributeProto'),
    ValueInfoProto: type('ValueInfoProto'),
  };
  return schema;
}

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/**
 * Encodes a ModelProto given as a plain object in the schema's field names (enums by name or
 * number, 64-bit integers as numbers, bytes as Uint8Array). Refuses an object the schema does
 * not accept (a misspelt field is an error, not a silently dropped value).
 */
export function encodeModel(model: Record<string, unknown>): Uint8Array {
  const { ModelProto } = onnxSchema();
  const message = ModelProto.fromObject(model);
  const problem = ModelProto.verify(message);
  // A programming error, not the user's: a plain Error (the CLI reports it as internal).
  if (problem) throw new Error(`onnx: the model does not fit ONNX's ModelProto: ${problem}`);
  // fromObject drops unknown keys: compare the round trip so a misspelt field cannot be lost.
  checkKnownFields(ModelProto, model, 'ModelProto');
  return ModelProto.encode(message).finish();
}

/** Decodes a model into a plain object (the same shape encodeModel takes): 64-bit integers as numbers, enums as names. */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const { ModelProto } = onnxSchema();
  const message = ModelProto.decode(bytes);
  return ModelProto.toObject(message, { longs: Number, enums: String, bytes: Uint8Array as unknown as typeof String, arrays: true }) as Record<string, unknown>;
}

/** Every key of `value` is a field of `type`, recursively through message fields. */
function checkKnownFields(type: protobuf.Type, value: unknown, where: string): void {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = type.fields[key];
    if (!field) throw new Error(`onnx: ${where} has no field ${key}`);
    field.resolve();
    if (field.resolvedType instanceof protobuf.Type) {
      const sub = field.resolvedType;
      for (const [i, item] of (Array.isArray(v) ? v : [v]).entries()) checkKnownFields(sub, item, `${where}.${key}${Array.isArray(v) ? `[${i}]` : ''}`);
    }
  }
}
