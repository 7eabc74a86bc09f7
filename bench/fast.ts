/**
 * The fast stage (`precision: 'fast'`, issue 12): ours exact and fast at 1 and N threads beside
 * TF.js wasm at 1 thread, in one process, interleaved (bench/lib/interleave.ts), at 1.0 @ 224,
 * 0.5 @ 160 and 0.25 @ 128, batch 1. Before timing:
 *   - exact at N threads bit for bit against exact at 1, fast at N against fast at 1;
 *   - fast against the reference's fused twin (src/reference/fma.ts) bit for bit where the
 *     engine fuses (the known-answer probe, src/wasm/relaxed.ts), on the smaller configurations;
 *   - fast within 1e-5 of exact's max|logit|.
 * Writes bench/results/fast/fast_<date>_<commit>_node<version>.md (and .json beside it).
 *
 *   npm run bench -- --stages fast            (spawns this script with relaxed SIMD on)
 *   node --experimental-wasm-relaxed-simd build/bench/bench/fast.js [--quick] [--quiet] [--threads 2] [--out DIR]
 *
 * Node 20 validates relaxed SIMD only with --experimental-wasm-relaxed-simd: without it this
 * script starts itself again with the flag.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededModel } from '../src/engine/measure.js';
import { runReference } from '../src/reference/backend.js';
import { createWasmBackend } from '../src/wasm/backend.js';
import { relaxedSimd } from '../src/wasm/relaxed.js';
import type { Precision } from '../src/backend.js';
import { interleave } from './lib/interleave.js';
import { relativeError, seededInputs, summarize, type Timing } from './lib/stats.js';
import { createPeer, type Engine } from './peers.js';

const FLAG = '--experimental-wasm-relaxed-simd';
const here = path.dirname(fileURLToPath(import.meta.url));

function packageRoot(): string {
  let dir = here;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const support = relaxedSimd();
if (typeof support === 'string') {
  if (process.execArgv.includes(FLAG)) {
    process.stderr.write(`bench fast: ${support}\n`);
    process.exit(1);
  }
  process.stderr.write(`bench fast: ${support}; starting again with ${FLAG}\n`);
  const child = spawnSync(process.execPath, [...process.execArgv, FLAG, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const threadsAt = argv.indexOf('--threads');
const N = threadsAt >= 0 ? Number(argv[threadsAt + 1]) : 2;
const outAt = argv.indexOf('--out');
const root = packageRoot();
const outDir = outAt >= 0 ? path.resolve(argv[outAt + 1]!) : path.join(root, 'bench', 'results', 'fast');
// --quiet: a slice during which other work kept more than 0.05 cores busy is dropped and run again
// after a quiet moment (as the threads stage does); without it (the default) every slice counts
// and the report gives the cores other work kept busy: on a shared machine that is never quiet,
// the interleaved medians still compare the engines under the same conditions.
const strict = argv.includes('--quiet');
const timing = { ...(quick ? { rounds: 2, sliceMs: 150, warmupMs: 200 } : { rounds: 6, sliceMs: 300, warmupMs: 300 }), ...(strict ? { quiet: 0.05, quietWaitMs: 60_000 } : {}) };
const CONFIGS = [{ alpha: 1, resolution: 224 }, { alpha: 0.5, resolution: 160 }, { alpha: 0.25, resolution: 128 }];
const SEED = 1;
const kernels = {
  simd: path.join(root, 'build', 'kernels.wasm'),
  threads: path.join(root, 'build', 'kernels-threads.wasm'),
  relaxed: path.join(root, 'build', 'kernels-relaxed.wasm'),
  threadsRelaxed: path.join(root, 'build', 'kernels-threads-relaxed.wasm'),
};
const note = (t: string) => process.stderr.write(`${t}\n`);

async function ours(arch: ReturnType<typeof seededModel>['arch'], folded: ReturnType<typeof seededModel>['folded'], threads: number, precision: Precision): Promise<Engine> {
  const backend = await createWasmBackend(arch, folded, { source: kernels }, threads, precision);
  if (backend.threads !== threads || backend.precision !== precision) throw new Error(`asked for ${precision} at ${threads} threads, runs ${backend.precision} at ${backend.threads}`);
  const keep = new Set([arch.output]);
  return { name: `${precision === 'fast' ? 'ours-fast' : 'ours'}@${threads}`, run: async (input) => backend.run(input, 1, keep).get(arch.output)!, dispose: async () => backend.dispose() };
}

interface Checks {
  alpha: number;
  resolution: number;
  fastVsExact: number;
  twin: 'bit-identical' | 'differs' | 'not checked';
  threadsSame: { exact: boolean; fast: boolean };
}

interface Row {
  alpha: number;
  resolution: number;
  engine: string;
  threads: number;
  macs: number;
  timing: Timing;
  cpuPerWall: number | null;
  maxRelError: number;
  othersBusyCores: number | null;
  droppedRounds: number;
}
const rows: Row[] = [];
const checks: Checks[] = [];
const started = new Date();
const load0 = os.loadavg();
for (const { alpha, resolution } of CONFIGS) {
  note(`fast: alpha ${alpha} @ ${resolution}`);
  const { arch, folded } = seededModel({ alpha, resolution, seed: SEED });
  // The checks, before timing.
  const input = seededInputs(1, resolution * resolution * 3, SEED + 11)[0]!;
  const outOf = async (e: Engine) => {
    const out = await e.run(input);
    await e.dispose();
    return out;
  };
  const [e1, eN, f1, fN] = [await outOf(await ours(arch, folded, 1, 'exact')), await outOf(await ours(arch, folded, N, 'exact')), await outOf(await ours(arch, folded, 1, 'fast')), await outOf(await ours(arch, folded, N, 'fast'))];
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < e1.length; i++) {
    scale = Math.max(scale, Math.abs(e1[i]!));
    diff = Math.max(diff, Math.abs(f1[i]! - e1[i]!));
  }
  let twin: Checks['twin'] = 'not checked';
  if (support.fused && alpha * alpha * resolution * resolution <= 0.25 * 160 * 160) {
    const ref = runReference(arch, folded, input, 1, new Set([arch.output]), true).get(arch.output)!;
    twin = same(ref, f1) ? 'bit-identical' : 'differs';
  }
  checks.push({ alpha, resolution, fastVsExact: diff / scale, twin, threadsSame: { exact: same(e1, eN), fast: same(f1, fN) } });
  note(`  fast vs exact: ${(diff / scale).toExponential(2)} of max|logit|; twin ${twin}; ${N} threads same bits: exact ${same(e1, eN)}, fast ${same(f1, fN)}`);
  const builders: { engine: string; threads: number; build: () => Promise<Engine> }[] = [
    { engine: 'ours', threads: 1, build: () => ours(arch, folded, 1, 'exact') },
    { engine: 'ours-fast', threads: 1, build: () => ours(arch, folded, 1, 'fast') },
    { engine: 'ours', threads: N, build: () => ours(arch, folded, N, 'exact') },
    { engine: 'ours-fast', threads: N, build: () => ours(arch, folded, N, 'fast') },
    { engine: 'tfjs-wasm', threads: 1, build: async () => ({ ...(await createPeer('tfjs-wasm', arch, folded, 1, 1)), name: 'tfjs-wasm@1' }) },
  ];
  const macs = arch.layers.reduce((sum, l) => sum + l.macs, 0);
  const inputs = seededInputs(4, resolution * resolution * 3, SEED + 1);
  const built: { engine: Engine; name: string; threads: number; error: number }[] = [];
  let reference: Float32Array | null = null;
  for (const b of builders) {
    const engine = await b.build();
    const output = await engine.run(inputs[0]!);
    reference ??= output;
    const error = relativeError(output, reference);
    // Every engine within 1e-4 of ours (exact, 1 thread) before it is timed.
    if (!(error <= 1e-4)) throw new Error(`${engine.name}: max rel. error ${error} against ours@1`);
    built.push({ engine, name: b.engine, threads: b.threads, error });
  }
  const t = await interleave(built.map((b) => b.engine), inputs, timing, (round) => note(`  round ${round + 1} of ${timing.rounds}`));
  for (const b of built) {
    rows.push({
      alpha, resolution, engine: b.name, threads: b.threads, macs, timing: summarize(t.samples.get(b.engine.name)!), cpuPerWall: t.cpuPerWall.get(b.engine.name) ?? null,
      maxRelError: b.error, othersBusyCores: t.othersBusyCores, droppedRounds: t.dropped,
    });
    await b.engine.dispose();
  }
  note(`  other work kept ${t.othersBusyCores?.toFixed(2) ?? 'n/a'} cores busy on average during the slices${strict ? ` kept; ${t.dropped} dropped and run again` : ''}`);
}

const git = (...args: string[]) => {
  try {
    return execFileSync('git', ['--no-optional-locks', ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
};
const commit = git('rev-parse', 'HEAD');
const dirty = git('status', '--porcelain', '--untracked-files=no');
const row = (engine: string, threads: number, alpha: number, resolution: number) => rows.find((r) => r.engine === engine && r.threads === threads && r.alpha === alpha && r.resolution === resolution);
const med = (engine: string, threads: number, alpha: number, resolution: number) => row(engine, threads, alpha, resolution)?.timing.medianMs ?? NaN;
const min = (engine: string, threads: number, alpha: number, resolution: number) => row(engine, threads, alpha, resolution)?.timing.minMs ?? NaN;
const f2 = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(3));
const ms = (v: number) => (Number.isNaN(v) ? 'n/a' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const lines: string[] = [
  '# The fast tier: precision "fast" beside "exact" and TF.js wasm',
  '',
  '|  |  |',
  '| :-- | :-- |',
  `| date | ${started.toISOString()} |`,
  `| commit | ${commit ?? 'unknown'}${dirty ? ' (with uncommitted changes)' : ''} |`,
  `| runtime | Node ${process.version}, V8 ${process.versions.v8}, ${process.execArgv.join(' ') || 'no flags'} |`,
  `| CPU | ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} logical cores |`,
  `| relaxed SIMD | ${support.fused ? 'fused (the known-answer probe: one rounding, FMA hardware)' : 'unfused (the probe: two roundings, no FMA)'} |`,
  `| load (1, 5, 15 min) | start ${load0.map((v) => v.toFixed(2)).join(', ')}; end ${os.loadavg().map((v) => v.toFixed(2)).join(', ')} |`,
  `| timing | ${timing.rounds} rounds of ${timing.sliceMs} ms slices per engine, interleaved; medians over the pooled runs${quick ? ' (--quick)' : ''}; ${strict ? 'slices disturbed by other work dropped and run again (--quiet)' : 'every slice kept (no --quiet): see the cores other work kept busy'} |`,
  '',
  '## Ratios (medians, batch 1)',
  '',
  `| model | exact@1 ms | fast@1 ms | fast@1 / exact@1 (of minima) | exact@${N} ms | fast@${N} ms | fast@${N} / exact@${N} | TF.js wasm@1 ms | fast@${N} / TF.js@1 | fast@1 / TF.js@1 |`,
  '| :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
];
for (const { alpha, resolution } of CONFIGS) {
  const e1 = med('ours', 1, alpha, resolution), f1 = med('ours-fast', 1, alpha, resolution);
  const eN = med('ours', N, alpha, resolution), fN = med('ours-fast', N, alpha, resolution);
  const t1 = med('tfjs-wasm', 1, alpha, resolution);
  lines.push(`| ${alpha.toFixed(2)} @ ${resolution} | ${ms(e1)} | ${ms(f1)} | ${f2(f1 / e1)} (${f2(min('ours-fast', 1, alpha, resolution) / min('ours', 1, alpha, resolution))}) | ${ms(eN)} | ${ms(fN)} | ${f2(fN / eN)} | ${ms(t1)} | ${f2(fN / t1)} | ${f2(f1 / t1)} |`);
}
lines.push('', '## Checks (before timing)', '', `| model | max|fast - exact| / max|exact logit| | fast vs the fused reference twin | ${N} threads = 1 thread (exact, fast) |`, '| :-- | --: | :-- | :-- |');
for (const c of checks) lines.push(`| ${c.alpha.toFixed(2)} @ ${c.resolution} | ${c.fastVsExact.toExponential(2)} | ${c.twin} | ${c.threadsSame.exact ? 'same bits' : 'DIFFER'}, ${c.threadsSame.fast ? 'same bits' : 'DIFFER'} |`);
lines.push('', '## Every row', '', '| model | engine | threads | median ms (p90) | min ms | GMAC/s | cores used | runs | others\' cores (slices dropped) |', '| :-- | :-- | --: | --: | --: | --: | --: | --: | --: |');
for (const r of rows) {
  lines.push(`| ${r.alpha.toFixed(2)} @ ${r.resolution} | ${r.engine} | ${r.threads} | ${ms(r.timing.medianMs)} (${ms(r.timing.p90Ms)}) | ${ms(r.timing.minMs)} | ${(r.macs / r.timing.medianMs / 1e6).toFixed(2)} | ${r.cpuPerWall?.toFixed(2) ?? 'n/a'} | ${r.timing.runs} | ${r.othersBusyCores?.toFixed(2) ?? 'n/a'} (${r.droppedRounds}) |`);
}
lines.push('', 'Each engine runs in slices of back-to-back runs (a 100 ms pause before each, the order rotated each round; bench/lib/interleave.ts). Ratios are of medians within this one process. Every engine is checked within 1e-4 of ours (exact, 1 thread) before it is timed.', '');
mkdirSync(outDir, { recursive: true });
const tag = `${started.toISOString().slice(0, 16).replace(/[:T]/g, '-')}_${(commit ?? 'nogit').slice(0, 7)}_node${process.version.replace(/^v/, '')}`;
writeFileSync(path.join(outDir, `fast_${tag}.md`), `${lines.join('\n')}\n`);
writeFileSync(path.join(outDir, `fast_${tag}.json`), `${JSON.stringify({ date: started.toISOString(), commit, node: process.version, execArgv: process.execArgv, fused: support.fused, threads: N, checks, rows }, null, 1)}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
note(`bench fast: wrote ${path.relative(process.cwd(), path.join(outDir, `fast_${tag}.md`))}`);
// TF.js's wasm backend keeps the process alive.
process.exit(0);
