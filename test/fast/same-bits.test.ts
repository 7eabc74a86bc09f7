/**
 * The fast tier where the engine has relaxed SIMD (Node 22+, or Node 20 with
 * --experimental-wasm-relaxed-simd: test/fast/runtimes.test.ts runs this file so): the wasm
 * fast kernels against the reference's fused twin (src/reference/fma.ts) bit for bit, on
 * several configurations, batches, every end point, at 1 and 2 threads; and on the real float
 * model and the shared photos, the fast logits within 1e-5 of exact's max|logit|.
 *
 * Where relaxed_madd is unfused (a CPU without FMA: the known-answer probe says so), the twin
 * cannot match: that check is skipped with the reason, and fast must give exact's bits instead
 * (an unfused relaxed_madd is the same mul and add). Where there is no relaxed SIMD at all (plain
 * Node 20, the main run), this file is skipped: test/fast/options.test.ts checks the fallback.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { createModel, type CreateModelOptions } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import { Tensor } from '../../src/tensor.js';
import { relaxedSimd } from '../../src/wasm/relaxed.js';
import type * as Package from '../../src/index.js';
import { repoRoot, requireShared, sharedPath } from '../helpers/shared.js';
import { expectBitExact, randomArray } from '../wasm/harness.js';

// The worker runs the compiled package (as in test/engine/worker.test.ts): its entry is
// dist/engine/worker/entry-node.js, after `npm run build`.
const DIST = join(repoRoot, 'dist');
const HAVE_DIST = existsSync(join(DIST, 'engine', 'worker', 'entry-node.js'));
const distUrl = (rel: string) => pathToFileURL(join(DIST, rel)).href;
vi.mock('#spawn-worker', () => import(/* @vite-ignore */ distUrl('platform/spawn-node.js')));

const support = relaxedSimd();
const HAVE_RELAXED = typeof support !== 'string';
if (!HAVE_RELAXED) console.warn(`SKIPPED test/fast/same-bits.test.ts here (${process.version}): ${support}; test/fast/runtimes.test.ts runs it where there is`);
const FUSED = HAVE_RELAXED && support.fused;
const UNFUSED_REASON = 'relaxed_madd is unfused on this CPU (no FMA: the known-answer probe rounds twice), so the fused reference twin cannot match bit for bit';

const CONFIGS: { name: string; options: CreateModelOptions; batches: number[]; threads: number[] }[] = [
  { name: 'alpha 0.25 @ 128', options: { alpha: 0.25, inputSize: 128 }, batches: [1, 2], threads: [1, 2] },
  { name: 'alpha 0.5 @ 96, output_stride 8 (dilated depthwise), explicit padding, global pool', options: { alpha: 0.5, inputSize: 96, outputStride: 8, useExplicitPadding: true, globalPool: true }, batches: [1], threads: [1, 2] },
  { name: 'alpha 0.35, rho 0.3 (67, odd), global pool', options: { alpha: 0.35, rho: 0.3, globalPool: true }, batches: [3], threads: [1, 2] },
  { name: 'alpha 0.5 @ 64, final end point Conv2d_9_pointwise', options: { alpha: 0.5, inputSize: 64, finalEndpoint: 'Conv2d_9_pointwise' }, batches: [2], threads: [1, 2] },
  { name: 'conv preset, alpha 0.25 @ 64, 10 classes', options: { alpha: 0.25, inputSize: 64, convDefs: 'conv', numClasses: 10 }, batches: [1], threads: [1] },
  { name: 'torch flavour, alpha 0.25 @ 224', options: { alpha: 0.25, inputSize: 224, flavour: 'torch' }, batches: [1], threads: [2] },
];

