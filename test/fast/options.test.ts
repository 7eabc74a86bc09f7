/**
 * The `precision` option: what is refused (ERR_OPTION), what `model.precision` and
 * `model.fusedMultiplyAdd` report, the reference backend's fused twin, `wasm.source` naming the
 * fast builds, and, where the engine has no relaxed SIMD (plain Node 20, the main run), the
 * fallback to exact with one warning per reason and exact's bits.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { createModel } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import { Tensor } from '../../src/tensor.js';
import { compileKernels } from '../../src/wasm/loader.js';
import { relaxedSimd } from '../../src/wasm/relaxed.js';
import { expectBitExact, randomArray, wasmBytes } from '../wasm/harness.js';

const build = (file: string) => () => readFileSync(new URL(`../../build/${file}`, import.meta.url));
const relaxedBytes = build('kernels-relaxed.wasm');
const threadsRelaxedBytes = build('kernels-threads-relaxed.wasm');
const SMALL = { depthMultiplier: 0.25, inputSize: 64, seed: 5 } as const;
const input = new Tensor(randomArray(64 * 64 * 3, 6), [1, 64, 64, 3]);
const support = relaxedSimd();
const HAVE_RELAXED = typeof support !== 'string';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('precision: what is refused', () => {
  const bad: unknown[] = ['Fast', 'exactly', 'relaxed', '', 1, 0, null, true, ['fast'], { precision: 'fast' }];
  it.each(bad.map((v) => [JSON.stringify(v), v]))('precision: %s is ERR_OPTION from createModel and load', async (_, value) => {
    await expect(createModel({ ...SMALL, precision: value as 'fast' })).rejects.toMatchObject({ code: ErrorCodes.OPTION, message: expect.stringMatching(/option precision: expected "exact" or "fast"/) });
    await expect(load(undefined, { precision: value as 'fast' })).rejects.toMatchObject({ code: ErrorCodes.OPTION, message: expect.stringMatching(/option precision/) });
  });
  it('a wasm.source map with an unknown build name is ERR_OPTION naming the four', async () => {
    await expect(createModel({ ...SMALL, wasm: { source: { fast: relaxedBytes() } as never } })).rejects.toMatchObject({ code: ErrorCodes.OPTION, message: expect.stringMatching(/simd, threads, relaxed, threadsRelaxed.*fast/) });
  });
});

describe('precision: exact (the default)', () => {
  it('model.precision is exact and fusedMultiplyAdd false, on both backends', async () => {
    for (const backend of ['wasm', 'reference'] as const) {
      const model = await createModel({ ...SMALL, backend });
      expect([model.precision, model.fusedMultiplyAdd]).toEqual(['exact', false]);
      model.dispose();
    }
  });
});

describe('precision: fast on the reference backend (the fused twin)', () => {
  it('reports fast and fused, and differs from exact (fused multiply-adds round once)', async () => {
    const twin = await createModel({ ...SMALL, backend: 'reference', precision: 'fast' });
    const exact = await createModel({ ...SMALL, backend: 'reference' });
    expect([twin.precision, twin.fusedMultiplyAdd]).toEqual(['fast', true]);
    const a = twin.run(input, { outputs: ['Logits'] }).Logits!.data;
    const b = exact.run(input, { outputs: ['Logits'] }).Logits!.data;
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    // Close: the same order, one rounding fewer per multiply-add.
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
  });
});

describe.skipIf(HAVE_RELAXED)(`without relaxed SIMD (${process.version}${HAVE_RELAXED ? '' : ': ' + support})`, () => {
  it('precision fast runs exact, with one warning per process, and exact\'s bits, at 1 and 2 threads', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const exact = await createModel(SMALL);
    const expected = exact.run(input, { outputs: ['Logits'] }).Logits!.data;
    for (const threads of [1, 2, 1]) {
      const model = await createModel({ ...SMALL, precision: 'fast', threads });
      expect([model.precision, model.fusedMultiplyAdd, model.threads]).toEqual(['exact', false, threads]);
      expectBitExact(model.run(input, { outputs: ['Logits'] }).Logits!.data, expected, `fallback, threads ${threads}`);
      model.dispose();
    }
    const said = warn.mock.calls.map((c) => String(c[0])).filter((m) => /precision/.test(m));
    // Once per reason per process: at most once here (an earlier test in this process may have said it already).
    expect(said.length).toBeLessThanOrEqual(1);
    for (const m of said) expect(m).toMatch(/precision: "fast" asked, running "exact": this engine has no relaxed WebAssembly SIMD \(Node 22\+, Chrome 114\+.*--experimental-wasm-relaxed-simd\)/);
    exact.dispose();
  });
  it('load() with precision fast: the same fallback, the model says exact', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const model = await load(undefined, { precision: 'fast', dequantize: true });
    expect(model.precision).toBe('exact');
    model.dispose();
  });
  it('the fast builds themselves are refused with ERR_NO_SIMD saying why', async () => {
    await expect(compileKernels(relaxedBytes(), 'relaxed')).rejects.toMatchObject({ code: ErrorCodes.NO_SIMD, message: expect.stringMatching(/relaxed/) });
    await expect(compileKernels(threadsRelaxedBytes(), 'threadsRelaxed')).rejects.toMatchObject({ code: ErrorCodes.NO_SIMD });
  });
});

describe.skipIf(!HAVE_RELAXED)('with relaxed SIMD', () => {
  it('wasm.source names the fast builds ({ relaxed, threadsRelaxed }); the package\'s own otherwise; the same bits', async () => {
    const own = await createModel({ ...SMALL, precision: 'fast' });
    const given = await createModel({ ...SMALL, precision: 'fast', wasm: { source: { relaxed: relaxedBytes(), threadsRelaxed: threadsRelaxedBytes() } } });
    const threaded = await createModel({ ...SMALL, precision: 'fast', threads: 2, wasm: { source: { simd: wasmBytes(), threadsRelaxed: threadsRelaxedBytes() } } });
    expect([own.precision, given.precision, threaded.precision, threaded.threads]).toEqual(['fast', 'fast', 'fast', 2]);
    const expected = own.run(input, { outputs: ['Logits'] }).Logits!.data;
    expectBitExact(given.run(input, { outputs: ['Logits'] }).Logits!.data, expected, 'given');
    expectBitExact(threaded.run(input, { outputs: ['Logits'] }).Logits!.data, expected, 'threaded');
    for (const m of [own, given, threaded]) m.dispose();
  });
  it('an exact build passed as a fast one is ERR_WASM_BYTES', async () => {
    // The base build has no relaxed_madd: the self-test finds the unfused result where the probe says fused, or the exports differ.
    await expect(createModel({ ...SMALL, precision: 'fast', wasm: { source: { relaxed: readFileSync(new URL('../../build/kernels-threads.wasm', import.meta.url)) } } })).rejects.toMatchObject({ code: ErrorCodes.WASM_BYTES });
  });
});
