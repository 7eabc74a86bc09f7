/**
 * The ceiling probe: how many f32x4 multiply + add pairs one core retires per second from
 * WebAssembly, in a loop whose operands never leave registers. Every GMAC/s of the suite is read
 * as a fraction of this number.
 *
 * The module is assembled here, byte by byte (no toolchain, nothing under assembly/):
 *
 *   (func (export "probe") (param $n i32) (result f32)
 *     (local $x0 $x1 $x2 $x3 $w0 $w1 $a0 ... $a7 v128)   ;; 14 v128 registers
 *     x_i = splat(X[i]); w_j = splat(W[j])
 *     loop while n != 0:
 *       w0 += x0; w1 += x1                         ;; keeps the products from being hoisted
 *       a[2i+j] += x_i * w_j   for i < 4, j < 2    ;; the 4x8 GEMM tile: 8 mul + 8 add
 *       n -= 1
 *     return lane 0 of (a0 + ... + a7))
 *
 * Eight independent accumulators hide the add latency, as the GEMM micro-kernel does; 32
 * Mult-Adds per iteration are counted. Other tile shapes (2x2, 3x3) are built the same way
 * and the best is kept (the two w updates are overhead the probe pays too, so
 * the ceiling is, if anything, a little low). Plain SIMD only: no relaxed FMA.
 */

const X = [1.5, 0.75, 1.25, 0.5] as const;
const W = [1, 2] as const;

const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const f32 = (v: number) => [...new Uint8Array(new Float32Array([v]).buffer)];
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];

const OP = {
  block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b,
  get: 0x20, set: 0x21, i32Const: 0x41, f32Const: 0x43, i32Eqz: 0x45, i32Sub: 0x6b,
} as const;
const SIMD = 0xfd;
const f32x4Splat = [SIMD, ...leb(0x13)];
const f32x4ExtractLane0 = [SIMD, ...leb(0x1f), 0];
const f32x4Add = [SIMD, ...leb(0xe4)];
const f32x4Mul = [SIMD, ...leb(0xe6)];
const V128 = 0x7b;
const I32 = 0x7f;
const F32 = 0x7d;

/** The probe module's bytes (R rows x C columns of accumulators; the default is the 4x2 tile). */
export function probeModuleBytes(R = 4, C = 2): Uint8Array {
  const n = 0;
  const x = (i: number) => 1 + i;
  const w = (j: number) => 1 + R + j;
  const a = (k: number) => 1 + R + C + k;
  const code: number[] = [];
  for (let i = 0; i < R; i++) code.push(OP.f32Const, ...f32(X[i % 4]!), ...f32x4Splat, OP.set, x(i));
  for (let j = 0; j < C; j++) code.push(OP.f32Const, ...f32(W[j % 2]! + 2 * Math.floor(j / 2)), ...f32x4Splat, OP.set, w(j));
  code.push(OP.block, 0x40, OP.loop, 0x40);
  code.push(OP.get, n, OP.i32Eqz, OP.brIf, 1);
  for (let j = 0; j < C; j++) code.push(OP.get, w(j), OP.get, x(j % R), ...f32x4Add, OP.set, w(j));
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const k = a(C * i + j);
      code.push(OP.get, k, OP.get, x(i), OP.get, w(j), ...f32x4Mul, ...f32x4Add, OP.set, k);
    }
  }
  code.push(OP.get, n, OP.i32Const, 1, OP.i32Sub, OP.set, n, OP.br, 0, OP.end, OP.end);
  code.push(OP.get, a(0));
  for (let k = 1; k < R * C; k++) code.push(OP.get, a(k), ...f32x4Add);
  code.push(...f32x4ExtractLane0, OP.end);
  const body = [...vec([[R + C + R * C, V128]]), ...code];
  const name = [...new TextEncoder().encode('probe')];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 1, I32, 1, F32]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...leb(name.length), ...name, 0x00, 0]])),
    ...section(10, vec([[...leb(body.length), ...body]])),
  ]);
}

/** What the probe returns for `iterations`, worked out in float32 in the probe's order. */
export function probeExpected(iterations: number): number {
  const fr = Math.fround;
  const w = [fr(W[0]), fr(W[1])];
  const acc = new Array<number>(8).fill(0);
  for (let t = 0; t < iterations; t++) {
    w[0] = fr(w[0]! + X[0]);
    w[1] = fr(w[1]! + X[1]);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 2; j++) acc[2 * i + j] = fr(acc[2 * i + j]! + fr(X[i]! * w[j]!));
  }
  return acc.reduce((s, v) => fr(s + v));
}

export type ProbeFn = (iterations: number) => number;

export function instantiateProbe(rows = 4, cols = 2): ProbeFn {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(probeModuleBytes(rows, cols)));
  return instance.exports['probe'] as ProbeFn;
}

/** Tile shapes tried: V8's register allocation differs between them, the best one is the ceiling. */
export const PROBE_TILES: readonly (readonly [number, number])[] = [[4, 2], [2, 2], [3, 3]];

export interface Ceiling {
  /** Best call of the best tile, 10^9 Mult-Adds per second. */
  gmacs: number;
  /** 2 x gmacs. */
  gflops: number;
  /** Per tile (rows x columns of accumulators): the best call's GMAC/s and every call's. */
  tiles: { tile: string; gmacs: number; samples: number[] }[];
  method: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function timeTile(rows: number, cols: number, callMs: number, calls: number): Promise<number[]> {
  const probe = instantiateProbe(rows, cols);
  const macsPerIteration = 4 * rows * cols;
  // V8 compiles with Liftoff first and tiers up in the background: run, pause, run.
  const warmEnd = performance.now() + 200;
  let n = 10_000;
  while (performance.now() < warmEnd) probe(n);
  await sleep(50);
  for (let i = 0; i < 5; i++) probe(n);
  let t = 0;
  for (;;) {
    const t0 = performance.now();
    probe(n);
    t = performance.now() - t0;
    if (t > 10) break;
    n *= 4;
  }
  const iterations = Math.max(1, Math.round((n * callMs) / t));
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    probe(iterations);
    samples.push((iterations * macsPerIteration) / ((performance.now() - t0) * 1e6));
  }
  return samples;
}

/**
 * For each tile shape: warm up, size a call to about `callMs`, keep the best of `calls` calls.
 * The ceiling is a limit, so the fastest call is the one least disturbed by other work.
 */
export async function measureCeiling(callMs = 100, calls = 7): Promise<Ceiling> {
  const tiles: Ceiling['tiles'] = [];
  for (const [rows, cols] of PROBE_TILES) {
    const samples = await timeTile(rows, cols, callMs, calls);
    tiles.push({ tile: `${rows}x${cols}`, gmacs: Math.max(...samples), samples });
  }
  const gmacs = Math.max(...tiles.map((t) => t.gmacs));
  return {
    gmacs,
    gflops: 2 * gmacs,
    tiles,
    method: `f32x4.mul + f32x4.add into register-resident accumulators (tiles ${tiles.map((t) => t.tile).join(', ')}), one core, best of ${calls} calls of ~${callMs} ms`,
  };
}