describe.skipIf(!HAVE_RELAXED)('the fast tier: wasm relaxed_madd kernels against the fused reference twin', () => {
  it(`reports precision fast and fusedMultiplyAdd ${FUSED} (the probe) at 1 and 2 threads`, async () => {
    for (const threads of [1, 2]) {
      const model = await createModel({ alpha: 0.25, inputSize: 64, precision: 'fast', threads });
      expect(model.precision).toBe('fast');
      expect(model.fusedMultiplyAdd).toBe(FUSED);
      expect(model.threads).toBe(threads);
      model.dispose();
    }
    console.log(`fast tier, Node ${process.version}: relaxed_madd ${FUSED ? 'fused' : 'unfused'}`);
  });

  for (const c of CONFIGS) {
    it(`${c.name}: every end point, batches ${c.batches.join(', ')}, threads ${c.threads.join(', ')}`, async () => {
      const seed = 5;
      const twin = await createModel({ ...c.options, seed, backend: 'reference', precision: 'fast' });
      const exact = await createModel({ ...c.options, seed });
      const fast = await Promise.all(c.threads.map((threads) => createModel({ ...c.options, seed, precision: 'fast', threads })));
      try {
        expect(twin.fusedMultiplyAdd).toBe(true);
        const [H, W] = twin.architecture.inputShape;
        const outputs = [...twin.endpoints];
        let differsFromExact = false;
        for (const batch of c.batches) {
          const input = new Tensor(randomArray(batch * H * W * 3, seed + batch), [batch, H, W, 3]);
          const expected = FUSED ? twin.run(input, { outputs }) : exact.run(input, { outputs });
          const plain = exact.run(input, { outputs });
          for (const m of fast) {
            const actual = m.run(input, { outputs });
            for (const name of outputs) {
              expectBitExact(actual[name]!.data, expected[name]!.data, `${FUSED ? 'twin' : 'exact (unfused)'}, threads ${m.threads}, batch ${batch}, ${name}`);
              if (!actual[name]!.data.every((v, i) => Object.is(v, plain[name]!.data[i]))) differsFromExact = true;
            }
          }
        }
        // Fused, the tiers differ somewhere (else this test would not tell them apart).
        if (FUSED) expect(differsFromExact).toBe(true);
      } finally {
        for (const m of [twin, exact, ...fast]) m.dispose();
      }
    });
  }

  it.skipIf(!HAVE_DIST)('in a worker ({ worker: true }): the model says fast, and gives the bits of the fast model in this thread', async () => {
    const pkg = (await import(/* @vite-ignore */ distUrl('index.js'))) as typeof Package;
    const here = await pkg.load(undefined, { precision: 'fast', dequantize: true });
    const remote = await pkg.load(undefined, { precision: 'fast', worker: true, dequantize: true });
    try {
      expect([remote.precision, remote.fusedMultiplyAdd, remote.inWorker]).toEqual(['fast', FUSED, true]);
      const pixels = { data: new Uint8Array(randomArray(48 * 40 * 3, 9).map((v) => Math.floor((v + 1) * 127))), width: 48, height: 40 };
      expectBitExact(await remote.embed(pixels), await here.embed(pixels), 'worker');
    } finally {
      here.dispose();
      remote.dispose();
    }
  });

  it.skipIf(FUSED)(`(unfused) ${UNFUSED_REASON}: skipped the twin, checked exact's bits instead`, () => {});

  const MODEL = 'models/mobilenet_v1_0.25_224/model.json';
  describe.skipIf(!requireShared(MODEL, 'images'))('the real model', () => {
    it('mobilenet_v1_0.25_224 (float TF.js) on every shared photo: fast logits within 1e-5 of max|exact logit|, the same top-1, at 1 and 2 threads', async () => {
      const exact = await load(sharedPath(MODEL));
      const fast = [await load(sharedPath(MODEL), { precision: 'fast' }), await load(sharedPath(MODEL), { precision: 'fast', threads: 2 })];
      try {
        expect(fast.map((m) => [m.precision, m.threads])).toEqual([['fast', 1], ['fast', 2]]);
        const photos = readdirSync(sharedPath('images')).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
        expect(photos.length).toBeGreaterThan(0);
        let worst = 0;
        for (const photo of photos) {
          const bytes = sharedPath(`images/${photo}`);
          const e = await exact.embed(bytes, { endpoint: 'Logits' });
          const scale = Math.max(...e.map(Math.abs));
          const [top] = await exact.classify(bytes, 1);
          for (const m of fast) {
            const f = await m.embed(bytes, { endpoint: 'Logits' });
            let diff = 0;
            for (let i = 0; i < e.length; i++) diff = Math.max(diff, Math.abs(f[i]! - e[i]!));
            worst = Math.max(worst, diff / scale);
            expect(diff, `${photo} at ${m.threads} threads: max|fast - exact| ${diff} against max|logit| ${scale}`).toBeLessThanOrEqual(1e-5 * scale);
            expect((await m.classify(bytes, 1))[0]!.index, photo).toBe(top!.index);
          }
        }
        console.log(`fast tier, real model, Node ${process.version}: max|fast - exact| / max|logit| = ${worst.toExponential(2)} over ${photos.length} photos`);
      } finally {
        exact.dispose();
        for (const m of fast) m.dispose();
      }
    });
  });
});
