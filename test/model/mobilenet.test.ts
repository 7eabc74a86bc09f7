// The model's API edge: inputs, end points, ndarray interop, weight values, dispose.
import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import { MobilenetError } from '../../src/errors.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { createModel } from '../../src/engine/create.js';
import { randomWeights } from '../../src/model/random.js';
import type { NamedTensor, WeightMap } from '../../src/model/weights.js';
import { Tensor } from '../../src/tensor.js';

const code = async (f: () => unknown) => {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(MobilenetError);
    return [(e as MobilenetError).code, (e as Error).message] as const;
  }
  throw new Error('expected a MobilenetError');
};

const small = { depthMultiplier: 0.25, inputSize: 32, backend: 'reference' } as const;
const input = (n: number, size = 32) => new Tensor(new Float32Array(n * size * size * 3).map((_, i) => Math.sin(i) * 0.9), [n, size, size, 3]);

describe('inputs', () => {
  it('refuses the wrong shape, batch 0, a plain array and non-finite values when asked (15, 17)', async () => {
    const model = await createModel(small);
    const [c1, m1] = await code(() => model.run(new Tensor(new Float32Array(31 * 32 * 3), [1, 31, 32, 3])));
    expect(c1).toBe('ERR_INPUT');
    expect(m1).toContain('[N, 32, 32, 3]');
    expect(m1).toContain('[1, 31, 32, 3]');
    expect((await code(() => new Tensor(new Float32Array(0), [0, 32, 32, 3])))[0]).toBe('ERR_INPUT');
    expect((await code(() => model.run([1, 2, 3] as never)))[0]).toBe('ERR_INPUT');
    const bad = input(1);
    bad.data[100] = NaN;
    const [c4, m4] = await code(() => model.run(bad, { checkFinite: true }));
    expect(c4).toBe('ERR_INPUT_NONFINITE');
    expect(m4).toContain('100');
    expect((await code(() => model.run(input(1), { outputs: ['Conv2d_99'] })))[0]).toBe('ERR_OPTION');
  });

  it('takes an ndarray (any strides) and gives the same result as the tensor', async () => {
    const model = await createModel(small);
    const t = input(2);
    const nd = ndarray(new Float64Array(t.data), [2, 32, 32, 3]);
    expect(model.predict(nd).data).toEqual(model.predict(t).data);
    // A transposed view: NWHC data seen as NHWC through strides.
    const nwhc = new Float32Array(t.size);
    for (let n = 0; n < 2; n++) for (let h = 0; h < 32; h++) for (let w = 0; w < 32; w++) for (let c = 0; c < 3; c++) {
      nwhc[((n * 32 + w) * 32 + h) * 3 + c] = t.data[((n * 32 + h) * 32 + w) * 3 + c]!;
    }
    const view = ndarray(nwhc, [2, 32, 32, 3], [32 * 32 * 3, 3, 32 * 3, 1]);
    expect(model.predict(view).data).toEqual(model.predict(t).data);
    const out = model.predict(t).toNdarray();
    expect(out.shape).toEqual([2, 1001]);
  });

  it('batch rows are independent: a batch of 3 equals three runs of 1', async () => {
    const model = await createModel(small);
    const t = input(3);
    const batched = model.predict(t).data;
    for (let n = 0; n < 3; n++) {
      const one = new Tensor(t.data.slice(n * 32 * 32 * 3, (n + 1) * 32 * 32 * 3), [1, 32, 32, 3]);
      expect(model.predict(one).data).toEqual(batched.slice(n * 1001, (n + 1) * 1001));
    }
  });

  it('returns every end point by name, with TF-Slim shapes', async () => {
    const model = await createModel(small);
    const out = model.run(input(2), { outputs: ['Conv2d_0', 'Conv2d_13_pointwise', 'AvgPool_1a', 'Logits', 'Predictions'] });
    expect(out.Conv2d_0!.shape).toEqual([2, 16, 16, 8]);
    expect(out.Conv2d_13_pointwise!.shape).toEqual([2, 1, 1, 256]);
    expect(out.AvgPool_1a!.shape).toEqual([2, 1, 1, 256]);
    expect(out.Logits!.shape).toEqual([2, 1001]);
    const p = out.Predictions!.data;
    const sum = p.slice(0, 1001).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
  });
});

