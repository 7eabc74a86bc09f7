/**
 * The deterministic arithmetic of the heads (src/head/math.ts), the wasm similarities against the
 * JavaScript ones (the same bits), the wasm bytes against their source, and the linear optimiser.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExampleStore } from '../../src/head/knn.js';
import { trainLinear } from '../../src/head/linear.js';
import { dot, exp, l2Normalize, log, quantile, rsqrt } from '../../src/head/math.js';
import { SIMS_WASM, setWasmSimilarities } from '../../src/head/simd.js';
import { mulberry32 } from '../../src/model/random.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('deterministic log, rsqrt, exp', () => {
  const next = mulberry32(1);
  const u = () => next() / 2 ** 32;
  const samples = [
    ...Array.from({ length: 20000 }, () => u() * 4),
    ...Array.from({ length: 5000 }, () => 2 ** (u() * 2000 - 1000)),
    Number.MIN_VALUE, 2.2250738585072014e-308, 1e-310, Number.MAX_VALUE, 1, 2, 0.5, Math.SQRT2, Math.SQRT1_2, 1 + 2 ** -52, 1 - 2 ** -53,
  ].filter((x) => x > 0);

  it('log agrees with Math.log to about one ulp, and its special values', () => {
    let worst = 0;
    for (const x of samples) {
      const want = Math.log(x);
      worst = Math.max(worst, want === 0 ? Math.abs(log(x)) : rel(log(x), want));
    }
    expect(worst).toBeLessThan(4e-16);
    expect(log(1)).toBe(0);
    expect(log(0)).toBe(-Infinity);
    expect(log(Infinity)).toBe(Infinity);
    expect(log(-1)).toBeNaN();
    expect(log(NaN)).toBeNaN();
  });

  it('rsqrt agrees with 1 / Math.sqrt to about one ulp; 0 for 0 and below', () => {
    let worst = 0;
    for (const x of samples) worst = Math.max(worst, rel(rsqrt(x), 1 / Math.sqrt(x)));
    expect(worst).toBeLessThan(4e-16);
    expect(rsqrt(0)).toBe(0);
    expect(rsqrt(-4)).toBe(0);
    expect(rsqrt(4)).toBe(0.5);
  });

  it('exp (the reference kernels\') and log invert each other', () => {
    for (const x of [-700, -20, -1, -1e-9, 0, 1e-9, 0.5, 1, 10, 700]) expect(Math.abs(log(exp(x)) - x)).toBeLessThan(1e-15 * Math.max(1, Math.abs(x)));
  });

  it('l2Normalize makes unit vectors; quantile takes the lower middle', () => {
    const v = l2Normalize([3, 4]);
    expect(Array.from(v)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(l2Normalize([0, 0]))).toEqual([0, 0]);
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([5, 1, 3, 2, 4], 0)).toBe(1);
  });
});

describe('kNN similarities: WebAssembly SIMD and JavaScript give the same bits', () => {
  it('SIMS_WASM is src/head/sims.wat compiled by binaryen', async () => {
    const binaryen = (await import('binaryen')).default;
    const text = readFileSync(new URL('../../src/head/sims.wat', import.meta.url), 'utf8');
    const m = binaryen.parseText(text);
    m.setFeatures(binaryen.Features.SIMD128 | binaryen.Features.MVP);
    expect(m.validate()).toBeTruthy();
    expect(Array.from(m.emitBinary())).toEqual(Array.from(SIMS_WASM));
    m.dispose();
  });

  for (const dim of [512, 1024, 13, 7, 1001]) {
    it(`dim ${dim}, 2,100 rows (three chunks)`, () => {
      const next = mulberry32(dim);
      const rows = Array.from({ length: 2100 }, () => l2Normalize(Array.from({ length: dim }, () => next() / 2 ** 32 - 0.3)));
      const query = l2Normalize(Array.from({ length: dim }, () => next() / 2 ** 32));
      const stores = [true, false].map((wasm) => {
        setWasmSimilarities(wasm);
        const store = new ExampleStore(dim);
        rows.forEach((r, i) => store.add(r, i % 5));
        return store;
      });
      setWasmSimilarities(true);
      const [simd, js] = stores.map((s) => s.similarities(query));
      expect(Buffer.from(simd!.buffer).equals(Buffer.from(js!.buffer))).toBe(true);
      expect(js![17]).toBe(dot(rows[17]!, 0, query, dim));
      const scores = stores.map((s) => s.classScores(s.similarities(query), 5, 3));
      expect(Array.from(scores[0]!)).toEqual(Array.from(scores[1]!));
    });
  }
});

describe('linear optimiser', () => {
  it('separable data: every training example right, the same bits twice, and the loss falls with less L2', () => {
    const next = mulberry32(4);
    const dim = 32;
    const n = 120;
    const x = new Float32Array(n * dim);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 3;
      const row = Array.from({ length: dim }, (_, d) => next() / 2 ** 32 + (d % 3 === y[i] ? 0.6 : 0));
      x.set(l2Normalize(row), i * dim);
    }
    const fit = trainLinear(x, y, 3, dim, { l2: 1e-3, maxIterations: 200, tolerance: 1e-6, classWeight: 'balanced' });
    const again = trainLinear(x, y, 3, dim, { l2: 1e-3, maxIterations: 200, tolerance: 1e-6, classWeight: 'balanced' });
    expect(Buffer.from(fit.weight.buffer).equals(Buffer.from(again.weight.buffer))).toBe(true);
    for (let i = 0; i < n; i++) {
      const logits = [0, 1, 2].map((c) => fit.bias[c]! + dot(fit.weight, c * dim, x.subarray(i * dim, (i + 1) * dim), dim));
      expect(logits.indexOf(Math.max(...logits))).toBe(y[i]);
    }
    const loose = trainLinear(x, y, 3, dim, { l2: 1e-5, maxIterations: 200, tolerance: 1e-6, classWeight: 'balanced' });
    expect(loose.loss).toBeLessThan(fit.loss);
    expect(fit.iterations).toBeLessThan(200);
  });
});
