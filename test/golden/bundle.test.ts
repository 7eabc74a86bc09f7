/**
 * Golden bundles: written twice byte for byte the same; verify passes on our wasm backend's
 * outputs (safetensors, .npy folder, another bundle) and on TensorFlow.js's, fails naming the
 * first perturbed end point, and refuses a damaged bundle with the right code.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerGolden } from '../../src/cli/golden.js';
import { reportError, type CommandStatus } from '../../src/cli/main.js';
import { ErrorCodes, MobilenetError } from '../../src/errors.js';
import { loadModelFile } from '../../src/formats/index.js';
import { encodeSafetensors, parseSafetensors } from '../../src/formats/safetensors.js';
import { createBundle, goldenInput, readBundle, type GoldenManifest, type ToleranceV2 } from '../../src/golden/bundle.js';
import { encodeNpy, parseNpy } from '../../src/golden/npy.js';
import { compareWithBundle, loadOtherOutputs } from '../../src/golden/verify.js';
import { createModel } from '../../src/engine/create.js';
import type { NamedTensor } from '../../src/model/weights.js';
import { Tensor } from '../../src/tensor.js';
import '../../src/wasm/backend.js';
import { runTfjsOracle } from '../../oracles/tfjs.js';

/** The CLI's golden and verify commands, in-process, as main.ts runs them. */
async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (t: string) => void (stdout += t), stderr: (t: string) => void (stderr += t) };
  const status: CommandStatus = { exitCode: 0 };
  const program = new Command('mobilenet').exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });
  registerGolden(program, io, status);
  let code: number;
  try {
    await program.parseAsync(args, { from: 'user' });
    code = status.exitCode;
  } catch (err) {
    code = reportError(err, io);
  }
  return { code, stdout, stderr };
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-golden-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// alpha 0.25 at 96x96, batch 2: every end point, small enough to write many times.
const ARGS = ['--alpha', '0.25', '--resolution', '96', '--seed', '5', '--batch', '2'];
const BUNDLE = join(tmp, 'bundle');

/** A fresh copy of the bundle to damage. */
function copyBundle(name: string): string {
  const dir = join(tmp, name);
  cpSync(BUNDLE, dir, { recursive: true });
  return dir;
}

function manifestOf(dir: string): GoldenManifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as GoldenManifest;
}

/** Our wasm backend's end points for the bundle, computed from the bundle's own files. */
async function wasmOutputs(dir: string): Promise<Map<string, NamedTensor>> {
  const loaded = await loadModelFile(join(dir, 'weights.safetensors'));
  const model = await createModel({ ...loaded.options, weights: loaded.weights, backend: 'wasm' });
  expect(model.backend).toBe('wasm');
  try {
    const input = parseNpy(readFileSync(join(dir, 'npy/input.npy')));
    const endpoints = manifestOf(dir).endpoints.computed;
    const out = model.run(new Tensor(input.data, input.shape), { outputs: endpoints });
    return new Map(endpoints.map((e) => [e, { shape: out[e]!.shape, data: out[e]!.data }]));
  } finally {
    model.dispose();
  }
}

