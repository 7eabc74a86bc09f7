/**
 * Kernel benchmark (tinybench): the 28 real layer shapes of MobileNet v1 alpha 1.0@224, each
 * run alone through the wasm backend's own dispatch (`layerRunner`, the code path `run()`
 * takes), reporting median / min / p90 ms, GMAC/s and, for the memory-bound kernels, GB/s
 * (activation bytes in + out). Optional TF.js wasm (XNNPACK) per layer in the same run:
 * `bench/kernels.run.sh layers [--tfjs]`. Writes bench/kernels-layers.json.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { createModel } from '../src/model/mobilenet.js';
import { setKernelSource } from '../src/wasm/loader.js';
import type { WasmBackend } from '../src/wasm/backend.js';
import '../src/wasm/backend.js';

const withTfjs = process.argv.includes('--tfjs');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);

async function main() {
  setKernelSource(path.resolve('build/kernels.wasm'));
  const model = await createModel({ depthMultiplier: 1, inputSize: 224, backend: 'wasm', seed: 1 });
  const backend = (model as unknown as { backendImpl: WasmBackend }).backendImpl;
  const byName = new Map(model.folded.map((f) => [f.layer.name, f]));
  const layers = model.architecture.layers
    .map((layer, index) => ({ layer, index }))
    .filter(({ layer }) => layer.kind !== 'softmax' && layer.kind !== 'avgpool')
    .filter(({ layer }) => !only || layer.kind === only || layer.name === only);
  const bench = new Bench({ time: 300, warmupTime: 50 });
  for (const { layer, index } of layers) {
    const [h, w, c] = layer.outShape;
    bench.add(`${layer.name} ${layer.kind} ${layer.inShape.join('x')}->${h}x${w}x${c}`, backend.layerRunner(index, 1));
  }
  let tfTasks: Bench | null = null;
  if (withTfjs) {
    const { tfjsLayer, useTfjsWasm } = await import('./kernels.tfjs.js');
    const tf = await useTfjsWasm();
    tfTasks = new Bench({ time: 300, warmupTime: 50 });
    for (const { layer } of layers) {
      const op = tfjsLayer(layer, byName.get(layer.name), true);
      const x = tf.randomUniform([1, ...layer.inShape], -1, 1) as import('@tensorflow/tfjs-core').Tensor4D;
      tfTasks.add(layer.name, () => op(x).dispose());
    }
  }
  await bench.run();
  if (tfTasks) await tfTasks.run();
  const rows = layers.map(({ layer }, i) => {
    const r = bench.tasks[i]!.result as unknown as { latency: { p50: number; min: number; p90?: number; p99: number } };
    const tr = tfTasks?.tasks[i]!.result as unknown as { latency: { p50: number } } | undefined;
    const bytes = 4 * (layer.inShape[0] * layer.inShape[1] * layer.inShape[2] + layer.outShape[0] * layer.outShape[1] * layer.outShape[2]);
    return {
      layer: layer.name, kind: layer.kind, in: layer.inShape.join('x'), out: layer.outShape.join('x'), macs: layer.macs,
      medianMs: r.latency.p50, minMs: r.latency.min, p90Ms: r.latency.p90 ?? r.latency.p99,
      gmacsMedian: layer.macs / r.latency.p50 / 1e6, gmacsBest: layer.macs / r.latency.min / 1e6,
      gbsMedian: bytes / r.latency.p50 / 1e6,
      tfjsMedianMs: tr?.latency.p50,
    };
  });
  console.log(`MobileNet v1 1.0@224 layers, ${os.cpus()[0]?.model}, Node ${process.version}, 1 thread`);
  console.log('layer                kind        in            out           median ms   min ms  GMAC/s(med) GMAC/s(best)  GB/s' + (tfTasks ? '  tfjs ms  ratio' : ''));
  for (const r of rows) {
    console.log(
      `${r.layer.padEnd(20)} ${r.kind.padEnd(10)} ${r.in.padEnd(13)} ${r.out.padEnd(13)} ${r.medianMs.toFixed(4).padStart(9)} ${r.minMs.toFixed(4).padStart(8)} ${r.gmacsMedian.toFixed(2).padStart(11)} ${r.gmacsBest.toFixed(2).padStart(12)} ${r.gbsMedian.toFixed(2).padStart(6)}` +
        (r.tfjsMedianMs !== undefined ? ` ${r.tfjsMedianMs.toFixed(4).padStart(8)} ${(r.medianMs / r.tfjsMedianMs).toFixed(2).padStart(6)}` : ''),
    );
  }
  const sum = (k: string) => rows.filter((r) => r.kind === k).reduce((s, r) => s + r.medianMs, 0);
  const macs = (k: string) => rows.filter((r) => r.kind === k).reduce((s, r) => s + r.macs, 0);
  for (const k of ['conv', 'depthwise', 'pointwise', 'logits']) {
    if (macs(k) > 0) console.log(`${k.padEnd(10)} total ${sum(k).toFixed(3)} ms, ${(macs(k) / sum(k) / 1e6).toFixed(2)} GMAC/s`);
  }
  writeFileSync('bench/kernels-layers.json', JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, rows }, null, 1));
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
