/**
 * The fast build's kernels (build/kernels-relaxed.wasm) one by one, where the engine has relaxed
 * SIMD (test/fast/runtimes.test.ts runs this file on Node 20 with the flag, 22 and 24): each SIMD
 * kernel and its scalar twin against the reference's fused twin (GEMM and dense convolution:
 * `pointwiseConv2dRef(..., fused)`, `conv2dRef({ fused })`) bit for bit, over channel counts
 * around the tiles, K from 1, every activation, padding, stride and dilation; the depthwise and
 * pooling kernels, which keep a mul and an add in the fast build, against the exact reference.
 * Unfused (a CPU without FMA), the expected values are the exact reference's.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Activation } from '../../src/model/architecture.js';
import { avgPoolRef, conv2dRef, depthwiseConv2dRef, pointwiseConv2dRef, type ConvGeometry } from '../../src/reference/kernels.js';
import { clampRange, gemm, gemmScratchBytes } from '../../src/wasm/backend.js';
import { KERNEL_FAMILIES, familyKernels, scalarKernels } from '../../src/wasm/kernels.js';
import { compileKernels } from '../../src/wasm/loader.js';
import { packConv, packDepthwise, packGemm } from '../../src/wasm/pack.js';
import { relaxedSimd } from '../../src/wasm/relaxed.js';
import { Harness, expectBitExact, pad, randomArray, type PadMode } from '../wasm/harness.js';

// Each family's kernels share one signature (as in test/wasm/kernels.test.ts).
type Family<F extends keyof typeof KERNEL_FAMILIES> = (typeof KERNEL_FAMILIES)[F]['simd'][number] | (typeof KERNEL_FAMILIES)[F]['scalar'];

const support = relaxedSimd();
const HAVE_RELAXED = typeof support !== 'string';
const FUSED = HAVE_RELAXED && support.fused;
const ACTS: Activation[] = ['relu6', 'relu', 'none'];
const MODES: PadMode[] = ['same', 'explicit', 'symmetric', 'valid'];

describe.skipIf(!HAVE_RELAXED)(`kernels-relaxed.wasm against the ${FUSED ? 'fused twin' : 'exact reference (relaxed_madd unfused here)'}`, () => {
  let h: Harness;
  beforeAll(async () => {
    h = new Harness(await compileKernels(readFileSync(new URL('../../build/kernels-relaxed.wasm', import.meta.url)), 'relaxed'));
  });

  it('GEMM (4x8, 1x8, packed, scalar twins): m = 1..9, 17; k = 1, 3, 8, 33; n = 1, 5, 8, 9, 16, 17, 33', () => {
    let seed = 1;
    let differ = 0;
    for (const m of [1, 2, 3, 4, 5, 9, 17]) for (const k of [1, 3, 8, 33]) for (const n of [1, 5, 8, 9, 16, 17, 33]) {
      const act = ACTS[seed % 3]!;
      h.reset();
      const a = randomArray(m * k, seed, 2);
      const filter = randomArray(k * n, seed + 1, 0.5);
      const bias = randomArray(n, seed + 2, 0.5);
      const expected = pointwiseConv2dRef(a, filter, bias, m, k, n, act, FUSED);
      if (pointwiseConv2dRef(a, filter, bias, m, k, n, act).some((v, i) => !Object.is(v, expected[i]))) differ++;
      const w = h.put(packGemm(filter, bias, k, n));
      const ap = h.put(a);
      const [lo, hi] = clampRange(act);
      for (const name of familyKernels('gemm') as Family<'gemm'>[]) {
        const c = h.output(m * n);
        h.kernels[name](m, n, k, ap, k * 4, w, c, n * 4, lo, hi);
        expectBitExact(h.read(c, m * n), expected, `${name} m=${m} k=${k} n=${n} ${act}`);
      }
      for (const [tier, kernels] of [['simd', h.kernels], ['scalar', scalarKernels(h.kernels)]] as const) {
        const scratch = h.output(gemmScratchBytes(k) / 4);
        const c = h.output(m * n);
        gemm(kernels, m, n, k, ap, w, c, lo, hi, scratch);
        expectBitExact(h.read(c, m * n), expected, `packed ${tier} m=${m} k=${k} n=${n} ${act}`);
      }
      seed += 3;
    }
    // Fused, the cases tell the builds apart (a base build would fail here).
    if (FUSED) expect(differ).toBeGreaterThan(50);
  });

  function geometry(H: number, W: number, Cin: number, Cout: number, k: number, s: number, d: number, mode: PadMode, act: Activation, fused: boolean): ConvGeometry {
    const [outH, padTop] = pad(mode, H, k, s, d);
    const [outW, padLeft] = pad(mode, W, k, s, d);
    return { batch: 1, inH: H, inW: W, inC: Cin, outH, outW, outC: Cout, kernelH: k, kernelW: k, stride: s, dilation: d, padTop, padLeft, activation: act, fused };
  }

  it('dense convolution (and its scalar twin): H,W = 1..9; Cin = 1, 3, 5; Cout = 1, 8, 9, 17; k = 1, 3; s, d = 1, 2; every padding', () => {
    let seed = 500;
    for (const [H, W] of [[1, 1], [3, 5], [7, 9], [9, 8]] as const) for (const Cin of [1, 3, 5]) for (const Cout of [1, 8, 9, 17]) for (const k of [1, 3]) {
      const s = 1 + (seed % 2), d = 1 + ((seed >> 1) % 2), mode = MODES[seed % 4]!, act = ACTS[seed % 3]!;
      const g = geometry(H, W, Cin, Cout, k, s, d, mode, act, FUSED);
      seed++;
      if (g.outH < 1 || g.outW < 1) continue;
      h.reset();
      const x = randomArray(H * W * Cin, seed, 2);
      const filter = randomArray(k * k * Cin * Cout, seed + 1, 0.5);
      const bias = randomArray(Cout, seed + 2);
      const expected = conv2dRef(x, filter, bias, g);
      const w = h.put(packConv(filter, bias, k, k, Cin, Cout));
      const xp = h.put(x);
      const [lo, hi] = clampRange(act);
      for (const name of familyKernels('conv') as Family<'conv'>[]) {
        const o = h.output(expected.length);
        h.kernels[name](1, H, W, Cin, g.outH, g.outW, Cout, k, k, s, d, g.padTop, g.padLeft, xp, w, o, lo, hi);
        expectBitExact(h.read(o, expected.length), expected, `${name} H=${H} W=${W} Cin=${Cin} Cout=${Cout} k=${k} s=${s} d=${d} pad=${mode}`);
      }
    }
  });

  it('depthwise (3x3 and any kernel, the exact arithmetic in both builds): C = 1, 4, 5, 33, 64; s, d = 1, 2', () => {
    let seed = 900;
    for (const [H, W] of [[5, 5], [9, 30]] as const) for (const C of [1, 4, 5, 33, 64]) for (const k of [3, 5]) {
      const s = 1 + (seed % 2), d = 1 + ((seed >> 1) % 2), mode = MODES[seed % 4]!, act = ACTS[seed % 3]!;
      const g = geometry(H, W, C, C, k, s, d, mode, act, false);
      seed++;
      if (g.outH < 1 || g.outW < 1) continue;
      h.reset();
      const x = randomArray(H * W * C, seed, 2);
      const filter = randomArray(k * k * C, seed + 1, 0.5);
      const bias = randomArray(C, seed + 2);
      const expected = depthwiseConv2dRef(x, filter, bias, g);
      const w = h.put(packDepthwise(filter, bias, k, k, C));
      const xp = h.put(x);
      const [lo, hi] = clampRange(act);
      const what = `H=${H} W=${W} C=${C} k=${k} s=${s} d=${d} pad=${mode}`;
      if (k === 3) {
        for (const name of familyKernels('dwconv3x3') as Family<'dwconv3x3'>[]) {
          const o = h.output(expected.length);
          h.kernels[name](1, H, W, C, g.outH, g.outW, s, d, g.padTop, g.padLeft, xp, w, o, lo, hi);
          expectBitExact(h.read(o, expected.length), expected, `${name} ${what}`);
        }
      }
      for (const name of familyKernels('dwconv') as Family<'dwconv'>[]) {
        const o = h.output(expected.length);
        h.kernels[name](1, H, W, C, g.outH, g.outW, k, k, s, d, g.padTop, g.padLeft, xp, w, o, lo, hi);
        expectBitExact(h.read(o, expected.length), expected, `${name} ${what}`);
      }
    }
  });

  it('average pool (no multiply-add: the same in both builds)', () => {
    h.reset();
    const [H, W, C] = [7, 7, 37];
    const x = randomArray(H * W * C, 3, 2);
    const expected = avgPoolRef(x, { batch: 1, inH: H, inW: W, channels: C, outH: 1, outW: 1, kernelH: 7, kernelW: 7, stride: 1 });
    const xp = h.put(x);
    for (const name of familyKernels('avgpool') as Family<'avgpool'>[]) {
      const o = h.output(C);
      h.kernels[name](1, H, W, C, 1, 1, 7, 7, 1, xp, o);
      expectBitExact(h.read(o, C), expected, name);
    }
  });
});
