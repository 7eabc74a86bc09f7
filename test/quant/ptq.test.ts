/**
 * Post-training quantization's parts, without a model: the converter's arithmetic
 * (src/quant/ptq.ts: activation parameters from a calibrated range, symmetric per-channel
 * weights, int32 biases and the bias-overflow widening) and the TFLite writer
 * (src/formats/tflite-writer.ts, the flatbuffers library with flatc's table builders) read back
 * by our strict reader field by field, its metadata and appended labels included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { Flatbuffer, parseTflite, readZip } from '../../src/formats/tflite.js';
import { appendZip, imageClassifierMetadata, metadataString, writeTflite, type TfliteModelSpec } from '../../src/formats/tflite-writer.js';
import { asymmetricParams, biasSafeHalfRange, normalizationRange, quantizeBias, symmetricPerChannel } from '../../src/quant/ptq.js';
import { expectCode } from '../helpers/errors.js';

const f32 = Math.fround;

describe('activation parameters (GetAsymmetricQuantizationParams / the MLIR quantizer with legacy_float_scale)', () => {
  it('the input ranges of the two pixel normalisations and a ReLU6 output', () => {
    expect(normalizationRange('unit-signed')).toEqual({ min: -1, max: 1 });
    expect(normalizationRange('tflite-uint8')).toEqual({ min: -1, max: 127 / 128 });
    // [-1, 1]: scale 2/255 in float32, zero point -128 + 127.5 = -0.5, rounded away from zero.
    expect(asymmetricParams({ min: -1, max: 1 })).toMatchObject({ scale: f32(2 / 255), zeroPoint: -1 });
    // [-1, 127/128]: exactly (u8 - 128) / 128.
    expect(asymmetricParams({ min: -1, max: 127 / 128 })).toMatchObject({ scale: 1 / 128, zeroPoint: 0 });
    expect(asymmetricParams({ min: 0, max: 6 })).toMatchObject({ scale: f32(6 / 255), zeroPoint: -128 });
  });

  it('widens the range to include 0, expands a range under 1e-6, clamps the zero point', () => {
    expect(asymmetricParams({ min: 0.5, max: 3 })).toMatchObject({ scale: f32(3 / 255), zeroPoint: -128, min: 0, max: 3 });
    expect(asymmetricParams({ min: -4, max: -1 })).toMatchObject({ scale: f32(4 / 255), zeroPoint: 127, min: -4, max: 0 });
    const dead = asymmetricParams({ min: 0, max: 0 });
    expect(dead).toMatchObject({ min: -5e-7, max: 5e-7, scale: f32(f32(f32(5e-7) - f32(-5e-7)) / 255) });
    expectCode(() => asymmetricParams({ min: Number.NaN, max: 1 }), ErrorCodes.INPUT, /not a finite interval/);
  });

  it('for any range: real 0 is exactly representable and the range maps inside [-128, 127] within a step', () => {
    fc.assert(
      fc.property(fc.float({ min: -1000, max: 0, noNaN: true }), fc.float({ min: 0, max: 1000, noNaN: true }), (lo, hi) => {
        fc.pre(hi - lo > 1e-3);
        const p = asymmetricParams({ min: lo, max: hi });
        expect(Number.isInteger(p.zeroPoint) && p.zeroPoint >= -128 && p.zeroPoint <= 127).toBe(true);
        expect(p.scale).toBe(f32(p.scale));
        // The ends land within half a step (plus float rounding) of -128 and 127.
        expect(Math.abs(lo / p.scale + p.zeroPoint - -128)).toBeLessThanOrEqual(0.5 + 1e-3);
        expect(Math.abs(hi / p.scale + p.zeroPoint - 127)).toBeLessThanOrEqual(0.5 + 1e-3);
      }),
      { numRuns: 300 },
    );
  });
});

describe('weights and biases', () => {
  it('symmetric int8 per channel: scale = max|w| / 127, values in [-127, 127] rounded half away from zero, zero channels get the expanded range', () => {
    // Two channels interleaved (channel = i % 2), as a depthwise [1, kh, kw, C] filter is.
    const w = Float32Array.from([0.5, 0, -1.27, 0, 0.005, 0, 0.015, 0]);
    const q = symmetricPerChannel(w, 2, (i) => i % 2);
    expect(q.scales[0]).toBe(f32(f32(2 * 1.27) / 254));
    expect(Array.from(q.data.filter((_, i) => i % 2 === 0))).toEqual([50, -127, 1, 2]);
    // 0.005 / 0.01 = 0.5 (rounds away to 1), 0.015 / 0.01 = 1.5 in real numbers; in float slightly less or more.
    expect(q.scales[1]).toBe(f32(f32(1e-6) / 254));
    expect(Array.from(q.data.filter((_, i) => i % 2 === 1))).toEqual([0, 0, 0, 0]);
  });

  it('int32 biases at input scale x weight scale; a bias too large for its scale widens the weights', () => {
    const { data, scales } = quantizeBias(Float32Array.from([0.1, -0.1, 0]), 0.5, Float32Array.from([0.01, 0.02, 1]));
    expect(Array.from(scales)).toEqual([f32(0.005), f32(0.01), 0.5]);
    expect(Array.from(data)).toEqual([20, -10, 0]);
    // A channel of near-zero weights with a bias of 1: 1 / (0.5 * 1e-9) would pass 2^30.
    const widen = biasSafeHalfRange(Float32Array.from([1, 1]), 0.5, Float32Array.from([1e-9, 0.01]));
    expect(widen[1]).toBe(0);
    expect(widen[0]).toBe(f32(((2 * 1) / 2147483647) * (127 / 0.5)));
    const w = symmetricPerChannel(Float32Array.from([0, 0.3]), 2, (i) => i, widen);
    const b = quantizeBias(Float32Array.from([1, 1]), 0.5, w.scales);
    expect(Math.abs(b.data[0]!)).toBeLessThanOrEqual(2 ** 30 + 1);
    expect(b.data[0]).toBeGreaterThan(2 ** 28);
  });
});

describe('the TFLite writer (flatbuffers + flatc builders of schema.fbs)', () => {
  const spec: TfliteModelSpec = {
    description: 'two ops',
    subgraphName: 'main',
    tensors: [
      { name: 'in', shape: [1, 4, 4, 3], type: 'INT8', quantization: { scale: [0.5], zeroPoint: [-3], min: [-62.5], max: [65] } },
      { name: 'w', shape: [2, 1, 1, 3], type: 'INT8', data: Uint8Array.from([1, 2, 3, 253, 254, 255]), quantization: { scale: [0.25, 0.125], zeroPoint: [0, 0], quantizedDimension: 0 } },
      { name: 'b', shape: [2], type: 'INT32', data: new Uint8Array(Int32Array.from([7, -7]).buffer), quantization: { scale: [0.125, 0.0625], zeroPoint: [0, 0] } },
      { name: 'conv', shape: [1, 4, 4, 2], type: 'INT8', quantization: { scale: [0.1], zeroPoint: [-128] } },
      { name: 'pool', shape: [1, 1, 1, 2], type: 'INT8', quantization: { scale: [0.1], zeroPoint: [-128] } },
      { name: 'shape', shape: [2], type: 'INT32', data: new Uint8Array(Int32Array.from([1, 2]).buffer) },
      { name: 'flat', shape: [1, 2], type: 'INT8', quantization: { scale: [0.1], zeroPoint: [-128] } },
      { name: 'probs', shape: [1, 2], type: 'INT8', quantization: { scale: [1 / 256], zeroPoint: [-128] } },
    ],
    operators: [
      { op: 'CONV_2D', version: 3, inputs: [0, 1, 2], outputs: [3], options: { type: 'Conv2DOptions', padding: 'SAME', stride: 2, activation: 'RELU6' } },
      { op: 'AVERAGE_POOL_2D', version: 2, inputs: [3], outputs: [4], options: { type: 'Pool2DOptions', padding: 'VALID', stride: 2, filter: [4, 3], activation: 'NONE' } },
      { op: 'RESHAPE', version: 1, inputs: [4, 5], outputs: [6] },
      { op: 'SOFTMAX', version: 2, inputs: [6], outputs: [7], options: { type: 'SoftmaxOptions', beta: 1 } },
    ],
    inputs: [0],
    outputs: [7],
    signature: { key: 'serving_default', inputs: ['image'], outputs: ['probability'] },
    metadata: [{ name: 'min_runtime_version', data: metadataString('1.14.0') }],
  };

  it('every field read back by our strict reader; constant data 16-byte aligned', () => {
    const bytes = writeTflite(spec);
    expect(String.fromCharCode(...bytes.subarray(4, 8))).toBe('TFL3');
    const m = parseTflite(bytes);
    expect(m.version).toBe(3);
    expect(m.inputs).toEqual([0]);
    expect(m.outputs).toEqual([7]);
    expect(m.tensors.map((t) => [t.name, t.shape, t.type])).toEqual(spec.tensors.map((t) => [t.name, [...t.shape], { FLOAT32: 0, INT32: 2, UINT8: 3, INT8: 9 }[t.type]]));
    expect(m.tensors[0]).toMatchObject({ scale: [0.5], zeroPoint: [-3], quantizedDimension: 0, buffer: 0 });
    expect(m.tensors[1]).toMatchObject({ scale: [0.25, 0.125], zeroPoint: [0, 0] });
    expect(Array.from(m.buffers[m.tensors[1]!.buffer]!)).toEqual([1, 2, 3, 253, 254, 255]);
    expect(Array.from(new Int32Array(m.buffers[m.tensors[2]!.buffer]!.slice().buffer))).toEqual([7, -7]);
    for (const t of m.tensors.filter((t) => t.buffer > 0)) expect(m.buffers[t.buffer]!.byteOffset % 16).toBe(0);
    expect(m.operators.map((o) => [o.code, o.inputs, o.outputs, o.optionsType])).toEqual([[3, [0, 1, 2], [3], 1], [1, [3], [4], 5], [22, [4, 5], [6], 0], [25, [6], [7], 9]]);
    const conv = m.operators[0]!.options!;
    // SAME is padding 0, the schema's default: the builder leaves a default out, the reader gives it back.
    expect([conv.i8(0, 'padding', 0), conv.i32(1, 'stride_w', 0), conv.i32(2, 'stride_h', 0), conv.i8(3, 'act', -1), conv.i32(4, 'dw', 1), conv.i32(5, 'dh', 1)]).toEqual([0, 2, 2, 3, 1, 1]);
    const pool = m.operators[1]!.options!;
    expect([pool.i8(0, 'padding', -1), pool.i32(3, 'filter_width', 0), pool.i32(4, 'filter_height', 0)]).toEqual([1, 3, 4]);
    expect(m.operators[3]!.options!.f32(0, 'beta', 0)).toBe(1);
    expect(new TextDecoder().decode(m.buffers[m.metadata.get('min_runtime_version')!]!).replace(/\0+$/, '')).toBe('1.14.0');
    // Operator versions, the description, the subgraph name and the signature, through the raw tables.
    const root = new Flatbuffer(bytes, 'tflite').root('Model');
    expect(root.tables(1, 'operator_codes').map((c) => [c.i8(0, 'deprecated', -1), c.i32(2, 'version', 1), c.i32(3, 'builtin', -1)])).toEqual([[3, 3, 3], [1, 2, 1], [22, 1, 22], [25, 2, 25]]);
    expect(root.string(3, 'description')).toBe('two ops');
    expect(root.tables(2, 'subgraphs')[0]!.string(4, 'name')).toBe('main');
    const sig = root.tables(7, 'signature_defs')[0]!;
    expect(sig.string(2, 'signature_key')).toBe('serving_default');
    expect(sig.tables(0, 'inputs').map((t) => [t.string(0, 'name'), t.u32(1, 'index', 0)])).toEqual([['image', 0]]);
    expect(sig.tables(1, 'outputs').map((t) => [t.string(0, 'name'), t.u32(1, 'index', -1)])).toEqual([['probability', 7]]);
  });

  it('the same spec gives the same bytes; a wrong spec is refused', () => {
    expect(writeTflite(spec)).toEqual(writeTflite(spec));
    expectCode(() => writeTflite({ ...spec, outputs: [8] }), ErrorCodes.OPTION, /subgraph outputs refers to tensor 8/);
    expectCode(() => writeTflite({ ...spec, tensors: spec.tensors.map((t, i) => (i === 1 ? { ...t, data: new Uint8Array(5) } : t)) }), ErrorCodes.OPTION, /needs 6 bytes, 5 given/);
  });

  it('image classifier metadata (M001) and the labels zip, as the Coral models carry them', () => {
    const meta = imageClassifierMetadata({
      name: 'ImageClassifier', description: 'd',
      input: { name: 'image', description: 'i', width: 4, height: 4, mean: [127.5], std: [127.5] },
      output: { name: 'probability', description: 'o', labelsFile: 'labels.txt', labelsDescription: 'l' },
    });
    expect(String.fromCharCode(...meta.subarray(4, 8))).toBe('M001');
    const root = new Flatbuffer(meta, 'tflite metadata').root('ModelMetadata');
    expect(root.string(0, 'name')).toBe('ImageClassifier');
    expect(root.string(7, 'min_parser_version')).toBe('1.0.0');
    const sg = root.tables(3, 'subgraph_metadata')[0]!;
    const input = sg.tables(2, 'input_tensor_metadata')[0]!;
    const unit = input.tables(4, 'process_units')[0]!;
    expect(unit.u8(0, 'options_type', 0)).toBe(1);
    const norm = unit.table(1, 'options')!;
    expect([norm.floats(0, 'mean'), norm.floats(1, 'std')]).toEqual([[127.5], [127.5]]);
    const file = sg.tables(3, 'output_tensor_metadata')[0]!.tables(6, 'associated_files')[0]!;
    expect([file.string(0, 'name'), file.i8(2, 'type', 0)]).toEqual(['labels.txt', 2]);
    const withZip = appendZip(writeTflite({ ...spec, metadata: [...spec.metadata!, { name: 'TFLITE_METADATA', data: meta }] }), { 'labels.txt': new TextEncoder().encode('a\nb\n') });
    const files = readZip(withZip);
    expect(new TextDecoder().decode(files.get('labels.txt')!()!)).toBe('a\nb\n');
    // The flatbuffer before the zip is read as before.
    expect(parseTflite(withZip).metadata.has('TFLITE_METADATA')).toBe(true);
  });
});
