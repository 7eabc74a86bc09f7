/**
 * The TF.js graph loader on the real TF-Hub MobileNet v1 0.25/224 files, then one crafted
 * manifest or shard per bad-inputs case, then a fast-check mutation sweep.
 *
 * Expected values come from elsewhere: PROVENANCE.md (alpha, size, classes, channel counts),
 * the layer table (`expectedWeights`), the manifest itself read by a few lines of test code,
 * and TensorFlow.js's own GraphModel loader for the tensor values.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { ErrorCodes, MobilenetError, type ErrorCode } from '../../src/errors.js';
import { buildArchitecture, expectedWeights } from '../../src/model/architecture.js';
import { checkWeights } from '../../src/model/weights.js';
import { loadTfjsGraphModel, parseTfjsGraphModel, type TfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { loadLabels, parseLabels } from '../../src/formats/labels.js';
import { requireShared, sharedPath } from '../helpers/shared.js';

const DIR = 'models/mobilenet_v1_0.25_224';
const HAVE = requireShared(`${DIR}/model.json`, `${DIR}/group1-shard1of1.bin`, 'models/imagenet_labels_1001.txt');

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;
interface Spec { name: string; shape: number[]; dtype: string; offset: number; bytes: number }

let text: string;
let json: Json;
let shard: Uint8Array;
let specs: Spec[];
const spec = (suffix: string): Spec => specs.find((s) => s.name.endsWith(suffix))!;

/** Calls `f`; returns the MobilenetError it throws (failing on any other outcome). */
function refusal(f: () => unknown): MobilenetError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MobilenetError);
    return e as MobilenetError;
  }
  throw new Error('expected a MobilenetError, but the call succeeded');
}

function expectCode(f: () => unknown, code: ErrorCode, ...inMessage: (string | RegExp)[]): MobilenetError {
  const e = refusal(f);
  expect(e.code, e.message).toBe(code);
  for (const m of inMessage) expect(e.message).toMatch(m);
  return e;
}

/** A deep copy of model.json with `edit` applied. */
function edited(edit: (j: Json) => void): Json {
  const copy = structuredClone(json);
  edit(copy);
  return copy;
}

const entries = (j: Json): Json[] => j.weightsManifest[0].weights;
const entry = (j: Json, suffix: string): Json => entries(j).find((w: Json) => w.name.endsWith(suffix));
const node = (j: Json, name: string): Json => j.modelTopology.node.find((n: Json) => n.name === name);
const b64 = (s: string) => Buffer.from(s).toString('base64');
const DW3 = 'module_apply_default/MobilenetV1/MobilenetV1/Conv2d_3_depthwise/depthwise';

/** The shard with `count` bytes removed at `at` and `insert` put there instead. */
function splice(at: number, count: number, insert = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(shard.length - count + insert.length);
  out.set(shard.subarray(0, at), 0);
  out.set(insert, at);
  out.set(shard.subarray(at + count), at + insert.length);
  return out;
}

function withFloat(offset: number, value: number): Uint8Array {
  const copy = shard.slice();
  new DataView(copy.buffer).setFloat32(offset, value, true);
  return copy;
}

