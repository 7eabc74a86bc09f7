/**
 * `npm run bench`: the benchmark suite. Stages, in order (each can be chosen with --stages):
 *
 *   ceiling  the machine's f32x4 mul+add rate from WebAssembly on one core (bench/lib/probe.ts)
 *   kernels  each kernel on the real layer shapes: SIMD, its scalar twin, the TypeScript reference
 *   layers   one inference broken down by layer: time share beside Mult-Add share (Table 2)
 *   models   the alpha x resolution grid at batch 1 and 8, ours and the peers (bench/peers.ts),
 *            interleaved, every peer checked against ours before it is timed (Figure 4)
 *   threads  (only when asked: --stages threads) ours at 1 and 2 threads beside the peers that
 *            can thread, 1.0 @ 224, 0.5 @ 160, 0.25 @ 128, and 1.0 @ 224 layer by layer
 *            (bench/stages/threads.ts)
 *   fast     (only when asked: --stages fast) ours exact and fast (precision: 'fast', relaxed
 *            SIMD) at 1 and 2 threads beside TF.js wasm at 1, in a child process with relaxed
 *            SIMD on (bench/fast.ts); its own report in bench/results/fast/
 *
 * Writes bench/results/ (bench/results/quick/ with --quick): a JSON tagged with the runtime, CPU,
 * date and commit, report.md and three SVG plots. Progress goes to stderr. See docs/benchmarks.md.
 *
 *   npm run bench                 the full suite (about 10 minutes on 2 cores)
 *   npm run bench -- --quick      short runs, 4 configurations (under 2 minutes)
 *   npm run bench -- --help       every option
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildArchitecture, convLayers } from '../src/model/architecture.js';
import { defaultKernels, setKernelSource } from '../src/wasm/loader.js';
import { OptionError, USAGE, parseSuiteArgs, selectLayers, type SuiteOptions } from './lib/options.js';
import { measureCeiling } from './lib/probe.js';
import { Progress } from './lib/progress.js';
import { renderPlots, renderReport } from './lib/report.js';
import type { Meta, SuiteResults } from './lib/types.js';
import { kernelStage } from './stages/kernels.js';
import { layerStage } from './stages/layers.js';
import { coldScriptBeside, modelStage } from './stages/models.js';
import { threadsChildBeside, threadsStage } from './stages/threads.js';

const SEED = 1;

/** Durations of the full suite and of --quick. */
const PRESETS = {
  full: {
    ceiling: { callMs: 20, calls: 30 },
    kernels: { timeMs: 250, iterations: 10, warmupMs: 100 },
    layers: { sweeps: 30, timeMs: 3000, warmupMs: 500 },
    models: { rounds: 5, sliceMs: 300, warmupMs: 300, tfjsCpuMaxMacs: 600e6 },
    threads: { rounds: 6, sliceMs: 300, warmupMs: 300, layerSweeps: 30, layerTimeMs: 4000, quietWaitMs: 120_000 },
  },
  quick: {
    ceiling: { callMs: 10, calls: 15 },
    kernels: { timeMs: 40, iterations: 3, warmupMs: 20 },
    layers: { sweeps: 8, timeMs: 500, warmupMs: 200 },
    models: { rounds: 2, sliceMs: 100, warmupMs: 150, tfjsCpuMaxMacs: 15e6 },
    threads: { rounds: 2, sliceMs: 100, warmupMs: 150, layerSweeps: 8, layerTimeMs: 500, quietWaitMs: 10_000 },
  },
} as const;

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('bench: no package.json above this file');
    dir = up;
  }
  return dir;
}