describe('weights', () => {
  const arch = buildArchitecture({ depthMultiplier: 0.25, inputSize: 32 });
  it('a negative moving variance is refused: it would fold to NaN (13)', async () => {
    const w = randomWeights(arch, 1);
    w.get('MobilenetV1/Conv2d_3_pointwise/BatchNorm/moving_variance')!.data[2] = -1;
    const [c, m] = await code(() => createModel({ ...small, weights: w }));
    expect(c).toBe('ERR_WEIGHT_NONFINITE');
    expect(m).toContain('Conv2d_3_pointwise/BatchNorm/moving_variance: element 2');
  });
  it('finite BatchNorm values that fold to infinity are refused (13)', async () => {
    const w = randomWeights(arch, 1);
    w.get('MobilenetV1/Conv2d_2_depthwise/BatchNorm/gamma')!.data[3] = 3e38;
    w.get('MobilenetV1/Conv2d_2_depthwise/BatchNorm/moving_variance')!.data[3] = 0;
    const [c, m] = await code(() => createModel({ ...small, weights: w }));
    expect(c).toBe('ERR_WEIGHT_NONFINITE');
    expect(m).toContain('MobilenetV1/Conv2d_2_depthwise');
    expect(m).toContain('channel 3');
  });
  it('unknown fallback, strict and backend values are refused before any work', async () => {
    expect((await code(() => createModel({ ...small, fallback: 'maybe' as never })))[1]).toContain('fallback');
    expect((await code(() => createModel({ ...small, strict: 'yes' as never })))[1]).toContain('strict');
    expect((await code(() => createModel({ ...small, backend: 'gpu' as never })))[1]).toContain('backend');
    expect((await code(() => new Tensor(new Float32Array(3), 3 as never)))[0]).toBe('ERR_INPUT');
  });
  it('a weight for another alpha is refused with expected against actual (12)', async () => {
    const other = randomWeights(buildArchitecture({ depthMultiplier: 0.5, inputSize: 32 }), 1);
    const [c, m] = await code(() => createModel({ ...small, weights: other }));
    expect(c).toBe('ERR_WEIGHT_SHAPE');
    expect(m).toContain('expected [3,3,3,8], got [3,3,3,16]');
  });
  it('folded and unfolded BatchNorm give the same network', async () => {
    const w = randomWeights(arch, 5);
    const a = await createModel({ ...small, weights: w });
    const folded: WeightMap = new Map([...a.folded].flatMap((f): [string, NamedTensor][] => {
      const [kh, kw] = f.layer.kernel;
      const shape = f.layer.kind === 'depthwise' ? [kh, kw, f.layer.inShape[2], 1] : [kh, kw, f.layer.inShape[2], f.layer.outShape[2]];
      const wName = `${f.layer.scope}/${f.layer.kind === 'depthwise' ? 'depthwise_weights' : 'weights'}`;
      return [[wName, { shape, data: f.filter }], [`${f.layer.scope}/biases`, { shape: [f.layer.outShape[2]], data: f.bias }]];
    }));
    const b = await createModel({ ...small, weights: folded });
    expect(b.predict(input(1)).data).toEqual(a.predict(input(1)).data);
  });
});

describe('dispose', () => {
  it('any call after dispose() is refused (21)', async () => {
    for (const backend of ['reference', 'wasm'] as const) {
      const model = await createModel({ ...small, backend });
      model.dispose();
      model.dispose(); // twice is harmless
      expect((await code(() => model.predict(input(1))))[0]).toBe('ERR_DISPOSED');
    }
  });
});

describe('backend choice (18)', () => {
  it('without SIMD: ERR_NO_SIMD, or the reference path with a warning where the caller allowed it', async () => {
    const { readFileSync } = await import('node:fs');
    const { vi } = await import('vitest');
    const source = new Uint8Array(readFileSync(new URL('../../build/kernels.wasm', import.meta.url)));
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const [c, m] = await code(() => createModel({ ...small, backend: 'wasm', wasm: { source } }));
      expect(c).toBe('ERR_NO_SIMD');
      expect(m).toContain('SIMD');
      const model = await createModel({ ...small, backend: 'wasm', wasm: { source }, fallback: 'reference' });
      expect(model.backend).toBe('reference');
      expect(model.memoryBytes).toBeNull();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('falling back to the reference backend'));
    } finally {
      validate.mockRestore();
      warn.mockRestore();
    }
    const wasm = await createModel({ ...small, backend: 'wasm', wasm: { source } });
    expect(wasm.backend).toBe('wasm');
    expect(wasm.memoryBytes).toBeGreaterThan(0);
  });
});

describe('wasm and reference agree bit for bit on shapes the presets never use', () => {
  it('non-square kernels, stride 3, explicit padding, non-square input, batch 2', async () => {
    const options = {
      convDefs: [
        { type: 'Conv', kernel: [3, 1], stride: 2, depth: 12 },
        { type: 'DepthSepConv', kernel: [1, 3], stride: 1, depth: 20 },
        { type: 'DepthSepConv', kernel: [3, 5], stride: 3, depth: 9 },
        { type: 'Conv', kernel: [2, 2], stride: 1, depth: 5 },
      ],
      inputSize: [37, 30],
      useExplicitPadding: true,
      globalPool: true,
      numClasses: 7,
      seed: 4,
    } as const;
    const ref = await createModel({ ...options, backend: 'reference' });
    const wasm = await createModel({ ...options, backend: 'wasm' });
    const x = new Tensor(new Float32Array(2 * 37 * 30 * 3).map((_, i) => Math.cos(i * 0.37)), [2, 37, 30, 3]);
    const a = ref.run(x, { outputs: ref.endpoints });
    const b = wasm.run(x, { outputs: wasm.endpoints });
    for (const name of ref.endpoints) expect(b[name]!.data, name).toEqual(a[name]!.data);
  });
});