beforeAll(async () => {
  const r = await cli('golden', ...ARGS, '--out', BUNDLE);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

describe('mobilenet golden', () => {
  it('writes manifest, four safetensors files and one .npy per tensor', () => {
    const files = listFiles(BUNDLE);
    expect(files.slice(0, 6)).toEqual(['folded.safetensors', 'input.safetensors', 'manifest.json', 'npy/folded/MobilenetV1.Conv2d_0.biases.npy', 'npy/folded/MobilenetV1.Conv2d_0.weights.npy', 'npy/folded/MobilenetV1.Conv2d_10_depthwise.biases.npy']);
    const m = manifestOf(BUNDLE);
    expect(m.format).toBe('mobilenet-golden');
    expect(m.engine).toEqual({ name: 'mobilenet-wasm', version: JSON.parse(readFileSync('package.json', 'utf8')).version, path: 'reference' });
    expect(m.config).toMatchObject({ alpha: 0.25, resolution: [96, 96], seed: 5, flavour: 'tf', batch: 2, num_classes: 1001 });
    expect(m.endpoints.computed).toEqual(m.endpoints.all);
    expect(m.endpoints.computed.slice(0, 3)).toEqual(['Conv2d_0', 'Conv2d_1_depthwise', 'Conv2d_1_pointwise']);
    expect(m.endpoints.computed.slice(-3)).toEqual(['AvgPool_1a', 'Logits', 'Predictions']);
    expect(m.format_version).toBe(2);
    // Format 2: a tolerance per end point, its derivation, the checker; no model without --onnx.
    const tol = m.tolerance as ToleranceV2;
    expect(tol.rule).toMatch(/^per end point E: /);
    expect(tol.derivation).toMatch(/1 \+ log2\(K\)/);
    expect(tol.endpoints.map((t) => t.name)).toEqual(m.endpoints.computed);
    expect(tol.endpoints[0]).toEqual({ name: 'Conv2d_0', reduction_length: 27, roundings: 5.755, rtol: 2.29e-6, atol: 2.29e-9 });
    // rtol grows with depth (the softmax's follows the logits' scale).
    const rtols = tol.endpoints.slice(0, -1).map((t) => t.rtol);
    expect(rtols.every((r, i) => i === 0 || r >= rtols[i - 1]!)).toBe(true);
    expect(m.checker).toMatchObject({ file: 'verify_golden.py', requires: 'Python 3.8+ and numpy' });
    expect(files).toContain('verify_golden.py');
    expect(m.onnx).toBeNull();
    expect(files).not.toContain('model.onnx');
    // 27 conv layers x 5 unfolded tensors + the classifier's 2; 28 x 2 folded; 30 end points; the input.
    const groups = m.tensors.reduce<Record<string, number>>((acc, t) => ({ ...acc, [t.group]: (acc[t.group] ?? 0) + 1 }), {});
    expect(groups).toEqual({ input: 1, weights: 27 * 5 + 2, folded: 28 * 2, outputs: 30 });
    expect(files.filter((f) => f.endsWith('.npy'))).toHaveLength(m.tensors.length);
    const logits = m.tensors.find((t) => t.name === 'Logits')!;
    expect(logits).toMatchObject({ group: 'outputs', file: 'outputs.safetensors', npy: 'npy/outputs/Logits.npy', dtype: 'F32', shape: [2, 1001] });
    expect(m.tensors.find((t) => t.name === 'Conv2d_0')!.shape).toEqual([2, 48, 48, 8]);
  });

  it('is deterministic: generated twice, identical byte for byte', async () => {
    const again = join(tmp, 'again');
    expect((await cli('golden', ...ARGS, '--out', again)).code).toBe(0);
    const files = listFiles(BUNDLE);
    expect(listFiles(again)).toEqual(files);
    for (const f of files) expect(readFileSync(join(again, f)).equals(readFileSync(join(BUNDLE, f))), f).toBe(true);
    // And in memory, from the library.
    const a = await createBundle({ alpha: 0.25, resolution: 32, seed: 1, flavour: 'tf', batch: 1, endpoints: ['Conv2d_3_pointwise', 'Conv2d_1_depthwise'] }, 'x');
    const b = await createBundle({ alpha: 0.25, resolution: 32, seed: 1, flavour: 'tf', batch: 1, endpoints: ['Conv2d_1_depthwise', 'Conv2d_3_pointwise'] }, 'x');
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, v] of a) expect(Buffer.from(v).equals(Buffer.from(b.get(k)!)), k).toBe(true);
    // End points come out in network order whatever order they were asked in.
    expect(parseSafetensors(a.get('outputs.safetensors')!).entries.size).toBe(2);
  });

  it('the tensors agree across formats: safetensors, .npy and the SHA-256 in the manifest', async () => {
    const bundle = await readBundle(BUNDLE);
    const input = goldenInput(5, 2, 96, 96);
    expect(bundle.input.data).toEqual(input.data);
    const min = Math.min(...input.data);
    const max = Math.max(...input.data);
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThan(1);
    const logits = parseNpy(readFileSync(join(BUNDLE, 'npy/outputs/Logits.npy')));
    expect(logits.shape).toEqual([2, 1001]);
    expect(logits.data).toEqual(bundle.outputs.get('Logits')!.data);
  });

  it('weights.safetensors reloads as the same model (folded weights give the same logits)', async () => {
    const unfolded = await loadModelFile(join(BUNDLE, 'weights.safetensors'));
    const folded = await loadModelFile(join(BUNDLE, 'folded.safetensors'));
    expect(unfolded.weights.has('MobilenetV1/Conv2d_0/BatchNorm/gamma')).toBe(true);
    expect(folded.weights.has('MobilenetV1/Conv2d_0/biases')).toBe(true);
    const input = goldenInput(5, 2, 96, 96);
    const bundle = await readBundle(BUNDLE);
    for (const loaded of [unfolded, folded]) {
      const model = await createModel({ ...loaded.options, weights: loaded.weights });
      expect(model.predict(input).data).toEqual(bundle.outputs.get('Logits')!.data);
    }
  });

  it('refuses bad options with ERR_OPTION', async () => {
    for (const args of [['--alpha', '0'], ['--seed', '-1'], ['--batch', '0'], ['--endpoints', 'Conv2d_99'], ['--endpoints', 'a,,b'], ['--flavour', 'jax']]) {
      const r = await cli('golden', ...args, '--out', join(tmp, 'never'));
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^mobilenet: ERR_OPTION: /);
    }
  });

  it('NPY files are what numpy.save writes', () => {
    const header = (shape: number[]) => {
      const b = encodeNpy(shape, new Float32Array(shape.reduce((a, c) => a * c, 1)));
      const n = b[8]! | (b[9]! << 8);
      return Buffer.from(b.subarray(0, 10 + n)).toString('latin1');
    };
    // Captured from numpy 2 `np.save` of float32 zeros.
    expect(header([1, 1001])).toBe(`\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1001), }${' '.repeat(55)}\n`);
    expect(header([32])).toBe(`\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (32,), }${' '.repeat(59)}\n`);
    expect(header([])).toBe(`\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }${' '.repeat(62)}\n`);
    const round = parseNpy(encodeNpy([2, 3], Float32Array.of(1, -2, 3.5, NaN, 0, -0)));
    expect(round.shape).toEqual([2, 3]);
    expect([...round.data]).toEqual([1, -2, 3.5, NaN, 0, -0]);
  });
});

