/**
 * The tile dispatcher of the threads build (assembly/tiles.ts, src/wasm/threads/plan.ts), one
 * kernel family at a time, on this thread: every way of cutting a layer into items (rows per
 * item, GEMM row chunks and channel groups) and of handing the items to threads (consecutive
 * runs of items taken by "threads" 0, 1, 2 in turn, each with its own GEMM scratch) gives the
 * reference's bits, and writes nothing outside the output. This is the claim threads rest on:
 * each kernel sums every output in an order that does not depend on the split, including a
 * row range that starts below the top padding (a negative padTop).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Activation, Layer } from '../../src/model/architecture.js';
import { avgPoolRef, conv2dRef, depthwiseConv2dRef, pointwiseConv2dRef } from '../../src/reference/kernels.js';
import { clampRange } from '../../src/wasm/backend.js';
import { KERNEL_NAMES, THREAD_EXPORTS, type ThreadKernelExports } from '../../src/wasm/kernels.js';
import { compileKernels, instantiateKernels } from '../../src/wasm/loader.js';
import { packConv, packDepthwise, packGemm } from '../../src/wasm/pack.js';
import { DESC_WORDS, KIND, describeStep } from '../../src/wasm/threads/plan.js';
import { expectBitExact, pad, randomArray, type PadMode } from '../wasm/harness.js';

const threadsWasm = () => readFileSync(new URL('../../build/kernels-threads.wasm', import.meta.url));
const GUARD = 64;

/** A shared memory with the threads build, a bump allocator and NaN poison around outputs. */
class Shared {
  readonly memory = new WebAssembly.Memory({ initial: 64, maximum: 1024, shared: true });
  readonly k: ThreadKernelExports;
  private top = 64;
  constructor(module: WebAssembly.Module) {
    this.k = instantiateKernels(module, this.memory).kernels as ThreadKernelExports;
  }
  reset(): void {
    this.top = 64;
  }
  alloc(floats: number): number {
    const off = this.top;
    this.top = Math.ceil((off + floats * 4 + 16) / 64) * 64;
    const need = this.top + 4096;
    if (need > this.memory.buffer.byteLength) this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / 65536));
    return off;
  }
  f32(off: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, off, n);
  }
  put(data: Float32Array): number {
    const off = this.alloc(data.length);
    this.f32(off, data.length).set(data);
    return off;
  }
  output(n: number): number {
    const start = this.alloc(n + 2 * GUARD);
    this.f32(start, n + 2 * GUARD).fill(NaN);
    return start + GUARD * 4;
  }
  read(off: number, n: number, what: string): Float32Array {
    const around = [...this.f32(off - GUARD * 4, GUARD), ...this.f32(off + n * 4, GUARD)];
    if (!around.every(Number.isNaN)) throw new Error(`${what}: wrote outside the output`);
    return this.f32(off, n).slice();
  }
}

let sh: Shared;
beforeAll(async () => {
  sh = new Shared(await compileKernels(threadsWasm(), 'threads'));
});

type Tiling = { words: Record<number, number>; items: number; label: string };

/**
 * Runs the step in `desc` with `tiling` (descriptor words overridden), its items taken in runs
 * by threads 0, 1, 2 in turn (run lengths from `seed`), and returns the output.
 */
function runTiled(descAt: number, counter: number, tiling: Tiling, seed: number): void {
  const desc = new Int32Array(sh.memory.buffer, descAt, DESC_WORDS);
  for (const [w, v] of Object.entries(tiling.words)) desc[Number(w)] = v;
  const c = new Int32Array(sh.memory.buffer, counter, 32);
  c.fill(0);
  let at = 0;
  let turn = 0;
  while (at < tiling.items) {
    const end = Math.min(tiling.items, at + 1 + ((seed + turn * 7) % 3));
    desc[1] = end;
    Atomics.store(c, 0, at);
    sh.k.run_tiles(descAt, counter, turn % 3);
    at = end;
    turn++;
  }
  desc[1] = tiling.items;
  expect(Atomics.load(c, 16)).toBe(tiling.items);
}

interface Geometry {
  batch: number; H: number; W: number; Cin: number; Cout: number; kh: number; kw: number; s: number; d: number; mode: PadMode; act: Activation;
}

