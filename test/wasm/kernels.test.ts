/**
 * Every wasm kernel against the plain-TypeScript reference, over sweeps at the tile
 * boundaries. The SIMD kernels vectorise across output channels and keep the reference's
 * summation order, so both tiers are bit-exact: the SIMD kernel and its scalar twin must equal
 * the reference to the bit. Every run also checks the NaN poison around its output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Activation } from '../../src/model/architecture.js';
import { avgPoolRef, conv2dRef, depthwiseConv2dRef, pointwiseConv2dRef } from '../../src/reference/kernels.js';
import { clampRange, gemm, gemmScratchBytes } from '../../src/wasm/backend.js';
import { KERNEL_FAMILIES, KERNEL_NAMES, familyKernels, scalarKernels } from '../../src/wasm/kernels.js';
import { Q8_KERNEL_NAMES } from '../../src/quant/wasm.js';

// Each family's kernels share one signature; the names are read from the kernel list.
type Family<F extends keyof typeof KERNEL_FAMILIES> = (typeof KERNEL_FAMILIES)[F]['simd'][number] | (typeof KERNEL_FAMILIES)[F]['scalar'];
type GemmName = Family<'gemm'>;
type ConvName = Family<'conv'>;
type PoolName = Family<'avgpool'>;
type Dw3Name = Family<'dwconv3x3'>;
type DwName = Family<'dwconv'>;
import { packConv, packDepthwise, packGemm } from '../../src/wasm/pack.js';
import { Harness, expectBitExact, kernelModule, pad, randomArray, type PadMode } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = new Harness(await kernelModule());
});

const CHANNELS = [1, 3, 4, 5, 7, 8, 9, 31, 32, 33];
const ACTS: Activation[] = ['relu6', 'relu', 'none'];

function gemmCase(m: number, k: number, n: number, act: Activation, seed: number, scale = 1) {
  h.reset();
  const a = randomArray(m * k, seed, scale);
  const filter = randomArray(k * n, seed + 1, 0.5);
  const bias = randomArray(n, seed + 2, 0.5);
  const expected = pointwiseConv2dRef(a, filter, bias, m, k, n, act);
  const w = h.put(packGemm(filter, bias, k, n));
  const ap = h.put(a);
  const [lo, hi] = clampRange(act);
  for (const name of familyKernels('gemm') as GemmName[]) {
    const c = h.output(m * n);
    h.kernels[name](m, n, k, ap, k * 4, w, c, n * 4, lo, hi);
    expectBitExact(h.read(c, m * n), expected, name);
  }
  checkPackedGemm(m, n, k, ap, w, lo, hi, expected);
  return expected;
}

/**
 * The backend's path: host `gemm` with a scratch (chunks packed 4 rows by 4, the packed 4x8
 * kernel, the leftover rows by the 1x8 kernel), SIMD and scalar twins, against `expected`.
 * The scratch is poisoned around, so a pack writing past gemmScratchBytes(k) fails.
 */
function checkPackedGemm(m: number, n: number, k: number, ap: number, w: number, lo: number, hi: number, expected: Float32Array) {
  const scratchFloats = gemmScratchBytes(k) / 4;
  for (const [tier, kernels] of [['simd', h.kernels], ['scalar', scalarKernels(h.kernels)]] as const) {
    const scratch = h.output(scratchFloats);
    const c = h.output(m * n);
    gemm(kernels, m, n, k, ap, w, c, lo, hi, scratch);
    expectBitExact(h.read(c, m * n), expected, `gemm packed (${tier})`);
    h.read(scratch, scratchFloats); // checks the poison around the scratch
  }
}

