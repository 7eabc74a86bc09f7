/**
 * Whole-model timing, ours (wasm backend) vs TensorFlow.js wasm (XNNPACK SIMD, one thread) in
 * the same process on the same folded weights: medians of many runs, a per-layer profile, the
 * arena size and the cold start (compile + build + first run). Writes bench/kernels-results.json.
 * Run with `bench/kernels.run.sh model [runs]`.
 */
import { readFileSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createModel, type MobileNet } from '../src/model/mobilenet.js';
import { Tensor } from '../src/tensor.js';
import { compileKernels, setKernelSource } from '../src/wasm/loader.js';
import { WasmBackend } from '../src/wasm/backend.js';
import { buildArchitecture } from '../src/model/architecture.js';
import { foldWeights } from '../src/model/fold.js';
import { randomWeights } from '../src/model/random.js';
import { tfjsLayer, tfjsModel, useTfjsWasm } from './kernels.tfjs.js';

const WASM_PATH = path.resolve('build/kernels.wasm');
const RUNS = Number(process.argv[2] ?? 40);

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p90: s[Math.floor(s.length * 0.9)]!, min: s[0]! };
}
const now = () => performance.now();

function input(size: number, seed: number): Float32Array {
  const a = new Float32Array(size * size * 3);
  let x = seed;
  for (let i = 0; i < a.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    a[i] = x / 2 ** 31 - 1;
  }
  return a;
}

