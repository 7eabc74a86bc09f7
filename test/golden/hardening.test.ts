/**
 * Golden bundles and verify's inputs, hardening round 2 (shared/docs/bad-inputs.md cases 22 and
 * 23): a manifest.json with deeply nested JSON in any field, and bundle files or `--outputs`
 * paths that are not regular files (FIFOs, /dev/zero, a socket, a directory), through the
 * src/golden API (readBundle, loadOtherOutputs, compareWithBundle and the report as --json
 * prints it). Each is refused with a code, in bounded time.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { createBundle, readBundle, writeBundle, type GoldenBundle } from '../../src/golden/bundle.js';
import { compareWithBundle, loadOtherOutputs } from '../../src/golden/verify.js';
import {
  DEEP_ARRAY, DEEP_OBJECT, HAVE_DEV_ZERO, HAVE_MKFIFO, expectRefused, mkfifo, refusal, releaseFifo, unixSocket, withDeep,
} from '../helpers/special-files.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-golden-hardening-'));
const BUNDLE = join(tmp, 'bundle');
const fifos: string[] = [];
let manifest: Json;
let bundle: GoldenBundle;

beforeAll(async () => {
  const files = await createBundle({ alpha: 0.25, resolution: 32, seed: 3, flavour: 'tf', batch: 1, endpoints: ['Conv2d_1_pointwise', 'Logits'] }, 'test');
  await writeBundle(BUNDLE, files);
  manifest = JSON.parse(readFileSync(join(BUNDLE, 'manifest.json'), 'utf8'));
  bundle = await readBundle(BUNDLE);
});
afterAll(() => {
  for (const f of fifos) releaseFifo(f);
  rmSync(tmp, { recursive: true, force: true });
});

let count = 0;
function copyBundle(name: string): string {
  const dir = join(tmp, `${count++}-${name}`);
  cpSync(BUNDLE, dir, { recursive: true });
  return dir;
}
const fifo = (path: string) => {
  fifos.push(path);
  return mkfifo(path);
};

describe('22: a manifest.json with deeply nested JSON is ERR_MANIFEST naming the field', () => {
  const cases: [string, (m: Json) => void, string, RegExp][] = [
    ['config', (m) => (m.config = '@@DEEP@@'), DEEP_OBJECT, /^manifest\.json: config\.alpha: expected a number above 0, got undefined$/],
    ['config.resolution', (m) => (m.config.resolution = '@@DEEP@@'), DEEP_ARRAY, /^manifest\.json: config\.resolution: expected \[height, width\], got \[\[\[\[\[…\]\]\]\]\]$/],
    ['config.seed', (m) => (m.config.seed = '@@DEEP@@'), DEEP_ARRAY, /^manifest\.json: config\.seed: expected a non-negative integer, got \[\[\[\[\[…/],
    ['input.generator', (m) => (m.input.generator = '@@DEEP@@'), DEEP_ARRAY, /^manifest\.json: input: expected \{name, layout, generator, seed\} with generator a string, got \{"name": "input"/],
    ['endpoints.all', (m) => (m.endpoints.all = '@@DEEP@@'), DEEP_ARRAY, /^manifest\.json: endpoints: expected \{all: \[names\], computed: \[names\]\}, got \{"all": \[\[\[\[/],
    ['tolerance', (m) => (m.tolerance = '@@DEEP@@'), DEEP_OBJECT, /^manifest\.json: tolerance: expected \{rule, derivation, endpoints: \[\{name, rtol, atol\}, \.\.\.\]\}, got \{"a": \{"a": /],
    ['a tolerance entry', (m) => (m.tolerance.endpoints[1] = '@@DEEP@@'), DEEP_ARRAY, /^manifest\.json: tolerance\.endpoints\[1\]: expected \{name, rtol, atol\} with finite rtol >= 0 and atol >= 0, got \[\[\[\[/],
    ['checker', (m) => (m.checker = '@@DEEP@@'), DEEP_OBJECT, /^manifest\.json: checker: expected \{file: "verify_golden\.py", sha256, \.\.\.\}, got \{"a": /],
    ['tensors', (m) => (m.tensors = '@@DEEP@@'), DEEP_ARRAY, /^manifest\.json: tensors\[0\]: expected an object \{group, name, file, npy, dtype, shape, sha256\}, got \[\[\[\[/],
    ['a tensor\'s shape', (m) => (m.tensors[0].shape = '@@DEEP@@'), DEEP_ARRAY, /^manifest\.json: tensors\[0\]\.shape: expected a list of non-negative integers, got \[\[\[\[\[…\]\]\]\]\]$/],
    ['a tensor\'s npy path', (m) => (m.tensors[0].npy = '@@DEEP@@'), DEEP_OBJECT, /^manifest\.json: tensors\[0\]\.npy: expected a relative path inside the bundle ending in \.npy, got \{"a": /],
  ];
  for (const [what, edit, deep, message] of cases) {
    it(`${what} (readBundle; loadOtherOutputs given it as the other bundle)`, async () => {
      const dir = copyBundle('deep');
      const m = structuredClone(manifest);
      edit(m);
      writeFileSync(join(dir, 'manifest.json'), withDeep(m, deep));
      await expectRefused(readBundle(dir), ErrorCodes.MANIFEST, message);
      await expectRefused(loadOtherOutputs(dir, bundle), ErrorCodes.MANIFEST, message);
    });
  }

  it('the whole manifest one deep array, or one deep object', async () => {
    for (const [deep, message] of [[DEEP_ARRAY, /the top level: expected a JSON object, got \[\[\[\[\[…/], [DEEP_OBJECT, /format: expected "mobilenet-golden", got undefined/]] as const) {
      const dir = copyBundle('deep-all');
      writeFileSync(join(dir, 'manifest.json'), deep);
      await expectRefused(readBundle(dir), ErrorCodes.MANIFEST, message);
    }
  });

  it('a tolerance with deep extra fields: only rule and derivation (and each end point\'s rtol and atol) reach the report, which prints as JSON', async () => {
    const dir = copyBundle('deep-tolerance');
    const m = structuredClone(manifest);
    m.tolerance.extra = '@@DEEP@@';
    m.tolerance.endpoints[0].extra = '@@DEEP@@';
    m.extra = 'kept out of reports';
    writeFileSync(join(dir, 'manifest.json'), withDeep(m, DEEP_ARRAY));
    const b = await readBundle(dir);
    expect(Object.keys(b.tolerance).sort()).toEqual(['derivation', 'rule']);
    const report = compareWithBundle(b, await loadOtherOutputs(join(BUNDLE, 'outputs.safetensors'), b));
    expect(report.passed).toBe(true);
    expect(Object.keys(report.endpoints[0]!).sort()).toEqual(['allowed', 'atol', 'maxAbsError', 'maxRelError', 'name', 'otherShape', 'rtol', 'shape', 'status', 'worstIndex']);
    expect(() => JSON.stringify(report)).not.toThrow();
  });

  it('a format version 1 manifest is still read: its one rtol and atol apply to every end point', async () => {
    const dir = copyBundle('v1');
    const m = structuredClone(manifest);
    m.format_version = 1;
    m.tolerance = { rule: 'one for all', rtol: 1e-4, atol: 1e-6, extra: '@@DEEP@@' };
    delete m.checker;
    delete m.onnx;
    writeFileSync(join(dir, 'manifest.json'), withDeep(m, DEEP_ARRAY));
    const b = await readBundle(dir);
    expect(b.tolerance).toEqual({ rule: 'one for all', rtol: 1e-4, atol: 1e-6 });
    expect([...b.tolerances.values()]).toEqual([{ rtol: 1e-4, atol: 1e-6 }, { rtol: 1e-4, atol: 1e-6 }]);
    const report = compareWithBundle(b, await loadOtherOutputs(join(BUNDLE, 'outputs.safetensors'), b));
    expect(report).toMatchObject({ passed: true, tolerance: { rtol: 1e-4, atol: 1e-6 } });
  });
});

describe.skipIf(!HAVE_DEV_ZERO || !HAVE_MKFIFO)('23: bundle files and --outputs that are not regular files: ERR_IO, no read without end, no wait', () => {
  const NOT_REGULAR = /found a device, pipe or socket \(not a regular file\)/;
  let socket: Server;
  let socketPath: string;
  beforeAll(async () => {
    mkdirSync(join(tmp, 'sock'));
    socketPath = join(tmp, 'sock', 'outputs.safetensors');
    socket = await unixSocket(socketPath);
  });
  afterAll(() => new Promise<void>((resolve) => socket.close(() => resolve())));

  /** The bundle with `rel` replaced by what `place` puts at its path. */
  const replaced = (rel: string, place: (path: string) => void) => {
    const dir = copyBundle('special');
    unlinkSync(join(dir, rel));
    place(join(dir, rel));
    return dir;
  };

  const files = ['manifest.json', 'weights.safetensors', 'outputs.safetensors', 'npy/outputs/Logits.npy'];
  for (const rel of files) {
    it(`${rel} as a FIFO, /dev/zero (symlink), a socket (symlink), a directory: readBundle and loadOtherOutputs`, async () => {
      const kinds: [string, (p: string) => void, RegExp][] = [
        ['fifo', (p) => fifo(p), NOT_REGULAR],
        ['dev-zero', (p) => symlinkSync('/dev/zero', p), NOT_REGULAR],
        ['socket', (p) => symlinkSync(socketPath, p), NOT_REGULAR],
        ['directory', (p) => mkdirSync(p), /found a directory \(not a regular file\)/],
      ];
      for (const [kind, place, message] of kinds) {
        const dir = replaced(rel, place);
        const release = () => releaseFifo(join(dir, rel));
        const e = await refusal(readBundle(dir), release);
        expect(e.code, `${kind}: ${e.message}`).toBe(ErrorCodes.IO);
        expect(e.message).toContain(`expected the file ${rel}`);
        expect(e.message).toMatch(message);
        // The same bundle as the other engine's outputs (it is read in full first).
        const e2 = await refusal(loadOtherOutputs(dir, bundle), release);
        expect(e2.code, `${kind}: ${e2.message}`).toBe(ErrorCodes.IO);
      }
    });
  }

  it('--outputs given a FIFO, /dev/zero, a socket: ERR_IO naming the path', async () => {
    const f = fifo(join(tmp, 'outputs.fifo'));
    for (const p of [f, '/dev/zero', socketPath]) {
      await expectRefused(() => loadOtherOutputs(p, bundle), ErrorCodes.IO, `--outputs ${p}: expected a safetensors file, a folder of .npy files or a bundle folder, found a device, pipe or socket`);
    }
  });

  it('--outputs a folder of .npy files with Logits.npy a FIFO or /dev/zero: ERR_IO, not skipped as missing', async () => {
    for (const kind of ['fifo', 'zero']) {
      const dir = join(tmp, `npy-${kind}`);
      mkdirSync(dir);
      cpSync(join(BUNDLE, 'npy/outputs/Conv2d_1_pointwise.npy'), join(dir, 'Conv2d_1_pointwise.npy'));
      const logits = join(dir, 'Logits.npy');
      if (kind === 'fifo') fifo(logits);
      else symlinkSync('/dev/zero', logits);
      await expectRefused(loadOtherOutputs(dir, bundle), ErrorCodes.IO, logits, /not a regular file/);
    }
  });
});