describe('f32_gemm_4x8_minmax (pointwise, classifier)', () => {
  const ms = [1, 2, 3, 4, 5, 7, 8, 9, 13];
  const ks = [1, 2, 3, 4, 5, 8, 9, 17, 32];
  for (const n of [...CHANNELS, 15, 16, 17, 64, 65]) {
    it(`M=1..13 K=1..32 N=${n}`, () => {
      let seed = n * 1000;
      for (const m of ms) for (const k of ks) gemmCase(m, k, n, ACTS[seed % 3]!, seed++);
    });
  }
  for (const [m, k, n] of [[49, 1024, 1001], [196, 256, 512], [100, 128, 128], [3, 1024, 1001], [97, 1024, 24], [53, 7, 9]] as const) {
    it(`M=${m} K=${k} N=${n} relu6`, () => gemmCase(m, k, n, 'relu6', m + k + n));
  }
  it('clamp: relu6 outputs lie in [0, 6], relu in [0, inf)', () => {
    const r6 = gemmCase(13, 33, 17, 'relu6', 5, 20);
    expect(r6.every((v) => v >= 0 && v <= 6)).toBe(true);
    expect(r6.some((v) => v === 6) && r6.some((v) => v === 0)).toBe(true);
    const r = gemmCase(13, 33, 17, 'relu', 6, 20);
    expect(r.every((v) => v >= 0) && r.some((v) => v > 6)).toBe(true);
  });
  it('NaN in the input stays NaN in every activation', () => {
    h.reset();
    const m = 5, k = 9, n = 11;
    const a = randomArray(m * k, 1);
    a[2 * k + 3] = NaN;
    const filter = randomArray(k * n, 2);
    const bias = randomArray(n, 3);
    const w = h.put(packGemm(filter, bias, k, n));
    const ap = h.put(a);
    for (const act of ACTS) {
      const [lo, hi] = clampRange(act);
      const c = h.output(m * n);
      h.kernels.f32_gemm_4x8_minmax(m, n, k, ap, k * 4, w, c, n * 4, lo, hi);
      const got = h.read(c, m * n);
      expectBitExact(got, pointwiseConv2dRef(a, filter, bias, m, k, n, act), act);
      for (let j = 0; j < n; j++) expect(Number.isNaN(got[2 * n + j]!)).toBe(true);
    }
  });
});

interface ConvCase {
  batch: number; H: number; W: number; Cin: number; Cout: number;
  kh: number; kw: number; s: number; d: number; mode: PadMode; act: Activation;
}

function geometry(c: ConvCase, depthwise: boolean) {
  const [outH, padTop] = pad(c.mode, c.H, c.kh, c.s, c.d);
  const [outW, padLeft] = pad(c.mode, c.W, c.kw, c.s, c.d);
  return {
    batch: c.batch, inH: c.H, inW: c.W, inC: c.Cin, outH, outW, outC: depthwise ? c.Cin : c.Cout,
    kernelH: c.kh, kernelW: c.kw, stride: c.s, dilation: c.d, padTop, padLeft, activation: c.act,
  };
}

const label = (c: ConvCase, dw: boolean) =>
  `N=${c.batch} H=${c.H} W=${c.W} C=${c.Cin}${dw ? '' : `->${c.Cout}`} k=${c.kh}x${c.kw} s=${c.s} d=${c.d} pad=${c.mode} ${c.act}`;

function depthwiseCase(c: ConvCase, seed: number) {
  const g = geometry(c, true);
  if (g.outH < 1 || g.outW < 1) return;
  h.reset();
  const x = randomArray(c.batch * c.H * c.W * c.Cin, seed, 2);
  const filter = randomArray(c.kh * c.kw * c.Cin, seed + 1);
  const bias = randomArray(c.Cin, seed + 2);
  const expected = depthwiseConv2dRef(x, filter, bias, g);
  const w = h.put(packDepthwise(filter, bias, c.kh, c.kw, c.Cin));
  const xp = h.put(x);
  const [lo, hi] = clampRange(c.act);
  const n = expected.length;
  const run = (name: string, f: (o: number) => void) => {
    const o = h.output(n);
    f(o);
    expectBitExact(h.read(o, n), expected, `${name} ${label(c, true)}`);
  };
  const k = h.kernels;
  const args = [c.batch, c.H, c.W, c.Cin, g.outH, g.outW] as const;
  if (c.kh === 3 && c.kw === 3) {
    for (const name of familyKernels('dwconv3x3') as Dw3Name[]) run(name, (o) => k[name](...args, c.s, c.d, g.padTop, g.padLeft, xp, w, o, lo, hi));
  }
  for (const name of familyKernels('dwconv') as DwName[]) run(name, (o) => k[name](...args, c.kh, c.kw, c.s, c.d, g.padTop, g.padLeft, xp, w, o, lo, hi));
}

