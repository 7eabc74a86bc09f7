/**
 * Hardening, round 2 (shared/docs/bad-inputs.md cases 22, 23 and two codes that were wrong), one
 * crafted input per case and entry point; every case must be refused with its code and a message
 * naming what was expected and what was found, in bounded time:
 *
 *   - deeply nested JSON (~10 KB of brackets) anywhere a header or manifest is parsed;
 *   - files that are not regular files (/dev/zero, named pipes, a socket, a directory) as a
 *     model of every format, a shard, model.json, a labels file;
 *   - a safetensors length prefix that lies (ERR_HEADER_LENGTH with the byte counts, not
 *     "not a model"), while a file that is no model at all keeps ERR_HEADER_FORMAT;
 *   - a TF.js model (graph and layers) or a TFLite model with one odd layer: the error names
 *     that layer, not Conv2d_0.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from 'node:net';
import { ErrorCodes } from '../../src/errors.js';
import { loadModelFile } from '../../src/formats/index.js';
import { loadLabels } from '../../src/formats/labels.js';
import { encodeSafetensors, parseSafetensors, readSafetensorsModel, writeSafetensors } from '../../src/formats/safetensors.js';
import { loadTfjsGraphModel, parseTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { loadTfjsLayersModel, parseTfjsLayersModel } from '../../src/formats/tfjs-layers.js';
import { Flatbuffer, readTfliteModel } from '../../src/formats/tflite.js';
import { load } from '../../src/engine/load.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { randomWeights } from '../../src/model/random.js';
import { frame } from '../fixtures-gen/safetensors.js';
import { kerasMobileNet } from '../fixtures-gen/keras-mobilenet.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import {
  DEEP_ARRAY, DEEP_OBJECT, HAVE_DEV_ZERO, HAVE_MKFIFO, expectRefused, mkfifo, refusal, releaseFifo, unixSocket, withDeep,
} from '../helpers/special-files.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const GRAPH_DIR = 'models/mobilenet_v1_0.25_224';
const TFLITE = 'models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite';
const HAVE_GRAPH = requireShared(`${GRAPH_DIR}/model.json`, `${GRAPH_DIR}/group1-shard1of1.bin`);
const HAVE_TFLITE = requireShared(TFLITE);

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-hardening-'));
const fifos: string[] = [];
afterAll(() => {
  for (const f of fifos) releaseFifo(f);
  rmSync(tmp, { recursive: true, force: true });
});
let count = 0;
const fresh = (name: string) => {
  const d = join(tmp, `${count++}-${name}`);
  mkdirSync(d);
  return d;
};
const fifo = (path: string) => {
  fifos.push(path);
  return mkfifo(path);
};

/** A folder with model.json (text) and its files. */
function saveModel(name: string, json: string, files: Map<string, Uint8Array> | [string, Uint8Array][]): string {
  const d = fresh(name);
  writeFileSync(join(d, 'model.json'), json);
  for (const [f, bytes] of files) writeFileSync(join(d, f), bytes);
  return d;
}

/** Refused by the parser given the JSON text, and by loadModelFile given the folder. */
async function refusedAsTfjs(json: string, shards: [string, Uint8Array][], parse: (json: string, shards: Uint8Array[]) => unknown, code: string, ...patterns: (string | RegExp)[]) {
  await expectRefused(() => parse(json, shards.map(([, b]) => b)), code, ...patterns);
  await expectRefused(loadModelFile(saveModel('tfjs', json, shards)), code, ...patterns);
}

const smallOptions = { depthMultiplier: 0.25, inputSize: 32 };
const smallSafetensors = () => writeSafetensors({ options: smallOptions, weights: randomWeights(buildArchitecture(smallOptions), 3), pixelNormalization: 'unit-signed' });

// ---------------------------------------------------------------------------------------------

