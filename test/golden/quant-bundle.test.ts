/**
 * Golden bundles for quantized engines (format version 3, src/golden/quant.ts): the integer
 * reference path on the three shared uint8 TFLite MobileNets, checked exactly.
 *
 * The witness is TFLite's interpreter (@tensorflow/tfjs-tflite's build, test/quant/helpers) with
 * XNNPACK kept off (weights fed as inputs: builtin kernels): its end points equal the bundle's on
 * every entry, so `verify` passes them; one entry moved by one level fails, naming the end point
 * and the count. Our WebAssembly integer engine (`load(file, { dequantize: false })`) passes too.
 * Skipped (with the reason) without the shared data or the interpreter package; a failure under CI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { load } from '../../src/engine/load.js';
import { createBundle, writeBundle } from '../../src/golden/bundle.js';
import { encodeNpy } from '../../src/golden/npy.js';
import {
  compareWithQuantBundle, createQuantBundle, encodeIntNpy, formatQuantReport, loadQuantOtherOutputs, quantGoldenInput, readQuantBundle,
  type QuantGoldenBundle, type QuantVerifyReport,
} from '../../src/golden/quant.js';
import { readTfliteQuantized } from '../../src/quant/index.js';
import type { IntDType } from '../../src/quant/model.js';
import { MobilenetError } from '../../src/errors.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { makeInt8MobileNet } from '../quant/helpers/int8-mobilenet.js';
import { interpreterDir, loadInterpreter, withOutput, withoutDelegate } from '../quant/helpers/tflite-interpreter.js';
import { PYTHON_SKIP_REASON, RUN_PYTHON, cli, python, runPythonScript } from './helpers.js';

const MODELS = ['0.25_128', '0.5_160', '0.75_192'] as const;
const PHOTOS = ['chelsea.png', 'rocket.jpg'];
const modelPath = (m: string) => `models/mobilenet_v1_${m}_quant/mobilenet_v1_${m}_quant.tflite`;
const HAVE = requireShared(...MODELS.map(modelPath), ...PHOTOS.map((p) => `images/${p}`));
const read = (rel: string) => new Uint8Array(readFileSync(sharedPath(rel)));
const HAVE_INTERPRETER = interpreterDir() !== null;
if (!HAVE_INTERPRETER) {
  const reason = '@tensorflow/tfjs-tflite is not installed: the interpreter witness of the quantized golden bundles cannot run';
  if (process.env.CI) throw new Error(`${reason} (CI is set: this is a failure, not a skip)`);
  console.warn(`SKIPPED: ${reason}`);
}

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-golden-quant-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let count = 0;
const path = (name: string) => join(tmp, `${count++}-${name}`);

function writeIntNpyFolder(dir: string, tensors: ReadonlyMap<string, { shape: number[]; dtype: IntDType; data: Uint8Array | Int8Array }>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, t] of tensors) writeFileSync(join(dir, `${name}.npy`), encodeIntNpy(t.shape, t.dtype, t.data));
  return dir;
}

async function verify(bundle: QuantGoldenBundle, other: string) {
  return compareWithQuantBundle(bundle, await loadQuantOtherOutputs(other, bundle));
}

async function expectAsyncCode(f: () => Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const thrown = await f().then(() => null, (e: unknown) => e);
  expect(thrown, `expected ${code}`).toBeInstanceOf(MobilenetError);
  expect((thrown as MobilenetError).code).toBe(code);
  if (message) expect((thrown as Error).message).toMatch(message);
}

/** mobilenet verify's verdict through the library, as the CLI gives it: exit 0, 1, or 2 with the code. */
async function tsCheck(bundleDir: string, other: string): Promise<{ code: number; report: QuantVerifyReport | null; error?: string }> {
  try {
    const bundle = await readQuantBundle(bundleDir);
    const report = compareWithQuantBundle(bundle, await loadQuantOtherOutputs(other, bundle));
    return { code: report.passed ? 0 : 1, report };
  } catch (e) {
    if (e instanceof MobilenetError) return { code: 2, report: null, error: e.code };
    throw e;
  }
}

/** The fields both checkers must give alike. */
const verdictOf = (r: QuantVerifyReport) => ({
  passed: r.passed, firstDivergence: r.firstDivergence, compared: r.compared, failed: r.failed, missing: r.missing, kind: r.other.kind,
  endpoints: r.endpoints.map((e) => ({ name: e.name, status: e.status, differing: e.differing ?? null, entries: e.entries ?? null, maxAbsError: e.maxAbsError ?? null, worstIndex: e.worstIndex ?? null, scale: e.scale, zeroPoint: e.zeroPoint, reason: e.reason ?? null })),
});

