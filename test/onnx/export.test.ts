/**
 * The ONNX exporter: `mobilenet export --onnx FILE` writes the very bytes of the bundle's
 * model.onnx for the same flags; the file is opset 13, encoded by protobufjs against ONNX's
 * schema (decode and re-encode give the same bytes), holds the folded weights bit for bit
 * (transposed to OIHW), no BatchNormalization, the layer table's pads; only the requested end
 * points are outputs; a non-square input and unsqueezed logits run in onnxruntime as the
 * reference path computes them. Refusals: bad flags, an existing file without --force.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import { parseSafetensors, readTensorData } from '../../src/formats/safetensors.js';
import { createBundle, createOnnxModel, goldenInput, writeBundle } from '../../src/golden/bundle.js';
import { convLayers } from '../../src/model/architecture.js';
import { ONNX_IR_VERSION, ONNX_OPSET, mobilenetToOnnxModel, onnxFilter } from '../../src/onnx/export.js';
import { decodeModel, encodeModel } from '../../src/onnx/schema.js';
import { errorOf, runOnnx } from '../golden/engines.js';
import { cli } from '../golden/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-onnx-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/* eslint-disable @typescript-eslint/no-explicit-any */
type Model = any;

const FLAGS = ['--alpha', '0.25', '--resolution', '160x224', '--seed', '4', '--batch', '2'];

describe('mobilenet export --onnx', () => {
  it('writes the bytes of the bundle\'s model.onnx for the same flags; refuses to overwrite without --force', async () => {
    const bundle = join(tmp, 'bundle');
    const g = await cli('golden', ...FLAGS, '--onnx', '--out', bundle);
    expect(g.stderr).toBe('');
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(/ files with verify_golden\.py and model\.onnx, \d+ bytes\n$/);
    const file = join(tmp, 'model.onnx');
    const e = await cli('export', '--onnx', file, ...FLAGS);
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/^.*model\.onnx: ONNX opset 13, alpha 0\.25, 160x224, flavour tf, batch 2, seed 4, \d+ bytes\n$/);
    expect(readFileSync(file).equals(readFileSync(join(bundle, 'model.onnx')))).toBe(true);

    const again = await cli('export', '--onnx', file, ...FLAGS);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^mobilenet: ERR_IO: .*model\.onnx exists; pass --force to overwrite it\n$/);
    expect((await cli('export', '--onnx', file, ...FLAGS, '--force')).code).toBe(0);
    // The API gives the same bytes again: deterministic.
    const bytes = await createOnnxModel({ alpha: 0.25, resolution: [160, 224], seed: 4, flavour: 'tf', batch: 2, endpoints: 'all' }, 'test');
    expect(Buffer.from(bytes).equals(readFileSync(file))).toBe(false); // another producer_version ...
    const decodedA = decodeModel(bytes) as Model;
    const decodedB = decodeModel(readFileSync(file)) as Model;
    expect(decodedA.producer_version).toBe('test');
    expect({ ...decodedA, producer_version: '' }).toEqual({ ...decodedB, producer_version: '' }); // ... and nothing else differs
  });

  it('refuses bad configuration flags with ERR_OPTION and writes nothing', async () => {
    const file = join(tmp, 'never.onnx');
    for (const args of [['--output-stride', '4'], ['--flavour', 'torch', '--explicit-padding'], ['--endpoints', 'Conv2d_99'], ['--alpha', '0'], ['--resolution', '96', '--output-stride', '8']]) {
      const r = await cli('export', '--onnx', file, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^mobilenet: ERR_OPTION: /);
    }
    expect(existsSync(file)).toBe(false);
  });
});