const SIZES: [number, number][] = [[1, 1], [2, 3], [5, 4], [7, 7], [8, 6], [9, 11]];
const MODES: PadMode[] = ['same', 'explicit', 'symmetric', 'valid'];

describe('the kernel list', () => {
  it('is exactly what build/kernels.wasm exports: nothing missing, nothing compiled and unused', async () => {
    const module = await kernelModule();
    const functions = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
    // The f32 kernels, and the integer ones (src/quant/wasm.ts, test/quant/simd-*.test.ts), which only this build carries.
    expect(functions.sort()).toEqual([...KERNEL_NAMES, ...Q8_KERNEL_NAMES].sort());
  });
  it('swaps every SIMD kernel for its family\'s scalar twin', async () => {
    const h = new Harness(await kernelModule());
    const scalar = scalarKernels(h.kernels);
    for (const f of Object.values(KERNEL_FAMILIES)) for (const name of f.simd) expect(scalar[name]).toBe(h.kernels[f.scalar]);
  });
});

describe('f32_pack_a_4rows', () => {
  it('packs rows 4 by 4, k-major (out[g][k][r]), only the first m & ~3 rows, nothing past them', () => {
    for (const m of [0, 1, 3, 4, 5, 8, 11]) {
      for (const k of [1, 2, 3, 4, 5, 7, 8, 9, 33]) {
        h.reset();
        const aStride = k + 3; // rows further apart than k floats: only k of each are read
        const a = randomArray(m * aStride + 1, m * 100 + k);
        const ap = h.put(a);
        const m4 = m & ~3;
        const out = h.output(m4 * k);
        h.kernels.f32_pack_a_4rows(m, k, ap, aStride * 4, out);
        const expected = new Float32Array(m4 * k);
        for (let r = 0; r < m4; r++) for (let kk = 0; kk < k; kk++) expected[((r >> 2) * k + kk) * 4 + (r & 3)] = a[r * aStride + kk]!;
        expectBitExact(h.read(out, m4 * k), expected, `m=${m} k=${k}`);
      }
    }
  });
});

