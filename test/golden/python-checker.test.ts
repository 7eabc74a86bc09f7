/**
 * The bundle's verify_golden.py, run by Debian's python3 with numpy (GOLDEN_PYTHON to choose
 * another), against `mobilenet verify` on the same inputs: the same exit code and, when they
 * compare, the same verdicts (every end point's status, errors, allowed error and worst element,
 * bit for bit; the first divergence). Cases: onnxruntime-node and -web outputs (safetensors, a
 * .npy folder, the bundle's own layout, F64 / F16 / BF16), the bundle as another engine, a
 * broken engine (ReLU6 left out of a copy of model.onnx), perturbed outputs, NaN, a wrong shape,
 * errors at the very edge of the tolerance, a format version 1 bundle, and bad input (exit 2).
 *
 * Skipped, with the reason, when python3 or numpy is missing; under CI (CI set) it runs and
 * fails instead.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/formats/safetensors.js';
import { createBundle, readBundle, writeBundle, type GoldenBundle } from '../../src/golden/bundle.js';
import { encodeNpy } from '../../src/golden/npy.js';
import type { NamedTensor } from '../../src/model/weights.js';
import { decodeModel, encodeModel } from '../../src/onnx/schema.js';
import { runOnnx } from './engines.js';
import { PYTHON_SKIP_REASON, RUN_PYTHON, checkBoth, python, runPython, runPythonScript, runVerify, verdict, writeOutputsNpy, writeOutputsSafetensors } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-golden-python-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BUNDLE = join(tmp, 'bundle');
const CONFIG = { alpha: 0.25, resolution: 128, seed: 9, flavour: 'tf', batch: 2, endpoints: 'all', onnx: true } as const;
let bundle: GoldenBundle;
let ort: Map<string, NamedTensor>;
let endpoints: string[];

const title = `the bundle's verify_golden.py agrees with mobilenet verify${python.ok ? ` (python ${python.version.replace(' ', ', numpy ')})` : ` — SKIPPED: ${PYTHON_SKIP_REASON}`}`;

/** Outputs with some end points changed. */
function changed(change: (name: string, t: NamedTensor) => NamedTensor | null): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [name, t] of ort) {
    const c = change(name, { shape: [...t.shape], data: Float32Array.from(t.data) });
    if (c) out.set(name, c);
  }
  return out;
}

let count = 0;
const path = (name: string) => join(tmp, `${count++}-${name}`);

/** Both checkers on OUTPUTS: the same exit code, the same verdicts; returns them. */
async function both(outputs: string, code: number) {
  const r = await checkBoth(BUNDLE, outputs);
  expect(r.code, r.stdout + r.stderr).toBe(code);
  expect(r.python, 'python ran').not.toBeNull();
  return r;
}

if (!RUN_PYTHON) console.warn(`test/golden/python-checker.test.ts: skipped: ${PYTHON_SKIP_REASON}; set CI to make this a failure`);