function layerOf(kind: 'conv' | 'depthwise' | 'avgpool', g: Geometry): { layer: Layer; outH: number; outW: number; padTop: number; padLeft: number } {
  const [outH, padTop] = kind === 'avgpool' ? [Math.floor((g.H - g.kh) / g.s) + 1, 0] : pad(g.mode, g.H, g.kh, g.s, g.d);
  const [outW, padLeft] = kind === 'avgpool' ? [Math.floor((g.W - g.kw) / g.s) + 1, 0] : pad(g.mode, g.W, g.kw, g.s, g.d);
  const outC = kind === 'conv' ? g.Cout : g.Cin;
  const base = { name: 'x', inShape: [g.H, g.W, g.Cin], outShape: [outH, outW, outC], params: 0, macs: 0, kernel: [g.kh, g.kw], stride: g.s } as const;
  const layer = kind === 'avgpool'
    ? ({ ...base, kind, global: false } as Layer)
    : ({ ...base, kind, scope: 'x', opName: 'x', dilation: g.d, padding: { top: padTop, left: padLeft, bottom: 0, right: 0 }, activation: g.act, batchNorm: true } as Layer);
  return { layer, outH, outW, padTop, padLeft };
}

/** Every rows-per-item from 1 to outH (a few), as descriptor overrides. */
function rowTilings(batch: number, outH: number): Tiling[] {
  const out: Tiling[] = [];
  for (const rows of [...new Set([1, 2, 3, 5, outH])].filter((r) => r <= outH)) {
    const perImage = Math.ceil(outH / rows);
    out.push({ words: { 20: rows, 21: perImage }, items: batch * perImage, label: `rows/item=${rows}` });
  }
  return out;
}

function rowsCase(kind: 'conv' | 'depthwise' | 'avgpool', g: Geometry, seed: number): void {
  const { layer, outH, outW, padTop, padLeft } = layerOf(kind, g);
  if (outH < 1 || outW < 1) return;
  sh.reset();
  const x = randomArray(g.batch * g.H * g.W * g.Cin, seed, 2);
  let expected: Float32Array;
  let weights = 0;
  const geo = { batch: g.batch, inH: g.H, inW: g.W, inC: g.Cin, outH, outW, kernelH: g.kh, kernelW: g.kw, stride: g.s, dilation: g.d, padTop, padLeft, activation: g.act };
  if (kind === 'avgpool') {
    expected = avgPoolRef(x, { batch: g.batch, inH: g.H, inW: g.W, channels: g.Cin, outH, outW, kernelH: g.kh, kernelW: g.kw, stride: g.s });
  } else if (kind === 'depthwise') {
    const filter = randomArray(g.kh * g.kw * g.Cin, seed + 1);
    const bias = randomArray(g.Cin, seed + 2);
    expected = depthwiseConv2dRef(x, filter, bias, { ...geo, outC: g.Cin });
    weights = sh.put(packDepthwise(filter, bias, g.kh, g.kw, g.Cin));
  } else {
    const filter = randomArray(g.kh * g.kw * g.Cin * g.Cout, seed + 1, 0.5);
    const bias = randomArray(g.Cout, seed + 2);
    expected = conv2dRef(x, filter, bias, { ...geo, outC: g.Cout });
    weights = sh.put(packConv(filter, bias, g.kh, g.kw, g.Cin, g.Cout));
  }
  const input = sh.put(x);
  const desc = sh.alloc(DESC_WORDS);
  const counter = sh.alloc(32);
  const [lo, hi] = kind === 'avgpool' ? [0, 0] : clampRange(g.act);
  for (const tiling of rowTilings(g.batch, outH)) {
    const output = sh.output(expected.length);
    describeStep(layer as Exclude<Layer, { kind: 'softmax' }>, { input, weights, output, scratch: 0, scratchStride: 0 }, g.batch, 2, lo, hi, new Int32Array(sh.memory.buffer, desc, DESC_WORDS));
    if (kind === 'depthwise') expect(new Int32Array(sh.memory.buffer, desc, 1)[0]).toBe(g.kh === 3 && g.kw === 3 ? KIND.dwconv3x3 : KIND.dwconv);
    runTiled(desc, counter, tiling, seed);
    const what = `${kind} N=${g.batch} H=${g.H} W=${g.W} C=${g.Cin}${kind === 'conv' ? `->${g.Cout}` : ''} k=${g.kh}x${g.kw} s=${g.s} d=${g.d} pad=${g.mode} ${tiling.label}`;
    expectBitExact(sh.read(output, expected.length, what), expected, what);
  }
}

