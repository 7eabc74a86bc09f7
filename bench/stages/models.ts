/**
 * Stages 3 and 4, models and peers: every alpha x resolution x batch, our wasm engine beside
 * the peers (bench/peers.ts), all built from the same folded weights.
 *
 *   cold start  ours: a fresh Node process compiles the kernels, plans the arena, packs the
 *               weights and runs once (bench/cold.ts); peers: build + first run in this process
 *               (their runtimes are loaded once, by the first configuration)
 *   check       every peer's output against ours on the first input (max|a-b|/max|b| <= 1e-4);
 *               an engine that disagrees is not timed
 *   timing      `rounds` rounds; in each, one tinybench run with every engine for `sliceMs`
 *               (engine order rotated each round: A B C, B C A, ...), warm-up in the first
 *               round only; samples pooled over the rounds; inputs rotate over 4 buffers
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { Bench } from 'tinybench';
import { seededModel } from '../../src/engine/measure.js';
import type { Architecture } from '../../src/model/architecture.js';
import type { FoldedLayer } from '../../src/model/fold.js';
import { createWasmBackend } from '../../src/wasm/backend.js';
import type { PeerChoice } from '../lib/options.js';
import type { Progress } from '../lib/progress.js';
import { relativeError, seededInputs, summarize } from '../lib/stats.js';
import type { ModelRow, ModelsResult, Skipped } from '../lib/types.js';
import { createPeer, type Engine } from '../peers.js';

const run = promisify(execFile);
const TOLERANCE = 1e-4;

export interface ModelStageOptions {
  alphas: readonly number[];
  resolutions: readonly number[];
  batches: readonly number[];
  peers: readonly PeerChoice[];
  rounds: number;
  sliceMs: number;
  warmupMs: number;
  seed: number;
  /** tfjs-cpu (plain JS, ~50x slower) only where Mult-Adds x batch stays below this. */
  tfjsCpuMaxMacs: number;
  /** bench/cold.js (compiled) and the kernels it loads; null: cold start measured in this process. */
  coldScript: string | null;
  kernelsPath: string;
}

interface Built {
  engine: Engine;
  coldStartMs: number;
  coldStartHow: string;
  maxRelError: number;
  memoryBytes: () => number | null;
}

async function coldInFreshProcess(script: string, kernels: string, alpha: number, resolution: number, batch: number, seed: number): Promise<number> {
  const { stdout } = await run(process.execPath, [script, String(alpha), String(resolution), String(batch), String(seed), kernels], { timeout: 300_000 });
  const j = JSON.parse(stdout) as { coldStartMs: number };
  return j.coldStartMs;
}

async function buildOurs(arch: Architecture, folded: readonly FoldedLayer[], batch: number, o: ModelStageOptions, first: Float32Array) {
  const t0 = performance.now();
  const backend = await createWasmBackend(arch, folded);
  const keep = new Set([arch.output]);
  const output = backend.run(first, batch, keep).get(arch.output)!;
  let coldStartMs = performance.now() - t0;
  let coldStartHow = 'build (arena plan + weight packing) + first run, kernels already compiled, in the suite process';
  if (o.coldScript) {
    try {
      coldStartMs = await coldInFreshProcess(o.coldScript, o.kernelsPath, arch.options.depthMultiplier, arch.options.inputHeight, batch, o.seed);
      coldStartHow = 'a fresh Node process: compile build/kernels.wasm + arena plan + weight packing + first run (weights made and folded before the clock starts)';
    } catch (e) {
      coldStartHow += ` (the fresh-process measurement failed: ${(e as Error).message.split('\n')[0]})`;
    }
  }
  const engine: Engine = {
    name: 'ours-wasm',
    run: async (input) => backend.run(input, batch, keep).get(arch.output)!,
    dispose: async () => backend.dispose(),
  };
  const built: Built = { engine, coldStartMs, coldStartHow, maxRelError: 0, memoryBytes: () => backend.memoryBytes };
  return { output, built };
}