describe('22: deeply nested JSON is refused with a code, never a stack overflow', () => {
  const header = (entry: Json, extra: Record<string, unknown> = {}) => ({ ...extra, w: { dtype: 'F32', shape: [1], data_offsets: [0, 4], ...entry } });
  const st = (text: string) => frame(text, new Uint8Array(4));
  const cases: [string, string, string, RegExp][] = [
    ['a tensor shape [[[...]]]', withDeep(header({ shape: '@@DEEP@@' }), DEEP_ARRAY), ErrorCodes.SHAPE, /tensor w: shape \[\[\[\[\[…\]\]\]\]\] has an entry \[\[\[\[\[…\]\]\]\]\] that is not a non-negative integer/],
    ['a tensor shape {"a":{...}}', withDeep(header({ shape: '@@DEEP@@' }), DEEP_OBJECT), ErrorCodes.SHAPE, /tensor w: shape \{"a": \{"a": \{"a": \{"a": \{…\}\}\}\}\} is not a list of at most 8 dimensions/],
    ['a dtype', withDeep(header({ dtype: '@@DEEP@@' }), DEEP_ARRAY), ErrorCodes.HEADER_FORMAT, /tensor w: dtype must be a string, got \[\[\[\[\[…\]\]\]\]\]/],
    ['data_offsets [[[...]]]', withDeep(header({ data_offsets: '@@DEEP@@' }), DEEP_ARRAY), ErrorCodes.OFFSETS, /tensor w: data_offsets \[\[\[\[\[…\]\]\]\]\] is not \[begin, end\]/],
    ['data_offsets [deep, 4]', withDeep(header({ data_offsets: ['@@DEEP@@', 4] }), DEEP_ARRAY), ErrorCodes.OFFSETS, /are not safe non-negative integers/],
    ['a __metadata__ value', withDeep(header({}, { __metadata__: { k: '@@DEEP@@' } }), DEEP_OBJECT), ErrorCodes.HEADER_FORMAT, /__metadata__\.k must be a string, got \{"a": /],
    ['__metadata__ itself', withDeep(header({}, { __metadata__: '@@DEEP@@' }), DEEP_ARRAY), ErrorCodes.HEADER_FORMAT, /__metadata__ must be an object of strings, got \[\[\[/],
    ['a tensor entry', withDeep({ w: '@@DEEP@@' }, DEEP_OBJECT), ErrorCodes.HEADER_FORMAT, /tensor w: dtype must be a string, got undefined/],
    ['the header', DEEP_OBJECT, ErrorCodes.HEADER_FORMAT, /tensor a: dtype must be a string/],
  ];
  for (const [what, text, code, message] of cases) {
    it(`safetensors: ${what} (parser, model bytes, model file)`, async () => {
      expect(text.length).toBeGreaterThan(10_000);
      const bytes = st(text);
      await expectRefused(() => parseSafetensors(bytes), code, message);
      await expectRefused(() => readSafetensorsModel(bytes), code, message);
      await expectRefused(loadModelFile(bytes), code, message);
      const path = join(fresh('st'), 'deep.safetensors');
      writeFileSync(path, bytes);
      await expectRefused(loadModelFile(path), code, message, 'deep.safetensors');
    });
  }

  it('safetensors: the header one deep array (the parser; loadModelFile sees no safetensors: no `{` at byte 8)', async () => {
    const bytes = st(DEEP_ARRAY);
    await expectRefused(() => parseSafetensors(bytes), ErrorCodes.HEADER_FORMAT, /header must start with "\{", starts with "\[\[\[/);
    await expectRefused(loadModelFile(bytes), ErrorCodes.HEADER_FORMAT, /not a safetensors, TFLite or TF\.js model \(starts with/);
  });

  describe.skipIf(!HAVE_GRAPH)('TF.js graph model.json', () => {
    let json: Json;
    let shard: Uint8Array;
    beforeAll(() => {
      json = JSON.parse(readFileSync(sharedPath(`${GRAPH_DIR}/model.json`), 'utf8'));
      shard = new Uint8Array(readFileSync(sharedPath(`${GRAPH_DIR}/group1-shard1of1.bin`)));
    });
    const graphCases: [string, (j: Json) => void, string, string, RegExp][] = [
      ['a weight\'s shape', (j) => (j.weightsManifest[0].weights[5].shape = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.SHAPE, /tensor module\/MobilenetV1\/Conv2d_0\/weights: shape \[\[\[\[\[…\]\]\]\]\] has an entry/],
      ['weightsManifest [[[...]]]', (j) => (j.weightsManifest = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.MANIFEST, /weightsManifest\[0\]: expected \{paths: \[\.\.\.\], weights: \[\.\.\.\]\}/],
      ['weightsManifest {"a":...}', (j) => (j.weightsManifest = '@@DEEP@@'), DEEP_OBJECT, ErrorCodes.MANIFEST, /weightsManifest: expected a non-empty list of \{paths, weights\} groups/],
      ['a group\'s paths', (j) => (j.weightsManifest[0].paths = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.MANIFEST, /weightsManifest\[0\]\.paths: \[\[\[\[\[…\]\]\]\]\] is not a relative shard file name/],
      ['modelTopology {"a":...}', (j) => (j.modelTopology = '@@DEEP@@'), DEEP_OBJECT, ErrorCodes.MANIFEST, /modelTopology\.node: expected a non-empty list of graph nodes/],
      ['modelTopology.node [[[...]]]', (j) => (j.modelTopology.node = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.MANIFEST, /modelTopology\.node\[0\]: expected \{name, op, input\?, attr\?\}/],
      ['a node\'s attr', (j) => (j.modelTopology.node.find((n: Json) => n.op === 'DepthwiseConv2dNative').attr.strides = '@@DEEP@@'), DEEP_OBJECT, ErrorCodes.MANIFEST, /attr strides is not a list/],
    ];
    for (const [what, edit, deep, code, message] of graphCases) {
      it(`${what} (parser, loadTfjsGraphModel, loadModelFile)`, async () => {
        const j = structuredClone(json);
        edit(j);
        const text = withDeep(j, deep);
        await expectRefused(() => parseTfjsGraphModel(text, [shard]), code, message);
        const dir = saveModel('graph', text, [['group1-shard1of1.bin', shard]]);
        await expectRefused(loadTfjsGraphModel(dir), code, message);
        await expectRefused(loadModelFile(dir), code, message);
        await expectRefused(loadModelFile(join(dir, 'model.json')), code, message);
      });
    }
    it('model.json that is one deep array (parser, loadModelFile)', async () => {
      await expectRefused(() => parseTfjsGraphModel(DEEP_ARRAY, [shard]), ErrorCodes.HEADER_FORMAT, /model\.json: expected a JSON object, got an array/);
      await expectRefused(loadModelFile(saveModel('graph', DEEP_ARRAY, [])), ErrorCodes.HEADER_FORMAT, /expected a JSON object, got an array/);
    });
  });

  describe('TF.js layers model.json', () => {
    const fixture = kerasMobileNet({ alpha: 0.25, size: 32, classes: 4, seed: 8 });
    const shards = [...fixture.shards] as [string, Uint8Array][];
    const layersOf = (j: Json) => j.modelTopology.model_config.config.layers as Json[];
    const layerCases: [string, (j: Json) => void, string, string, RegExp][] = [
      ['the layers list', (j) => (j.modelTopology.model_config.config.layers = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.MANIFEST, /modelTopology layer 0: expected \{class_name, config\}/],
      ['model_config', (j) => (j.modelTopology.model_config = '@@DEEP@@'), DEEP_OBJECT, ErrorCodes.MANIFEST, /model class undefined, expected Model, Functional or Sequential/],
      ['a layer\'s config', (j) => (layersOf(j)[5].config = '@@DEEP@@'), DEEP_OBJECT, ErrorCodes.MANIFEST, /layer conv_dw_1 \(DepthwiseConv2D\) kernel_size is undefined, expected an integer or a pair/],
      ['a kernel_size', (j) => (layersOf(j)[5].config.kernel_size = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.MANIFEST, /kernel_size is \[\[\[\[\[…\]\]\]\]\], expected an integer or a pair of integers/],
      ['inbound_nodes', (j) => (layersOf(j)[5].inbound_nodes = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.MANIFEST, /layer conv_dw_1 reads \[\[\[\[\[…\]\]\]\]\], expected conv1_relu: the model is not a chain/],
      ['a weight\'s shape', (j) => (j.weightsManifest[0].weights[0].shape = '@@DEEP@@'), DEEP_ARRAY, ErrorCodes.SHAPE, /tensor conv1\/kernel: shape \[\[\[\[\[…\]\]\]\]\] has an entry/],
      ['modelTopology', (j) => (j.modelTopology = '@@DEEP@@'), DEEP_OBJECT, ErrorCodes.MANIFEST, /model class undefined/],
    ];
    for (const [what, edit, deep, code, message] of layerCases) {
      it(`${what} (parser, loadTfjsLayersModel, loadModelFile)`, async () => {
        const j = structuredClone(fixture.modelJson) as Json;
        edit(j);
        const text = withDeep(j, deep);
        await expectRefused(() => parseTfjsLayersModel(text, shards.map(([, b]) => b)), code, message);
        const dir = saveModel('layers', text, shards);
        await expectRefused(loadTfjsLayersModel(dir), code, message);
        await expectRefused(loadModelFile(dir), code, message);
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_DEV_ZERO || !HAVE_MKFIFO)('23: files that are not regular files are refused (ERR_IO), never read for ever or waited on', () => {
  const NOT_REGULAR = /not a regular file \(a device, pipe or socket\)/;
  const DIRECTORY = /not a regular file \(a directory\)/;
  let socket: Server;
  let socketPath: string;
  beforeAll(async () => {
    socketPath = join(fresh('sock'), 'model.safetensors');
    socket = await unixSocket(socketPath);
  });
  afterAll(() => new Promise<void>((resolve) => socket.close(() => resolve())));

  it('a model path: /dev/zero, a FIFO named .tflite, .safetensors or model.json, a socket, by path and by file: URL', async () => {
    const d = fresh('fifo-models');
    const paths = ['/dev/zero', fifo(join(d, 'model.tflite')), fifo(join(d, 'model.safetensors')), fifo(join(d, 'model.json')), socketPath];
    for (const p of paths) {
      const release = () => releaseFifo(p);
      const e = await refusal(loadModelFile(p), release);
      expect(e.code, e.message).toBe(ErrorCodes.IO);
      expect(e.message).toContain(p);
      expect(e.message).toMatch(NOT_REGULAR);
      await expectRefused(loadModelFile(pathToFileURL(p)), ErrorCodes.IO, NOT_REGULAR);
    }
  });

  it('a directory whose model.json is a FIFO, or a directory (loadModelFile, loadTfjsGraphModel, loadTfjsLayersModel)', async () => {
    const a = fresh('json-fifo');
    fifo(join(a, 'model.json'));
    const b = fresh('json-dir');
    mkdirSync(join(b, 'model.json'));
    for (const f of [loadModelFile, loadTfjsGraphModel, loadTfjsLayersModel]) {
      await expectRefused(f(a), ErrorCodes.IO, join(a, 'model.json'), NOT_REGULAR);
      await expectRefused(f(b), ErrorCodes.IO, join(b, 'model.json'), DIRECTORY);
    }
  });

  it('a TF.js layers model whose shard is a FIFO, /dev/zero through a symlink, or a directory', async () => {
    const fixture = kerasMobileNet({ alpha: 0.25, size: 32, classes: 4, seed: 1 });
    const json = JSON.stringify(fixture.modelJson);
    const shard = 'group1-shard1of1.bin';
    const make = (kind: string, place: (path: string) => void) => {
      const d = saveModel(kind, json, []);
      place(join(d, shard));
      return d;
    };
    const dirs: [string, RegExp][] = [
      [make('shard-fifo', (p) => fifo(p)), NOT_REGULAR],
      [make('shard-fifo-link', (p) => symlinkSync(fifo(`${p}.fifo`), p)), NOT_REGULAR],
      [make('shard-zero', (p) => symlinkSync('/dev/zero', p)), NOT_REGULAR],
      [make('shard-dir', (p) => mkdirSync(p)), DIRECTORY],
    ];
    for (const [d, message] of dirs) {
      await expectRefused(loadModelFile(d), ErrorCodes.IO, shard, message);
      await expectRefused(loadTfjsLayersModel(join(d, 'model.json')), ErrorCodes.IO, shard, message);
    }
  });

  it.skipIf(!HAVE_GRAPH)('a TF.js graph model whose shard is /dev/zero or a FIFO through a symlink', async () => {
    const json = readFileSync(sharedPath(`${GRAPH_DIR}/model.json`), 'utf8');
    for (const target of ['/dev/zero', 'fifo']) {
      const d = saveModel('graph-shard', json, []);
      symlinkSync(target === 'fifo' ? fifo(join(d, 'shard.fifo')) : target, join(d, 'group1-shard1of1.bin'));
      await expectRefused(loadTfjsGraphModel(d), ErrorCodes.IO, 'group1-shard1of1.bin', NOT_REGULAR);
      await expectRefused(loadModelFile(d), ErrorCodes.IO, 'group1-shard1of1.bin', NOT_REGULAR);
    }
  });

  it('a labels file: /dev/zero, a FIFO, a socket, a directory (loadLabels, and load() with labels)', async () => {
    const d = fresh('labels');
    const f = fifo(join(d, 'labels.txt'));
    for (const [p, message] of [['/dev/zero', NOT_REGULAR], [f, NOT_REGULAR], [socketPath, NOT_REGULAR], [d, DIRECTORY]] as const) {
      await expectRefused(loadLabels(p), ErrorCodes.IO, p, message);
    }
    const model = join(fresh('model'), 'small.safetensors');
    writeFileSync(model, smallSafetensors());
    await expectRefused(load(model, { labels: f, backend: 'reference' }), ErrorCodes.IO, f, NOT_REGULAR);
  });

  it('load(): the model as /dev/zero or a FIFO', async () => {
    const f = fifo(join(fresh('load'), 'model.tflite'));
    await expectRefused(load('/dev/zero', { backend: 'reference' }), ErrorCodes.IO, NOT_REGULAR);
    await expectRefused(load(f, { backend: 'reference' }), ErrorCodes.IO, NOT_REGULAR);
  });
});

// ---------------------------------------------------------------------------------------------

describe('wrong codes: the sniffer lets a lying safetensors length be reported as one', () => {
  /** 8 bytes of length, then `{` and some header text: what a safetensors file starts with. */
  const lying = (declared: number, body = '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}') => frame(body, new Uint8Array(4), declared);

  it('a 2 GB header length: ERR_HEADER_LENGTH, declared length against the file size (bytes, path, readSafetensorsModel)', async () => {
    const bytes = lying(2 ** 31);
    const message = new RegExp(`header length 2147483648 is above the 100000000-byte cap \\(the file has ${bytes.length - 8} bytes after the length\\)`);
    await expectRefused(loadModelFile(bytes), ErrorCodes.HEADER_LENGTH, message);
    await expectRefused(() => readSafetensorsModel(bytes), ErrorCodes.HEADER_LENGTH, message);
    const path = join(fresh('lying'), 'big-header.bin');
    writeFileSync(path, bytes);
    await expectRefused(loadModelFile(path), ErrorCodes.HEADER_LENGTH, message, 'big-header.bin');
    await expectRefused(loadModelFile(lying(2 ** 55)), ErrorCodes.HEADER_LENGTH, /header length 36028797018963968 is above the 100000000-byte cap/);
  });

  it('a length within the cap but beyond the file (a truncated file): ERR_HEADER_LENGTH with both counts', async () => {
    const bytes = lying(5000);
    await expectRefused(loadModelFile(bytes), ErrorCodes.HEADER_LENGTH, `header needs 5000 bytes after the length, the file has ${bytes.length - 8}`);
    const real = smallSafetensors();
    await expectRefused(loadModelFile(real.subarray(0, 100)), ErrorCodes.HEADER_LENGTH, /header needs \d+ bytes after the length, the file has 92/);
  });

  it('a file that is none of the formats keeps ERR_HEADER_FORMAT, with what it starts with', async () => {
    const none: [string, Uint8Array][] = [
      ['PNG', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d])],
      ['zip', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0x08, 0])],
      ['text', new TextEncoder().encode('hello, this is not a model at all')],
      ['`{` at byte 8 after a length of 2^56 or more', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 0x7b, 0x7d])],
      ['zeros', new Uint8Array(64)],
    ];
    for (const [what, bytes] of none) {
      const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      const e = await expectRefused(loadModelFile(bytes), ErrorCodes.HEADER_FORMAT, `not a safetensors, TFLite or TF.js model (starts with ${head})`);
      expect(e.message, what).toMatch(/^model bytes: /);
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** A single-shard manifest with tensors dropped or reshaped (bytes zero-filled or cut to fit), the shard rebuilt. */
function rebuild(json: Json, shard: Uint8Array, edit: { drop?: (name: string) => boolean; reshape?: Record<string, number[]> }): [Json, Uint8Array] {
  const j = structuredClone(json);
  const parts: Uint8Array[] = [];
  let offset = 0;
  const kept: Json[] = [];
  for (const w of j.weightsManifest[0].weights) {
    const size = w.shape.reduce((a: number, b: number) => a * b, 1) * 4;
    const bytes = shard.subarray(offset, offset + size);
    offset += size;
    if (edit.drop?.(w.name)) continue;
    const shape = edit.reshape?.[w.name];
    if (shape) {
      const out = new Uint8Array(shape.reduce((a, b) => a * b, 1) * 4);
      out.set(bytes.subarray(0, out.length));
      parts.push(out);
      w.shape = shape;
    } else {
      parts.push(bytes);
    }
    kept.push(w);
  }
  j.weightsManifest[0].weights = kept;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return [j, out];
}

describe('wrong codes: one odd layer is named, not Conv2d_0', () => {
  describe.skipIf(!HAVE_GRAPH)('TF.js graph model (mobilenet_v1_0.25_224)', () => {
    const P = 'module_apply_default/MobilenetV1/MobilenetV1/';
    let json: Json;
    let shard: Uint8Array;
    beforeAll(() => {
      json = JSON.parse(readFileSync(sharedPath(`${GRAPH_DIR}/model.json`), 'utf8'));
      shard = new Uint8Array(readFileSync(sharedPath(`${GRAPH_DIR}/group1-shard1of1.bin`)));
    });
    const refused = async (j: Json, s: Uint8Array, code: string, ...patterns: (string | RegExp)[]) => {
      const e = await refusal(() => parseTfjsGraphModel(j, [s]));
      expect(e.code, e.message).toBe(code);
      for (const p of patterns) expect(e.message).toMatch(p);
      expect(e.message).not.toMatch(/Conv2d_0\b/);
      await expectRefused(loadTfjsGraphModel(saveModel('odd-graph', JSON.stringify(j), [['group1-shard1of1.bin', s]])), code, ...patterns);
    };

    it('the last pointwise kernel (the one alpha used to come from) with the wrong width', async () => {
      const [j, s] = rebuild(json, shard, { reshape: { 'module/MobilenetV1/Conv2d_13_pointwise/weights': [1, 1, 256, 128] } });
      await refused(j, s, ErrorCodes.WEIGHT_SHAPE, 'MobilenetV1/Conv2d_13_pointwise/weights: expected [1,1,256,256], got [1,1,256,128]');
    });

    it('Conv2d_7\'s kernels the wrong shape (pointwise width, depthwise window)', async () => {
      const [a, sa] = rebuild(json, shard, { reshape: { 'module/MobilenetV1/Conv2d_7_pointwise/weights': [1, 1, 128, 64] } });
      await refused(a, sa, ErrorCodes.WEIGHT_SHAPE, 'MobilenetV1/Conv2d_7_pointwise/weights: expected [1,1,128,128], got [1,1,128,64]');
      const [b, sb] = rebuild(json, shard, { reshape: { 'module/MobilenetV1/Conv2d_7_depthwise/depthwise_weights': [5, 5, 128, 1] } });
      await refused(b, sb, ErrorCodes.WEIGHT_SHAPE, 'MobilenetV1/Conv2d_7_depthwise/depthwise_weights: expected [3,3,128,1], got [5,5,128,1]');
    });

    it('Conv2d_7_depthwise with stride 2 where the table has 1', async () => {
      const j = structuredClone(json);
      j.modelTopology.node.find((n: Json) => n.name === `${P}Conv2d_7_depthwise/depthwise`).attr.strides.list.i = ['1', '2', '2', '1'];
      await refused(j, shard, ErrorCodes.MANIFEST, `${P}Conv2d_7_depthwise/depthwise is a depthwise convolution with stride 2; Conv2d_7_depthwise is a depthwise convolution with stride 1`);
    });

    it('Conv2d_7_depthwise missing: the pointwise after it is named, in the table\'s place of the depthwise', async () => {
      const gone = (name: string) => name.includes('Conv2d_7_depthwise');
      const [j, s] = rebuild(json, shard, { drop: gone });
      j.modelTopology.node = j.modelTopology.node.filter((n: Json) => !gone(n.name));
      j.modelTopology.node.find((n: Json) => n.name === `${P}Conv2d_7_pointwise/Relu6`).input[0] = `${P}Conv2d_6_pointwise/Relu6`;
      await refused(j, s, ErrorCodes.MANIFEST, /found conv\+relu6 x26, mean, conv, squeeze/,
        `${P}Conv2d_7_pointwise/Relu6 is a full convolution where the table has Conv2d_7_depthwise, a depthwise one`);
    });

    it('a full convolution in the place of Conv2d_13_depthwise (the count right): named, no crash', async () => {
      const j = structuredClone(json);
      const dw = j.modelTopology.node.find((n: Json) => n.name === `${P}Conv2d_13_depthwise/depthwise`);
      dw.op = 'Conv2D';
      await refused(j, shard, ErrorCodes.MANIFEST, `${P}Conv2d_13_depthwise/depthwise is a full convolution where the table has Conv2d_13_depthwise, a depthwise one`);
    });
  });

  describe('TF.js layers model (Keras fixture, alpha 0.25 @ 64)', () => {
    const fixture = kerasMobileNet({ alpha: 0.25, size: 64, classes: 5, seed: 6 });
    const shard = fixture.shards.get('group1-shard1of1.bin')!;
    const layersOf = (j: Json) => j.modelTopology.model_config.config.layers as Json[];
    const refused = async (j: Json, s: Uint8Array, code: string, ...patterns: (string | RegExp)[]) => {
      const e = await refusal(() => parseTfjsLayersModel(j, [s]));
      expect(e.code, e.message).toBe(code);
      for (const p of patterns) expect(e.message).toMatch(p);
      expect(e.message).not.toMatch(/Conv2d_0\b|\bconv1\b/);
      await expectRefused(loadModelFile(saveModel('odd-layers', JSON.stringify(j), [['group1-shard1of1.bin', s]])), code, ...patterns);
    };

    it('conv_pw_13\'s kernel (the one alpha used to come from) with the wrong width', async () => {
      const [j, s] = rebuild(fixture.modelJson, shard, { reshape: { 'conv_pw_13/kernel': [1, 1, 256, 128] } });
      await refused(j, s, ErrorCodes.WEIGHT_SHAPE, 'MobilenetV1/Conv2d_13_pointwise/weights: expected [1,1,256,256], got [1,1,256,128] (Keras layer conv_pw_13)');
    });

    it('conv_pw_7\'s kernel with the wrong width; conv_dw_7 with a 5x5 window', async () => {
      const [j, s] = rebuild(fixture.modelJson, shard, { reshape: { 'conv_pw_7/kernel': [1, 1, 128, 64] } });
      await refused(j, s, ErrorCodes.WEIGHT_SHAPE, 'MobilenetV1/Conv2d_7_pointwise/weights: expected [1,1,128,128], got [1,1,128,64] (Keras layer conv_pw_7)');
      const k = structuredClone(fixture.modelJson) as Json;
      layersOf(k).find((l) => l.name === 'conv_dw_7').config.kernel_size = [5, 5];
      await refused(k, shard, ErrorCodes.MANIFEST, 'layer conv_dw_7 is a 5x5 depthwise convolution with stride 1; Conv2d_7_depthwise is depthwise 3x3 with stride 1');
    });

    it('conv_dw_7 with stride 2 where the table has 1', async () => {
      const j = structuredClone(fixture.modelJson) as Json;
      layersOf(j).find((l) => l.name === 'conv_dw_7').config.strides = [2, 2];
      await refused(j, shard, ErrorCodes.MANIFEST, 'layer conv_dw_7 is a 3x3 depthwise convolution with stride 2; Conv2d_7_depthwise is depthwise 3x3 with stride 1');
    });

    it('conv_dw_7 missing (with its BatchNormalization and ReLU): conv_pw_7 is named in its place', async () => {
      const gone = (name: string) => /^conv_dw_7(_bn|_relu)?(\/|$)/.test(name);
      const [j, s] = rebuild(fixture.modelJson, shard, { drop: gone });
      const layers = layersOf(j).filter((l) => !gone(l.name));
      layers.find((l) => l.name === 'conv_pw_7').inbound_nodes = [[['conv_pw_6_relu', 0, 0, {}]]];
      j.modelTopology.model_config.config.layers = layers;
      await refused(j, s, ErrorCodes.MANIFEST, /found 26 convolutions, a GlobalAveragePooling2D and a classifier; expected 27/,
        'layer conv_pw_7 is a full convolution where the table has Conv2d_7_depthwise, a depthwise one');
    });
  });

  it('safetensors without our metadata (options derived from the shapes): Conv2d_13_pointwise too narrow', async () => {
    const weights = randomWeights(buildArchitecture({ depthMultiplier: 0.25, inputSize: 32 }), 4);
    weights.set('MobilenetV1/Conv2d_13_pointwise/weights', { shape: [1, 1, 256, 128], data: new Float32Array(256 * 128) });
    const bytes = encodeSafetensors(weights);
    const e = await expectRefused(() => readSafetensorsModel(bytes), ErrorCodes.WEIGHT_SHAPE, 'MobilenetV1/Conv2d_13_pointwise/weights: expected [1,1,256,256], got [1,1,256,128]');
    expect(e.message).not.toMatch(/Conv2d_[0-9]_|Conv2d_1[0-2]_/);
    await expectRefused(loadModelFile(bytes), ErrorCodes.WEIGHT_SHAPE, 'MobilenetV1/Conv2d_13_pointwise/weights');
  });

  describe.skipIf(!HAVE_TFLITE)('TFLite (mobilenet_v1_0.25_128_quant)', () => {
    it('the depthwise operator of Conv2d_7 with stride 2 where the table has 1', async () => {
      const bytes = new Uint8Array(readFileSync(sharedPath(TFLITE)));
      const sg = new Flatbuffer(bytes, 'tflite').root('Model').tables(2, 'subgraphs')[0]!;
      const op = sg.tables(3, 'operators')[13]!; // Conv2d_0, then dw/pw pairs: 13 is Conv2d_7_depthwise
      const options = op.table(4, 'builtin_options')!;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const id of [1, 2]) view.setInt32(options.field(id, 4, 'stride')!, 2, true);
      const e = await refusal(() => readTfliteModel(bytes));
      expect(e.code).toBe(ErrorCodes.TFLITE);
      expect(e.message).toBe('tflite: operator 13 is a depthwise convolution with stride 2; Conv2d_7_depthwise is depthwise with stride 1');
      await expectRefused(loadModelFile(bytes), ErrorCodes.TFLITE, 'Conv2d_7_depthwise is depthwise with stride 1');
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('shard reads are bounded as a whole, not per listed path', () => {
  const manifest = (paths: string[]) => JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths, weights: [] }] });

  it('one 60 KB file listed 1000 times is read once, not 1000 times (ERR_BYTE_LENGTH at the second)', async () => {
    const d = saveModel('repeat', manifest(Array(1000).fill('big.bin')), [['big.bin', new Uint8Array(60 * 1024)]]);
    await expectRefused(loadModelFile(d), ErrorCodes.BYTE_LENGTH, /big\.bin: 61440 bytes, above the 4096-byte cap/);
  });

  it('more than 1024 shard files: ERR_MANIFEST before anything is read', async () => {
    const d = saveModel('many', manifest(Array.from({ length: 2000 }, (_, i) => `s${i}.bin`)), []);
    await expectRefused(loadModelFile(d), ErrorCodes.MANIFEST, 'weightsManifest: lists 2000 shard files, more than the 1024 read');
  });
});