describe('f32_dwconv3x3_minmax', () => {
  for (const C of CHANNELS) {
    for (const s of [1, 2]) {
      for (const d of [1, 2, 4]) {
        it(`H,W=1..11 C=${C} s=${s} d=${d} pad=same|explicit|symmetric|valid N=1|3`, () => {
          let seed = C * 100 + s * 10 + d;
          for (const [H, W] of SIZES) {
            for (const mode of MODES) {
              const batch = seed % 4 === 0 ? 3 : 1;
              depthwiseCase({ batch, H, W, Cin: C, Cout: C, kh: 3, kw: 3, s, d, mode, act: ACTS[seed % 3]! }, seed++);
            }
          }
        });
      }
    }
  }
  it('H=112 W=112 C=32 s=1 pad=same and H=112 W=112 C=64 s=2 (MobileNet shapes)', () => {
    depthwiseCase({ batch: 1, H: 112, W: 112, Cin: 32, Cout: 32, kh: 3, kw: 3, s: 1, d: 1, mode: 'same', act: 'relu6' }, 1);
    depthwiseCase({ batch: 1, H: 112, W: 112, Cin: 64, Cout: 64, kh: 3, kw: 3, s: 2, d: 1, mode: 'same', act: 'relu6' }, 2);
  });
  it('both interior strategies: H=9 W=30 C=201 (per pixel) and H=7 W=30 C=101 (per row), s=1|2 d=1|2 N=1|2', () => {
    let seed = 77;
    for (const C of [201, 101]) for (const s of [1, 2]) for (const d of [1, 2]) {
      depthwiseCase({ batch: 1 + (seed % 2), H: C === 201 ? 9 : 7, W: 30, Cin: C, Cout: C, kh: 3, kw: 3, s, d, mode: MODES[seed % 4]!, act: 'relu6' }, seed++);
    }
  });
  it('clamp: relu6 outputs lie in [0, 6]', () => {
    h.reset();
    const c: ConvCase = { batch: 1, H: 9, W: 9, Cin: 13, Cout: 13, kh: 3, kw: 3, s: 1, d: 1, mode: 'same', act: 'relu6' };
    const g = geometry(c, true);
    const x = randomArray(9 * 9 * 13, 9, 30);
    const w = h.put(packDepthwise(randomArray(9 * 13, 10), randomArray(13, 11), 3, 3, 13));
    const o = h.output(9 * 9 * 13);
    h.kernels.f32_dwconv3x3_minmax(1, 9, 9, 13, g.outH, g.outW, 1, 1, g.padTop, g.padLeft, h.put(x), w, o, 0, 6);
    const got = h.read(o, 9 * 9 * 13);
    expect(got.every((v) => v >= 0 && v <= 6)).toBe(true);
    expect(got.some((v) => v === 6) && got.some((v) => v === 0)).toBe(true);
  });
});

describe('f32_dwconv_minmax (any kernel size)', () => {
  for (const [kh, kw] of [[1, 1], [2, 2], [5, 5], [3, 5], [7, 1]] as const) {
    for (const C of [1, 4, 5, 9, 33]) {
      it(`H,W=1..11 C=${C} k=${kh}x${kw} s=1|2 d=1|2 pad=all`, () => {
        let seed = kh * 1000 + kw * 100 + C;
        for (const [H, W] of SIZES) {
          for (const s of [1, 2]) {
            for (const d of [1, 2]) {
              const mode = MODES[seed % 4]!;
              depthwiseCase({ batch: seed % 5 === 0 ? 3 : 1, H, W, Cin: C, Cout: C, kh, kw, s, d, mode, act: ACTS[seed % 3]! }, seed++);
            }
          }
        }
      });
    }
  }
});

function convCase(c: ConvCase, seed: number) {
  const g = geometry(c, false);
  if (g.outH < 1 || g.outW < 1) return;
  h.reset();
  const x = randomArray(c.batch * c.H * c.W * c.Cin, seed, 2);
  const filter = randomArray(c.kh * c.kw * c.Cin * c.Cout, seed + 1, 0.5);
  const bias = randomArray(c.Cout, seed + 2);
  const expected = conv2dRef(x, filter, bias, g);
  const w = h.put(packConv(filter, bias, c.kh, c.kw, c.Cin, c.Cout));
  const xp = h.put(x);
  const [lo, hi] = clampRange(c.act);
  const n = expected.length;
  for (const name of familyKernels('conv') as ConvName[]) {
    const o = h.output(n);
    h.kernels[name](c.batch, c.H, c.W, c.Cin, g.outH, g.outW, c.Cout, c.kh, c.kw, c.s, c.d, g.padTop, g.padLeft, xp, w, o, lo, hi);
    expectBitExact(h.read(o, n), expected, `${name} ${label(c, false)}`);
  }
}

