/**
 * The integer path against our f32 path, on the three shared uint8 TFLite MobileNets (Coral's
 * v1 0.25 @ 128, 0.5 @ 160, 0.75 @ 192): the same file run in TFLite's integer arithmetic
 * (src/quant/wasm.ts, assembly/q8/) and on the f32 wasm backend with its weights dequantized
 * (what `load(file, { dequantize: true })` runs), in the same process, interleaved.
 *
 *   npx tsc -p tsconfig.bench.json && node build/bench/bench/quant.js [--rounds N] [--slice-ms MS] [--batch 1,8] [--threads T] [--out DIR]
 *
 *   models   time per inference (median and p90 of the pooled samples; rounds of one slice per
 *            engine, the order alternated each round), the ratio integer / f32, the arena
 *            (`memoryBytes`) of each; before timing, the integer outputs are checked against the
 *            integer reference (every entry of Predictions equal) and the f32 top-1 is shown;
 *            with --threads T (default 2; 1: none), the integer path on T threads too (checked
 *            equal to one thread), interleaved with the others, and its time / one thread's
 *   kernels  every convolution of the 0.75 @ 192 model alone (each engine's layer runner: the
 *            same call its run makes), median ms and GMAC/s, integer beside f32
 *
 * Writes bench/results/quant/report-<date>.md and the JSON beside it (or under --out).
 * Inputs: the shared photos preprocessed as the models take them (uint8 for the integer path,
 * (u8 - 128) / 128 float for the f32 one); rotated over the photos.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModelFile } from '../src/formats/index.js';
import { preprocessImage } from '../src/image/pipeline.js';
import { normalizePixels } from '../src/image/normalize.js';
import { buildArchitecture } from '../src/model/architecture.js';
import { foldWeights } from '../src/model/fold.js';
import { pixelsToQuantizedInput, readTfliteQuantized, runQuantizedReference } from '../src/quant/index.js';
import { QuantWasmRunner, createQuantWasm } from '../src/quant/wasm.js';
import { platform } from '#platform';
import { createWasmBackend } from '../src/wasm/backend.js';
import { defaultKernels } from '../src/wasm/loader.js';
import { summarize, type Timing } from './lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
const shared = process.env.MOBILENET_SHARED ?? path.resolve(repo, '..', 'shared');
const MODELS = [
  { name: 'mobilenet_v1_0.25_128_quant', size: 128 },
  { name: 'mobilenet_v1_0.5_160_quant', size: 160 },
  { name: 'mobilenet_v1_0.75_192_quant', size: 192 },
];
const PHOTOS = ['bird.png', 'cat.png', 'chelsea.png', 'coffee.png', 'dog.png', 'grace_hopper.png', 'parrot.jpg', 'rocket.jpg'];

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const ROUNDS = Number(flag('rounds', '6'));
const SLICE_MS = Number(flag('slice-ms', '1000'));
const BATCHES = flag('batch', '1,8').split(',').map(Number);
const THREADS = Number(flag('threads', '2'));
const OUT = path.resolve(flag('out', path.join(repo, 'bench', 'results', 'quant')));

interface Engine {
  name: string;
  run: (i: number) => void;
}

/** Rounds of one slice per engine (order alternated each round); each engine warmed alone first. */
function interleave(engines: Engine[], rounds: number, sliceMs: number): Map<string, number[]> {
  const samples = new Map(engines.map((e) => [e.name, [] as number[]]));
  for (const e of engines) {
    const t0 = performance.now();
    for (let n = 0; n < 5 || performance.now() - t0 < 500; n++) e.run(n);
  }
  let turn = 0;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? engines : [...engines].reverse();
    for (const e of order) {
      const t0 = performance.now();
      const s = samples.get(e.name)!;
      while (performance.now() - t0 < sliceMs) {
        const t = performance.now();
        e.run(turn++);
        s.push(performance.now() - t);
      }
    }
  }
  return samples;
}

function timeLoop(run: () => void, ms: number): Timing {
  for (let i = 0; i < 3; i++) run();
  const samples: number[] = [];
  const t0 = performance.now();
  while (samples.length < 5 || performance.now() - t0 < ms) {
    const t = performance.now();
    run();
    samples.push(performance.now() - t);
  }
  return summarize(samples);
}

