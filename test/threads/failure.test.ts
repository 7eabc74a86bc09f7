/**
 * A thread worker that dies mid-run (exits, throws, hangs, is terminated, traps) fails the run
 * with a coded error and never hangs the caller: the blocked calling thread sees no progress on
 * the counter it waits on for `stallMs` (shortened here) and gives up with ERR_WORKER; a trap
 * is ERR_KERNEL. The model then refuses every run with the same error; dispose still works.
 * The same on the non-blocking path (a browser's main thread, simulated: `forceAsyncHost`).
 */
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { createModel } from '../../src/engine/create.js';
import type { MobileNet } from '../../src/engine/mobilenet.js';
import { Tensor } from '../../src/tensor.js';
import { tuning, type ThreadPool } from '../../src/wasm/threads/pool.js';
import { randomArray } from '../wasm/harness.js';

// Every worker_threads Worker started, so a test can end one as a crash would (not through the pool).
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

const OPTIONS = { depthMultiplier: 0.25, inputSize: 96, seed: 3 } as const;
const input = new Tensor(randomArray(96 * 96 * 3, 4), [1, 96, 96, 3]);
const STALL_MS = 300;
const saved = { ...tuning };

const poolOf = (m: MobileNet) => (m as unknown as { backendImpl: { pool: ThreadPool } }).backendImpl.pool;

let expected: Float32Array;
beforeAll(async () => {
  tuning.stallMs = STALL_MS;
  tuning.sliceMs = 20;
  const one = await createModel(OPTIONS);
  expected = one.predict(input).data;
  one.dispose();
});
afterAll(() => Object.assign(tuning, saved));

/** Runs `f`, expecting it to throw a MobilenetError with `code`; returns the message and the time it took. */
function failsWith(code: string, f: () => unknown): { message: string; ms: number } {
  const t0 = performance.now();
  try {
    f();
  } catch (e) {
    expect(e).toMatchObject({ name: 'MobilenetError', code });
    return { message: (e as Error).message, ms: performance.now() - t0 };
  }
  throw new Error(`expected ${code}, but it returned`);
}

/**
 * Runs the model until a run fails (at most 3 runs): every run that returns has the bits of
 * threads: 1; the failure has `code` and comes within the stall timeout. (A worker that dies
 * holding a work item fails the run it is in; one that the calling thread outran, so that it
 * died holding none, fails the next run, before it starts.)
 */
function failsWithin3Runs(model: MobileNet, code: string): { message: string; ms: number } {
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    try {
      expect(Array.from(model.predict(input).data)).toEqual(Array.from(expected));
    } catch (e) {
      expect(e).toMatchObject({ name: 'MobilenetError', code });
      const ms = performance.now() - t0;
      expect(ms).toBeLessThan(STALL_MS + 2000);
      return { message: (e as Error).message, ms };
    }
  }
  throw new Error(`expected ${code} within 3 runs`);
}

describe('a worker that dies mid-run, calling thread blocked (Node)', () => {
  for (const [mode, how] of [[1, 'exits (process.exit in the worker)'], [2, 'throws'], [3, 'hangs']] as const) {
    it(`${how}: ERR_WORKER within the stall timeout, then every run refuses; dispose works`, async () => {
      const model = await createModel({ ...OPTIONS, threads: 2 });
      expect(Array.from(model.predict(input).data)).toEqual(Array.from(expected));
      poolOf(model).setHook(5, 1, mode);
      const { message } = failsWithin3Runs(model, ErrorCodes.WORKER);
      expect(message).toMatch(/no thread made progress|thread worker 1/);
      const again = failsWith(ErrorCodes.WORKER, () => model.predict(input));
      expect(again.ms).toBeLessThan(100);
      await expect(model.classifyBatch(input)).rejects.toMatchObject({ code: ErrorCodes.WORKER });
      model.dispose();
      expect(() => model.predict(input)).toThrow(expect.objectContaining({ code: ErrorCodes.DISPOSED }));
    });
  }

  it('terminated in the middle of a run (from a test hook between steps): the run or the next fails with ERR_WORKER; no run returns wrong numbers', async () => {
    const model = await createModel({ ...OPTIONS, threads: 2 });
    const pool = poolOf(model);
    const worker = spawned.at(-1)!;
    pool.beforeStep = (step: number) => {
      if (step === 4) void worker.terminate();
    };
    failsWithin3Runs(model, ErrorCodes.WORKER);
    model.dispose();
  });

  it("terminated while idle: its 'exit' event fails the model's next run at once", async () => {
    const model = await createModel({ ...OPTIONS, threads: 3 });
    model.predict(input);
    const worker = spawned.at(-1)!;
    await new Promise((r) => setTimeout(r, 50));
    await worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    const { ms } = failsWith(ErrorCodes.WORKER, () => model.predict(input));
    expect(ms).toBeLessThan(100);
    model.dispose();
  });

  it('a kernel trap on a worker is ERR_KERNEL', async () => {
    const model = await createModel({ ...OPTIONS, threads: 2 });
    poolOf(model).setHook(2, 1, 4);
    failsWithin3Runs(model, ErrorCodes.KERNEL);
    failsWith(ErrorCodes.KERNEL, () => model.predict(input));
    model.dispose();
  });
});