describe('f32_conv_minmax (dense)', () => {
  for (const Cout of [...CHANNELS, 16, 17]) {
    for (const [kh, kw] of [[3, 3], [1, 1], [5, 3]] as const) {
      it(`H,W=1..13 Cin=1|3|4|5|8 Cout=${Cout} k=${kh}x${kw} s=1|2 d=1|2 pad=all`, () => {
        let seed = Cout * 100 + kh * 10 + kw;
        for (const [H, W] of [...SIZES, [13, 13], [4, 17]] as [number, number][]) {
          for (const Cin of [1, 3, 4, 5, 8]) {
            const s = 1 + (seed % 2);
            const d = 1 + (Math.floor(seed / 2) % 2);
            const mode = MODES[Math.floor(seed / 4) % 4]!;
            convCase({ batch: seed % 7 === 0 ? 3 : 1, H, W, Cin, Cout, kh, kw, s, d, mode, act: ACTS[seed % 3]! }, seed++);
          }
        }
      });
    }
  }
  it('dilation 4: H=13|17 W=17|21 Cin=3|5 Cout=9|16 k=3x3|2x2 s=1|2 pad=all', () => {
    let seed = 4000;
    for (const [H, W] of [[13, 17], [17, 21]] as const) for (const Cin of [3, 5]) for (const Cout of [9, 16]) for (const [kh, kw] of [[3, 3], [2, 2]] as const) {
      convCase({ batch: 1 + (seed % 3 === 0 ? 2 : 0), H, W, Cin, Cout, kh, kw, s: 1 + (seed % 2), d: 4, mode: MODES[seed % 4]!, act: ACTS[seed % 3]! }, seed++);
    }
  });
  it('first layer: H=224 W=224 C=3->32 k=3x3 s=2 pad=same relu6', () => {
    convCase({ batch: 1, H: 224, W: 224, Cin: 3, Cout: 32, kh: 3, kw: 3, s: 2, d: 1, mode: 'same', act: 'relu6' }, 3);
  });
  it('first layer batch 3 explicit: H=33 W=35 C=3->8 s=2 pad=explicit', () => {
    convCase({ batch: 3, H: 33, W: 35, Cin: 3, Cout: 8, kh: 3, kw: 3, s: 2, d: 1, mode: 'explicit', act: 'relu6' }, 4);
  });
  it('conv preset shape: H=14 W=14 C=64->72 k=3x3 s=1 pad=same', () => {
    convCase({ batch: 1, H: 14, W: 14, Cin: 64, Cout: 72, kh: 3, kw: 3, s: 1, d: 1, mode: 'same', act: 'relu' }, 5);
  });
});

describe('f32_avgpool', () => {
  for (const C of [...CHANNELS, 1024]) {
    it(`C=${C} windows 7x7 s2, global, 2x3 s1, 7x7 s7 N=1|3`, () => {
      for (const [H, W, kh, kw, s, batch] of [[7, 7, 7, 7, 2, 1], [10, 9, 7, 7, 2, 3], [5, 3, 5, 3, 1, 3], [4, 6, 2, 3, 1, 1], [14, 15, 7, 7, 7, 1], [1, 1, 1, 1, 1, 3]] as const) {
        h.reset();
        const x = randomArray(batch * H * W * C, C + H * W, 3);
        const outH = Math.floor((H - kh) / s) + 1;
        const outW = Math.floor((W - kw) / s) + 1;
        const expected = avgPoolRef(x, { batch, inH: H, inW: W, channels: C, outH, outW, kernelH: kh, kernelW: kw, stride: s });
        const xp = h.put(x);
        for (const name of familyKernels('avgpool') as PoolName[]) {
          const o = h.output(expected.length);
          h.kernels[name](batch, H, W, C, outH, outW, kh, kw, s, xp, o);
          expectBitExact(h.read(o, expected.length), expected, `${name} N=${batch} H=${H} W=${W} C=${C} k=${kh}x${kw} s=${s}`);
        }
      }
    });
  }
});

