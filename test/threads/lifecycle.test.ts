/**
 * The workers' life: they start with the model, sleep between runs (no CPU spent once a run is
 * over), end with dispose() (every worker thread exits), and never keep a process alive: a
 * script exits with or without dispose(). Also the model's worker ({ worker: true }) with
 * threads, and a batch that grows the shared memory. The child processes run the built package
 * (dist/: `npm run build` first).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import { Tensor } from '../../src/tensor.js';
import { repoRoot } from '../helpers/shared.js';
import { randomArray } from '../wasm/harness.js';
import { compareThreads } from './helpers.js';

const { spawned } = vi.hoisted(() => ({ spawned: [] as Worker[] }));
vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  class Recorded extends real.Worker {
    constructor(...args: ConstructorParameters<typeof real.Worker>) {
      super(...args);
      spawned.push(this);
    }
  }
  return { ...real, Worker: Recorded, default: { ...real, Worker: Recorded } };
});
// Resolved once here: concurrent first imports of a mocked builtin may miss the mock.
await import('node:worker_threads');

const exited = (w: Worker) => new Promise<number>((resolve) => (w.threadId === -1 ? resolve(-1) : w.once('exit', resolve)));

describe('in this process', () => {
  it('threads: 3 starts 2 workers; dispose() ends both (their threads exit)', async () => {
    const before = spawned.length;
    const model = await createModel({ depthMultiplier: 0.25, inputSize: 64, seed: 1, threads: 3 });
    const workers = spawned.slice(before);
    expect(workers).toHaveLength(2);
    model.predict(new Tensor(randomArray(64 * 64 * 3, 1), [1, 64, 64, 3]));
    const ends = workers.map(exited);
    model.dispose();
    const codes = await Promise.race([Promise.all(ends), new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    expect(codes).not.toBe('timeout');
    expect(workers.every((w) => w.threadId === -1)).toBe(true);
  });

  it('a batch that grows the shared memory, then smaller batches, in the same arena: the bits of threads: 1', () =>
    compareThreads({ depthMultiplier: 0.25, inputSize: 96 }, { threads: [2], batches: [1, 9, 2, 1], everyEndpoint: true }));
});

const DIST = join(repoRoot, 'dist');
if (!existsSync(join(DIST, 'wasm', 'threads', 'pool.js')) || !existsSync(join(repoRoot, 'build', 'kernels-threads.wasm'))) {
  throw new Error('dist/ or build/kernels-threads.wasm is missing: run `npm run build` before test/threads/lifecycle.test.ts');
}
const pkg = pathToFileURL(join(DIST, 'index.js')).href;

/** Runs an ES module script in a fresh Node process; its exit code, output and time (code null: killed after `timeoutMs`). */
function runNode(code: string, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const file = join(mkdtempSync(join(tmpdir(), 'threads-exit-')), 'script.mjs');
  writeFileSync(file, code);
  return new Promise((resolve) => {
    const start = Date.now();
    const child = spawn(process.execPath, [file], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, stdout, stderr, ms: Date.now() - start });
    });
  });
}

const PRELUDE = `
import { createModel, load, Tensor, mulberry32 } from ${JSON.stringify(pkg)};
const next = mulberry32(9);
const input = (n, s) => new Tensor(new Float32Array(n * s * s * 3).map(() => (next() / 2 ** 32) * 2 - 1), [n, s, s, 3]);
const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
`;

describe('a Node script (the built package)', () => {
  it('exits by itself after dispose(), and without it', async () => {
    for (const dispose of [true, false]) {
      const r = await runNode(`${PRELUDE}
const model = await createModel({ depthMultiplier: 0.25, inputSize: 128, seed: 1, threads: 2 });
const one = await createModel({ depthMultiplier: 0.25, inputSize: 128, seed: 1 });
const x = input(1, 128);
console.log(JSON.stringify({ threads: model.threads, same: same(model.predict(x).data, one.predict(x).data) }));
${dispose ? 'model.dispose();' : ''}
`, 30_000);
      expect(r.stderr).toBe('');
      expect(r.code, `dispose: ${dispose}`).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ threads: 2, same: true });
      expect(r.ms).toBeLessThan(20_000);
    }
  });

  it('spends no CPU between runs: the workers sleep in Atomics.wait', async () => {
    const r = await runNode(`${PRELUDE}
const model = await createModel({ depthMultiplier: 0.5, inputSize: 160, seed: 1, threads: 2 });
const x = input(1, 160);
for (let i = 0; i < 20; i++) model.predict(x);
const t0 = process.cpuUsage();
const w0 = performance.now();
await new Promise((r) => setTimeout(r, 1000));
const cpu = process.cpuUsage(t0);
console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - w0 }));
model.dispose();
`);
    expect(r.code).toBe(0);
    const { cpuMs, wallMs } = JSON.parse(r.stdout) as { cpuMs: number; wallMs: number };
    console.log(`CPU time of the whole process during ${wallMs.toFixed(0)} ms idle after 20 runs with 2 threads: ${cpuMs.toFixed(1)} ms`);
    expect(cpuMs).toBeLessThan(100);
  });

  it('load(..., { worker: true, threads: 2 }): the model worker runs the threads; same classes; exits after dispose()', async () => {
    const r = await runNode(`${PRELUDE}
const inWorker = await load(undefined, { worker: true, threads: 2, dequantize: true });
const here = await load(undefined, { dequantize: true });
const x = input(3, 160);
const a = await inWorker.classifyBatch(x, 5);
const b = await here.classifyBatch(x, 5);
console.log(JSON.stringify({ inWorker: inWorker.inWorker, threads: inWorker.threads, same: JSON.stringify(a) === JSON.stringify(b) }));
inWorker.dispose();
here.dispose();
`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ inWorker: true, threads: 2, same: true });
  });
});