/** Both checkers on OTHER: the same exit code and verdicts (or the same error code). */
async function both(bundleDir: string, other: string, code: number) {
  const ts = await tsCheck(bundleDir, other);
  expect(ts.code, JSON.stringify(ts.error)).toBe(code);
  const py = runPythonScript(join(bundleDir, 'verify_golden.py'), [bundleDir, other]);
  expect(py.code, py.stderr).toBe(code);
  if (ts.report) expect(verdictOf(py.report as unknown as QuantVerifyReport)).toEqual(verdictOf(ts.report));
  else expect(py.stderr).toMatch(new RegExp(`^verify_golden\\.py: ${ts.error}: `));
  return { ts, py };
}

/** Integer tensors as safetensors of any integer dtype (what another engine might write). */
function intSafetensors(tensors: ReadonlyMap<string, { shape: number[]; data: ArrayLike<number> }>, dtype: 'U8' | 'I8' | 'I32' | 'I64' | 'F32'): Uint8Array {
  const size = { U8: 1, I8: 1, I32: 4, I64: 8, F32: 4 }[dtype];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * size] };
    offset += t.data.length * size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8, ' '));
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    for (let i = 0; i < t.data.length; i++, at += size) {
      const v = t.data[i]!;
      if (dtype === 'U8') view.setUint8(at, v);
      else if (dtype === 'I8') view.setInt8(at, v);
      else if (dtype === 'I32') view.setInt32(at, v, true);
      else if (dtype === 'I64') view.setBigInt64(at, BigInt(v), true);
      else view.setFloat32(at, v, true);
    }
  }
  return out;
}

const rows: string[] = [];
afterAll(() => {
  if (rows.length) console.log(`\nQuantized golden bundles vs the TFLite interpreter (XNNPACK off), ${PHOTOS.join(' + ')}:\n${rows.join('\n')}`);
});

