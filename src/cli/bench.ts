/**
 * `mobilenet bench --alpha A --resolution R [--backend wasm|reference] [--batch N] [--json]`:
 * times one configuration of our engine on seeded weights.
 *
 *   cold start  compile the kernels (wasm) + plan the arena + pack the weights + the first run;
 *               the seeded weights are made and folded before the clock starts
 *   warm-up     at least --warmup ms and 3 runs (V8 tiers the wasm up from Liftoff to TurboFan)
 *   timed       at least --iterations runs and --time ms, then on until the medians of the first
 *               and second half of the samples agree within 2% (at most 4 x --time); inputs
 *               rotate over 4 buffers
 *
 * The shipped command has no benchmark library (tinybench is a dev dependency): the loop is
 * the few lines below. The full suite, with peers and plots, is `npm run bench`.
 */
import type { Command } from 'commander';
import type { BackendName } from '../backend.js';
import { coldStart, median, percentile, type ColdStartConfig } from '../engine/measure.js';
import { randomInputs } from '../model/random.js';
import { integer, parseAlpha, parseBackend, parseResolution } from './flags.js';
import { hasWasmSimd } from '../wasm/loader.js';
import type { Io } from './io.js';

/** One line of `bench --json`. */
interface BenchResult {
  alpha: number;
  /** As given: one number for a square input, [height, width] otherwise. */
  resolution: number | [number, number];
  batch: number;
  backend: BackendName;
  medianMs: number;
  p90Ms: number;
  /** 2 x Mult-Adds x batch / median time, in 10^9 per second. */
  gflops: number;
  coldStartMs: number;
  /** Bytes of the wasm arena (WebAssembly.Memory) after the timed runs; null for reference. */
  memoryBytes: number | null;
}

interface BenchConfig extends ColdStartConfig {
  /** Minimum timed runs. */
  iterations: number;
  /** Minimum timed duration, ms. */
  timeMs: number;
  /** Minimum warm-up duration, ms. */
  warmupMs: number;
}

const DEFAULT_BENCH: Omit<BenchConfig, 'alpha' | 'resolution' | 'backend'> = {
  batch: 1,
  iterations: 10,
  timeMs: 2000,
  warmupMs: 500,
  seed: 1,
};

const now = () => performance.now();

/** Times one configuration: cold start, warm-up, then the timed runs. */
async function benchConfiguration(c: BenchConfig): Promise<BenchResult> {
  const engine = await coldStart(c);
  const { arch } = engine;
  const bufs = randomInputs(4, c.batch * arch.inputShape[0] * arch.inputShape[1] * 3, c.seed + 11);
  let turn = 0;
  const once = () => {
    const t0 = now();
    engine.run(bufs[turn++ % bufs.length]!);
    return now() - t0;
  };
  const warmStart = now();
  for (let i = 0; i < 3 || now() - warmStart < c.warmupMs; i++) once();

  const samples: number[] = [];
  const start = now();
  for (;;) {
    samples.push(once());
    const elapsed = now() - start;
    if (samples.length < c.iterations || elapsed < c.timeMs) continue;
    const half = samples.length >> 1;
    const drift = half > 0 ? Math.abs(median(samples.slice(0, half)) - median(samples.slice(half))) / median(samples) : 0;
    if (drift < 0.02 || elapsed >= 4 * c.timeMs) break;
  }
  const macs = arch.layers.reduce((sum, l) => sum + l.macs, 0);
  const medianMs = median(samples);
  return {
    alpha: c.alpha,
    resolution: c.resolution,
    batch: c.batch,
    backend: c.backend,
    medianMs,
    p90Ms: percentile([...samples].sort((x, y) => x - y), 0.9),
    gflops: (2 * macs * c.batch) / (medianMs * 1e6),
    coldStartMs: engine.coldStartMs,
    memoryBytes: engine.memoryBytes(),
  };
}

const parseBatch = integer('--batch', 1, 1024);

interface BenchFlags {
  alpha?: number;
  resolution?: number | [number, number];
  backend?: BackendName;
  batch: number;
  iterations: number;
  time: number;
  warmup: number;
  seed: number;
  json?: boolean;
}

const size = (r: number | [number, number]) => (typeof r === 'number' ? `${r}x${r}` : `${r[0]}x${r[1]}`);

function formatResult(r: BenchResult): string {
  const arena = r.memoryBytes === null ? '' : `; arena ${(r.memoryBytes / 2 ** 20).toFixed(2)} MiB`;
  return (
    `alpha ${r.alpha} @ ${size(r.resolution)}, batch ${r.batch}, ${r.backend}: ` +
    `median ${r.medianMs.toFixed(2)} ms, p90 ${r.p90Ms.toFixed(2)} ms, ${r.gflops.toFixed(2)} GFLOP/s; ` +
    `cold start ${r.coldStartMs.toFixed(1)} ms${arena}\n`
  );
}

export function registerBench(program: Command, io: Io): void {
  program
    .command('bench')
    .description('time one configuration of the engine on seeded weights (the full suite: npm run bench)')
    .option('--alpha <A>', 'width multiplier, > 0 (default 1)', parseAlpha)
    .option('--resolution <R>', 'input size: 224 or HxW such as 160x224 (default 224)', parseResolution)
    .option('--backend <name>', 'wasm (default where SIMD is available) or reference', parseBackend)
    .option('--batch <N>', 'images per run, 1 to 1024', parseBatch, DEFAULT_BENCH.batch)
    .option('--iterations <N>', 'minimum timed runs', integer('--iterations', 1, 1_000_000), DEFAULT_BENCH.iterations)
    .option('--time <ms>', 'minimum timed duration in ms', integer('--time', 0, 3_600_000), DEFAULT_BENCH.timeMs)
    .option('--warmup <ms>', 'minimum warm-up in ms (at least 3 runs)', integer('--warmup', 0, 3_600_000), DEFAULT_BENCH.warmupMs)
    .option('--seed <N>', 'seed of the random weights', integer('--seed', 0, 2 ** 32 - 1), DEFAULT_BENCH.seed)
    .option('--json', 'one JSON object: {"alpha","resolution","batch","backend","medianMs","p90Ms","gflops","coldStartMs","memoryBytes"}')
    .action(async (flags: BenchFlags) => {
      const result = await benchConfiguration({
        alpha: flags.alpha ?? 1,
        resolution: flags.resolution ?? 224,
        batch: flags.batch,
        backend: flags.backend ?? (hasWasmSimd() ? 'wasm' : 'reference'),
        iterations: flags.iterations,
        timeMs: flags.time,
        warmupMs: flags.warmup,
        seed: flags.seed,
      });
      io.stdout(flags.json ? `${JSON.stringify(result)}\n` : formatResult(result));
    });
}
