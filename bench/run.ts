/**
 * `npm run bench`: the whole network, batch 1, our engine against TensorFlow.js (wasm, cpu)
 * and onnxruntime (node, web). Every engine's output is first checked against our reference
 * path (max|a-b| / max|b| <= 1e-4); an engine that disagrees is not timed.
 *
 * Timing: cold start (build + first run; truly cold only for the first configuration, later
 * ones find the engine's runtime already loaded) apart; then `--rounds` rounds, each a tinybench run
 * of every engine (warm-up for >= 500 ms, long enough for V8 to tier the wasm engines up from
 * Liftoff to TurboFan; then at least `--time` ms and 2 runs each), the engine
 * order rotated every round so that no engine always runs first or while the CPU is hot.
 * Samples of all rounds are pooled into the median and p90. Inputs rotate over 4 buffers.
 *
 *   npm run bench [-- --json] [--rounds 4] [--time 1000]
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import type { MobileNetOptions } from '../src/model/architecture.js';
import { createModel, type BackendName } from '../src/model/mobilenet.js';
import { mulberry32 } from '../src/model/random.js';
import { Tensor } from '../src/tensor.js';
import { createPeer, PEERS, type Engine } from './peers.js';

interface Config {
  name: string;
  options: MobileNetOptions;
  /** The reference path is slow: timed only on the small model. */
  reference: boolean;
}

const CONFIGS: Config[] = [
  { name: 'alpha=1.0 224x224', options: {}, reference: false },
  { name: 'alpha=0.25 128x128', options: { depthMultiplier: 0.25, inputSize: 128 }, reference: true },
];
const BATCH = 1;
const SEED = 1;
const TOLERANCE = 1e-4;

export interface Row {
  config: string;
  engine: string;
  batch: number;
  macs: number;
  coldMs: number;
  medianMs: number;
  p90Ms: number;
  /** 2 * MACs / median time. */
  gflops: number;
  /** TF.js wasm's median / this engine's median: above 1 is faster than TF.js wasm. */
  speedVsTfjsWasm: number | null;
  runs: number;
  /** Against our reference path, on the first input. */
  maxRelError: number;
}

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!(Number.isInteger(value) && value > 0)) throw new Error(`bench: ${name} expects a positive integer`);
  return value;
};
const asJson = args.includes('--json');
const rounds = option('--rounds', 4);
const timeMs = option('--time', 1000);
const log = (line: string) => process.stderr.write(`${line}\n`);

/** The package root: the nearest folder above this file with a package.json (works from src and dist). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('bench: no package.json above this file');
    dir = up;
  }
  return dir;
}

/** Registers our wasm backend, or says why there is no wasm row. */
async function loadOurWasm(): Promise<boolean> {
  try {
    const kernels = path.join(packageRoot(), 'build', 'kernels.wasm');
    if (!existsSync(kernels)) throw new Error(`${kernels} not built (npm run build:wasm)`);
    const { setKernelSource } = await import('../src/wasm/loader.js');
    setKernelSource(kernels);
    await import('../src/wasm/backend.js');
    return true;
  } catch (e) {
    log(`our wasm backend: skipped (${(e as Error).message})`);
    return false;
  }
}

