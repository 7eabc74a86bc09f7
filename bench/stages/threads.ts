/**
 * Stage 5, threads: our engine at 1 and N threads (default 2) beside the peers that can thread,
 * on a few configurations at batch 1 (default 1.0 @ 224, 0.5 @ 160, 0.25 @ 128), and one
 * inference of the first configuration layer by layer at 1 and N threads.
 *
 *   in this process  ours at 1 and N threads, ours-head (--baseline: the committed HEAD's build,
 *                    to show the single-thread path lost nothing), TF.js wasm, ort-web and
 *                    ort-node at 1 thread, ort-node at N (intraOpNumThreads is per session)
 *   in a child       ours at 1 and N threads again, with ort-web (numThreads = N) and TF.js wasm
 *                    (its threaded build forced on: bench/lib/tfjs-threads.ts) at N threads:
 *                    both choose their thread count once per process (bench/threads-child.ts)
 *   check            ours at N threads bit for bit against ours at 1 (and ours-head); every peer
 *                    within 1e-4 of ours, or it is not timed
 *   timing           rounds of interleaved slices per process (bench/lib/interleave.ts); ratios
 *                    are taken within a process; each engine's cores used (CPU time / wall time)
 *   layers           one inference at a time at 1 and N threads, alternating, every layer timed
 *                    where it runs (WasmBackend.profileRun)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { seededModel } from '../../src/engine/measure.js';
import type { Architecture } from '../../src/model/architecture.js';
import type { FoldedLayer } from '../../src/model/fold.js';
import { createWasmBackend, type WasmBackend } from '../../src/wasm/backend.js';
import type { PeerChoice } from '../lib/options.js';
import type { Progress } from '../lib/progress.js';
import { interleave } from '../lib/interleave.js';
import { othersBusy, waitForQuiet } from '../lib/quiet.js';
import { relativeError, seededInputs, summarize } from '../lib/stats.js';
import type { Skipped, ThreadLayerRow, ThreadsResult, ThreadsRow } from '../lib/types.js';
import { createPeer, type Engine } from '../peers.js';

const run = promisify(execFile);
const TOLERANCE = 1e-4;
/** A slice (or a layer sweep) during which other work kept more cores than this busy is run again (dropped). */
const QUIET_CORES = 0.05;

export interface ThreadsStageOptions {
  configs: readonly { alpha: number; resolution: number }[];
  threads: number;
  peers: readonly PeerChoice[];
  rounds: number;
  sliceMs: number;
  warmupMs: number;
  layerSweeps: number;
  layerTimeMs: number;
  seed: number;
  /** A checkout of this package at another commit, built (its dist/ and build/kernels.wasm): timed as `ours-head`. */
  baseline: string | null;
  /** Before each timing, wait up to this long for other work to leave the cores (Linux). */
  quietWaitMs: number;
  /** bench/threads-child.js (compiled); null: no child process (ort-web and TF.js wasm at N threads not timed). */
  childScript: string | null;
  kernels: { simd: string; threads: string };
}