const MODES: PadMode[] = ['same', 'explicit', 'symmetric', 'valid'];
const ACTS: Activation[] = ['relu6', 'relu', 'none'];

describe('the threads build', () => {
  it('exports every kernel of the list and the tile dispatcher, nothing else', async () => {
    const module = await compileKernels(threadsWasm(), 'threads');
    const names = WebAssembly.Module.exports(module).filter((e) => e.kind !== 'memory').map((e) => e.name);
    expect(names.sort()).toEqual([...KERNEL_NAMES, ...THREAD_EXPORTS].sort());
    const imports = WebAssembly.Module.imports(module);
    expect(imports).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
  });
});

describe('row items (depthwise 3x3 and any kernel, dense conv, pool): every split gives the reference bits', () => {
  for (const [kh, kw] of [[3, 3], [5, 5], [1, 3]] as const) {
    it(`depthwise k=${kh}x${kw} H,W=1..12 C=1|4|5|33|101 s=1|2 d=1|2 pad=all N=1|3`, () => {
      let seed = kh * 100 + kw;
      for (const [H, W] of [[1, 1], [5, 4], [7, 7], [12, 9], [7, 30]] as const) {
        for (const C of [1, 4, 5, 33, 101]) {
          for (const s of [1, 2]) {
            const d = 1 + (seed % 2);
            rowsCase('depthwise', { batch: seed % 3 === 0 ? 3 : 1, H, W, Cin: C, Cout: C, kh, kw, s, d, mode: MODES[seed % 4]!, act: ACTS[seed % 3]! }, seed++);
          }
        }
      }
    });
  }
  it('depthwise 3x3: both interior strategies (C=201 per pixel, C=32 per row), MobileNet shapes 56x56 s1 and 112x112 s2', () => {
    rowsCase('depthwise', { batch: 1, H: 9, W: 30, Cin: 201, Cout: 201, kh: 3, kw: 3, s: 1, d: 1, mode: 'same', act: 'relu6' }, 1);
    rowsCase('depthwise', { batch: 2, H: 8, W: 30, Cin: 32, Cout: 32, kh: 3, kw: 3, s: 2, d: 2, mode: 'explicit', act: 'relu6' }, 2);
    rowsCase('depthwise', { batch: 1, H: 56, W: 56, Cin: 128, Cout: 128, kh: 3, kw: 3, s: 1, d: 1, mode: 'same', act: 'relu6' }, 3);
    rowsCase('depthwise', { batch: 1, H: 112, W: 112, Cin: 64, Cout: 64, kh: 3, kw: 3, s: 2, d: 1, mode: 'same', act: 'relu6' }, 4);
  });
  it('dense conv k=3x3|1x3|5x3 Cin=1|3|8 Cout=1|8|9|17 s=1|2 d=1|2 pad=all N=1|3, and the first layer 3->32 s2 at 64x64', () => {
    let seed = 900;
    for (const [kh, kw] of [[3, 3], [1, 3], [5, 3]] as const) {
      for (const [H, W] of [[5, 4], [9, 11], [13, 13]] as const) {
        for (const Cin of [1, 3, 8]) {
          for (const Cout of [1, 8, 9, 17]) {
            rowsCase('conv', { batch: seed % 5 === 0 ? 3 : 1, H, W, Cin, Cout, kh, kw, s: 1 + (seed % 2), d: 1 + ((seed >> 1) % 2), mode: MODES[(seed >> 2) % 4]!, act: ACTS[seed % 3]! }, seed++);
          }
        }
      }
    }
    rowsCase('conv', { batch: 1, H: 64, W: 64, Cin: 3, Cout: 32, kh: 3, kw: 3, s: 2, d: 1, mode: 'same', act: 'relu6' }, 5);
  });
  it('avgpool C=1|5|16|33 windows 7x7 s2, 2x3 s1, 7x7 s7, 1x1, N=1|3', () => {
    let seed = 1200;
    for (const C of [1, 5, 16, 33]) {
      for (const [H, W, kh, kw, s] of [[10, 9, 7, 7, 2], [5, 6, 2, 3, 1], [14, 15, 7, 7, 7], [3, 3, 1, 1, 1], [7, 7, 7, 7, 1]] as const) {
        rowsCase('avgpool', { batch: seed % 2 === 0 ? 3 : 1, H, W, Cin: C, Cout: C, kh, kw, s, d: 1, mode: 'valid', act: 'none' }, seed++);
      }
    }
  });
});