describe('epilogue: signed zeros, NaN and arbitrary bounds (every clamp path)', () => {
  const m = 6, k = 5, n = 12;
  const bounds: [number, number][] = [[0, 6], [0, Infinity], [-Infinity, Infinity], [-1, 1], [0.5, 2], [-Infinity, -0], [-Infinity, 0], [-0, Infinity], [-2, Infinity]];
  for (const [lo, hi] of bounds) {
    it(`GEMM M=${m} K=${k} N=${n} bias -0 / +0, zero and NaN rows, clamp [${lo}, ${hi}]`, () => {
      h.reset();
      const a = randomArray(m * k, 21, 3);
      a.fill(0, 0, k); // row 0: zeros -> acc = bias exactly (+0 + (+-0 products))
      a.fill(-0, k, 2 * k);
      a[3 * k + 1] = NaN;
      const filter = randomArray(k * n, 22).map(Math.abs); // so -0 * w = -0
      const bias = randomArray(n, 23);
      bias[0] = -0; bias[1] = 0; bias[2] = -0; bias[9] = -0;
      const none = pointwiseConv2dRef(a, filter, bias, m, k, n, 'none');
      const expected = none.map((v) => Math.min(Math.max(v, lo), hi));
      const w = h.put(packGemm(filter, bias, k, n));
      const ap = h.put(a);
      for (const name of familyKernels('gemm') as GemmName[]) {
        const c = h.output(m * n);
        h.kernels[name](m, n, k, ap, k * 4, w, c, n * 4, lo, hi);
        expectBitExact(h.read(c, m * n), expected, name);
      }
      checkPackedGemm(m, n, k, ap, w, lo, hi, expected);
      // Depthwise and dense conv, same bounds, a zero input around a -0 bias.
      const x = randomArray(5 * 5 * 9, 24);
      x.fill(0, 0, 5 * 9);
      x[30] = NaN;
      const dwFilter = randomArray(9 * 9, 25).map(Math.abs);
      const dwBias = randomArray(9, 26);
      dwBias[0] = -0; dwBias[4] = -0;
      const g = { batch: 1, inH: 5, inW: 5, inC: 9, outH: 5, outW: 5, outC: 9, kernelH: 3, kernelW: 3, stride: 1, dilation: 1, padTop: 1, padLeft: 1, activation: 'none' as const };
      const dwExpected = depthwiseConv2dRef(x, dwFilter, dwBias, g).map((v) => Math.min(Math.max(v, lo), hi));
      const dww = h.put(packDepthwise(dwFilter, dwBias, 3, 3, 9));
      const xp = h.put(x);
      let o = h.output(dwExpected.length);
      h.kernels.f32_dwconv3x3_minmax(1, 5, 5, 9, 5, 5, 1, 1, 1, 1, xp, dww, o, lo, hi);
      expectBitExact(h.read(o, dwExpected.length), dwExpected, 'f32_dwconv3x3_minmax');
      o = h.output(dwExpected.length);
      h.kernels.f32_dwconv_minmax(1, 5, 5, 9, 5, 5, 3, 3, 1, 1, 1, 1, xp, dww, o, lo, hi);
      expectBitExact(h.read(o, dwExpected.length), dwExpected, 'f32_dwconv_minmax');
      const cFilter = randomArray(9 * 9 * 10, 27).map(Math.abs);
      const cBias = randomArray(10, 28);
      cBias[0] = -0; cBias[8] = -0;
      const cExpected = conv2dRef(x, cFilter, cBias, { ...g, outC: 10 }).map((v) => Math.min(Math.max(v, lo), hi));
      const cw = h.put(packConv(cFilter, cBias, 3, 3, 9, 10));
      o = h.output(cExpected.length);
      h.kernels.f32_conv_minmax(1, 5, 5, 9, 5, 5, 10, 3, 3, 1, 1, 1, 1, xp, cw, o, lo, hi);
      expectBitExact(h.read(o, cExpected.length), cExpected, 'f32_conv_minmax');
      expect(expected.some((v) => Object.is(v, -0)) || lo >= 0 || hi < 0).toBe(true);
    });
  }
});