/** What the child prints: the same rows, from its process. */
export interface ChildReport {
  rows: ThreadsRow[];
  skipped: Skipped[];
  notes: string[];
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** Ours as an Engine, at `threads` threads. */
export async function oursEngine(arch: Architecture, folded: readonly FoldedLayer[], batch: number, threads: number, kernels: ThreadsStageOptions['kernels'], name = 'ours'): Promise<{ engine: Engine; backend: WasmBackend }> {
  const backend = await createWasmBackend(arch, folded, { source: kernels }, threads);
  if (backend.threads !== threads) throw new Error(`ours: asked for ${threads} threads, runs on ${backend.threads}`);
  const keep = new Set([arch.output]);
  const engine: Engine = {
    name: `${name}@${threads}`,
    run: async (input) => backend.run(input, batch, keep).get(arch.output)!,
    dispose: async () => backend.dispose(),
  };
  return { engine, backend };
}

/**
 * Builds `engines` (name, threads, how), checks each against ours at 1 thread, times them
 * interleaved and turns the samples into rows (the rows of one process).
 */
export async function timeWorld(
  where: 'main' | 'child',
  config: { alpha: number; resolution: number; batch: number; seed: number; threads: number },
  builders: { engine: string; threads: number; build: () => Promise<Engine>; exact?: boolean }[],
  o: { rounds: number; sliceMs: number; warmupMs: number; quietWaitMs?: number },
  note: (text: string) => void,
): Promise<{ rows: ThreadsRow[]; skipped: Skipped[] }> {
  const { arch, folded } = seededModel({ alpha: config.alpha, resolution: config.resolution, seed: config.seed });
  const macs = arch.layers.reduce((s, l) => s + l.macs, 0);
  const inputs = seededInputs(4, config.batch * config.resolution * config.resolution * 3, config.seed + config.batch);
  const skipped: Skipped[] = [];
  const built: { engine: Engine; name: string; threads: number; error: number }[] = [];
  let reference: Float32Array | null = null;
  for (const b of builders) {
    try {
      const engine = await b.build();
      const output = await engine.run(inputs[0]!);
      reference ??= output;
      const error = relativeError(output, reference);
      if (b.exact ? !same(output, reference) : !(error <= TOLERANCE)) {
        const reason = b.exact ? 'its output is not bit-identical to ours at 1 thread' : `its output differs from ours (max rel. error ${error.toExponential(2)} > ${TOLERANCE})`;
        skipped.push({ engine: `${b.engine}@${b.threads}`, alpha: config.alpha, resolution: config.resolution, batch: config.batch, reason });
        note(`  ${b.engine}@${b.threads}: not timed, ${reason}`);
        await engine.dispose();
        continue;
      }
      built.push({ engine, name: b.engine, threads: b.threads, error });
    } catch (e) {
      const reason = `failed: ${(e as Error).message.split('\n')[0]}`;
      skipped.push({ engine: `${b.engine}@${b.threads}`, alpha: config.alpha, resolution: config.resolution, batch: config.batch, reason });
      note(`  ${b.engine}@${b.threads}: not timed, ${reason}`);
    }
  }
  // A thread of ours cannot run on a core someone else holds: rounds disturbed by other work are run again.
  await waitForQuiet(o.quietWaitMs ?? 0);
  const { samples, cpuPerWall, dropped, othersBusyCores } = await interleave(built.map((b) => b.engine), inputs, { ...o, quiet: QUIET_CORES });
  if (dropped) note(`  ${dropped} slice${dropped === 1 ? '' : 's'} dropped and run again: other work kept more than ${QUIET_CORES} cores busy`);
  const median = (name: string) => summarize(samples.get(name) ?? []).medianMs;
  const ours1 = median('ours@1');
  const oursN = samples.has(`ours@${config.threads}`) ? median(`ours@${config.threads}`) : NaN;
  const rows = built.map((b): ThreadsRow => {
    const timing = summarize(samples.get(b.engine.name)!);
    return {
      alpha: config.alpha, resolution: config.resolution, batch: config.batch, engine: b.name, threads: b.threads, process: where, macs, timing,
      cpuPerWall: cpuPerWall.get(b.engine.name) ?? null, maxRelError: b.error,
      vsOurs1: timing.medianMs / ours1, vsOursN: Number.isNaN(oursN) ? null : timing.medianMs / oursN, othersBusyCores, droppedRounds: dropped,
    };
  });
  for (const b of built) await b.engine.dispose();
  return { rows, skipped };
}

/**
 * One inference at a time, every layer timed where it runs (WasmBackend.profileRun: at N
 * threads a step lasts from the end of the one before until every thread is done with it,
 * barrier included), alternating 1 and N threads; whole runs in between.
 */
async function layerComparison(alpha: number, resolution: number, o: ThreadsStageOptions, progress: Progress): Promise<NonNullable<ThreadsResult['layers']>> {
  const { arch, folded } = seededModel({ alpha, resolution, seed: o.seed });
  const backends = [await createWasmBackend(arch, folded, { source: o.kernels }, 1), await createWasmBackend(arch, folded, { source: o.kernels }, o.threads)];
  const timed = arch.layers.map((layer, index) => ({ layer, index })).filter(({ layer }) => layer.kind !== 'softmax');
  const items = backends[1]!.workItems(1);
  const samples = backends.map(() => timed.map(() => [] as number[]));
  const whole: number[][] = [[], []];
  const keep = new Set([arch.output]);
  const inputs = seededInputs(4, resolution * resolution * 3, o.seed + 3);
  let turn = 0;
  let dropped = 0;
  let busySum = 0;
  let busyKnown = 0;
  /** One sweep: a profiled and a whole run on each backend; its samples kept unless other work disturbed it. */
  const sweep = (record: boolean) => {
    const others = othersBusy();
    const got = backends.map(() => ({ layers: [] as number[], whole: 0 }));
    for (const [b, backend] of backends.entries()) {
      const times = backend.profileRun(inputs[turn % inputs.length]!, 1);
      got[b]!.layers = timed.map(({ index }) => times[index]!);
      const t0 = performance.now();
      backend.run(inputs[turn % inputs.length]!, 1, keep);
      got[b]!.whole = performance.now() - t0;
    }
    turn++;
    const busy = others.stop();
    if (!record) return;
    if (busy !== null && busy > QUIET_CORES) {
      dropped++;
      return;
    }
    if (busy !== null) {
      busySum += busy;
      busyKnown++;
    }
    got.forEach((g, b) => {
      g.layers.forEach((v, i) => samples[b]![i]!.push(v));
      whole[b]!.push(g.whole);
    });
  };
  const warmEnd = performance.now() + o.warmupMs;
  for (let i = 0; i < 3 || performance.now() < warmEnd; i++) sweep(false);
  await waitForQuiet(o.quietWaitMs);
  const start = performance.now();
  for (let n = 0; whole[0]!.length < o.layerSweeps || performance.now() - start < o.layerTimeMs; n++) {
    sweep(true);
    if (n % 5 === 0) progress.update(`layers at 1 and ${o.threads} threads: sweep ${n + 1}`);
    if (n > 20 * o.layerSweeps) break;
  }
  const othersBusyCores = busyKnown ? busySum / busyKnown : null;
  for (const b of backends) b.dispose();
  const rows = timed.map(({ layer, index }, i): ThreadLayerRow => {
    const a = summarize(samples[0]![i]!);
    const b = summarize(samples[1]![i]!);
    return { name: layer.name, kind: layer.kind, macs: layer.macs, items: items[index]!, one: a, many: b, speedup: a.medianMs / b.medianMs };
  });
  return { alpha, resolution, rows, wholeOne: summarize(whole[0]!), wholeMany: summarize(whole[1]!), othersBusyCores, droppedSweeps: dropped };
}

export async function threadsStage(o: ThreadsStageOptions, progress: Progress): Promise<ThreadsResult> {
  const rows: ThreadsRow[] = [];
  const skipped: Skipped[] = [];
  const notes: string[] = [];
  const N = o.threads;
  progress.begin('threads', o.configs.length + 1);
  const baseline = o.baseline ? await loadBaseline(o.baseline) : null;
  if (o.baseline && !baseline) notes.push(`--baseline ${o.baseline}: no built package there (dist/wasm/backend.js and build/kernels.wasm); ours-head not timed.`);
  for (const { alpha, resolution } of o.configs) {
    const label = `alpha ${alpha} @ ${resolution}`;
    const config = { alpha, resolution, batch: 1, seed: o.seed, threads: N };
    const { arch, folded } = seededModel({ alpha, resolution, seed: o.seed });
    progress.update(`${label}: this process`);
    const builders: Parameters<typeof timeWorld>[2] = [
      { engine: 'ours', threads: 1, exact: true, build: async () => (await oursEngine(arch, folded, 1, 1, o.kernels)).engine },
      { engine: 'ours', threads: N, exact: true, build: async () => (await oursEngine(arch, folded, 1, N, o.kernels)).engine },
    ];
    if (baseline) {
      builders.push({
        engine: 'ours-head', threads: 1, exact: true,
        build: async () => {
          const backend = await baseline.create(arch, folded);
          const keep = new Set([arch.output]);
          return { name: 'ours-head@1', run: async (input) => backend.run(input, 1, keep).get(arch.output)!, dispose: async () => backend.dispose() };
        },
      });
    }
    for (const peer of o.peers.filter((p) => p !== 'tfjs-cpu')) {
      builders.push({ engine: peer, threads: 1, build: async () => ({ ...(await createPeer(peer, arch, folded, 1, 1)), name: `${peer}@1` }) });
    }
    if (o.peers.includes('ort-node')) builders.push({ engine: 'ort-node', threads: N, build: async () => ({ ...(await createPeer('ort-node', arch, folded, 1, N)), name: `ort-node@${N}` }) });
    const main = await timeWorld('main', config, builders, o, (t) => progress.note(t));
    rows.push(...main.rows);
    skipped.push(...main.skipped);

    const childPeers = o.peers.filter((p) => p === 'ort-web' || p === 'tfjs-wasm');
    if (childPeers.length && o.childScript) {
      progress.update(`${label}: child process (ort-web, TF.js wasm at ${N} threads)`);
      try {
        const args = JSON.stringify({ ...config, peers: childPeers, rounds: o.rounds, sliceMs: o.sliceMs, warmupMs: o.warmupMs, quietWaitMs: o.quietWaitMs, kernels: o.kernels });
        const { stdout } = await run(process.execPath, [o.childScript, args], { timeout: 600_000, maxBuffer: 64 << 20 });
        const child = JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
        rows.push(...child.rows);
        skipped.push(...child.skipped);
        for (const n of child.notes) if (!notes.includes(n)) notes.push(n);
      } catch (e) {
        const reason = `the child process failed: ${(e as Error).message.split('\n')[0]}`;
        for (const peer of childPeers) skipped.push({ engine: `${peer}@${N}`, alpha, resolution, batch: 1, reason });
        progress.note(`  ${reason}`);
      }
    } else if (childPeers.length) {
      for (const peer of childPeers) skipped.push({ engine: `${peer}@${N}`, alpha, resolution, batch: 1, reason: 'no child script (bench/threads-child.js)' });
    }
    const get = (e: string, t: number) => rows.find((r) => r.engine === e && r.threads === t && r.alpha === alpha && r.resolution === resolution && r.process === 'main');
    progress.update(`${label}: ours ${get('ours', 1)?.timing.medianMs.toFixed(2)} ms at 1 thread, ${get('ours', N)?.timing.medianMs.toFixed(2)} ms at ${N}`, true);
  }
  const first = o.configs[0]!;
  progress.update(`layers of alpha ${first.alpha} @ ${first.resolution} at 1 and ${N} threads`);
  const layers = await layerComparison(first.alpha, first.resolution, o, progress);
  progress.update('', true);
  progress.end(`${rows.length} rows, ${skipped.length} not timed`);
  return { threads: N, rows, skipped, layers, notes };
}

interface Baseline {
  create(arch: Architecture, folded: readonly FoldedLayer[]): Promise<{ run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Map<string, Float32Array>; dispose(): void }>;
}

/** Another build of this package (e.g. the committed HEAD, built in a temporary clone): its wasm backend and kernels. */
async function loadBaseline(dir: string): Promise<Baseline | null> {
  const backendJs = path.resolve(dir, 'dist', 'wasm', 'backend.js');
  const kernels = path.resolve(dir, 'build', 'kernels.wasm');
  if (!existsSync(backendJs) || !existsSync(kernels)) return null;
  const m = (await import(new URL(`file://${backendJs}`).href)) as { createWasmBackend(arch: unknown, folded: unknown, options: { source: string }): Promise<ReturnType<Baseline['create']> extends Promise<infer T> ? T : never> };
  return { create: (arch, folded) => m.createWasmBackend(arch, folded, { source: kernels }) };
}

export function threadsChildBeside(dir: string): string | null {
  const p = `${dir}/threads-child.js`;
  return existsSync(p) ? p : null;
}
