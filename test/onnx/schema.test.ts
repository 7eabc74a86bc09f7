/**
 * The ONNX schema the exporter encodes with: src/onnx/onnx.proto (vendored from the ONNX
 * project, licence header kept) is the source; src/onnx/onnx-proto.ts holds its text so the
 * schema loads in every runtime without a file read. This test keeps the two identical
 * (UPDATE_EMBEDDED=1 regenerates the module) and checks protobufjs reads the schema.
 */
import { describe, expect, it } from 'vitest';
import { ONNX_PROTO } from '../../src/onnx/onnx-proto.js';
import { onnxSchema } from '../../src/onnx/schema.js';
import { embedded } from '../golden/embed.js';

describe('the vendored ONNX schema', () => {
  it('src/onnx/onnx-proto.ts holds src/onnx/onnx.proto exactly', () => {
    const { expected, actual, text } = embedded({
      source: 'src/onnx/onnx.proto',
      module: 'src/onnx/onnx-proto.ts',
      name: 'ONNX_PROTO',
      about: ['The ONNX schema, Apache-2.0, Copyright (c) ONNX Project Contributors: see the header of onnx.proto.'],
    });
    expect(actual, 'regenerate: UPDATE_EMBEDDED=1 npx vitest run test/onnx/schema.test.ts').toBe(expected);
    expect(ONNX_PROTO).toBe(text);
  });

  it('keeps its licence header and parses with protobufjs', () => {
    expect(ONNX_PROTO).toMatch(/^\/\/ Vendored, unchanged below this header, from the ONNX project:\n/);
    expect(ONNX_PROTO).toContain('Copyright (c) ONNX Project Contributors. Licensed under the Apache License, Version 2.0');
    expect(ONNX_PROTO).toContain('// SPDX-License-Identifier: Apache-2.0');
    const s = onnxSchema();
    expect(Object.keys(s.ModelProto.fields)).toContain('opset_import');
    expect(s.TensorProto.fields.raw_data!.id).toBe(9);
    expect(s.NodeProto.fields.op_type!.id).toBe(4);
  });
});