describe.skipIf(!RUN_PYTHON)(title, () => {
  beforeAll(async () => {
    await writeBundle(BUNDLE, await createBundle(CONFIG, 'test'));
    bundle = await readBundle(BUNDLE);
    endpoints = bundle.manifest.endpoints.computed;
    const out = await runOnnx('ort-node', readFileSync(join(BUNDLE, 'model.onnx')), bundle.input.data, bundle.input.shape);
    ort = new Map(endpoints.map((e) => [e, { shape: out.get(e)!.dims, data: out.get(e)!.data }]));
  });

  it('onnxruntime-node and -web outputs pass: safetensors, .npy folder, the bundle layout', async () => {
    const a = await both(writeOutputsSafetensors(path('ort-node.safetensors'), ort), 0);
    expect(a.report!.compared).toBe(30);
    const web = await runOnnx('ort-web', readFileSync(join(BUNDLE, 'model.onnx')), bundle.input.data, bundle.input.shape);
    const webOut = new Map(endpoints.map((e) => [e, { shape: web.get(e)!.dims, data: web.get(e)!.data }]));
    const b = await both(writeOutputsNpy(path('ort-web'), webOut), 0);
    expect(b.report!.other.kind).toBe('npy');
    // npy/outputs/<end point>.npy, the bundle's own relative paths.
    const layout = path('layout');
    writeOutputsNpy(join(layout, 'npy', 'outputs'), webOut);
    expect((await both(layout, 0)).report!.compared).toBe(30);
    // The text report: a row per end point, then PASS.
    const text = runPython(BUNDLE, layout, false);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Conv2d_13_pointwise +\[2,4,4,256\] +\S+ +\S+ +\S+ +\S+ +pass$/m);
    expect(text.stdout).toMatch(/\nPASS: 30 end points within tolerance\n$/);
  });

  it('F64, F16 and BF16 outputs: read as mobilenet verify reads them (F16 and BF16 fail: too coarse for float32)', async () => {
    const cast = (dtype: 'F64' | 'F16' | 'BF16') => {
      // A safetensors file by hand: the encoder writes F32 only.
      const names = [...ort.keys()].sort();
      const size = dtype === 'F64' ? 8 : 2;
      const header: Record<string, unknown> = {};
      let offset = 0;
      const parts: Uint8Array[] = [];
      for (const name of names) {
        const t = ort.get(name)!;
        const bytes = new Uint8Array(t.data.length * size);
        const view = new DataView(bytes.buffer);
        const f32 = new DataView(new ArrayBuffer(4));
        for (let i = 0; i < t.data.length; i++) {
          const v = t.data[i]!;
          if (dtype === 'F64') view.setFloat64(8 * i, v, true);
          else if (dtype === 'BF16') {
            f32.setFloat32(0, v);
            view.setUint16(2 * i, f32.getUint16(0), true); // truncated to the top 16 bits
          } else view.setUint16(2 * i, toHalf(v), true);
        }
        header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
        offset += bytes.length;
        parts.push(bytes);
      }
      let json = JSON.stringify(header);
      json += ' '.repeat((8 - (json.length % 8)) % 8);
      const head = new Uint8Array(8);
      new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
      const file = path(`${dtype}.safetensors`);
      writeFileSync(file, Buffer.concat([head, Buffer.from(json), ...parts]));
      return file;
    };
    expect((await both(cast('F64'), 0)).report!.passed).toBe(true);
    expect((await both(cast('F16'), 1)).report!.firstDivergence).toBe('Conv2d_0');
    expect((await both(cast('BF16'), 1)).report!.firstDivergence).toBe('Conv2d_0');
  });

  it('the bundle itself as the other engine: zero error; another seed is refused', async () => {
    const r = await both(BUNDLE, 0);
    expect(r.report!.other.kind).toBe('bundle');
    expect(r.report!.endpoints.every((e) => e.maxAbsError === 0)).toBe(true);
    const other = path('seed10');
    await writeBundle(other, await createBundle({ ...CONFIG, seed: 10, onnx: false }, 'test'));
    const refused = await both(other, 2);
    expect(refused.stderr).toMatch(/ERR_INPUT/);
    expect(refused.python!.stderr).toMatch(/^verify_golden\.py: ERR_INPUT: /);
  });

  it('a broken engine (ReLU6 left out of a copy of model.onnx) fails at Conv2d_0; perturbed outputs fail where the perturbation starts', async () => {
    const m = decodeModel(readFileSync(join(BUNDLE, 'model.onnx'))) as { graph: { node: { op_type: string; input: string[]; output: string[] }[] } };
    const clips = m.graph.node.filter((n) => n.op_type === 'Clip');
    for (const c of clips) m.graph.node.find((n) => n.output[0] === c.input[0])!.output = [c.output[0]!];
    m.graph.node = m.graph.node.filter((n) => !clips.includes(n));
    const out = await runOnnx('ort-node', encodeModel(m), bundle.input.data, bundle.input.shape);
    const broken = new Map(endpoints.map((e) => [e, { shape: out.get(e)!.dims, data: out.get(e)!.data }]));
    const r = await both(writeOutputsNpy(path('no-relu6'), broken), 1);
    expect(r.report!.firstDivergence).toBe('Conv2d_0');
    expect(r.report!.failed).toBe(30);
    const text = runPython(BUNDLE, join(tmp, `${count - 1}-no-relu6`), false).stdout;
    expect(text).toMatch(/^first divergence: Conv2d_0 \(max rel err /m);
    expect(text).toMatch(/^FAIL: 30 of 30 end points diverge$/m);

    const from = endpoints.indexOf('Conv2d_5_pointwise');
    const perturbed = changed((name, t) => (endpoints.indexOf(name) >= from ? { ...t, data: t.data.map((v) => v * 1.001) } : t));
    const p = await both(writeOutputsSafetensors(path('perturbed.safetensors'), perturbed), 1);
    expect(p.report!.firstDivergence).toBe('Conv2d_5_pointwise');
    expect(p.report!.endpoints.slice(0, from).every((e) => e.status === 'pass')).toBe(true);
  });

  it('NaN, a wrong shape, missing end points, [N, 1, 1, K] logits', async () => {
    const bad = changed((name, t) => {
      if (name === 'Conv2d_1_depthwise') t.data[11] = NaN;
      // NCHW where NHWC is expected: the same elements, another shape.
      if (name === 'Conv2d_2_depthwise') return { shape: [t.shape[0]!, t.shape[3]!, t.shape[1]!, t.shape[2]!], data: t.data };
      return t;
    });
    const r = await both(writeOutputsSafetensors(path('bad.safetensors'), bad), 1);
    expect(r.report!.firstDivergence).toBe('Conv2d_1_depthwise');
    expect(r.report!.endpoints[1]).toMatchObject({ status: 'fail', worstIndex: 11 });
    expect(r.report!.endpoints[1]!.maxAbsError).toBeNull(); // Infinity, which JSON writes as null in both
    expect(r.report!.endpoints.find((e) => e.name === 'Conv2d_2_depthwise')!.reason).toMatch(/^shape \[/);

    const some = changed((name, t) => (name === 'Logits' ? { shape: [t.shape[0]!, 1, 1, t.shape[1]!], data: t.data } : name === 'Conv2d_7_pointwise' ? t : null));
    const s = await both(writeOutputsNpy(path('some'), some), 0);
    expect(s.report).toMatchObject({ compared: 2, missing: 28, passed: true });
  });

  it('errors at the very edge of the tolerance: the same float32 values give the same verdict', async () => {
    // One element moved to just inside, then just outside, its end point's allowed error.
    for (const name of ['Conv2d_0', 'Conv2d_6_pointwise', 'Logits', 'Predictions']) {
      const g = bundle.outputs.get(name)!.data;
      const { rtol, atol } = bundle.tolerances.get(name)!;
      const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const allowed = Math.max(atol, rtol * scale);
      const k = g.findIndex((v) => Math.abs(v) === scale);
      // The largest float32 within the allowed error of g[k], and the next one up.
      let inside = Math.fround(g[k]! + allowed);
      while (Math.abs(inside - g[k]!) > allowed) inside = nextDown(inside);
      while (Math.abs(nextUp(inside) - g[k]!) <= allowed) inside = nextUp(inside);
      const outside = nextUp(inside);
      expect(Math.abs(inside - g[k]!)).toBeLessThanOrEqual(allowed);
      expect(Math.abs(outside - g[k]!)).toBeGreaterThan(allowed);
      for (const [v, code] of [[inside, 0], [outside, 1]] as const) {
        const only = new Map([[name, { shape: bundle.outputs.get(name)!.shape, data: Float32Array.from(g, (x, i) => (i === k ? v : x)) }]]);
        const r = await both(writeOutputsNpy(path(`edge-${name}`), only), code);
        expect(r.report!.endpoints.find((e) => e.name === name)!.maxAbsError).toBe(Math.abs(v - g[k]!));
      }
    }
  });

  it('a format version 1 bundle (written by the previous version): one rtol and atol for every end point', async () => {
    // The same configuration's tensors are the same bits in both versions: the v1 manifest's hashes hold.
    const dir = path('v1');
    await writeBundle(dir, await createBundle({ alpha: 0.25, resolution: 32, seed: 3, flavour: 'tf', batch: 1, endpoints: 'all' }, 'test'));
    rmSync(join(dir, 'verify_golden.py'));
    cpSync('test/golden/fixtures/v1-manifest.json', join(dir, 'manifest.json'));
    const v1 = await readBundle(dir);
    expect(v1.manifest.format_version).toBe(1);
    const outputs = writeOutputsNpy(path('v1-out'), new Map([...v1.outputs].map(([n, t]) => [n, { shape: t.shape, data: t.data.map((x) => x * (1 + 5e-5)) }])));
    // A v1 bundle carries no checker: run this version's on it.
    const t = await runVerify(dir, outputs);
    const py = runPythonScript(join(BUNDLE, 'verify_golden.py'), [dir, outputs]);
    expect(t.code).toBe(0);
    expect(py.code).toBe(0);
    expect(verdict(py.report!)).toEqual(verdict(t.report!));
    expect(t.report!.tolerance).toMatchObject({ rtol: 1e-4, atol: 1e-6 });
    expect(t.report!.endpoints.every((e) => e.rtol === 1e-4 && e.atol === 1e-6)).toBe(true);
    // 2e-4 off: beyond v1's rtol in both.
    const far = writeOutputsNpy(path('v1-far'), new Map([...v1.outputs].map(([n, t]) => [n, { shape: t.shape, data: t.data.map((x) => x * (1 + 2e-4)) }])));
    const t2 = await runVerify(dir, far);
    const py2 = runPythonScript(join(BUNDLE, 'verify_golden.py'), [dir, far]);
    expect([t2.code, py2.code]).toEqual([1, 1]);
    expect(verdict(py2.report!)).toEqual(verdict(t2.report!));
  });

  it('bad input exits 2 in both: no such path, truncated or malformed files, integer dtypes, nothing to compare, a damaged bundle', async () => {
    expect((await both(join(tmp, 'nothing-here'), 2)).python!.stderr).toMatch(/ERR_IO/);
    const st = writeOutputsSafetensors(path('trunc.safetensors'), ort);
    truncateSync(st, 1000);
    await both(st, 2);
    const ints = path('ints.safetensors');
    writeFileSync(ints, encodeSafetensors(new Map([['Logits', ort.get('Logits')!]])));
    const raw = readFileSync(ints);
    writeFileSync(ints, Buffer.from(raw.toString('latin1').replace('"F32"', '"I32"'), 'latin1'));
    expect((await both(ints, 2)).python!.stderr).toMatch(/ERR_DTYPE/);
    const npyDir = path('bad-npy');
    mkdirSync(npyDir);
    const npy = encodeNpy([2, 1001], ort.get('Logits')!.data);
    writeFileSync(join(npyDir, 'Logits.npy'), Buffer.from(Buffer.from(npy).toString('latin1').replace("'<f4'", "'<i4'"), 'latin1'));
    expect((await both(npyDir, 2)).python!.stderr).toMatch(/ERR_DTYPE/);
    writeFileSync(join(npyDir, 'Logits.npy'), npy.subarray(0, npy.length - 4));
    expect((await both(npyDir, 2)).python!.stderr).toMatch(/ERR_BYTE_LENGTH/);
    const empty = path('empty');
    mkdirSync(empty);
    expect((await both(empty, 2)).python!.stderr).toMatch(/ERR_WEIGHT_MISSING/);
    // A damaged bundle: one changed byte in a weight's .npy, then in model.onnx.
    const good = writeOutputsSafetensors(path('good.safetensors'), ort);
    for (const rel of ['npy/weights/MobilenetV1.Conv2d_3_depthwise.BatchNorm.gamma.npy', 'model.onnx', 'weights.safetensors']) {
      const copy = path('damaged');
      cpSync(BUNDLE, copy, { recursive: true });
      const bytes = readFileSync(join(copy, rel));
      bytes[bytes.length - 1]! ^= 0x40;
      writeFileSync(join(copy, rel), bytes);
      const ts = await runVerify(copy, good);
      const py = runPython(copy, good);
      expect(ts.code, rel).toBe(2);
      expect(py.code, rel).toBe(2);
      expect(py.stderr, rel).toMatch(/ERR_MANIFEST: .*SHA-256/);
    }
    // Usage.
    const usage = runPythonScript(join(BUNDLE, 'verify_golden.py'), [], false);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('usage: python3 verify_golden.py BUNDLE_DIR OUTPUTS [--json]\n');
  });
});

function nextUp(x: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x);
  const bits = b.getInt32(0);
  b.setInt32(0, x >= 0 ? bits + 1 : bits - 1);
  return b.getFloat32(0);
}

function nextDown(x: number): number {
  return -nextUp(-x);
}

/** float32 to IEEE binary16 bits, round to nearest even (the values here are normal and in range). */
function toHalf(v: number): number {
  const f = new DataView(new ArrayBuffer(4));
  f.setFloat32(0, v);
  const x = f.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = (mant >>> shift) + ((mant >>> (shift - 1)) & 1);
    return sign | half;
  }
  if (exp >= 31) return sign | 0x7c00;
  const rounded = (exp << 10) + (mant >>> 13) + ((mant >>> 12) & 1);
  return sign | rounded;
}