describe('the exported file', () => {
  it('is opset 13, protobufjs-encoded against ONNX\'s schema, folded weights bit for bit, the layer table\'s pads', async () => {
    const dir = join(tmp, 'structure');
    await writeBundle(dir, await createBundle({ alpha: 0.5, resolution: 128, seed: 2, flavour: 'tf', batch: 1, endpoints: 'all', onnx: true }, 'test'));
    const bytes = readFileSync(join(dir, 'model.onnx'));
    const m = decodeModel(bytes) as Model;
    // Decoding and encoding again with the same schema gives the same bytes.
    expect(Buffer.from(encodeModel(m)).equals(bytes)).toBe(true);
    expect(m.ir_version).toBe(ONNX_IR_VERSION);
    expect(m.opset_import).toEqual([{ domain: '', version: ONNX_OPSET }]);
    expect(ONNX_OPSET).toBeGreaterThanOrEqual(13);
    expect(m.producer_name).toBe('mobilenet-wasm');
    const meta = Object.fromEntries(m.metadata_props.map((p: { key: string; value: string }) => [p.key, p.value]));
    expect(meta['mobilenet-golden.batch_norm']).toBe('folded');
    expect(JSON.parse(meta['mobilenet-golden.config'])).toMatchObject({ alpha: 0.5, resolution: [128, 128], seed: 2, output_stride: null });

    const ops = new Set(m.graph.node.map((n: { op_type: string }) => n.op_type));
    expect([...ops].sort()).toEqual(['AveragePool', 'Clip', 'Conv', 'Softmax', 'Squeeze', 'Transpose']);

    // Initializers: the folded tensors of the bundle, transposed to OIHW, the same float32 bits.
    const model = await createModel({ depthMultiplier: 0.5, inputSize: 128, backend: 'reference', seed: 2 });
    const folded = parseSafetensors(readFileSync(join(dir, 'folded.safetensors')));
    const init = new Map(m.graph.initializer.map((t: { name: string }) => [t.name, t]));
    for (const layer of convLayers(model.architecture)) {
      const wName = `${layer.scope}/${layer.kind === 'depthwise' ? 'depthwise_weights' : 'weights'}`;
      const tf = readTensorData(folded, folded.entries.get(wName)!)!;
      const expected = onnxFilter(layer, tf);
      const t = init.get(`${wName}_OIHW`) as Model;
      expect(t.dims, layer.name).toEqual(expected.dims);
      expect(Buffer.from(t.raw_data).equals(Buffer.from(expected.data.buffer))).toBe(true);
      const b = init.get(`${layer.scope}/biases`) as Model;
      expect(Buffer.from(b.raw_data).equals(Buffer.from(readTensorData(folded, folded.entries.get(`${layer.scope}/biases`)!)!.buffer))).toBe(true);
      const conv = m.graph.node.find((n: { name: string }) => n.name === `${layer.name}/Conv`);
      const p = layer.padding;
      expect(conv.attribute.find((a: { name: string }) => a.name === 'pads').ints, layer.name).toEqual([p.top, p.left, p.bottom, p.right]);
    }
    model.dispose();
  });

  it('exposes only the requested end points, in network order, whatever order they were asked in', async () => {
    const config = { alpha: 0.25, resolution: 96, seed: 1, flavour: 'tf', batch: 1, endpoints: ['Predictions', 'Conv2d_3_depthwise', 'AvgPool_1a'], onnx: true } as const;
    const dir = join(tmp, 'subset');
    await writeBundle(dir, await createBundle(config, 'test'));
    const m = decodeModel(readFileSync(join(dir, 'model.onnx'))) as Model;
    expect(m.graph.output.map((o: { name: string }) => o.name)).toEqual(['Conv2d_3_depthwise', 'AvgPool_1a', 'Predictions']);
    const x = goldenInput(1, 1, 96, 96);
    const out = await runOnnx('ort-node', readFileSync(join(dir, 'model.onnx')), x.data, x.shape);
    expect([...out.keys()]).toEqual(['Conv2d_3_depthwise', 'AvgPool_1a', 'Predictions']);
    expect(out.get('AvgPool_1a')!.dims).toEqual([1, 1, 1, 256]);
    expect((await cli('verify', dir, '--outputs', dir)).code).toBe(0);
  });

  it('the exporter API on other layer tables: unsqueezed 2x2 logits with output stride 16, ReLU, dilations', async () => {
    for (const options of [
      { depthMultiplier: 0.25, inputSize: 160, outputStride: 16 as const, spatialSqueeze: false },
      { flavour: 'torch' as const, depthMultiplier: 0.25, inputSize: [225, 230] as [number, number], outputStride: 8 as const, globalPool: true },
    ]) {
      const model = await createModel({ ...options, backend: 'reference', seed: 5 });
      const arch = model.architecture;
      const bytes = mobilenetToOnnxModel(arch, model.folded, { batch: 1, producerVersion: 'test' });
      const [h, w] = arch.inputShape;
      const x = goldenInput(5, 1, h, w);
      const ours = model.run(x, { outputs: [...arch.endpoints] });
      const theirs = await runOnnx('ort-node', bytes, x.data, x.shape);
      for (const e of arch.endpoints) {
        expect(theirs.get(e)!.dims, e).toEqual(ours[e]!.shape);
        expect(errorOf(theirs.get(e)!.data, ours[e]!.data).rel, e).toBeLessThan(1e-5);
      }
      if (options.spatialSqueeze === false) expect(theirs.get('Logits')!.dims).toEqual([1, 2, 2, 1001]);
      model.dispose();
    }
  });

  it('refuses an end point the layer table does not have', async () => {
    const model = await createModel({ depthMultiplier: 0.25, inputSize: 64, backend: 'reference', seed: 1 });
    expect(() => mobilenetToOnnxModel(model.architecture, model.folded, { batch: 1, producerVersion: 'x', outputs: ['Conv2d_42'] })).toThrow(/ERR_OPTION|outputs/);
    model.dispose();
  });

  it('a bundle without --onnx has verify_golden.py and no model.onnx', async () => {
    const dir = join(tmp, 'plain');
    await writeBundle(dir, await createBundle({ alpha: 0.25, resolution: 32, seed: 1, flavour: 'tf', batch: 1, endpoints: ['Conv2d_0'] }, 'test'));
    expect(existsSync(join(dir, 'model.onnx'))).toBe(false);
    expect(existsSync(join(dir, 'verify_golden.py'))).toBe(true);
  });
});