function randomInputs(count: number, size: number): Float32Array[] {
  const next = mulberry32(SEED + 1);
  return Array.from({ length: count }, () => new Float32Array(size).map(() => (next() / 2 ** 32) * 2 - 1));
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

/** Linear interpolation between order statistics, as tinybench does for its percentiles. */
function percentile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

async function ourEngine(config: Config, backend: BackendName): Promise<Engine> {
  const model = await createModel({ ...config.options, seed: SEED, backend });
  const [h, w, c] = model.architecture.inputShape;
  return {
    name: `ours-${backend}`,
    run: async (input) => model.predict(new Tensor(input, [BATCH, h, w, c])).data,
    dispose: async () => model.dispose(),
  };
}

async function benchConfig(config: Config, ourWasm: boolean): Promise<Row[]> {
  const reference = await createModel({ ...config.options, seed: SEED, backend: 'reference' });
  const arch = reference.architecture;
  const macs = arch.layers.reduce((sum, l) => sum + l.macs, 0);
  const inputs = randomInputs(4, BATCH * arch.inputShape.reduce((a, b) => a * b, 1));
  const [h, w, c] = arch.inputShape;
  log(`${config.name}: ${(macs / 1e6).toFixed(1)}M Mult-Adds; reference output for the check...`);
  const expected = reference.predict(new Tensor(inputs[0]!, [BATCH, h, w, c])).data;

  const makers: [string, () => Promise<Engine>][] = [];
  if (config.reference) makers.push(['ours-reference', () => ourEngine(config, 'reference')]);
  if (ourWasm) makers.push(['ours-wasm', () => ourEngine(config, 'wasm')]);
  for (const p of PEERS) makers.push([p, () => createPeer(p, arch, reference.folded, BATCH)]);

  // Cold start, then the correctness gate.
  const engines: { engine: Engine; coldMs: number; error: number }[] = [];
  for (const [name, make] of makers) {
    try {
      const t0 = performance.now();
      const engine = await make();
      const output = await engine.run(inputs[0]!);
      const coldMs = performance.now() - t0;
      const error = relativeError(output, expected);
      log(`  ${name}: cold ${coldMs.toFixed(1)} ms, max rel. error ${error.toExponential(2)}`);
      if (!(error <= TOLERANCE)) {
        log(`  ${name}: NOT TIMED, its output disagrees with the reference path`);
        await engine.dispose();
        continue;
      }
      engines.push({ engine, coldMs, error });
    } catch (e) {
      log(`  ${name}: NOT TIMED, ${(e as Error).message}`);
    }
  }

  const samples = new Map<string, number[]>(engines.map((e) => [e.engine.name, []]));
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: timeMs, iterations: 2, warmupIterations: 1, warmupTime: 500, retainSamples: true, throws: true });
    for (let k = 0; k < engines.length; k++) {
      const { engine } = engines[(k + round) % engines.length]!;
      let i = 0;
      bench.add(engine.name, async () => {
        await engine.run(inputs[i++ % inputs.length]!);
      });
    }
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result;
      if (result.state !== 'completed' || !result.latency.samples) throw new Error(`bench: ${task.name} did not complete`);
      samples.get(task.name)!.push(...result.latency.samples);
    }
    log(`  round ${round + 1}/${rounds} done`);
  }

  const rows: Row[] = engines.map(({ engine, coldMs, error }) => {
    const sorted = samples.get(engine.name)!.sort((a, b) => a - b);
    const medianMs = percentile(sorted, 0.5);
    return {
      config: config.name, engine: engine.name, batch: BATCH, macs, coldMs, medianMs,
      p90Ms: percentile(sorted, 0.9),
      gflops: (2 * macs * BATCH) / (medianMs * 1e6),
      speedVsTfjsWasm: null, runs: sorted.length, maxRelError: error,
    };
  });
  const base = rows.find((r) => r.engine === 'tfjs-wasm');
  for (const r of rows) r.speedVsTfjsWasm = base ? base.medianMs / r.medianMs : null;
  for (const { engine } of engines) await engine.dispose();
  reference.dispose();
  return rows;
}

function table(rows: readonly Row[]): string {
  const head = ['config', 'engine', 'cold ms', 'median ms', 'p90 ms', 'GFLOP/s', 'x tfjs-wasm', 'runs', 'max rel err'];
  const body = rows.map((r) => [
    r.config, r.engine, r.coldMs.toFixed(1), r.medianMs.toFixed(2), r.p90Ms.toFixed(2), r.gflops.toFixed(2),
    r.speedVsTfjsWasm === null ? '-' : r.speedVsTfjsWasm.toFixed(2), String(r.runs), r.maxRelError.toExponential(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const runtime = { node: process.version, cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, platform: `${os.platform()}-${os.arch()}` };
log(`node ${runtime.node}, ${runtime.cpu} (${runtime.cores} cores), batch ${BATCH}, ${rounds} rounds of >= ${timeMs} ms per engine`);
const ourWasm = await loadOurWasm();
const rows: Row[] = [];
for (const config of CONFIGS) rows.push(...(await benchConfig(config, ourWasm)));
if (asJson) {
  process.stdout.write(`${JSON.stringify({ runtime, rows }, null, 2)}\n`);
} else {
  process.stdout.write(`\n${table(rows)}\n\nx tfjs-wasm: TF.js wasm median / engine median (above 1: faster than TF.js wasm). One thread everywhere.\n`);
}