export async function modelStage(o: ModelStageOptions, progress: Progress): Promise<ModelsResult> {
  const rows: ModelRow[] = [];
  const skipped: Skipped[] = [];
  const configs = o.batches.flatMap((batch) => o.alphas.flatMap((alpha) => o.resolutions.map((resolution) => ({ alpha, resolution, batch }))));
  progress.begin('models', configs.length);
  for (const { alpha, resolution, batch } of configs) {
    const label = `alpha ${alpha} @ ${resolution}, batch ${batch}`;
    const { arch, folded } = seededModel({ alpha, resolution, seed: o.seed });
    const macs = arch.layers.reduce((s, l) => s + l.macs, 0);
    const params = arch.layers.reduce((s, l) => s + l.params, 0);
    const inputs = seededInputs(4, batch * resolution * resolution * 3, o.seed + batch);
    const skip = (engine: string, reason: string) => {
      skipped.push({ engine, alpha, resolution, batch, reason });
      progress.note(`  ${engine} ${label}: not timed, ${reason}`);
    };

    progress.update(`${label}: building ours`);
    const ours = await buildOurs(arch, folded, batch, o, inputs[0]!);
    const built: Built[] = [ours.built];
    for (const peer of o.peers) {
      if (peer === 'tfjs-cpu' && macs * batch > o.tfjsCpuMaxMacs) {
        skip(peer, `${((macs * batch) / 1e6).toFixed(0)}M Mult-Adds per run is above the ${(o.tfjsCpuMaxMacs / 1e6).toFixed(0)}M set for the plain-JS backend (time budget)`);
        continue;
      }
      progress.update(`${label}: building ${peer}`);
      try {
        const t0 = performance.now();
        const engine = await createPeer(peer, arch, folded, batch);
        const output = await engine.run(inputs[0]!);
        const coldStartMs = performance.now() - t0;
        const maxRelError = relativeError(output, ours.output);
        if (!(maxRelError <= TOLERANCE)) {
          skip(peer, `its output differs from ours (max rel. error ${maxRelError.toExponential(2)} > ${TOLERANCE})`);
          await engine.dispose();
          continue;
        }
        built.push({ engine, coldStartMs, coldStartHow: 'graph or session build from the folded weights + first run, in the suite process (runtime already loaded after the first configuration)', maxRelError, memoryBytes: () => null });
      } catch (e) {
        skip(peer, `failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }

    const samples = new Map<string, number[]>(built.map((b) => [b.engine.name, []]));
    for (let round = 0; round < o.rounds; round++) {
      progress.update(`${label}: round ${round + 1}/${o.rounds}`);
      const bench = new Bench({
        time: o.sliceMs,
        iterations: 1,
        warmup: round === 0,
        warmupTime: o.warmupMs,
        warmupIterations: 2,
        retainSamples: true,
        throws: true,
      });
      for (let k = 0; k < built.length; k++) {
        const { engine } = built[(k + round) % built.length]!;
        let turn = 0;
        bench.add(engine.name, async () => {
          await engine.run(inputs[turn++ % inputs.length]!);
        });
      }
      await bench.run();
      for (const task of bench.tasks) {
        const result = task.result;
        if (result.state !== 'completed' || !result.latency.samples) throw new Error(`models: ${task.name} did not complete (${result.state})`);
        samples.get(task.name)!.push(...result.latency.samples);
      }
    }

    const oursMedian = summarize(samples.get('ours-wasm')!).medianMs;
    for (const b of built) {
      const timing = summarize(samples.get(b.engine.name)!);
      rows.push({
        alpha, resolution, batch, engine: b.engine.name, macs, params,
        coldStartMs: b.coldStartMs, coldStartHow: b.coldStartHow,
        timing,
        gmacs: (macs * batch) / (timing.medianMs * 1e6),
        maxRelError: b.maxRelError,
        vsOurs: b.engine.name === 'ours-wasm' ? null : timing.medianMs / oursMedian,
        memoryBytes: b.memoryBytes(),
      });
      await b.engine.dispose();
    }
    progress.update(`${label}: ours ${oursMedian.toFixed(2)} ms`, true);
  }
  progress.end(skipped.length ? `${skipped.length} engine x configuration pairs not timed (see the report)` : '');
  return { rows, skipped };
}

export function coldScriptBeside(dir: string): string | null {
  const p = `${dir}/cold.js`;
  return existsSync(p) ? p : null;
}