const fmt = (ms: number) => (ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const mib = (b: number) => `${(b / (1 << 20)).toFixed(2)} MiB`;

async function main(): Promise<void> {
  const started = new Date();
  const f32Module = await defaultKernels();
  const q8Module = process.env.Q8_WASM ? await WebAssembly.compile(readFileSync(process.env.Q8_WASM)) : f32Module;
  const modelRows: Record<string, unknown>[] = [];
  const kernelRows: Record<string, unknown>[] = [];
  const md: string[] = [];
  for (const m of MODELS) {
    const file = path.join(shared, 'models', m.name, `${m.name}.tflite`);
    const bytes = new Uint8Array(readFileSync(file));
    const qmodel = readTfliteQuantized(bytes);
    const loaded = await loadModelFile(bytes);
    const arch = buildArchitecture(loaded.options);
    const folded = foldWeights(arch, loaded.weights);
    const images = PHOTOS.map((p) => preprocessImage(readFileSync(path.join(shared, 'images', p)), m.size, p));
    for (const batch of BATCHES) {
      const groups = PHOTOS.map((_, i) => Array.from({ length: batch }, (_, j) => images[(i + j) % images.length]!));
      const qIn = groups.map((g) => pixelsToQuantizedInput(qmodel, g));
      const fIn = groups.map((g) => normalizePixels(g, m.size, loaded.pixelNormalization).data as Float32Array);
      const runner = new QuantWasmRunner(qmodel, q8Module);
      const threaded = THREADS > 1 ? await createQuantWasm(qmodel, { threading: { threads: THREADS, spawn: platform.spawnThread! } }) : null;
      const backend = await createWasmBackend(arch, folded);
      const qKeep = new Set(['Predictions']);
      const fKeep = new Set([arch.output]);
      // The check: the integer path equals the integer reference; the f32 top-1 beside it.
      const ref = runQuantizedReference(qmodel, qIn[0]!, batch, qKeep).get('Predictions')!.data;
      const got = runner.run(qIn[0]!, batch, qKeep).get('Predictions')!.data;
      const equal = ref.length === got.length && ref.every((v, i) => v === got[i]);
      if (!equal) throw new Error(`${m.name}: the wasm integer path differs from the integer reference`);
      if (threaded) {
        const t = threaded.run(qIn[0]!, batch, qKeep).get('Predictions')!.data;
        if (!t.every((v, i) => v === got[i])) throw new Error(`${m.name}: the integer path on ${THREADS} threads differs from one thread`);
      }
      const fOut = backend.run(fIn[0]!, batch, fKeep).get(arch.output)!;
      const classes = fOut.length / batch;
      const argmax = (a: ArrayLike<number>, o: number) => {
        let best = o;
        for (let i = o; i < o + classes; i++) if (a[i]! > a[best]!) best = i;
        return best - o;
      };
      let top1Same = 0;
      for (let b = 0; b < batch; b++) if (argmax(got, b * classes) === argmax(fOut, b * classes)) top1Same++;
      const samples = interleave(
        [
          { name: 'integer', run: (i) => void runner.run(qIn[i % qIn.length]!, batch, qKeep) },
          { name: 'f32', run: (i) => void backend.run(fIn[i % fIn.length]!, batch, fKeep) },
          ...(threaded ? [{ name: 'integer threads', run: (i: number) => void threaded.run(qIn[i % qIn.length]!, batch, qKeep) }] : []),
        ],
        ROUNDS,
        SLICE_MS,
      );
      const q = summarize(samples.get('integer')!);
      const f = summarize(samples.get('f32')!);
      const qt = threaded ? summarize(samples.get('integer threads')!) : null;
      const row = {
        model: m.name, batch, macs: arch.layers.reduce((a, l) => a + ((l as { macs?: number }).macs ?? 0), 0),
        integer: q, f32: f, ratio: q.medianMs / f.medianMs,
        integerMemoryBytes: runner.memoryBytes, f32MemoryBytes: backend.memoryBytes, memoryRatio: runner.memoryBytes / backend.memoryBytes,
        integerWeightBytes: runner.weightBytes, top1SameAsF32: `${top1Same}/${batch}`, exactToReference: equal,
        ...(qt ? { threads: THREADS, integerThreads: qt, threadsRatio: qt.medianMs / q.medianMs } : {}),
      };
      modelRows.push(row);
      console.log(`${m.name} batch ${batch}: integer ${fmt(q.medianMs)} ms, f32 ${fmt(f.medianMs)} ms (x${row.ratio.toFixed(2)}); memory ${mib(runner.memoryBytes)} vs ${mib(backend.memoryBytes)} (x${row.memoryRatio.toFixed(3)})${qt ? `; integer on ${THREADS} threads ${fmt(qt.medianMs)} ms (x${(qt.medianMs / q.medianMs).toFixed(2)} of one)` : ''}`);

      if (batch === 1 && m.name === MODELS.at(-1)!.name) {
        // Per kernel: every convolution alone, integer beside f32.
        qmodel.layers.forEach((layer, i) => {
          if (layer.type !== 'conv') return;
          const fi = arch.layers.findIndex((l) => l.name === layer.name);
          const fl = arch.layers[fi]!;
          if (fl.kind === 'avgpool' || fl.kind === 'softmax') return;
          const macs = fl.macs;
          const qt = timeLoop(runner.layerRunner(i, 1), 300);
          const ft = timeLoop(backend.layerRunner(fi, 1), 300);
          const kernel = layer.op === 'DEPTHWISE_CONV_2D' ? 'q8_dwconv_minmax' : layer.kernel[0] === 1 ? 'q8_pack_a_4rows + q8_gemm_4x8c2_minmax' : 'q8_im2col_4rows + q8_gemm_4x8c2_minmax';
          kernelRows.push({
            layer: layer.name, kind: fl.kind, shape: `${fl.inShape.join('x')} -> ${fl.outShape.join('x')}`, macs, kernel,
            integerMs: qt.medianMs, integerGmacs: macs / qt.medianMs / 1e6, f32Ms: ft.medianMs, f32Gmacs: macs / ft.medianMs / 1e6,
          });
        });
      }
      runner.dispose();
      threaded?.dispose();
      backend.dispose();
    }
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  md.push(`# The integer path against the f32 path, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  md.push(`${cpu}, ${os.cpus().length} vCPUs (shared, noisy), Node ${process.version}, one thread${THREADS > 1 ? ` (and the integer path on ${THREADS} threads, below)` : ''}. One run: ${ROUNDS} rounds of ${SLICE_MS} ms per engine, order alternated; medians of the pooled samples.`, '');
  md.push('Integer: the uint8 file in TFLite\'s integer arithmetic on the wasm kernels (src/quant/wasm.ts), checked equal to the integer reference on every Predictions entry before timing. f32: the same file dequantized, on our f32 wasm backend (the path `load(file, { dequantize: true })` takes). Both include copying the input in and the output out (and the softmax).', '');
  md.push('| model | batch | integer median (p90) | f32 median (p90) | integer / f32 | arena integer | arena f32 | integer / f32 | top-1 same |', '| :-- | --: | --: | --: | --: | --: | --: | --: | --: |');
  for (const r of modelRows as any[]) {
    md.push(`| ${r.model} | ${r.batch} | ${fmt(r.integer.medianMs)} ms (${fmt(r.integer.p90Ms)}) | ${fmt(r.f32.medianMs)} ms (${fmt(r.f32.p90Ms)}) | **${r.ratio.toFixed(2)}x** | ${mib(r.integerMemoryBytes)} | ${mib(r.f32MemoryBytes)} | **${r.memoryRatio.toFixed(3)}x** | ${r.top1SameAsF32} |`);
  }
  if (THREADS > 1) {
    md.push('', `## The integer path on ${THREADS} threads`, '');
    md.push(`The same runs on ${THREADS} threads (the threads build's integer steps; checked equal to one thread on every Predictions entry), interleaved with the two above.`, '');
    md.push(`| model | batch | integer, 1 thread | integer, ${THREADS} threads | ${THREADS} threads / 1 |`, '| :-- | --: | --: | --: | --: |');
    for (const r of modelRows as any[]) {
      md.push(`| ${r.model} | ${r.batch} | ${fmt(r.integer.medianMs)} ms (${fmt(r.integer.p90Ms)}) | ${fmt(r.integerThreads.medianMs)} ms (${fmt(r.integerThreads.p90Ms)}) | **${r.threadsRatio.toFixed(2)}x** |`);
    }
  }
  md.push('', '## Per kernel, mobilenet_v1_0.75_192_quant, batch 1', '');
  md.push('Each convolution alone through each engine\'s layer runner (the calls its run makes: for the integer GEMM, the packing of A as i16 pairs or the im2col, then the GEMM with requantization).', '');
  md.push('| layer | shape | Mult-Adds | integer kernel | integer ms | integer GMAC/s | f32 ms | f32 GMAC/s | f32 / integer time |', '| :-- | :-- | --: | :-- | --: | --: | --: | --: | --: |');
  for (const r of kernelRows as any[]) {
    md.push(`| ${r.layer} | ${r.shape} | ${(r.macs / 1e6).toFixed(2)} M | ${r.kernel} | ${fmt(r.integerMs)} | ${r.integerGmacs.toFixed(1)} | ${fmt(r.f32Ms)} | ${r.f32Gmacs.toFixed(1)} | ${(r.f32Ms / r.integerMs).toFixed(2)}x |`);
  }
  const sum = (k: string, kind?: string) => (kernelRows as any[]).filter((r) => !kind || r.kind === kind).reduce((a, r) => a + r[k], 0);
  for (const kind of ['conv', 'depthwise', 'pointwise', 'logits']) {
    const macs = sum('macs', kind);
    if (macs === 0) continue;
    md.push(`| all ${kind} | | ${(macs / 1e6).toFixed(1)} M | | ${fmt(sum('integerMs', kind))} | ${(macs / sum('integerMs', kind) / 1e6).toFixed(1)} | ${fmt(sum('f32Ms', kind))} | ${(macs / sum('f32Ms', kind) / 1e6).toFixed(1)} | ${(sum('f32Ms', kind) / sum('integerMs', kind)).toFixed(2)}x |`);
  }
  mkdirSync(OUT, { recursive: true });
  const stamp = started.toISOString().slice(0, 16).replace(/[:T]/g, '-');
  writeFileSync(path.join(OUT, `report-${stamp}.md`), md.join('\n') + '\n');
  writeFileSync(path.join(OUT, `results-${stamp}.json`), JSON.stringify({ started: started.toISOString(), cpu, node: process.version, rounds: ROUNDS, sliceMs: SLICE_MS, threads: THREADS, models: modelRows, kernels: kernelRows }, null, 1) + '\n');
  console.log(md.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
