/**
 * The `threads` option and the builds it needs: what is refused (ERR_OPTION), what `auto` means,
 * `wasm.source` as one source or `{ simd, threads }`, and the one-thread fallback where threads
 * cannot run (no SharedArrayBuffer, a page that is not cross-origin isolated, a runtime without
 * workers, workers that cannot start, the reference backend), with its warning, once per reason.
 */
import { readFileSync } from 'node:fs';
import { platform } from '#platform';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { createModel } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import type { Platform } from '../../src/platform/types.js';
import { Tensor } from '../../src/tensor.js';
import { randomArray, wasmBytes } from '../wasm/harness.js';

const threadsBytes = () => readFileSync(new URL('../../build/kernels-threads.wasm', import.meta.url));
const SMALL = { depthMultiplier: 0.25, inputSize: 64, seed: 5 } as const;
const input = new Tensor(randomArray(64 * 64 * 3, 6), [1, 64, 64, 3]);

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('threads: what is refused', () => {
  const bad: unknown[] = [0, -1, 1.5, NaN, Infinity, 65, '2', 'all', 'AUTO', null, true, [2], { n: 2 }, 2n];
  it.each(bad.map((v) => [typeof v === 'bigint' ? `${v}n` : typeof v === 'number' ? String(v) : JSON.stringify(v), v]))('threads: %s is ERR_OPTION from createModel and load', async (_, value) => {
    await expect(createModel({ ...SMALL, threads: value as number })).rejects.toMatchObject({ code: ErrorCodes.OPTION, message: expect.stringMatching(/option threads: expected a positive integer \(at most 64\) or "auto"/) });
    await expect(load(undefined, { threads: value as number })).rejects.toMatchObject({ code: ErrorCodes.OPTION, message: expect.stringMatching(/option threads/) });
  });
  it('a wasm.source map with unknown keys, or none, is ERR_OPTION', async () => {
    await expect(createModel({ ...SMALL, wasm: { source: { simd: wasmBytes(), thread: threadsBytes() } as never } })).rejects.toMatchObject({ code: ErrorCodes.OPTION, message: expect.stringMatching(/simd, threads.*thread/) });
    await expect(createModel({ ...SMALL, wasm: { source: {} as never } })).rejects.toMatchObject({ code: ErrorCodes.OPTION, message: expect.stringMatching(/no keys/) });
  });
  it('a build passed as the other is ERR_WASM_BYTES naming what is wrong', async () => {
    await expect(createModel({ ...SMALL, threads: 2, wasm: { source: { threads: wasmBytes() } } })).rejects.toMatchObject({ code: ErrorCodes.WASM_BYTES, message: expect.stringMatching(/lacks the exports run_tiles, TILES_ABI, Q8_TILES \(is it kernels-threads.wasm\?\)/) });
    await expect(createModel({ ...SMALL, wasm: { source: threadsBytes() } })).rejects.toMatchObject({ code: ErrorCodes.WASM_BYTES, message: expect.stringMatching(/cannot be instantiated with one imported memory/) });
  });
});

describe('threads: what is accepted', () => {
  it('"auto" is the cores the platform reports (capped at 64), and 1 core means one thread without a warning', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const cores = vi.spyOn(platform, 'availableParallelism').mockReturnValue(3);
    let model = await createModel({ ...SMALL, threads: 'auto' });
    expect(model.threads).toBe(3);
    model.dispose();
    cores.mockReturnValue(1);
    model = await createModel({ ...SMALL, threads: 'auto' });
    expect(model.threads).toBe(1);
    model.dispose();
    cores.mockReturnValue(500);
    model = await createModel({ ...SMALL, threads: 'auto' });
    expect(model.threads).toBe(64);
    model.dispose();
    expect(warn).not.toHaveBeenCalled();
  });
  it('wasm.source as one source (the SIMD build) or { simd, threads }; the same bits', async () => {
    const one = await createModel({ ...SMALL, wasm: { source: wasmBytes() } });
    const both = await createModel({ ...SMALL, threads: 2, wasm: { source: { simd: wasmBytes(), threads: threadsBytes() } } });
    const single = await createModel({ ...SMALL, threads: 2, wasm: { source: wasmBytes() } });
    const onlyThreads = await createModel({ ...SMALL, threads: 2, wasm: { source: { threads: new URL('../../build/kernels-threads.wasm', import.meta.url) } } });
    const expected = Array.from(one.predict(input).data);
    for (const m of [both, single, onlyThreads]) {
      expect(m.threads).toBe(2);
      expect(Array.from(m.predict(input).data)).toEqual(expected);
      m.dispose();
    }
    one.dispose();
  });
  it('load() passes threads through (the float path: the default model with dequantize: true)', async () => {
    const model = await load(undefined, { threads: 2, dequantize: true });
    expect(model.threads).toBe(2);
    const one = await load(undefined, { dequantize: true });
    const x = new Tensor(randomArray(160 * 160 * 3, 1), [1, 160, 160, 3]);
    expect(await model.classifyBatch(x, 5)).toEqual(await one.classifyBatch(x, 5));
    model.dispose();
    one.dispose();
  });
});

describe('where threads cannot run: one thread, model.threads 1, one warning per reason', () => {
  async function oneThread(reason: RegExp, options: Record<string, unknown> = {}): Promise<void> {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const expected = Array.from((await createModel(SMALL)).predict(input).data);
    for (let i = 0; i < 2; i++) {
      const model = await createModel({ ...SMALL, threads: 2, ...options });
      expect(model.threads).toBe(1);
      expect(Array.from(model.predict(input).data)).toEqual(expected);
      model.dispose();
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/^mobilenet-wasm: threads: 2 asked, running on one thread: /);
    expect(warn.mock.calls[0]![0]).toMatch(reason);
  }
  it('no SharedArrayBuffer', () => {
    vi.stubGlobal('SharedArrayBuffer', undefined);
    return oneThread(/this runtime has no SharedArrayBuffer/);
  });
  it('a page that is not cross-origin isolated (no SharedArrayBuffer there either)', async () => {
    vi.stubGlobal('crossOriginIsolated', false);
    await oneThread(/not cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
    vi.stubGlobal('SharedArrayBuffer', undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const model = await createModel({ ...SMALL, threads: 2 });
    expect(model.threads).toBe(1);
    expect(warn.mock.calls.at(-1)![0]).toMatch(/not cross-origin isolated, so it has no SharedArrayBuffer/);
    model.dispose();
  });
  /** Runs `f` with the platform's thread spawner replaced. */
  async function withSpawner(spawn: Platform['spawnThread'], f: () => Promise<void>): Promise<void> {
    const mutable = platform as { spawnThread?: Platform['spawnThread'] };
    const saved = mutable.spawnThread;
    mutable.spawnThread = spawn;
    try {
      await f();
    } finally {
      mutable.spawnThread = saved;
    }
  }
  it('a runtime that cannot start workers (as Cloudflare Workers)', () => withSpawner(undefined, () => oneThread(/cannot start workers/)));
  it('workers that cannot start (a CSP without blob: workers, a failing spawn)', () =>
    withSpawner(async () => {
      throw new Error('blocked by Content-Security-Policy');
    }, () => oneThread(/its thread workers could not start .*blocked by Content-Security-Policy/)));
  it('the reference backend', () => oneThread(/the reference backend runs on one thread/, { backend: 'reference' }));
});
