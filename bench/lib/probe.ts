/**
 * The ceiling probe: how many f32x4 multiply + add pairs one core retires per second from
 * WebAssembly, in the shape of the GEMM micro-kernel with nothing else in the loop. Every
 * GMAC/s of the suite is read as a fraction of this number.
 *
 * The module is assembled here, byte by byte (no toolchain, nothing under assembly/):
 *
 *   (memory (export "memory") 1)                      ;; w vectors at 0, 16, ... (L1-resident)
 *   (func (export "probe") (param $n i32) (result f32)
 *     (local $x0..$x{R-1} $w0..$w{C-1} $a0..$a{R*C-1} v128)
 *     x_i = splat(X[i])
 *     loop while n != 0:
 *       4 times (u = 0..3, unrolled as the GEMM unrolls k by 4):
 *         w_j = v128.load(16 (C u + j))              ;; as the GEMM loads its packed weights
 *         a[C i + j] += x_i * w_j   for i < R, j < C ;; R x C independent accumulators
 *       n -= 1
 *     return lane 0 of (a0 + ... ))
 *
 * The default tile is the GEMM's 4x8 (4 rows x 2 vectors of 4 columns: 8 mul + 8 add, 32
 * Mult-Adds per step, 128 per iteration); 3x3 is built the same way and the better one is kept
 * (V8's register allocation differs between them; 2x2 is latency-bound and was dropped). The w
 * loads (two per step, into locals, as the GEMM loads b0 and b1) keep the products inside the
 * loop (nothing to hoist) and use the load ports, not the arithmetic ones. Plain SIMD only: no
 * relaxed FMA, as in the kernels. On the 2-core EPYC this probe gives about 24-25 GMAC/s where
 * the GEMM kernel on a 196x512x512 pointwise shape gives about 18.
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
  get: 0x20, set: 0x21, teeLocal: 0x22, i32Const: 0x41, f32Const: 0x43, i32Eqz: 0x45, i32Sub: 0x6b,
} as const;
const SIMD = 0xfd;
const f32x4Splat = [SIMD, ...leb(0x13)];
const v128Load = [SIMD, ...leb(0x00)];
const f32x4ExtractLane0 = [SIMD, ...leb(0x1f), 0];
const f32x4Add = [SIMD, ...leb(0xe4)];
const f32x4Mul = [SIMD, ...leb(0xe6)];
const V128 = 0x7b;
const I32 = 0x7f;
const F32 = 0x7d;

/** The probe module's bytes (R rows x C vector columns of accumulators; the default is the 4x8 GEMM tile). */
export function probeModuleBytes(R = 4, C = 2): Uint8Array<ArrayBuffer> {
  const n = 0;
  const x = (i: number) => 1 + i;
  const w = (j: number) => 1 + R + j;
  const a = (k: number) => 1 + R + C + k;
  const code: number[] = [];
  for (let i = 0; i < R; i++) code.push(OP.f32Const, ...f32(xValue(i)), ...f32x4Splat, OP.set, x(i));
  // if n != 0: do { ...; n -= 1 } while (n != 0): one branch per iteration, as a compiled for loop.
  code.push(OP.block, 0x40, OP.get, n, OP.i32Eqz, OP.brIf, 0, OP.loop, 0x40);
  for (let u = 0; u < UNROLL; u++) {
    // w_j = v128.load(16 (C u + j)), once per step, as the GEMM loads b0 and b1.
    for (let j = 0; j < C; j++) code.push(OP.i32Const, 0, ...v128Load, 4, ...leb(16 * (C * u + j)), OP.set, w(j));
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < C; j++) {
        const k = a(C * i + j);
        code.push(OP.get, k, OP.get, x(i), OP.get, w(j), ...f32x4Mul, ...f32x4Add, OP.set, k);
      }
    }
  }
  code.push(OP.get, n, OP.i32Const, 1, OP.i32Sub, OP.teeLocal, n, OP.brIf, 0, OP.end, OP.end);
  code.push(OP.get, a(0));
  for (let k = 1; k < R * C; k++) code.push(OP.get, a(k), ...f32x4Add);
  code.push(...f32x4ExtractLane0, OP.end);
  const body = [...vec([[R + C + R * C, V128]]), ...code];
  const probe = [...new TextEncoder().encode('probe')];
  const memory = [...new TextEncoder().encode('memory')];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 1, I32, 1, F32]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...leb(probe.length), ...probe, 0x00, 0], [...leb(memory.length), ...memory, 0x02, 0]])),
    ...section(10, vec([[...leb(body.length), ...body]])),
  ]);
}

/** Steps per loop iteration, as the GEMM unrolls k by 4: the loop's own cost is spread over 4 steps. */
const UNROLL = 4;

const xValue = (i: number) => X[i % X.length]! + Math.floor(i / X.length);
/** The w vector of column j in unrolled step u (all lanes equal). */
const wValue = (j: number, u = 0) => W[j % W.length]! + 2 * Math.floor(j / W.length) + u / 8;

/** What the probe returns for `iterations`, worked out in float32 in the probe's order. */
export function probeExpected(iterations: number, R = 4, C = 2): number {
  const fr = Math.fround;
  const acc = new Array<number>(R * C).fill(0);
  for (let t = 0; t < iterations; t++) {
    for (let u = 0; u < UNROLL; u++) {
      for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) acc[C * i + j] = fr(acc[C * i + j]! + fr(xValue(i) * wValue(j, u)));
    }
  }
  return acc.reduce((s, v) => fr(s + v));
}

export type ProbeFn = (iterations: number) => number;

export function instantiateProbe(rows = 4, cols = 2): ProbeFn {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(probeModuleBytes(rows, cols)));
  const memory = new Float32Array((instance.exports['memory'] as WebAssembly.Memory).buffer);
  for (let u = 0; u < UNROLL; u++) for (let j = 0; j < cols; j++) memory.fill(wValue(j, u), 4 * (cols * u + j), 4 * (cols * u + j) + 4);
  return instance.exports['probe'] as ProbeFn;
}

/** Tile shapes tried: V8's register allocation differs between them, the best one is the ceiling. */
const PROBE_TILES: readonly (readonly [number, number])[] = [[4, 2], [3, 3]];

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
  const macsPerIteration = 4 * rows * cols * UNROLL;
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