describe('the non-blocking path (as on a browser main thread: forceAsyncHost)', () => {
  beforeAll(() => {
    tuning.forceAsyncHost = true;
  });
  afterAll(() => {
    tuning.forceAsyncHost = false;
  });

  it('classifyBatch and embed give the bits of threads: 1; run refuses with ERR_OPTION naming the async calls', async () => {
    const model = await createModel({ ...OPTIONS, threads: 2 });
    const one = await createModel(OPTIONS);
    try {
      expect(model.threads).toBe(2);
      expect(() => model.predict(input)).toThrow(expect.objectContaining({ code: ErrorCodes.OPTION, message: expect.stringMatching(/classify, classifyBatch, embed.*worker/) }));
      const [a, b] = await Promise.all([model.classifyBatch(input, 10), model.embed(input, { endpoint: 'Conv2d_13_pointwise' })]);
      expect(a).toEqual(await one.classifyBatch(input, 10));
      expect(Array.from(b)).toEqual(Array.from(await one.embed(input, { endpoint: 'Conv2d_13_pointwise' })));
      // Many calls at once run one after another, each with its own answer.
      const inputs = [1, 2, 3, 4].map((s) => new Tensor(randomArray(96 * 96 * 3, s), [1, 96, 96, 3]));
      const many = await Promise.all(inputs.map((x) => model.embed(x)));
      for (let i = 0; i < inputs.length; i++) expect(Array.from(many[i]!)).toEqual(Array.from(await one.embed(inputs[i]!)));
    } finally {
      model.dispose();
      one.dispose();
    }
  });

  /** As failsWithin3Runs, through the async calls. */
  async function rejectsWithin3Calls(model: MobileNet, code: string): Promise<string> {
    const one = await createModel(OPTIONS);
    const want = Array.from(await one.embed(input));
    one.dispose();
    for (let call = 0; call < 3; call++) {
      const t0 = performance.now();
      try {
        expect(Array.from(await model.embed(input))).toEqual(want);
      } catch (e) {
        expect(e).toMatchObject({ name: 'MobilenetError', code });
        expect(performance.now() - t0).toBeLessThan(STALL_MS + 2000);
        return (e as Error).message;
      }
    }
    throw new Error(`expected ${code} within 3 calls`);
  }

  it('a worker that hangs mid-run: the call rejects with ERR_WORKER (stall timer), the next at once', async () => {
    const model = await createModel({ ...OPTIONS, threads: 2 });
    poolOf(model).setHook(5, 0, 3);
    await rejectsWithin3Calls(model, ErrorCodes.WORKER);
    const t0 = performance.now();
    await expect(model.embed(input)).rejects.toMatchObject({ code: ErrorCodes.WORKER });
    expect(performance.now() - t0).toBeLessThan(100);
    model.dispose();
  });

  it("a worker that exits mid-run: its 'exit' event rejects the call with ERR_WORKER", async () => {
    const model = await createModel({ ...OPTIONS, threads: 2 });
    poolOf(model).setHook(3, 1, 1);
    expect(await rejectsWithin3Calls(model, ErrorCodes.WORKER)).toMatch(/thread worker 1 exited with code 7|no thread made progress|had not finished/);
    model.dispose();
  });

  it('dispose during a pending call rejects it with ERR_DISPOSED', async () => {
    const model = await createModel({ ...OPTIONS, threads: 2 });
    poolOf(model).setHook(5, 0, 3);
    const pending = model.embed(input);
    await new Promise((r) => setTimeout(r, 50));
    model.dispose();
    await expect(pending).rejects.toMatchObject({ code: ErrorCodes.DISPOSED });
  });
});
