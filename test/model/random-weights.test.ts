// Seeded weights: deterministic, and alive in every end point of the 16 alpha x rho models.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildArchitecture } from '../../src/model/architecture.js';
import { createModel } from '../../src/engine/create.js';
import { mulberry32, randomWeights } from '../../src/model/random.js';
import { Tensor } from '../../src/tensor.js';

const digest = (weights: ReturnType<typeof randomWeights>) => {
  const h = createHash('sha256');
  for (const [name, t] of weights) h.update(name).update(new Uint8Array(t.data.buffer));
  return h.digest('hex');
};

describe('mulberry32', () => {
  it('matches the published reference sequence for seed 0', () => {
    // mulberry32 by Tommy Ettinger, as widely published in C: first outputs for seed 0
    // computed here in BigInt arithmetic, independently of the Math.imul implementation.
    const ref = (seed: number) => {
      let a = BigInt(seed);
      const M = (1n << 32n) - 1n;
      return () => {
        a = (a + 0x6d2b79f5n) & M;
        let t = a;
        t = ((t ^ (t >> 15n)) * (t | 1n)) & M;
        t ^= (t + (((t ^ (t >> 7n)) * (t | 61n)) & M)) & M;
        return Number((t ^ (t >> 14n)) & M);
      };
    };
    for (const seed of [0, 1, 42, 0xffffffff]) {
      const a = mulberry32(seed);
      const b = ref(seed);
      for (let i = 0; i < 1000; i++) expect(a()).toBe(b());
    }
  });
});

describe('randomWeights', () => {
  const arch = buildArchitecture({ depthMultiplier: 0.25, inputSize: 128 });
  it('same seed, same bytes; another seed, other bytes', () => {
    expect(digest(randomWeights(arch, 7))).toBe(digest(randomWeights(arch, 7)));
    expect(digest(randomWeights(arch, 7))).not.toBe(digest(randomWeights(arch, 8)));
  });
  it('weights follow a truncated normal with stddev about 0.09 (clipped at 2 sigma)', () => {
    const w = randomWeights(buildArchitecture({}), 1).get('MobilenetV1/Conv2d_13_pointwise/weights')!.data;
    let sum = 0;
    let sq = 0;
    let max = 0;
    for (const v of w) {
      sum += v;
      sq += v * v;
      max = Math.max(max, Math.abs(v));
    }
    const mean = sum / w.length;
    const sd = Math.sqrt(sq / w.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.001);
    expect(sd).toBeGreaterThan(0.09 * 0.85); // truncation at 2 sigma leaves sd 0.88 * 0.09
    expect(sd).toBeLessThan(0.09 * 0.9);
    expect(max).toBeLessThanOrEqual(Math.fround(0.18));
  });
});

describe('no end point is degenerate in the 16 alpha x rho models', () => {
  for (const alpha of [1, 0.75, 0.5, 0.25]) {
    for (const size of [224, 192, 160, 128]) {
      it(`alpha=${alpha} H=W=${size}`, async () => {
        const model = await createModel({ depthMultiplier: alpha, inputSize: size, seed: 3 });
        const input = new Float32Array(size * size * 3);
        const next = mulberry32(99);
        for (let i = 0; i < input.length; i++) input[i] = (next() / 2 ** 32) * 2 - 1;
        const out = model.run(new Tensor(input, [1, size, size, 3]), { outputs: model.endpoints });
        for (const [name, t] of Object.entries(out)) {
          let zeros = 0;
          let six = 0;
          let finite = 0;
          for (const v of t.data) {
            if (v === 0) zeros++;
            if (v === 6) six++;
            if (Number.isFinite(v)) finite++;
          }
          expect(finite, `${name} finite`).toBe(t.size);
          expect(zeros, `${name} all zero`).toBeLessThan(t.size * 0.9);
          expect(six, `${name} clamped at 6`).toBeLessThan(t.size * 0.5);
        }
        // The classifier is not flat: the logits spread.
        const logits = out.Logits!.data;
        expect(Math.max(...logits) - Math.min(...logits)).toBeGreaterThan(0.1);
      });
    }
  }
});