describe.skipIf(!HAVE)('quantized golden bundles (format version 3)', () => {
  it('holds the model, the uint8 input from the photos, every end point as uint8 with scale and zero point; deterministic; reads back', async () => {
    const bytes = read(modelPath('0.25_128'));
    const images = PHOTOS.map((p) => ({ name: sharedPath(`images/${p}`), bytes: read(`images/${p}`) }));
    const files = createQuantBundle(bytes, { modelName: sharedPath(modelPath('0.25_128')), images }, 'test');
    const again = createQuantBundle(bytes, { modelName: sharedPath(modelPath('0.25_128')), images }, 'test');
    expect([...files.keys()]).toEqual([...again.keys()]);
    for (const [k, v] of files) expect(Buffer.compare(Buffer.from(v), Buffer.from(again.get(k)!)), k).toBe(0);
    expect(files.get('model.tflite')).toBe(bytes);
    const manifestText = new TextDecoder().decode(files.get('manifest.json'));
    expect(manifestText).not.toContain(sharedPath(''));
    const dir = path('bundle');
    await writeBundle(dir, files);
    const bundle = await readQuantBundle(dir);
    const m = bundle.manifest;
    expect(m).toMatchObject({ format_version: 3, kind: 'quantized', tolerance: { exact: true }, model: { file: 'model.tflite', dtype: 'uint8', source: 'mobilenet_v1_0.25_128_quant.tflite', bytes: bytes.length } });
    expect(m.input).toMatchObject({ source: 'images', dtype: 'uint8', images: PHOTOS });
    expect(m.config).toMatchObject({ batch: 2, resolution: [128, 128], dtype: 'uint8', seed: null });
    expect(m.endpoints.computed).toHaveLength(30);
    const pred = m.tensors.find((t) => t.name === 'Predictions')!;
    expect(pred).toMatchObject({ dtype: 'U8', shape: [2, 1001], scale: 1 / 256, zero_point: 0, npy: 'npy/outputs/Predictions.npy' });
    expect(m.tensors.find((t) => t.group === 'input')).toMatchObject({ dtype: 'U8', shape: [2, 128, 128, 3], scale: 0.0078125, zero_point: 128 });
    // The .npy files are what numpy.save writes for uint8.
    const npy = readFileSync(join(dir, 'npy/outputs/Logits.npy'));
    expect(npy.subarray(10, 80).toString('latin1')).toContain("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1001), }");
    // The bundle as its own other engine: every end point equal.
    const self = await verify(bundle, dir);
    expect(self).toMatchObject({ passed: true, compared: 30, failed: 0, missing: 0, firstDivergence: null });
    expect(self.endpoints.every((e) => e.differing === 0 && e.maxAbsError === 0)).toBe(true);
    expect(formatQuantReport(self, bundle)).toContain('PASS: 30 end points equal');
  });

  it('a seeded uint8 input (no photos), and an end point subset', async () => {
    const bytes = read(modelPath('0.5_160'));
    const files = createQuantBundle(bytes, { modelName: 'm.tflite', seed: 7, batch: 3, endpoints: ['Conv2d_0', 'Logits', 'Predictions'] }, 'test');
    const dir = path('seeded');
    await writeBundle(dir, files);
    const bundle = await readQuantBundle(dir);
    expect(bundle.manifest.input).toMatchObject({ source: 'seeded', seed: (7 ^ 0x9e3779b9) >>> 0 });
    expect(bundle.manifest.endpoints.computed).toEqual(['Conv2d_0', 'Logits', 'Predictions']);
    expect(Array.from(bundle.input.data)).toEqual(Array.from(quantGoldenInput('uint8', 7, 3, 160, 160)));
    const u = quantGoldenInput('uint8', 7, 3, 160, 160);
    expect(Array.from(u).reduce((a, b) => Math.min(a, b), 255)).toBe(0);
    expect(Array.from(u).reduce((a, b) => Math.max(a, b), 0)).toBe(255);
  });

  it('refuses a float OTHER (npy float32, a float bundle), a float model, and a damaged bundle, with codes', async () => {
    const bytes = read(modelPath('0.25_128'));
    const dir = path('bundle');
    await writeBundle(dir, createQuantBundle(bytes, { modelName: 'm.tflite', seed: 1, endpoints: ['Logits', 'Predictions'] }, 'test'));
    const bundle = await readQuantBundle(dir);
    const floatDir = path('float-npy');
    mkdirSync(floatDir);
    for (const [name, t] of bundle.outputs) writeFileSync(join(floatDir, `${name}.npy`), encodeNpy(t.shape, Float32Array.from(t.data)));
    await expectAsyncCode(() => loadQuantOtherOutputs(floatDir, bundle), 'ERR_DTYPE', /is a float; this bundle is quantized/);
    const floatBundle = path('float-bundle');
    await writeBundle(floatBundle, await createBundle({ alpha: 0.25, resolution: 128, seed: 1, flavour: 'tf', batch: 1, endpoints: ['Logits'] }, 'test'));
    await expectAsyncCode(() => loadQuantOtherOutputs(floatBundle, bundle), 'ERR_DTYPE', /a float golden bundle/);
    expect(() => createQuantBundle(read('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite').subarray(0, 100), { modelName: 'x.tflite' }, 't')).toThrow();
    // A changed output byte: ERR_MANIFEST naming the tensor.
    const outs = readFileSync(join(dir, 'outputs.safetensors'));
    outs[outs.length - 1] ^= 1;
    writeFileSync(join(dir, 'outputs.safetensors'), outs);
    await expectAsyncCode(() => readQuantBundle(dir), 'ERR_MANIFEST', /Predictions.*the bytes were changed/);
  });

  it('our WebAssembly integer engine (load(file, { dequantize: false }).runIntegers) passes every end point', async () => {
    const m = '0.25_128';
    const dir = path('wasm');
    const images = PHOTOS.map((p) => ({ name: p, bytes: read(`images/${p}`) }));
    await writeBundle(dir, createQuantBundle(read(modelPath(m)), { modelName: 'm.tflite', images }, 'test'));
    const bundle = await readQuantBundle(dir);
    const model = await load(sharedPath(modelPath(m)), { dequantize: false });
    try {
      const input = Uint8Array.from(bundle.input.data);
      const out = model.runIntegers(input, 2, bundle.manifest.endpoints.computed);
      const folder = writeIntNpyFolder(path('wasm-out'), new Map(Object.entries(out).map(([k, e]) => [k, { shape: [...e.shape], dtype: e.dtype, data: e.data as Uint8Array }])));
      const report = await verify(bundle, folder);
      expect(report).toMatchObject({ passed: true, compared: 30 });
    } finally {
      model.dispose();
    }
  });

  it('the CLI: golden --model --images, verify (text and --json, exit 0 / 1), and its refusals (exit 2 with a code)', async () => {
    const model = sharedPath(modelPath('0.25_128'));
    const dir = path('cli-bundle');
    const made = await cli('golden', '--model', model, '--images', sharedPath('images/chelsea.png'), sharedPath('images/rocket.jpg'), '--out', dir);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/quantized \(uint8, batch 2, 2 photos\), 30 end points as integers, compared exactly/);
    const bundle = await readQuantBundle(dir);
    expect(bundle.manifest.input.images).toEqual(['chelsea.png', 'rocket.jpg']);
    const self = await cli('verify', dir, '--outputs', dir);
    expect(self.code, self.stderr).toBe(0);
    expect(self.stdout).toContain('PASS: 30 end points equal');
    // One entry of Predictions one level off: exit 1, the end point and the count named.
    const p = bundle.outputs.get('Predictions')!;
    const data = Uint8Array.from(p.data);
    data[17] = data[17]! === 255 ? 254 : data[17]! + 1;
    const folder = writeIntNpyFolder(path('cli-bad'), new Map([['Predictions', { shape: p.shape, dtype: 'uint8' as const, data }]]));
    const bad = await cli('verify', dir, '--outputs', folder);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('first divergence: Predictions (1 of 2002 entries differ, by up to 1 level (element 17');
    expect(bad.stdout).toContain('FAIL: 1 of 1 end points differ, 29 missing');
    const json = await cli('verify', dir, '--outputs', folder, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ passed: false, firstDivergence: 'Predictions', tolerance: { exact: true } });
    // A seeded input, an end point subset.
    const seeded = path('cli-seeded');
    const s = await cli('golden', '--model', model, '--seed', '5', '--batch', '2', '--endpoints', 'Logits,Predictions', '--out', seeded);
    expect(s.code, s.stderr).toBe(0);
    expect((await readQuantBundle(seeded)).manifest.endpoints.computed).toEqual(['Logits', 'Predictions']);
    // Refusals.
    for (const [args, code] of [
      [['golden', '--model', model, '--alpha', '0.5', '--out', path('x')], 'ERR_OPTION'],
      [['golden', '--model', model, '--onnx', '--out', path('x')], 'ERR_OPTION'],
      [['golden', '--model', model, '--images', sharedPath('images/chelsea.png'), '--batch', '2', '--out', path('x')], 'ERR_OPTION'],
      [['golden', '--images', sharedPath('images/chelsea.png'), '--out', path('x')], 'ERR_OPTION'],
      [['golden', '--model', sharedPath('images/chelsea.png'), '--out', path('x')], 'ERR_TFLITE'],
      [['golden', '--model', join(tmp, 'absent.tflite'), '--out', path('x')], 'ERR_IO'],
      [['golden', '--model', model, '--images', join(tmp, 'absent.png'), '--out', path('x')], 'ERR_IO'],
    ] as const) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^mobilenet: ${code}: `));
    }
    // A float bundle and a quantized one are never compared with each other.
    const floatBundle = path('cli-float');
    expect((await cli('golden', '--alpha', '0.25', '--resolution', '128', '--endpoints', 'Logits', '--out', floatBundle)).code).toBe(0);
    for (const [a, b] of [[dir, floatBundle], [floatBundle, dir]]) {
      const r = await cli('verify', a!, '--outputs', b!);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^mobilenet: ERR_DTYPE: /);
    }
  });

  describe.skipIf(!HAVE_INTERPRETER)('the TFLite interpreter (XNNPACK off) as the other engine', () => {
    for (const m of MODELS) {
      it(`${m}: every end point equal to the bundle's; one entry one level off fails, naming the end point and the count`, async () => {
        const ip = (await loadInterpreter())!;
        const bytes = read(modelPath(m));
        const model = readTfliteQuantized(bytes);
        const images = PHOTOS.map((p) => ({ name: p, bytes: read(`images/${p}`) }));
        const dir = path(`bundle-${m}`);
        await writeBundle(dir, createQuantBundle(bytes, { modelName: `${m}.tflite`, images }, 'test'));
        const bundle = await readQuantBundle(dir);
        const nd = withoutDelegate(bytes);
        const per = bundle.input.data.length / PHOTOS.length;
        const input = Uint8Array.from(bundle.input.data);
        const theirs = new Map<string, { shape: number[]; dtype: IntDType; data: Uint8Array }>();
        for (const layer of model.layers) {
          if (layer.type === 'reshape') continue;
          const golden = bundle.outputs.get(layer.name)!;
          const data = new Uint8Array(golden.data.length);
          PHOTOS.forEach((_, n) => {
            const out = ip.run(withOutput(nd.model, layer.output.index), [input.subarray(n * per, (n + 1) * per), ...nd.weights]).outputs[0]!;
            expect(out.dataType).toBe('uint8');
            data.set(out.data as Uint8Array, n * out.data.length);
          });
          theirs.set(layer.name, { shape: golden.shape, dtype: 'uint8', data });
        }
        const folder = writeIntNpyFolder(path(`tflite-${m}`), theirs);
        const report = await verify(bundle, folder);
        const differing = report.endpoints.reduce((a, e) => a + (e.differing ?? 0), 0);
        const entries = report.endpoints.reduce((a, e) => a + (e.entries ?? 0), 0);
        rows.push(`  ${m}: ${report.compared} end points, ${entries} entries; differing ${differing}; ${report.passed ? 'PASS' : `FAIL at ${report.firstDivergence}`}`);
        expect(report.endpoints.find((e) => e.name === 'Predictions')).toMatchObject({ status: 'pass', differing: 0 });
        expect(report).toMatchObject({ passed: true, compared: 30, failed: 0 });

        // One entry of Predictions one level off.
        const changed = new Map(theirs);
        const p = theirs.get('Predictions')!;
        const data = p.data.slice();
        const k = data.findIndex((v) => v > 0 && v < 255);
        data[k] = data[k]! + 1;
        changed.set('Predictions', { ...p, data });
        const bad = await verify(bundle, writeIntNpyFolder(path(`tflite-bad-${m}`), changed));
        expect(bad).toMatchObject({ passed: false, failed: 1, firstDivergence: 'Predictions' });
        expect(bad.endpoints.find((e) => e.name === 'Predictions')).toMatchObject({ status: 'fail', differing: 1, maxAbsError: 1, worstIndex: k });
        expect(formatQuantReport(bad, bundle)).toMatch(/first divergence: Predictions \(1 of 2002 entries differ, by up to 1 level/);
      });
    }
  });

  describe.skipIf(!RUN_PYTHON)(`verify_golden.py on a quantized bundle${python.ok ? '' : ` — SKIPPED: ${PYTHON_SKIP_REASON}`}`, () => {
    it('the same verdicts as mobilenet verify: equal outputs (.npy, safetensors U8 / I32 / I64, the bundle), one level off, float outputs refused, a damaged bundle', async () => {
      const bytes = read(modelPath('0.25_128'));
      const dir = path('py-bundle');
      const images = PHOTOS.map((p) => ({ name: p, bytes: read(`images/${p}`) }));
      await writeBundle(dir, createQuantBundle(bytes, { modelName: 'mobilenet_v1_0.25_128_quant.tflite', images }, 'test'));
      const bundle = await readQuantBundle(dir);
      // numpy reads the bundle's .npy files as uint8 and writes the same bytes.
      const np = spawnSync(process.env.GOLDEN_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'), ['-c', `import numpy as np, sys, io
a = np.load(sys.argv[1]); b = io.BytesIO(); np.save(b, a)
assert a.dtype == np.uint8 and a.shape == (2, 1001), (a.dtype, a.shape)
assert b.getvalue() == open(sys.argv[1], 'rb').read()
print('ok')`, join(dir, 'npy/outputs/Predictions.npy')], { encoding: 'utf8' });
      expect(np.stdout.trim(), np.stderr).toBe('ok');
      const model = await load(sharedPath(modelPath('0.25_128')), { dequantize: false });
      let ours: Map<string, { shape: number[]; dtype: IntDType; data: Uint8Array }>;
      try {
        const out = model.runIntegers(Uint8Array.from(bundle.input.data), 2, bundle.manifest.endpoints.computed);
        ours = new Map(Object.entries(out).map(([k, e]) => [k, { shape: [...e.shape], dtype: e.dtype, data: e.data as Uint8Array }]));
      } finally {
        model.dispose();
      }
      const folder = writeIntNpyFolder(path('py-npy'), ours);
      expect((await both(dir, folder, 0)).ts.report!.compared).toBe(30);
      for (const dtype of ['U8', 'I32', 'I64'] as const) {
        const file = path(`py-${dtype}.safetensors`);
        writeFileSync(file, intSafetensors(ours, dtype));
        expect((await both(dir, file, 0)).ts.report!.other.kind).toBe('safetensors');
      }
      await both(dir, dir, 0);
      // Text reports: the same table.
      const text = runPythonScript(join(dir, 'verify_golden.py'), [dir, folder], false);
      expect(text.stdout).toBe(formatQuantReport((await tsCheck(dir, folder)).report!, bundle));
      // One entry of Conv2d_5_pointwise one level off, two of Logits.
      const changed = new Map(ours);
      const c5 = ours.get('Conv2d_5_pointwise')!;
      const d5 = c5.data.slice();
      d5[1234] = d5[1234]! === 255 ? 254 : d5[1234]! + 1;
      changed.set('Conv2d_5_pointwise', { ...c5, data: d5 });
      const lg = ours.get('Logits')!;
      const dl = lg.data.slice();
      dl[3] = dl[3]! >= 3 ? dl[3]! - 3 : dl[3]! + 3;
      dl[7] = dl[7]! === 255 ? 254 : dl[7]! + 1;
      changed.set('Logits', { ...lg, data: dl });
      const bad = await both(dir, writeIntNpyFolder(path('py-bad'), changed), 1);
      expect(bad.ts.report).toMatchObject({ failed: 2, firstDivergence: 'Conv2d_5_pointwise' });
      expect(bad.ts.report!.endpoints.find((e) => e.name === 'Logits')).toMatchObject({ differing: 2, maxAbsError: 3, worstIndex: 3 });
      // Float outputs, a float bundle: refused; missing end points: pass with missing.
      const floatFile = path('py-float.safetensors');
      writeFileSync(floatFile, intSafetensors(ours, 'F32'));
      await both(dir, floatFile, 2);
      const floatDir = path('py-float-npy');
      mkdirSync(floatDir);
      writeFileSync(join(floatDir, 'Logits.npy'), encodeNpy([2, 1001], Float32Array.from(ours.get('Logits')!.data)));
      await both(dir, floatDir, 2);
      const floatBundle = path('py-float-bundle');
      await writeBundle(floatBundle, await createBundle({ alpha: 0.25, resolution: 128, seed: 1, flavour: 'tf', batch: 1, endpoints: ['Logits'] }, 'test'));
      await both(dir, floatBundle, 2);
      const some = writeIntNpyFolder(path('py-some'), new Map([['Predictions', ours.get('Predictions')!]]));
      expect((await both(dir, some, 0)).ts.report).toMatchObject({ compared: 1, missing: 29 });
      // An int8 model (per-channel weights, float input and output): I8 tensors, '|i1' files; the bundle passes itself and int8 outputs in both checkers.
      const int8 = makeInt8MobileNet({ alpha: 0.25, size: 64, classes: 101, seed: 5, logits: 'fc', floatIO: true, calibration: new Uint8Array(64 * 64 * 3).fill(100) });
      const i8dir = path('py-int8');
      await writeBundle(i8dir, createQuantBundle(int8, { modelName: 'int8.tflite', seed: 2, batch: 2 }, 'test'));
      const i8 = await readQuantBundle(i8dir);
      expect(i8.manifest.model).toMatchObject({ dtype: 'int8', float_input: true, float_output: true });
      expect(i8.manifest.tensors.every((t) => t.dtype === 'I8')).toBe(true);
      expect(i8.manifest.input.note).toMatch(/QUANTIZE output/);
      expect(Math.min(...i8.input.data.subarray(0, 1000))).toBeLessThan(0);
      await both(i8dir, i8dir, 0);
      const i8out = new Map([...i8.outputs].map(([k, t]) => [k, { shape: t.shape, dtype: 'int8' as const, data: Int8Array.from(t.data) as unknown as Uint8Array }]));
      await both(i8dir, writeIntNpyFolder(path('py-int8-npy'), i8out), 0);
      // A damaged bundle: exit 2 with ERR_MANIFEST in both.
      const damaged = path('py-damaged');
      await writeBundle(damaged, createQuantBundle(bytes, { modelName: 'm.tflite', seed: 3, endpoints: ['Logits'] }, 'test'));
      const tfl = readFileSync(join(damaged, 'model.tflite'));
      tfl[tfl.length - 5] ^= 0xff;
      writeFileSync(join(damaged, 'model.tflite'), tfl);
      const r = await both(damaged, some, 2);
      expect(r.ts.error).toBe('ERR_MANIFEST');
    });
  });
});
