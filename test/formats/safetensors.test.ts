/**
 * safetensors: the writer's layout, round trips from every format (same options, same logits
 * bit for bit), other float dtypes, every refused case of bad-inputs.md 1-8 with its code,
 * and `mobilenet convert`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes, MobilenetError } from '../../src/errors.js';
import { buildArchitecture, type MobileNetOptions } from '../../src/model/architecture.js';
import { createModel } from '../../src/engine/create.js';
import { mulberry32, randomWeights } from '../../src/model/random.js';
import type { WeightMap } from '../../src/model/weights.js';
import { Tensor } from '../../src/tensor.js';
import { loadModelFile, sniffFormat, type LoadedModel } from '../../src/formats/index.js';
import { firstDuplicateKey, halfToFloat, parseSafetensors, readSafetensorsModel, writeSafetensors } from '../../src/formats/safetensors.js';
import { readTfliteModel } from '../../src/formats/tflite.js';
import { registerConvert } from '../../src/cli/convert.js';
import { reportError } from '../../src/cli/main.js';
import { craftSafetensors, f32Bytes, frame } from '../fixtures-gen/safetensors.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { expectCode } from '../helpers/errors.js';

const SMALL: MobileNetOptions = { depthMultiplier: 0.25, inputSize: 32 };

function smallModel(options: MobileNetOptions = SMALL, seed = 1): LoadedModel {
  return { format: 'safetensors', options, weights: randomWeights(buildArchitecture(options), seed), pixelNormalization: 'unit-signed' };
}


function input(options: MobileNetOptions, batch = 2, seed = 7): Tensor {
  const [h, w] = buildArchitecture(options).inputShape;
  const next = mulberry32(seed);
  return new Tensor(new Float32Array(batch * h * w * 3).map(() => (next() / 2 ** 32) * 2 - 1), [batch, h, w, 3]);
}

async function logits(model: Pick<LoadedModel, 'options' | 'weights'>, x: Tensor): Promise<Float32Array> {
  const m = await createModel({ ...model.options, weights: model.weights });
  const out = m.predict(x).data;
  m.dispose();
  return out;
}

function expectSameWeights(a: WeightMap, b: WeightMap): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [name, t] of a) {
    expect(b.get(name)!.shape, name).toEqual(t.shape);
    expect(Buffer.from(b.get(name)!.data.buffer, b.get(name)!.data.byteOffset, t.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
  }
}

describe('safetensors writer', () => {
  it('is deterministic: sorted names, packed in order, header padded with spaces to 8 bytes, metadata', () => {
    const model = smallModel();
    const a = writeSafetensors(model);
    const shuffled = new Map([...model.weights].reverse());
    const b = writeSafetensors({ ...model, weights: shuffled });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(a.subarray(8, 8 + n));
    expect(text).toMatch(/^\{"__metadata__":/);
    expect(text.trimEnd().length).toBeGreaterThan(n - 8);
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    const parsed = parseSafetensors(a);
    const names = [...parsed.entries.keys()];
    expect(names).toEqual([...names].sort());
    let offset = 0;
    for (const e of parsed.entries.values()) {
      expect(e.begin).toBe(offset);
      expect(e.dtype).toBe('F32');
      offset = e.end;
    }
    expect(parsed.metadata).toMatchObject({ format: 'mobilenet-wasm', format_version: '1', alpha: '0.25', resolution: '32', classes: '1001', flavour: 'tf' });
    expect(names).toContain('MobilenetV1/Conv2d_0/BatchNorm/moving_variance');
    expect(names).toContain('MobilenetV1/Logits/Conv2d_1c_1x1/biases');
    expect(sniffFormat(a)).toBe('safetensors');
  });

  it('alpha 0.25 @ 32 round trip: same options, same weights, same logits bit for bit', async () => {
    const model = smallModel();
    const back = readSafetensorsModel(writeSafetensors(model));
    expect(back.format).toBe('safetensors');
    expect(buildArchitecture(back.options).options).toEqual(buildArchitecture(model.options).options);
    expect(back.pixelNormalization).toBe('unit-signed');
    expectSameWeights(model.weights, back.weights);
    const x = input(SMALL);
    expect(await logits(back, x)).toEqual(await logits(model, x));
  });

  it('records non-square inputs, global pool, flavour torch, classes and labels', async () => {
    const options: MobileNetOptions = { depthMultiplier: 0.5, inputSize: [40, 56], numClasses: 10, globalPool: true };
    const labels = Array.from({ length: 10 }, (_, i) => `class ${i}`);
    const back = readSafetensorsModel(writeSafetensors({ ...smallModel(options), labels }));
    expect(buildArchitecture(back.options).options).toEqual(buildArchitecture(options).options);
    expect(back.labels).toEqual(labels);
    const torch = smallModel({ flavour: 'torch', depthMultiplier: 0.25 });
    const t = readSafetensorsModel(writeSafetensors({ ...torch, pixelNormalization: 'torch-imagenet' }));
    expect(buildArchitecture(t.options).options).toEqual(buildArchitecture(torch.options).options);
    expect(t.pixelNormalization).toBe('torch-imagenet');
  });

  it('a file without our metadata: alpha and classes derived from the shapes, 224 input', () => {
    const options = { depthMultiplier: 0.5, inputSize: 224, numClasses: 7 };
    const model = smallModel(options);
    const bytes = craftSafetensors([...model.weights].map(([name, t]) => ({ name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) })));
    const back = readSafetensorsModel(bytes);
    expect(back.options).toEqual({ depthMultiplier: 0.5, numClasses: 7 });
    expect(buildArchitecture(back.options).options.inputHeight).toBe(224);
  });

  it('reads F16, BF16 and F64 into float32', () => {
    const f16 = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]); // 1, -2, 2^-24, +inf
    const bf16 = new Uint8Array([0x80, 0x3f, 0x49, 0x40]); // 1, 3.140625
    const f64 = new Uint8Array(new Float64Array([0.1, -1e300]).buffer);
    const bytes = craftSafetensors([
      { name: 'a', dtype: 'F16', shape: [4], bytes: f16 },
      { name: 'b', dtype: 'BF16', shape: [2], bytes: bf16 },
      { name: 'c', dtype: 'F64', shape: [2], bytes: f64 },
    ]);
    const parsed = parseSafetensors(bytes);
    expect(parsed.entries.get('a')!.shape).toEqual([4]);
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
    // Through the model reader: tensors are not MobileNet weights, so it refuses by name (strict).
    expectCode(() => readSafetensorsModel(bytes), ErrorCodes.WEIGHT_MISSING);
  });

  it('F16 weights load as a model', async () => {
    const model = smallModel({ depthMultiplier: 0.25, inputSize: 32, numClasses: 5 });
    const toF16 = (v: number) => {
      // Round-trippable values only: multiples of 2^-10 in [-1, 1] are exact in binary16.
      const q = Math.round(v * 1024) / 1024;
      const buf = new DataView(new ArrayBuffer(4));
      buf.setFloat32(0, q);
      const bits = buf.getUint32(0);
      if (q === 0) return 0;
      const sign = bits >>> 31;
      const exp = ((bits >>> 23) & 0xff) - 127 + 15;
      const mant = (bits >>> 13) & 0x3ff;
      if (exp <= 0) return (sign << 15) | ((0x400 | mant) >> (1 - exp));
      return (sign << 15) | (exp << 10) | mant;
    };
    const entries = [...model.weights].map(([name, t]) => {
      const bytes = new Uint8Array(t.data.length * 2);
      const view = new DataView(bytes.buffer);
      t.data.forEach((v, i) => view.setUint16(2 * i, toF16(Math.max(-1, Math.min(1, v))), true));
      return { name, dtype: 'F16', shape: t.shape, bytes };
    });
    const back = readSafetensorsModel(craftSafetensors(entries));
    const w = back.weights.get('MobilenetV1/Conv2d_0/weights')!.data;
    const orig = model.weights.get('MobilenetV1/Conv2d_0/weights')!.data;
    for (let i = 0; i < w.length; i++) expect(w[i]! + 0).toBe(Math.round(Math.max(-1, Math.min(1, orig[i]!)) * 1024) / 1024 + 0);
  });
});

const HAVE_TFLITE = requireShared('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite');
const HAVE_GRAPH = requireShared('models/mobilenet_v1_0.25_224/model.json', 'models/mobilenet_v1_0.25_224/group1-shard1of1.bin');

describe('safetensors from other formats', () => {
  it.skipIf(!HAVE_TFLITE)('TFLite 0.25_128 -> safetensors -> same options, labels and logits bit for bit', async () => {
    const tfl = readTfliteModel(new Uint8Array(readFileSync(sharedPath('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite'))));
    const back = readSafetensorsModel(writeSafetensors(tfl));
    expect(buildArchitecture(back.options).options).toEqual(buildArchitecture(tfl.options).options);
    expect(back.labels).toEqual(tfl.labels);
    expect(back.pixelNormalization).toBe('tflite-uint8');
    expectSameWeights(tfl.weights, back.weights);
    const x = input(tfl.options, 1);
    expect(await logits(back, x)).toEqual(await logits(tfl, x));
  });

  it.skipIf(!HAVE_GRAPH)('TF.js graph 0.25_224 -> safetensors -> same logits bit for bit', async () => {
    const graph = await loadModelFile(sharedPath('models/mobilenet_v1_0.25_224'));
    expect(graph.format).toBe('tfjs-graph');
    const back = readSafetensorsModel(writeSafetensors(graph));
    expect(buildArchitecture(back.options).options).toEqual(buildArchitecture(graph.options).options);
    const x = input(graph.options, 1);
    expect(await logits(back, x)).toEqual(await logits(graph, x));
  });
});

describe('safetensors: bad files (bad-inputs.md 1-8)', () => {
  const one = (entry: Record<string, unknown>, buffer = new Uint8Array(8)) => frame(JSON.stringify({ t: entry }), buffer);

  it('1: empty, or shorter than the 8-byte length', () => {
    expectCode(() => parseSafetensors(new Uint8Array(0)), ErrorCodes.FILE_TOO_SHORT, /has 0/);
    expectCode(() => parseSafetensors(new Uint8Array(7)), ErrorCodes.FILE_TOO_SHORT, /needs at least 8 bytes/);
  });

  it('2: header length above 100 MB, or beyond the file', () => {
    expectCode(() => parseSafetensors(frame('{}', undefined, 100_000_001)), ErrorCodes.HEADER_LENGTH, /100000001 is above the 100000000-byte cap/);
    expectCode(() => parseSafetensors(frame('{}', undefined, 2 ** 40)), ErrorCodes.HEADER_LENGTH);
    expectCode(() => parseSafetensors(frame('{}', undefined, 50)), ErrorCodes.HEADER_LENGTH, /needs 50 bytes after the length, the file has 2/);
  });

  it('3: not UTF-8, not JSON, not an object, a duplicate name, bad metadata', () => {
    expectCode(() => parseSafetensors(frame(new Uint8Array([0x7b, 0xff, 0x7d]))), ErrorCodes.HEADER_FORMAT, /not valid UTF-8/);
    expectCode(() => parseSafetensors(frame('{"a": ')), ErrorCodes.HEADER_FORMAT, /not valid JSON/);
    expectCode(() => parseSafetensors(frame('[1, 2]')), ErrorCodes.HEADER_FORMAT, /must start with "\{"/);
    expectCode(() => parseSafetensors(frame('{"t": 5}')), ErrorCodes.HEADER_FORMAT, /tensor t: expected \{dtype, shape, data_offsets\}/);
    const e = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    expectCode(() => parseSafetensors(frame(`{"w": ${e}, "x\\"y": {"a": {"w": 1}}, "w": ${e}}`, new Uint8Array(4))), ErrorCodes.DUPLICATE_TENSOR, /tensor "w" appears twice/);
    expectCode(() => parseSafetensors(frame('{"__metadata__": {"a": 1}}')), ErrorCodes.HEADER_FORMAT, /__metadata__.a must be a string/);
    expect(firstDuplicateKey('{"a": {"b": 1, "b": 2}, "c": "a"}')).toBeNull();
    expect(firstDuplicateKey('{"a\\\\": [{"a": 1}], "a\\\\": 2}')).toBe('a\\');
  });

  it('4: unknown dtype named with its tensor; an integer tensor where a weight is expected', () => {
    expectCode(() => parseSafetensors(one({ dtype: 'F33', shape: [2], data_offsets: [0, 8] })), ErrorCodes.DTYPE, /tensor t: unknown dtype "F33"/);
    expectCode(() => parseSafetensors(one({ dtype: 'constructor', shape: [2], data_offsets: [0, 8] })), ErrorCodes.DTYPE);
    const model = smallModel();
    const entries = [...model.weights].map(([name, t]) => ({ name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) }));
    entries[0] = { ...entries[0]!, dtype: 'I32' };
    expectCode(() => readSafetensorsModel(craftSafetensors(entries)), ErrorCodes.DTYPE, new RegExp(`tensor ${entries[0]!.name}: dtype I32 is not supported`));
  });

  it('5: shape entries negative, fractional, NaN, not numbers, or overflowing', () => {
    for (const shape of [[-1], [1.5], ['2'], [null], 'x', [1, 1, 1, 1, 1, 1, 1, 1, 1]]) {
      expectCode(() => parseSafetensors(one({ dtype: 'F32', shape, data_offsets: [0, 8] })), ErrorCodes.SHAPE);
    }
    expectCode(() => parseSafetensors(one({ dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] })), ErrorCodes.SHAPE, /overflows/);
  });

  it('6: offsets not safe non-negative integers, backwards, or past the end', () => {
    for (const data_offsets of [[-1, 8], [0, 8.5], [0, 1e300], ['0', 8], [0], [0, 2 ** 53]]) {
      expectCode(() => parseSafetensors(one({ dtype: 'F32', shape: [2], data_offsets })), ErrorCodes.OFFSETS);
    }
    expectCode(() => parseSafetensors(one({ dtype: 'F32', shape: [0], data_offsets: [8, 0] })), ErrorCodes.OFFSETS, /run backwards/);
    expectCode(() => parseSafetensors(one({ dtype: 'F32', shape: [4], data_offsets: [0, 16] })), ErrorCodes.OFFSETS, /needs bytes up to 16 of the data buffer, the file has 8/);
    // A written model, truncated.
    const bytes = writeSafetensors(smallModel());
    expectCode(() => readSafetensorsModel(bytes.subarray(0, bytes.length - 100)), ErrorCodes.OFFSETS, new RegExp(`needs bytes up to ${bytes.length - 8 - Number(new DataView(bytes.buffer).getBigUint64(0, true))} .* has ${bytes.length - 108 - Number(new DataView(bytes.buffer).getBigUint64(0, true))}`));
  });

  it('7: byte length not elements x dtype size', () => {
    const buffer = new Uint8Array(3456);
    const header = { 'MobilenetV1/Conv2d_0/weights': { dtype: 'F32', shape: [3, 3, 3, 32], data_offsets: [0, 3440] } };
    expectCode(() => parseSafetensors(frame(JSON.stringify(header), buffer)), ErrorCodes.BYTE_LENGTH, /Conv2d_0\/weights: F32 \[3,3,3,32\] needs 3456 bytes, has 3440/);
  });

  it('8: overlapping ranges, holes, bytes after the last tensor', () => {
    const e = (b: number, end: number) => ({ dtype: 'F32', shape: [(end - b) / 4], data_offsets: [b, end] });
    expectCode(() => parseSafetensors(frame(JSON.stringify({ a: e(0, 8), b: e(4, 12) }), new Uint8Array(12))), ErrorCodes.OVERLAP, /tensor b \[4, 12\] overlaps tensor a/);
    expectCode(() => parseSafetensors(frame(JSON.stringify({ a: e(0, 4), b: e(8, 12) }), new Uint8Array(12))), ErrorCodes.OVERLAP, /bytes 4..8 .* no tensor/);
    expectCode(() => parseSafetensors(frame(JSON.stringify({ a: e(4, 8) }), new Uint8Array(8))), ErrorCodes.OVERLAP, /bytes 0..4/);
    expectCode(() => parseSafetensors(frame(JSON.stringify({ a: e(0, 4) }), new Uint8Array(8))), ErrorCodes.OVERLAP, /4 bytes after tensor a/);
  });

  it('names and shapes against the layer table: a missing weight, a wrong shape, an extra name', () => {
    const model = smallModel();
    const entries = [...model.weights].map(([name, t]) => ({ name, dtype: 'F32', shape: t.shape, bytes: f32Bytes(t.data) }));
    expectCode(() => readSafetensorsModel(craftSafetensors(entries.slice(1))), ErrorCodes.WEIGHT_MISSING, /Conv2d_0/);
    expectCode(() => readSafetensorsModel(craftSafetensors([...entries, { name: 'extra', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }])), ErrorCodes.WEIGHT_UNEXPECTED, /extra/);
    const meta = { format: 'mobilenet-wasm', format_version: '1', alpha: '0.5', resolution: '32', classes: '1001', flavour: 'tf' };
    expectCode(() => readSafetensorsModel(craftSafetensors(entries, meta)), ErrorCodes.WEIGHT_SHAPE, /expected \[3,3,3,16\], got \[3,3,3,8\]/);
    expectCode(() => readSafetensorsModel(craftSafetensors(entries, { ...meta, alpha: '0.25', format_version: '9' })), ErrorCodes.HEADER_FORMAT, /format_version/);
    expectCode(() => readSafetensorsModel(craftSafetensors(entries, { ...meta, alpha: '0.25', flavour: 'torch' })), ErrorCodes.OPTION, /AvgPool2d\(7\)/);
  });
});

describe('mobilenet convert', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mobilenet-convert-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s) };
    const program = new Command('mobilenet').exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });
    registerConvert(program, io);
    try {
      await program.parseAsync(args, { from: 'user' });
      return { code: 0, out, err };
    } catch (e) {
      return { code: reportError(e, io), out, err };
    }
  }

  it('safetensors -> safetensors (and refuses to overwrite without --force)', async () => {
    const src = join(dir, 'in.safetensors');
    const model = smallModel();
    writeFileSync(src, writeSafetensors(model));
    const dst = join(dir, 'out.safetensors');
    const r = await run(['convert', src, dst]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/safetensors -> safetensors, alpha 0.25, 32, 1001 classes/);
    expect(Buffer.from(readFileSync(dst)).equals(Buffer.from(readFileSync(src)))).toBe(true);
    const again = await run(['convert', src, dst]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/^mobilenet: ERR_IO: .*exists; pass --force/);
    expect((await run(['convert', src, dst, '--force'])).code).toBe(0);
  });

  it.skipIf(!HAVE_TFLITE)('TFLite -> safetensors', async () => {
    const dst = join(dir, 'q.safetensors');
    const r = await run(['convert', sharedPath('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite'), dst]);
    expect(r.out).toMatch(/tflite -> safetensors, alpha 0.25, 128, 1001 classes, flavour tf, 56 tensors, \d+ bytes, 1001 labels, input tflite-uint8/);
    const back = await loadModelFile(dst);
    expect(back.labels?.[0]).toBe('background');
  });

  it('bad input: one line, exit 2', async () => {
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, new Uint8Array([1, 2, 3]));
    const r = await run(['convert', bad, join(dir, 'x.safetensors')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mobilenet: ERR_FILE_TOO_SHORT: .*bad.safetensors: 3 bytes/);
    expect((await run(['convert', bad, join(dir, 'x.bin')])).err).toMatch(/ERR_OPTION: option <out>/);
    expect((await run(['convert', join(dir, 'missing'), join(dir, 'y.safetensors')])).err).toMatch(/ERR_IO/);
  });
});

describe('loadModelFile: the format from the content', () => {
  it('sniffs safetensors, TFLite and JSON; refuses anything else with what it starts with', async () => {
    const st = writeSafetensors(smallModel());
    expect(sniffFormat(st)).toBe('safetensors');
    expect((await loadModelFile(st)).format).toBe('safetensors');
    expect(sniffFormat(new Uint8Array([0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33]))).toBe('tflite');
    expect(sniffFormat(new TextEncoder().encode('  {"format": "layers-model"}'))).toBe('json');
    // A length prefix (123) then `{` where the header starts: a truncated safetensors file, not JSON;
    // its parser says what is wrong (ERR_HEADER_LENGTH, hardening.test.ts). A length of 2^56 or more is no safetensors.
    expect(sniffFormat(new Uint8Array([0x7b, 0, 0, 0, 0, 0, 0, 0, 0x7b]))).toBe('safetensors');
    expect(sniffFormat(new Uint8Array([0x7b, 0, 0, 0, 0, 0, 0, 1, 0x7b]))).toBe('unknown');
    let err: unknown;
    await loadModelFile(new TextEncoder().encode('{"format": "layers-model"}')).catch((e) => (err = e));
    expect((err as MobilenetError).code).toBe(ErrorCodes.OPTION);
    await loadModelFile(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])).catch((e) => (err = e));
    expect((err as MobilenetError).code).toBe(ErrorCodes.HEADER_FORMAT);
    expect((err as Error).message).toMatch(/starts with 89 50 4e 47 0d 0a 1a 0a/);
    await loadModelFile(new Uint8Array(3)).catch((e) => (err = e));
    expect((err as MobilenetError).code).toBe(ErrorCodes.FILE_TOO_SHORT);
  });
});