describe('mobilenet verify', () => {
  it('passes on our wasm backend (safetensors file, .npy folder, only Logits)', async () => {
    const outputs = await wasmOutputs(BUNDLE);
    const file = join(tmp, 'wasm.safetensors');
    writeFileSync(file, encodeSafetensors(outputs));
    const r = await cli('verify', BUNDLE, '--outputs', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('PASS: 30 end points within tolerance');
    expect(r.stdout).toMatch(/^Conv2d_13_pointwise +\[2,3,3,256\] +0\.00e\+0 +0\.00e\+0 +\S+ +\S+ +pass$/m);

    const npyDir = join(tmp, 'wasm-npy');
    cpSync(join(BUNDLE, 'npy/outputs'), npyDir, { recursive: true }); // the names the manifest gives
    for (const [name, t] of outputs) writeFileSync(join(npyDir, `${name}.npy`), encodeNpy(t.shape, t.data));
    const n = await cli('verify', BUNDLE, '--outputs', npyDir, '--json');
    expect(n.code).toBe(0);
    const report = JSON.parse(n.stdout) as { passed: boolean; compared: number; other: { kind: string } };
    expect(report).toMatchObject({ passed: true, compared: 30, other: { kind: 'npy' } });

    // An engine that only produced the logits (as [N, 1, 1, K]: size-1 dimensions are ignored).
    const logits = outputs.get('Logits')!;
    const only = join(tmp, 'logits.safetensors');
    writeFileSync(only, encodeSafetensors(new Map([['Logits', { shape: [2, 1, 1, 1001], data: logits.data }]])));
    const l = await cli('verify', BUNDLE, '--outputs', only);
    expect(l.code).toBe(0);
    expect(l.stdout).toContain('PASS: 1 end points within tolerance, 29 missing');
  });

  it('passes on another bundle with the same configuration, refuses one computed on another input', async () => {
    expect((await cli('verify', BUNDLE, '--outputs', join(tmp, 'again'))).code).toBe(0);
    const other = join(tmp, 'seed6');
    expect((await cli('golden', '--alpha', '0.25', '--resolution', '96', '--seed', '6', '--batch', '2', '--out', other)).code).toBe(0);
    const r = await cli('verify', BUNDLE, '--outputs', other);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mobilenet: ERR_INPUT: verify: the bundle .* was computed on another input/);
  });

  it('passes on TensorFlow.js (tfjs-backend-cpu), another engine summing in another order', async () => {
    const bundle = await readBundle(BUNDLE);
    const loaded = await loadModelFile(join(BUNDLE, 'weights.safetensors'));
    const model = await createModel({ ...loaded.options, weights: loaded.weights });
    const theirs = await runTfjsOracle(model.architecture, loaded.weights, bundle.input.data, 2, 'cpu');
    const tensors = new Map([...bundle.outputs].map(([name, g]) => [name, { shape: g.shape, data: theirs.get(name)! }]));
    const report = compareWithBundle(bundle, { kind: 'safetensors', path: 'tfjs-cpu', tensors });
    const worst = Math.max(...report.endpoints.map((e) => e.maxRelError!));
    console.log(`golden vs tfjs-cpu: ${report.compared} end points, worst rel. error ${worst.toExponential(2)} (rtol ${report.tolerance.rtol})`);
    expect(report.passed).toBe(true);
    expect(worst).toBeGreaterThan(0); // really another engine
  });

  it('fails naming the first diverging end point when Conv2d_5_pointwise and all after it are perturbed', async () => {
    const outputs = await wasmOutputs(BUNDLE);
    const endpoints = manifestOf(BUNDLE).endpoints.computed;
    const from = endpoints.indexOf('Conv2d_5_pointwise');
    for (const name of endpoints.slice(from)) {
      const t = outputs.get(name)!;
      outputs.set(name, { shape: t.shape, data: t.data.map((v) => v * 1.01 + 1e-3) });
    }
    const file = join(tmp, 'perturbed.safetensors');
    writeFileSync(file, encodeSafetensors(outputs));
    const r = await cli('verify', BUNDLE, '--outputs', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^first divergence: Conv2d_5_pointwise \(max rel err /m);
    expect(r.stdout).toContain(`FAIL: ${endpoints.length - from} of 30 end points diverge`);
    expect(r.stdout).toMatch(/^Conv2d_5_depthwise .* pass$/m);
    const j = JSON.parse((await cli('verify', BUNDLE, '--outputs', file, '--json')).stdout) as { firstDivergence: string; passed: boolean };
    expect(j).toMatchObject({ firstDivergence: 'Conv2d_5_pointwise', passed: false });

    // A NaN is an infinite error; a wrong shape fails the end point.
    const t = outputs.get('Conv2d_1_depthwise')!;
    outputs.set('Conv2d_1_depthwise', { shape: t.shape, data: t.data.map((v, i) => (i === 7 ? NaN : v)) });
    outputs.set('Conv2d_0', { shape: [2, 48, 8, 48], data: outputs.get('Conv2d_0')!.data });
    writeFileSync(file, encodeSafetensors(outputs));
    const bundle = await readBundle(BUNDLE);
    const report = compareWithBundle(bundle, await loadOtherOutputs(file, bundle));
    expect(report.firstDivergence).toBe('Conv2d_0');
    expect(report.endpoints[0]!.reason).toMatch(/shape \[2,48,8,48\], expected \[2,48,48,8\]/);
    expect(report.endpoints[1]).toMatchObject({ status: 'fail', maxAbsError: Infinity, worstIndex: 7 });
  });

  it('refuses OTHER holding none of the end points', async () => {
    const file = join(tmp, 'unrelated.safetensors');
    writeFileSync(file, encodeSafetensors(new Map([['foo', { shape: [1], data: Float32Array.of(1) }]])));
    const r = await cli('verify', BUNDLE, '--outputs', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mobilenet: ERR_WEIGHT_MISSING: verify: .* holds none of the bundle's end points; expected tensors named Conv2d_0, .* found foo\n$/);
    expect((await cli('verify', BUNDLE, '--outputs', join(tmp, 'nothing-here'))).stderr).toMatch(/^mobilenet: ERR_IO: --outputs /);
  });
});

describe('a damaged bundle is refused with a coded error', () => {
  const refused = async (dir: string, code: string, message: RegExp) => {
    const err = await readBundle(dir).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(MobilenetError);
    expect((err as MobilenetError).code).toBe(code);
    expect((err as MobilenetError).message).toMatch(message);
    const r = await cli('verify', dir, '--outputs', join(tmp, 'wasm.safetensors'));
    expect(r.code).toBe(2);
    expect(r.stderr.startsWith(`mobilenet: ${code}: `)).toBe(true);
  };

  it('a changed byte: SHA-256 mismatch (ERR_MANIFEST)', async () => {
    const dir = copyBundle('flipped');
    const path = join(dir, 'outputs.safetensors');
    const bytes = readFileSync(path);
    bytes[bytes.length - 5]! ^= 0x01; // in the last tensor's data (sorted by name: Predictions)
    writeFileSync(path, bytes);
    await refused(dir, ErrorCodes.MANIFEST, /^outputs\.safetensors: tensor Predictions: expected SHA-256 [0-9a-f]{64} \(the manifest\), found [0-9a-f]{64}: the bytes were changed$/);
    const dir2 = copyBundle('flipped-npy');
    const npy = join(dir2, 'npy/weights/MobilenetV1.Conv2d_3_depthwise.BatchNorm.gamma.npy');
    const b2 = readFileSync(npy);
    b2[b2.length - 1]! ^= 0x80;
    writeFileSync(npy, b2);
    await refused(dir2, ErrorCodes.MANIFEST, /^npy\/weights\/MobilenetV1\.Conv2d_3_depthwise\.BatchNorm\.gamma\.npy: tensor MobilenetV1\/Conv2d_3_depthwise\/BatchNorm\/gamma: expected SHA-256/);
  });

  it('a missing tensor (ERR_WEIGHT_MISSING), an unlisted one (ERR_WEIGHT_UNEXPECTED), a missing file (ERR_IO)', async () => {
    const bundle = await readBundle(BUNDLE);
    const dir = copyBundle('missing-tensor');
    const fewer = new Map(bundle.outputs);
    fewer.delete('Conv2d_7_pointwise');
    writeFileSync(join(dir, 'outputs.safetensors'), encodeSafetensors(fewer));
    await refused(dir, ErrorCodes.WEIGHT_MISSING, /^outputs\.safetensors: expected tensor Conv2d_7_pointwise \(listed in manifest\.json\), found none; the file holds 29 tensors: /);

    const dir2 = copyBundle('extra-tensor');
    writeFileSync(join(dir2, 'outputs.safetensors'), encodeSafetensors(new Map([...bundle.outputs, ['Extra', { shape: [1], data: Float32Array.of(0) }]])));
    await refused(dir2, ErrorCodes.WEIGHT_UNEXPECTED, /^outputs\.safetensors: tensor Extra is not listed in manifest\.json/);

    const dir3 = copyBundle('missing-file');
    unlinkSync(join(dir3, 'npy/outputs/Logits.npy'));
    await refused(dir3, ErrorCodes.IO, /: expected the file npy\/outputs\/Logits\.npy, found none \(ENOENT\)$/);
  });

  it('a truncated safetensors or .npy file (the parser\'s code, the file named)', async () => {
    const dir = copyBundle('truncated');
    const path = join(dir, 'weights.safetensors');
    truncateSync(path, statSync(path).size - 100);
    await refused(dir, ErrorCodes.OFFSETS, /^weights\.safetensors: tensor .* needs bytes up to \d+ of the data buffer, the file has \d+ \(truncated\?\)$/);
    const dir2 = copyBundle('truncated-header');
    truncateSync(join(dir2, 'input.safetensors'), 20);
    await refused(dir2, ErrorCodes.HEADER_LENGTH, /^input\.safetensors: safetensors: header needs \d+ bytes after the length, the file has 12$/);
    const dir3 = copyBundle('truncated-npy');
    const npy = join(dir3, 'npy/outputs/Conv2d_0.npy');
    truncateSync(npy, statSync(npy).size - 4);
    await refused(dir3, ErrorCodes.BYTE_LENGTH, /^npy\/outputs\/Conv2d_0\.npy: <f4 \(2, 48, 48, 8\) needs 147456 bytes of data, has 147452 \(truncated\?\)$/);
  });

  it('a bad manifest (ERR_MANIFEST naming the field), a shape that differs (ERR_SHAPE)', async () => {
    const dir = copyBundle('bad-manifest');
    const path = join(dir, 'manifest.json');
    writeFileSync(path, '{"format": "mobilenet-golden", ');
    await refused(dir, ErrorCodes.MANIFEST, /manifest\.json is not valid UTF-8 JSON/);
    const good = manifestOf(BUNDLE);
    const cases: [(m: GoldenManifest) => void, RegExp][] = [
      [(m) => void ((m as { format_version: number }).format_version = 3), /^manifest\.json: format_version: expected 1 or 2, got 3$/],
      [(m) => void ((m.tensors[3] as { sha256: string }).sha256 = 'abc'), /^manifest\.json: tensors\[3\]\.sha256: expected 64 lowercase hex digits, got "abc"$/],
      [(m) => void (m.tensors[0]!.npy = '../../etc/passwd.npy'), /^manifest\.json: tensors\[0\]\.npy: expected a relative path inside the bundle/],
      [(m) => void m.tensors.pop(), /^manifest\.json: tensors \(group outputs\): expected the end points Conv2d_0, .*, Predictions in that order, got \[/],
      [(m) => void (((m.tolerance as ToleranceV2).endpoints[3] as { rtol: unknown }).rtol = '1e-4'), /^manifest\.json: tolerance\.endpoints\[3\]: expected \{name, rtol, atol\} with finite rtol >= 0 and atol >= 0, got /],
      [(m) => void (m.tolerance as ToleranceV2).endpoints.splice(5, 1), /^manifest\.json: tolerance\.endpoints: expected one entry per computed end point, in network order \(Conv2d_0, /],
      // Version 1's one rtol and atol in a version 2 manifest.
      [(m) => void ((m as { tolerance: unknown }).tolerance = { rule: 'r', rtol: 1e-4, atol: 1e-6 }), /^manifest\.json: tolerance: expected \{rule, derivation, endpoints: /],
      [(m) => void (m.checker = undefined), /^manifest\.json: checker: expected \{file: "verify_golden\.py", sha256, \.\.\.\}, got undefined$/],
      [(m) => void (m.checker!.sha256 = '0'.repeat(64)), /^verify_golden\.py: expected SHA-256 0{64} \(the manifest\), found [0-9a-f]{64}: the file was changed$/],
    ];
    for (const [change, message] of cases) {
      const m = structuredClone(good);
      change(m);
      writeFileSync(path, JSON.stringify(m));
      await refused(dir, ErrorCodes.MANIFEST, message);
    }
    const m = structuredClone(good);
    m.tensors.find((t) => t.name === 'Logits')!.shape = [1001, 2];
    writeFileSync(path, JSON.stringify(m));
    await refused(dir, ErrorCodes.SHAPE, /^outputs\.safetensors: tensor Logits: expected shape \[1001,2\] \(the manifest\), found \[2,1001\]$/);
  });
});