describe.skipIf(!HAVE)('TF.js graph model: mobilenet_v1_0.25_224', () => {
  let model: TfjsGraphModel;

  beforeAll(() => {
    text = readFileSync(sharedPath(`${DIR}/model.json`), 'utf8');
    json = JSON.parse(text);
    shard = new Uint8Array(readFileSync(sharedPath(`${DIR}/group1-shard1of1.bin`)));
    // Offsets the way PROVENANCE.md states them: running sum of prod(shape) * 4.
    let offset = 0;
    specs = entries(json).map((w: Json) => {
      const bytes = w.shape.reduce((a: number, b: number) => a * b, 1) * 4;
      const s = { name: w.name, shape: w.shape, dtype: w.dtype, offset, bytes };
      offset += bytes;
      return s;
    });
    model = parseTfjsGraphModel(text, [shard]);
  });

  describe('the real model', () => {
    it('derives alpha 0.25, input 224, 1001 classes and the [0, 1] input range (PROVENANCE.md)', () => {
      expect(model.format).toBe('tfjs-graph');
      expect(model.options).toEqual({ depthMultiplier: 0.25, inputSize: 224, numClasses: 1001 });
      expect(model.inputRange).toEqual([0, 1]);
    });

    it('has exactly the layer table\'s folded weights, with the right shapes', () => {
      const expected = expectedWeights(buildArchitecture({ depthMultiplier: 0.25 }), true);
      expect([...model.weights.keys()].sort()).toEqual(expected.map((s) => s.name).sort());
      for (const s of expected) expect(model.weights.get(s.name)!.shape, s.name).toEqual(s.shape);
      // Channel counts as PROVENANCE.md lists them: 8,16,32,32,64,64,128 (x6),256,256.
      const channels = [8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256];
      expect(model.weights.get('MobilenetV1/Conv2d_0/weights')!.shape).toEqual([3, 3, 3, 8]);
      for (let i = 1; i <= 13; i++) {
        expect(model.weights.get(`MobilenetV1/Conv2d_${i}_depthwise/depthwise_weights`)!.shape).toEqual([3, 3, channels[i - 1], 1]);
        expect(model.weights.get(`MobilenetV1/Conv2d_${i}_pointwise/biases`)!.shape).toEqual([channels[i]]);
      }
      expect(model.weights.get('MobilenetV1/Logits/Conv2d_1c_1x1/weights')!.shape).toEqual([1, 1, 256, 1001]);
    });

    it('renames each graph tensor and keeps its bytes (read here from the running offsets)', () => {
      const view = new DataView(shard.buffer, shard.byteOffset, shard.byteLength);
      let checked = 0;
      for (const s of specs) {
        if (s.dtype !== 'float32' || s.name.includes('hub_input')) continue;
        const ours = s.name
          .replace(/^module\//, '')
          .replace(/^module_apply_default\/MobilenetV1\//, '')
          .replace(/\/(Conv2D|depthwise)_bn_offset$/, '/biases');
        const t = model.weights.get(ours);
        expect(t, `${s.name} -> ${ours}`).toBeDefined();
        expect(t!.shape).toEqual(s.shape);
        for (const i of [0, 1, t!.data.length - 1]) expect(t!.data[i]).toBe(view.getFloat32(s.offset + 4 * i, true));
        checked++;
      }
      expect(checked).toBe(56);
    });

    it('matches the tensors TensorFlow.js itself loads from the same files, bit for bit', async () => {
      await tf.setBackend('cpu');
      const weightData = shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength) as ArrayBuffer;
      const graph = await loadGraphModel(
        tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: entries(json), weightData, format: 'graph-model' }),
      );
      const theirs = graph.weights;
      const pairs: [string, string][] = [
        ['module/MobilenetV1/Conv2d_0/weights', 'MobilenetV1/Conv2d_0/weights'],
        ['module_apply_default/MobilenetV1/MobilenetV1/Conv2d_0/Conv2D_bn_offset', 'MobilenetV1/Conv2d_0/biases'],
        ['module/MobilenetV1/Conv2d_7_depthwise/depthwise_weights', 'MobilenetV1/Conv2d_7_depthwise/depthwise_weights'],
        ['module_apply_default/MobilenetV1/MobilenetV1/Conv2d_7_depthwise/depthwise_bn_offset', 'MobilenetV1/Conv2d_7_depthwise/biases'],
        ['module/MobilenetV1/Conv2d_13_pointwise/weights', 'MobilenetV1/Conv2d_13_pointwise/weights'],
        ['module/MobilenetV1/Logits/Conv2d_1c_1x1/weights', 'MobilenetV1/Logits/Conv2d_1c_1x1/weights'],
        ['module/MobilenetV1/Logits/Conv2d_1c_1x1/biases', 'MobilenetV1/Logits/Conv2d_1c_1x1/biases'],
      ];
      for (const [graphName, ours] of pairs) {
        const t = theirs[graphName]![0]!;
        expect(t.shape).toEqual(model.weights.get(ours)!.shape);
        expect(Buffer.from((t.dataSync() as Float32Array).buffer).equals(Buffer.from(model.weights.get(ours)!.data.buffer))).toBe(true);
      }
      graph.dispose();
    });

    it('loads from a directory, a model.json path and a file: URL, never fetching', async () => {
      const fetch = vi.fn();
      const dir = sharedPath(DIR);
      for (const source of [dir, join(dir, 'model.json'), pathToFileURL(join(dir, 'model.json'))]) {
        const m = await loadTfjsGraphModel(source, { fetch });
        expect(m.options).toEqual(model.options);
        expect(m.weights.get('MobilenetV1/Conv2d_0/weights')!.data).toEqual(model.weights.get('MobilenetV1/Conv2d_0/weights')!.data);
      }
      expect(fetch).not.toHaveBeenCalled();
    });

    it('loads over http(s) with the given fetch, resolving shards beside model.json', async () => {
      const served: string[] = [];
      const fetch = vi.fn(async (url: URL | RequestInfo) => {
        const href = String(url);
        served.push(href);
        if (href === 'https://models.example/v1/model.json') return new Response(text);
        if (href === 'https://models.example/v1/group1-shard1of1.bin') return new Response(shard.slice());
        return new Response('<html>404</html>', { status: 404, statusText: 'Not Found' });
      }) as unknown as typeof globalThis.fetch;
      const m = await loadTfjsGraphModel(new URL('https://models.example/v1/'), { fetch });
      expect(m.options).toEqual(model.options);
      expect(served).toEqual(['https://models.example/v1/model.json', 'https://models.example/v1/group1-shard1of1.bin']);

      const htmlShard = vi.fn(async (url: URL | RequestInfo) =>
        String(url).endsWith('.json') ? new Response(text) : new Response('<!DOCTYPE html><html><body>Sign in</body></html>'),
      ) as unknown as typeof globalThis.fetch;
      await expect(loadTfjsGraphModel(new URL('https://x.example/model.json'), { fetch: htmlShard })).rejects.toMatchObject({
        code: ErrorCodes.MANIFEST,
        message: expect.stringMatching(/group1-shard1of1\.bin.*HTML/),
      });
      await expect(loadTfjsGraphModel(new URL('https://models.example/v2/model.json'), { fetch })).rejects.toMatchObject({
        code: ErrorCodes.IO,
        message: expect.stringContaining('HTTP 404'),
      });
    });

    it('refuses a missing path (ERR_IO); an http string is a URL, fetched like a URL object', async () => {
      await expect(loadTfjsGraphModel(sharedPath('models/no_such_model'))).rejects.toMatchObject({ code: ErrorCodes.IO });
      const asked: string[] = [];
      const fetch = (async (url: URL) => (asked.push(url.href), new Response('not found', { status: 404 }))) as unknown as typeof globalThis.fetch;
      await expect(loadTfjsGraphModel('https://example.com/model.json', { fetch })).rejects.toMatchObject({ code: ErrorCodes.IO, message: expect.stringContaining('HTTP 404') });
      expect(asked).toEqual(['https://example.com/model.json']);
    });

    it('reads the 1001 labels, background first', async () => {
      const labels = await loadLabels(sharedPath('models/imagenet_labels_1001.txt'));
      expect(labels).toHaveLength(1001);
      expect(labels[0]).toBe('background');
      expect(labels[1]).toBe('tench, Tinca tinca');
      expect(parseLabels('a\r\nb\r\n')).toEqual(['a', 'b']);
      expect(() => parseLabels('a\n\nb\n')).toThrow(/line 2 is empty/);
      expect(() => parseLabels('<html>404</html>')).toThrow(MobilenetError);
    });
  });

  describe('checkWeights, the check every loader shares', () => {
    const arch = () => buildArchitecture({ depthMultiplier: 0.25 });
    const copy = () => new Map([...model.weights].map(([k, t]) => [k, { shape: [...t.shape], data: t.data.slice() }]));
    const SCOPE = 'MobilenetV1/Conv2d_4_pointwise';
    /** The layer's biases replaced by BatchNorm vectors (gamma 1, beta = bias, mean 0, variance 1). */
    const unfold = (w: Map<string, { shape: number[]; data: Float32Array }>, fields = ['gamma', 'beta', 'moving_mean', 'moving_variance']) => {
      const bias = w.get(`${SCOPE}/biases`)!;
      w.delete(`${SCOPE}/biases`);
      const fill = { gamma: 1, beta: Number.NaN, moving_mean: 0, moving_variance: 1 } as Record<string, number>;
      for (const f of fields) w.set(`${SCOPE}/BatchNorm/${f}`, { shape: [64], data: f === 'beta' ? bias.data : new Float32Array(64).fill(fill[f]!) });
      return w;
    };

    it('accepts a layer given unfolded (BatchNorm/*) beside folded ones, and says which', () => {
      const used = checkWeights(arch(), unfold(copy()), { strict: true });
      expect(used.filter((u) => u.name.startsWith(SCOPE)).map((u) => u.name)).toEqual([
        `${SCOPE}/weights`, `${SCOPE}/BatchNorm/gamma`, `${SCOPE}/BatchNorm/beta`, `${SCOPE}/BatchNorm/moving_mean`, `${SCOPE}/BatchNorm/moving_variance`,
      ]);
    });

    it('a partial BatchNorm is missing the rest, listing both forms', () => {
      expectCode(() => checkWeights(arch(), unfold(copy(), ['gamma', 'beta'])), ErrorCodes.WEIGHT_MISSING,
        `missing ${SCOPE}/BatchNorm/moving_mean, ${SCOPE}/BatchNorm/moving_variance`, `${SCOPE}/biases [64] (BatchNorm folded), or ${SCOPE}/weights`);
    });

    it('extra names pass unless strict; non-finite values pass only when allowed', () => {
      const w = copy();
      w.set('MobilenetV1/Extra/weights', { shape: [1], data: new Float32Array(1) });
      expect(() => checkWeights(arch(), w)).not.toThrow();
      expectCode(() => checkWeights(arch(), w, { strict: true }), ErrorCodes.WEIGHT_UNEXPECTED, 'MobilenetV1/Extra/weights', 'MobilenetV1/Conv2d_0/weights');
      const nan = copy();
      nan.get('MobilenetV1/Conv2d_0/weights')!.data[3 * 8 + 1] = Number.NaN;
      expectCode(() => checkWeights(arch(), nan), ErrorCodes.WEIGHT_NONFINITE, 'MobilenetV1/Conv2d_0/weights: element 25 (index [0,1,0,1]) is NaN');
      expect(() => checkWeights(arch(), nan, { allowNonFinite: true })).not.toThrow();
    });

    it('data whose length does not match its shape', () => {
      const w = copy();
      w.get('MobilenetV1/Conv2d_0/biases')!.data = new Float32Array(7);
      expectCode(() => checkWeights(arch(), w), ErrorCodes.WEIGHT_SHAPE, 'needs 8 values, data has 7');
    });
  });

  describe('refusals, one crafted input per case (shared/docs/bad-inputs.md)', () => {
    it('2-3: model.json that is not JSON, an HTML page, or the wrong JSON shape', () => {
      expectCode(() => parseTfjsGraphModel(text.slice(0, 1000), [shard]), ErrorCodes.HEADER_FORMAT, /not valid JSON/);
      expectCode(() => parseTfjsGraphModel('<!DOCTYPE html><title>404</title>', [shard]), ErrorCodes.HEADER_FORMAT, /HTML/);
      expectCode(() => parseTfjsGraphModel('[1, 2]', [shard]), ErrorCodes.HEADER_FORMAT, /JSON object/);
      expectCode(() => parseTfjsGraphModel(edited((j) => delete j.weightsManifest), [shard]), ErrorCodes.MANIFEST, /weightsManifest/);
      expectCode(() => parseTfjsGraphModel(edited((j) => (j.format = 'layers-model')), [shard]), ErrorCodes.MANIFEST, /layers-model/);
    });

    it('3: a duplicate tensor name', () => {
      const j = edited((j) => (entries(j)[1].name = entries(j)[0].name));
      expectCode(() => parseTfjsGraphModel(j, [shard]), ErrorCodes.DUPLICATE_TENSOR, 'module_apply_default/hub_input/Mul/y');
    });

    it('4: an unknown dtype, named with its tensor', () => {
      const j = edited((j) => (entry(j, 'Conv2d_2_pointwise/weights').dtype = 'float16'));
      expectCode(() => parseTfjsGraphModel(j, [shard]), ErrorCodes.DTYPE, 'module/MobilenetV1/Conv2d_2_pointwise/weights', '"float16"');
    });

    it('5: a negative, fractional, NaN, non-numeric or overflowing shape entry', () => {
      for (const bad of [[-1, 1, 16, 32], [1, 1, 16, 2.5], [1, 1, Number.NaN, 32], [1, 1, '16', 32], [2 ** 40, 2 ** 40, 1, 1]]) {
        const j = edited((j) => (entry(j, 'Conv2d_2_pointwise/weights').shape = bad));
        expectCode(() => parseTfjsGraphModel(j, [shard]), ErrorCodes.SHAPE, 'Conv2d_2_pointwise/weights');
      }
    });

    it('7: a truncated shard, and one with extra bytes: bytes needed against bytes found', () => {
      const e = expectCode(() => parseTfjsGraphModel(text, [shard.subarray(0, shard.length - 100)]), ErrorCodes.BYTE_LENGTH,
        'needs 1870388 bytes, has 1870288');
      expect(e.message).toContain('Conv2d_13_pointwise/Conv2D_bn_offset'); // the tensor cut short: the last one
      expectCode(() => parseTfjsGraphModel(text, [splice(shard.length, 0, new Uint8Array(4))]), ErrorCodes.BYTE_LENGTH,
        'needs 1870388 bytes, has 1870392');
    });

    it('9: a shard that is an HTML error page; a shard missing; a path leaving the directory', () => {
      const page = new TextEncoder().encode('<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>');
      expectCode(() => parseTfjsGraphModel(text, [page]), ErrorCodes.MANIFEST, 'group1-shard1of1.bin', /HTML/);
      expectCode(() => parseTfjsGraphModel(text, []), ErrorCodes.MANIFEST, 'lists 1 shard');
      const j = edited((j) => (j.weightsManifest[0].paths = ['../../etc/passwd']));
      expectCode(() => parseTfjsGraphModel(j, [shard]), ErrorCodes.MANIFEST, 'etc/passwd');
    });

    it('9: quantization fields (unsupported)', () => {
      const j = edited((j) => (entry(j, 'Conv2d_0/weights').quantization = { dtype: 'uint8', scale: 0.01, min: -1 }));
      expectCode(() => parseTfjsGraphModel(j, [shard]), ErrorCodes.MANIFEST, 'module/MobilenetV1/Conv2d_0/weights', /quantiz/);
    });

    it('9: a graph that is not MobileNet v1 (stride, padding, dilation, ops, a block removed)', () => {
      const cases: [string, (j: Json) => void, RegExp][] = [
        ['stride', (j) => (node(j, DW3).attr.strides.list.i = ['1', '2', '2', '1']), /stride 2/],
        ['padding', (j) => (node(j, DW3).attr.padding.s = b64('VALID')), /padding "VALID"/],
        ['dilation', (j) => (node(j, DW3).attr.dilations.list.i = ['1', '2', '2', '1']), /dilations/],
        ['relu', (j) => (node(j, DW3.replace('/depthwise', '/Relu6')).op = 'Relu'), /Relu/],
        ['keep_dims', (j) => (node(j, 'module_apply_default/MobilenetV1/Logits/global_pool').attr.keep_dims.b = false), /Mean/],
        ['NCHW', (j) => (node(j, DW3).attr.data_format.s = b64('NCHW')), /NCHW/],
        ['extra node', (j) => j.modelTopology.node.push({ name: 'extra', op: 'Softmax', input: ['module_apply_default/MobilenetV1/Logits/SpatialSqueeze'] }), /Softmax/],
        ['two inputs', (j) => j.modelTopology.node.push({ name: 'images2', op: 'Placeholder' }), /Placeholder/],
      ];
      for (const [what, edit, message] of cases) {
        const e = expectCode(() => parseTfjsGraphModel(edited(edit), [shard]), ErrorCodes.MANIFEST, message);
        expect(e.message, what).toMatch(/not a MobileNet v1/);
      }
      // Drop block 13: Conv2d_12_pointwise then feeds the pool directly (its tensors must go too).
      const dropped = edited((j) => {
        const gone = (n: string) => n.includes('Conv2d_13_');
        j.modelTopology.node = j.modelTopology.node.filter((n: Json) => !gone(n.name));
        node(j, 'module_apply_default/MobilenetV1/Logits/global_pool').input[0] = 'module_apply_default/MobilenetV1/MobilenetV1/Conv2d_12_pointwise/Relu6';
        j.weightsManifest[0].weights = entries(j).filter((w: Json) => !gone(w.name));
      });
      const kept = specs.filter((s) => !s.name.includes('Conv2d_13_')).map((s) => shard.subarray(s.offset, s.offset + s.bytes));
      expectCode(() => parseTfjsGraphModel(dropped, [Buffer.concat(kept)]), ErrorCodes.MANIFEST, /conv\+relu6 x25/);
    });

    it('11: a missing weight, named with the layer\'s expected list', () => {
      const s = spec('Conv2d_5_pointwise/weights');
      const j = edited((j) => (j.weightsManifest[0].weights = entries(j).filter((w: Json) => w.name !== s.name)));
      expectCode(() => parseTfjsGraphModel(j, [splice(s.offset, s.bytes)]), ErrorCodes.WEIGHT_MISSING,
        'layer Conv2d_5_pointwise: missing MobilenetV1/Conv2d_5_pointwise/weights',
        'MobilenetV1/Conv2d_5_pointwise/weights [1,1,64,64], MobilenetV1/Conv2d_5_pointwise/biases [64]');
    });

    it('11: a manifest tensor no graph node reads (unexpected)', () => {
      const j = edited((j) => entries(j).push({ name: 'leftover/weights', shape: [2], dtype: 'float32' }));
      expectCode(() => parseTfjsGraphModel(j, [splice(shard.length, 0, new Uint8Array(8))]), ErrorCodes.WEIGHT_UNEXPECTED, 'leftover/weights');
    });

    it('12: a depthwise kernel for the wrong alpha; 1000 classes with 1001 biases', () => {
      const s = spec('Conv2d_3_depthwise/depthwise_weights');
      const j = edited((j) => (entry(j, 'Conv2d_3_depthwise/depthwise_weights').shape = [3, 3, 64, 1]));
      const e = expectCode(() => parseTfjsGraphModel(j, [splice(s.offset + s.bytes, 0, new Uint8Array(s.bytes))]), ErrorCodes.WEIGHT_SHAPE);
      expect(e.message).toBe('MobilenetV1/Conv2d_3_depthwise/depthwise_weights: expected [3,3,32,1], got [3,3,64,1]');

      const logits = spec('Logits/Conv2d_1c_1x1/weights');
      const k = edited((j) => (entry(j, 'Logits/Conv2d_1c_1x1/weights').shape = [1, 1, 256, 1000]));
      expectCode(() => parseTfjsGraphModel(k, [splice(logits.offset, 256 * 4)]), ErrorCodes.WEIGHT_SHAPE,
        'MobilenetV1/Logits/Conv2d_1c_1x1/biases: expected [1000], got [1001]');
    });

    it('13: NaN and infinite weights, named with tensor and index; allowed nowhere by default', () => {
      const s = spec('Conv2d_7_pointwise/weights');
      expectCode(() => parseTfjsGraphModel(text, [withFloat(s.offset + 4 * 5, Number.NaN)]), ErrorCodes.WEIGHT_NONFINITE,
        'MobilenetV1/Conv2d_7_pointwise/weights: element 5 (index [0,0,0,5]) is NaN');
      const b = spec('Conv2d_0/Conv2D_bn_offset');
      expectCode(() => parseTfjsGraphModel(text, [withFloat(b.offset + 4 * 7, -Infinity)]), ErrorCodes.WEIGHT_NONFINITE,
        'MobilenetV1/Conv2d_0/biases: element 7 (index [7]) is -Infinity');
    });

    it('input scaling: x*m - s gives the range [(s-1)/m, (s+1)/m]; a non-positive m is refused', () => {
      const m = parseTfjsGraphModel(text, [withFloat(0, Math.fround(1 / 127.5))]);
      expect(m.inputRange[0]).toBe(0);
      expect(m.inputRange[1]).toBeCloseTo(255, 4);
      expectCode(() => parseTfjsGraphModel(text, [withFloat(0, -2)]), ErrorCodes.MANIFEST, /input scaling/);
    });
  });

  describe('mutation sweep: every outcome is a load or a MobilenetError', () => {
    const codes = new Set<string>(Object.values(ErrorCodes));
    /** Runs one parse; returns 'ok' or the error code, failing on anything else. */
    const outcome = (f: () => TfjsGraphModel): string => {
      try {
        const m = f();
        expect(m.weights.size).toBeGreaterThan(0);
        return 'ok';
      } catch (e) {
        if (!(e instanceof MobilenetError)) throw e;
        expect(codes.has(e.code)).toBe(true);
        return e.code;
      }
    };

    it('shard bytes: flip, set, truncate, extend', () => {
      const seen = new Map<string, number>();
      const position = fc.oneof(fc.nat(63), fc.nat(shard.length - 1));
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat(7) }),
        fc.record({ kind: fc.constant('set' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant('truncate' as const), at: position }),
        fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
      );
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
          let bytes = shard.slice();
          for (const m of mutations) {
            if (m.kind === 'flip') bytes[m.at % bytes.length]! ^= 1 << m.bit;
            else if (m.kind === 'set') bytes[m.at % bytes.length] = m.value;
            else if (m.kind === 'truncate') bytes = bytes.slice(0, m.at % bytes.length);
            else bytes = Buffer.concat([bytes, m.bytes]);
            if (bytes.length === 0) break;
          }
          const code = outcome(() => parseTfjsGraphModel(json, [bytes]));
          seen.set(code, (seen.get(code) ?? 0) + 1);
        }),
        { numRuns: 150 },
      );
      expect(seen.get(ErrorCodes.BYTE_LENGTH)).toBeGreaterThan(0);
    });

    it('model.json text: delete, insert or replace characters', () => {
      const edit = fc.record({ at: fc.nat(text.length - 1), remove: fc.nat(3), insert: fc.string({ maxLength: 3 }) });
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
          let t = text;
          for (const e of edits) t = t.slice(0, e.at) + e.insert + t.slice(e.at + e.remove);
          outcome(() => parseTfjsGraphModel(t, [shard]));
        }),
        { numRuns: 300 },
      );
    });

    it('model.json values: any field replaced by any JSON value, or deleted', () => {
      const paths: (string | number)[][] = [];
      const walk = (v: Json, path: (string | number)[]) => {
        paths.push(path);
        if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...path, Array.isArray(v) ? Number(k) : k]);
      };
      walk(json, []);
      const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-1, 0, 1.5, 2 ** 53, '', 'float16', [], {}, null));
      fc.assert(
        fc.property(fc.nat(paths.length - 1), value, fc.boolean(), (i, v, remove) => {
          const path = paths[i]!;
          const j = structuredClone(json);
          if (path.length === 0) return void outcome(() => parseTfjsGraphModel(v as object, [shard]));
          const parent = path.slice(0, -1).reduce((o: Json, k) => o[k], j);
          const key = path[path.length - 1]!;
          if (remove && Array.isArray(parent)) parent.splice(key as number, 1);
          else if (remove) delete parent[key];
          else parent[key] = v;
          outcome(() => parseTfjsGraphModel(j, [shard]));
        }),
        { numRuns: 400 },
      );
    });
  });
});