describe('GEMM items (row chunks x channel groups, A packed per chunk per thread): every split gives the reference bits', () => {
  it('M=1..50 K=1..40 N=1..65, chunks of 4|8|12|all rows, groups of 1|2|all tiles', () => {
    let seed = 5000;
    for (const m of [1, 3, 4, 5, 13, 49, 50]) {
      for (const k of [1, 5, 32, 33]) {
        for (const n of [1, 7, 8, 9, 17, 65]) {
          sh.reset();
          const a = randomArray(m * k, seed, 2);
          const filter = randomArray(k * n, seed + 1, 0.5);
          const bias = randomArray(n, seed + 2);
          const act = ACTS[seed % 3]!;
          const expected = pointwiseConv2dRef(a, filter, bias, m, k, n, act);
          const [lo, hi] = clampRange(act);
          const w = sh.put(packGemm(filter, bias, k, n));
          const ap = sh.put(a);
          const m4 = Math.ceil(m / 4) * 4;
          const stride = Math.ceil((m4 * k * 4) / 64) * 64;
          const scratch = sh.alloc((3 * stride) / 4);
          const desc = sh.alloc(DESC_WORDS);
          const counter = sh.alloc(32);
          const tiles = Math.ceil(n / 8);
          const layer = { kind: 'pointwise', name: 'x', inShape: [1, m, k], outShape: [1, m, n], kernel: [1, 1], stride: 1, dilation: 1, padding: { top: 0, left: 0, bottom: 0, right: 0 }, activation: act, params: 0, macs: 0, scope: 'x', opName: 'x', batchNorm: true } as unknown as Exclude<Layer, { kind: 'softmax' }>;
          for (const chunkRows of [...new Set([4, 8, 12, m4])]) {
            for (const perGroup of [...new Set([1, 2, tiles])]) {
              const groups = Math.ceil(tiles / perGroup);
              const chunks = Math.ceil(m / chunkRows);
              const output = sh.output(m * n);
              describeStep(layer, { input: ap, weights: w, output, scratch, scratchStride: stride }, 1, 2, lo, hi, new Int32Array(sh.memory.buffer, desc, DESC_WORDS));
              const tiling = { words: { 10: chunkRows, 11: groups, 12: perGroup }, items: chunks * groups, label: `chunk=${chunkRows} tiles/group=${perGroup}` };
              runTiled(desc, counter, tiling, seed);
              const what = `gemm M=${m} K=${k} N=${n} ${act} ${tiling.label}`;
              expectBitExact(sh.read(output, m * n, what), expected, what);
            }
          }
          seed += 3;
        }
      }
    }
  });
});

describe('the plan (src/wasm/threads/plan.ts)', () => {
  it('cuts MobileNet layers into enough items to share, never an item of nothing', () => {
    const desc = new Int32Array(DESC_WORDS);
    const pw = { kind: 'pointwise', inShape: [7, 7, 1024], outShape: [7, 7, 1024], kernel: [1, 1], stride: 1 } as unknown as Exclude<Layer, { kind: 'softmax' }>;
    const items = describeStep(pw, { input: 64, weights: 128, output: 256, scratch: 512, scratchStride: 1024 }, 1, 2, 0, 6, desc);
    expect(items).toBe(desc[1]);
    expect(items).toBeGreaterThanOrEqual(8);
    const [m, , , chunkRows, groups, perGroup] = desc.subarray(7, 13);
    expect(Math.ceil(m! / chunkRows!) * groups!).toBe(items);
    expect(chunkRows! % 4).toBe(0);
    expect((groups! - 1) * perGroup! * 8).toBeLessThan(1024);
  });
});