async function main() {
  // Cold start, ours only (weights already folded, as a loader hands them over):
  // compile from bytes (with the SIMD check and self-test) + plan and pack + first run.
  const coldStart: Record<string, { compileMs: number; buildMs: number; firstRunMs: number; totalMs: number }> = {};
  for (const [alpha, size] of [[0.25, 128], [1, 224]] as const) {
    const arch = buildArchitecture({ depthMultiplier: alpha, inputSize: size });
    const folded = foldWeights(arch, randomWeights(arch, 1));
    const x = input(size, 1);
    const t0 = now();
    const module = await compileKernels(readFileSync(WASM_PATH));
    const t1 = now();
    const backend = new WasmBackend(arch, folded, module);
    const t2 = now();
    backend.run(x, 1, new Set([arch.output]));
    const t3 = now();
    coldStart[`alpha ${alpha} @ ${size}`] = { compileMs: +(t1 - t0).toFixed(2), buildMs: +(t2 - t1).toFixed(2), firstRunMs: +(t3 - t2).toFixed(2), totalMs: +(t3 - t0).toFixed(2) };
  }
  setKernelSource(readFileSync(WASM_PATH));

  const tf = await useTfjsWasm();
  const results: Record<string, unknown>[] = [];
  for (const [alpha, size] of [[1, 224], [0.25, 128]] as const) {
    const model: MobileNet = await createModel({ depthMultiplier: alpha, inputSize: size, backend: 'wasm', seed: 1 });
    const backend = (model as unknown as { backendImpl: WasmBackend }).backendImpl;
    const inputs = [0, 1, 2, 3].map((s) => new Tensor(input(size, s + 10), [1, size, size, 3]));
    const tfModel = tfjsModel(model.architecture, model.folded);
    const tfInputs = inputs.map((t) => tf.tensor4d(t.data, [1, size, size, 3]));
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < 5; i++) {
      model.predict(inputs[i % 4]!);
      const y = tfModel(tfInputs[i % 4]!);
      y.dataSync();
      y.dispose();
    }
    // Interleaved blocks so that both see the same machine state.
    for (let i = 0; i < RUNS; i++) {
      let t = now();
      model.predict(inputs[i % 4]!);
      ours.push(now() - t);
      t = now();
      const y = tfModel(tfInputs[i % 4]!);
      y.dataSync();
      theirs.push(now() - t);
      y.dispose();
    }
    // Check that both compute the same network.
    const ref = model.predict(inputs[0]!).data;
    const y = tfModel(tfInputs[0]!);
    const tfOut = y.dataSync() as Float32Array;
    y.dispose();
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - tfOut[i]!));

    // Per-layer profile: ours and theirs on the layer's own input shape.
    const byName = new Map(model.folded.map((f) => [f.layer.name, f]));
    const layers = model.architecture.layers
      .map((layer, index) => ({ layer, index }))
      .filter(({ layer }) => layer.kind !== 'softmax')
      .map(({ layer, index }) => {
        const run = backend.layerRunner(index, 1);
        const op = tfjsLayer(layer, byName.get(layer.name), true);
        const x = tf.randomUniform([1, ...layer.inShape], -1, 1) as import('@tensorflow/tfjs-core').Tensor4D;
        const reps = Math.max(5, Math.min(200, Math.round(2e7 / Math.max(layer.macs, 1e5))));
        const a: number[] = [];
        const b: number[] = [];
        for (let r = 0; r < reps + 3; r++) {
          let t = now();
          run();
          const ta = now() - t;
          t = now();
          op(x).dispose();
          const tb = now() - t;
          if (r >= 3) {
            a.push(ta);
            b.push(tb);
          }
        }
        x.dispose();
        const ms = stats(a).median;
        const tfMs = stats(b).median;
        const bytes = 4 * (layer.inShape[0] * layer.inShape[1] * layer.inShape[2] + layer.outShape[0] * layer.outShape[1] * layer.outShape[2]);
        return {
          name: layer.name, kind: layer.kind, in: layer.inShape, out: layer.outShape, macs: layer.macs,
          ms: +ms.toFixed(4), gmacs: +(layer.macs / ms / 1e6).toFixed(2), gbs: +(bytes / ms / 1e6).toFixed(2),
          tfjsMs: +tfMs.toFixed(4), ratio: +(ms / tfMs).toFixed(2),
        };
      });
    const o = stats(ours);
    const paired = stats(ours.map((v, i) => v / theirs[i]!)).median;
    const th = stats(theirs);
    const macs = model.architecture.layers.reduce((s, l) => s + l.macs, 0);
    const r = {
      config: `alpha ${alpha} @ ${size}`,
      macs,
      ours: o,
      tfjsWasm: th,
      ratio: +(o.median / th.median).toFixed(3),
      ratioOfMins: +(o.min / th.min).toFixed(3),
      pairedRatioMedian: +paired.toFixed(3),
      oursGmacs: +(macs / o.median / 1e6).toFixed(2),
      sumOfLayersMs: +layers.reduce((s, l) => s + l.ms, 0).toFixed(3),
      arenaBytes: backend.memoryBytes,
      maxAbsDiffVsTfjs: maxDiff,
      layers,
    };
    results.push(r);
    console.log(`\n${r.config}: ours median ${o.median.toFixed(2)} ms (p90 ${o.p90.toFixed(2)}, min ${o.min.toFixed(2)}), TF.js wasm median ${th.median.toFixed(2)} ms (p90 ${th.p90.toFixed(2)}, min ${th.min.toFixed(2)}) -> ratio of medians ${r.ratio}, of mins ${r.ratioOfMins}, median of paired ratios ${r.pairedRatioMedian}; ${r.oursGmacs} GMAC/s; arena ${(r.arenaBytes / 2 ** 20).toFixed(2)} MiB; |ours - tfjs| max ${maxDiff.toExponential(2)}`);
    console.log('layer                      kind       in             out              ms     GMAC/s   GB/s  tfjs ms  ratio');
    for (const l of layers) {
      console.log(`${l.name.padEnd(26)} ${l.kind.padEnd(10)} ${l.in.join('x').padEnd(14)} ${l.out.join('x').padEnd(14)} ${l.ms.toFixed(3).padStart(7)} ${l.gmacs.toFixed(2).padStart(7)} ${l.gbs.toFixed(2).padStart(6)} ${l.tfjsMs.toFixed(3).padStart(7)} ${l.ratio.toFixed(2).padStart(6)}`);
    }
    tfInputs.forEach((t) => t.dispose());
    model.dispose();
  }
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model,
    wasmBytes: statSync(WASM_PATH).size,
    coldStart,
    results,
  };
  console.log(`\n.wasm ${summary.wasmBytes} bytes; cold start (compile + plan/pack + first run): ${JSON.stringify(coldStart)}`);
  writeFileSync('bench/kernels-results.json', JSON.stringify(summary, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