/** Read-only git: the commit, and whether tracked files differ from it. */
function gitState(root: string): { commit: string | null; dirty: boolean | null } {
  const git = (...args: string[]) => execFileSync('git', ['--no-optional-locks', ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', 'HEAD');
    let dirty: boolean | null = null;
    try {
      dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    } catch {
      dirty = null;
    }
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** The TypeScript reference kernel on every layer (full) or one layer of each kind (quick). */
function referenceSubset(kinds: readonly string[], chosen: readonly number[], quick: boolean): Set<number> {
  if (!quick) return new Set(chosen);
  const seen = new Set<string>();
  const subset = new Set<number>();
  for (const i of chosen) {
    if (!seen.has(kinds[i]!)) subset.add(i);
    seen.add(kinds[i]!);
  }
  return subset;
}

async function main(o: SuiteOptions): Promise<SuiteResults> {
  const started = new Date();
  const t0 = performance.now();
  const loadStart = os.loadavg();
  const root = packageRoot();
  const preset = o.quick ? PRESETS.quick : PRESETS.full;
  const kernelsPath = path.join(root, 'build', 'kernels.wasm');
  if (!existsSync(kernelsPath)) throw new Error(`${kernelsPath} is not built: run npm run build:wasm first`);
  setKernelSource(kernelsPath);
  const module = await defaultKernels();
  const progress = new Progress();
  const cpus = os.cpus();
  const notes: string[] = [
    'Models stage: every engine on one thread. TF.js wasm does not use its threaded build in Node (tfjs-backend-wasm reports WASM_HAS_MULTITHREAD_SUPPORT = false whenever IS_NODE, tfjs issue #3830); the threads stage forces it on (bench/lib/tfjs-threads.ts).',
    'onnxruntime-node and onnxruntime-web run with 1 intra-op and 1 inter-op thread in the models stage; ours with threads: 1.',
  ];
  if (loadStart[0]! > cpus.length) notes.push(`The 1-minute load at the start (${loadStart[0]!.toFixed(2)}) was above the ${cpus.length} cores: other work competed for the CPU and the times are noisier and slower than on a quiet machine.`);
  progress.note(`bench: node ${process.version}, ${cpus[0]?.model ?? 'unknown CPU'} (${cpus.length} cores), load ${loadStart.map((v) => v.toFixed(2)).join(' ')}${o.quick ? ', --quick' : ''}`, true);

  const results: SuiteResults = { meta: undefined as unknown as Meta, ceiling: null, kernels: null, layers: null, models: null, threads: null };
  const [alpha, resolution] = [o.alphas[0]!, o.resolutions[0]!];

  if (o.stages.includes('ceiling')) {
    progress.begin('ceiling', 1);
    progress.update('f32x4 mul+add probe');
    results.ceiling = await measureCeiling(preset.ceiling.callMs, preset.ceiling.calls);
    progress.update('', true);
    progress.end(`${results.ceiling.gmacs.toFixed(2)} GMAC/s (${results.ceiling.tiles.map((t) => `${t.tile} ${t.gmacs.toFixed(2)}`).join(', ')})`);
  }
  if (o.stages.includes('kernels')) {
    const layers = convLayers(buildArchitecture({ depthMultiplier: alpha, inputSize: resolution }));
    const chosen = selectLayers(layers.map((l) => l.name), o.layers);
    results.kernels = await kernelStage(module, {
      alpha, resolution, layers: chosen, ...preset.kernels, seed: SEED,
      referenceLayers: referenceSubset(layers.map((l) => l.kind), chosen, o.quick),
    }, progress);
  }
  if (o.stages.includes('layers')) {
    results.layers = await layerStage({ alpha, resolution, ...preset.layers, seed: SEED }, progress);
  }
  if (o.stages.includes('models')) {
    if (o.peers.includes('tfjs-cpu')) notes.push(`tfjs-cpu (plain JavaScript) is timed only where Mult-Adds x batch is at most ${preset.models.tfjsCpuMaxMacs / 1e6}M, to keep the run within its time budget.`);
    results.models = await modelStage({
      alphas: o.alphas, resolutions: o.resolutions, batches: o.batches, peers: o.peers, ...preset.models, seed: SEED,
      coldScript: coldScriptBeside(path.dirname(fileURLToPath(import.meta.url))), kernelsPath,
    }, progress);
  }

  if (o.stages.includes('threads')) {
    const threadsPath = path.join(root, 'build', 'kernels-threads.wasm');
    if (!existsSync(threadsPath)) throw new Error(`${threadsPath} is not built: run npm run build:wasm first`);
    results.threads = await threadsStage({
      configs: [{ alpha: 1, resolution: 224 }, { alpha: 0.5, resolution: 160 }, { alpha: 0.25, resolution: 128 }],
      threads: o.threads, peers: o.peers, ...preset.threads, seed: SEED, baseline: o.baseline,
      childScript: threadsChildBeside(path.dirname(fileURLToPath(import.meta.url))),
      kernels: { simd: kernelsPath, threads: threadsPath },
    }, progress);
    notes.push(...results.threads.notes);
  }
  if (o.stages.includes('fast')) {
    progress.begin('fast', 1);
    progress.update('ours exact and fast at 1 and N threads, TF.js wasm at 1 (bench/fast.js, with relaxed SIMD)');
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fast.js');
    // Node 20 validates relaxed SIMD only with this flag; Node 22 and later have it on.
    const flags = process.versions.node.startsWith('20.') ? ['--experimental-wasm-relaxed-simd'] : [];
    execFileSync(process.execPath, [...flags, script, '--threads', String(o.threads), ...(o.quick ? ['--quick'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
    progress.update('', true);
    progress.end('report in bench/results/fast/');
    notes.push('The fast stage (precision "fast") wrote its own report to bench/results/fast/ (bench/fast.ts).');
  }
  if (results.models?.rows.some((r) => r.engine === 'ort-node')) {
    notes.push('ort-node is native code (MLAS: 8-lane AVX2 with fused multiply-add on x86), not bound by the 4-lane, FMA-less wasm SIMD ceiling above: it is a reference point for what the CPU can do natively, not a wasm peer.');
  }
  const loadEnd = os.loadavg();
  if (loadEnd[0]! > cpus.length && !(loadStart[0]! > cpus.length)) notes.push(`The 1-minute load at the end (${loadEnd[0]!.toFixed(2)}) was above the ${cpus.length} cores: other work started during the run.`);
  if (results.ceiling) {
    // Once more at the end: the ceiling is a limit, and a busy moment at the start would lower it.
    progress.begin('ceiling again', 1);
    const again = await measureCeiling(preset.ceiling.callMs, preset.ceiling.calls);
    progress.update('', true);
    const best = again.gmacs > results.ceiling.gmacs ? again : results.ceiling;
    results.ceiling = { ...best, method: `${best.method}; measured at the start (${results.ceiling.gmacs.toFixed(2)}) and at the end (${again.gmacs.toFixed(2)}) of the run, the higher kept` };
    progress.end(`${again.gmacs.toFixed(2)} GMAC/s; kept ${results.ceiling.gmacs.toFixed(2)}`);
  }
  const { commit, dirty } = gitState(root);
  results.meta = {
    date: started.toISOString(),
    commit,
    dirty,
    runtime: { node: process.version, v8: process.versions.v8, platform: `${os.platform()}-${os.arch()}` },
    cpu: { model: cpus[0]?.model ?? 'unknown', cores: cpus.length, mhz: cpus[0]?.speed ?? 0 },
    loadavg: { start: loadStart, end: loadEnd },
    quick: o.quick,
    options: { alphas: o.alphas, resolutions: o.resolutions, batches: o.batches, layers: o.layers, peers: o.peers, stages: o.stages, preset },
    durationS: (performance.now() - t0) / 1000,
    kernelsWasmBytes: statSync(kernelsPath).size,
    notes,
  };
  return results;
}

function write(results: SuiteResults, o: SuiteOptions): string {
  const root = packageRoot();
  const dir = path.resolve(root, o.out ?? path.join('bench', 'results', o.quick ? 'quick' : ''));
  mkdirSync(dir, { recursive: true });
  const m = results.meta;
  const tag = `${m.date.slice(0, 16).replace(/[:T]/g, '-')}_${(m.commit ?? 'nogit').slice(0, 7)}_node${m.runtime.node.replace(/^v/, '')}`;
  const json = path.join(dir, `results_${tag}.json`);
  writeFileSync(json, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(path.join(dir, 'report.md'), `${renderReport(results)}\n_Data: ${path.basename(json)}_\n`);
  for (const plot of renderPlots(results)) writeFileSync(path.join(dir, plot.file), plot.svg);
  return json;
}

let options: ReturnType<typeof parseSuiteArgs>;
try {
  options = parseSuiteArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof OptionError)) throw e;
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(`${USAGE}\n\nSee docs/benchmarks.md.\n`);
} else {
  const results = await main(options);
  const json = write(results, options);
  process.stderr.write(`bench: wrote ${path.relative(process.cwd(), json)}, report.md and the plots beside it (${results.meta.durationS.toFixed(0)} s)\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(results)}\n`);
}
