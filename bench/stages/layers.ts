/**
 * Stage 2, layers: one inference of one configuration broken down by layer. The wasm backend
 * hands out a closure per layer (`layerRunner`, for benchmarks and profiles); a sweep calls them
 * in inference order, timing each, and sweeps alternate with whole inferences (A B A B) so that
 * the sum of the layer medians can be set beside the whole-run median.
 */
import { seededModel } from '../../src/engine/measure.js';
import type { ConvLayer } from '../../src/model/architecture.js';
import { createWasmBackend } from '../../src/wasm/backend.js';
import type { Progress } from '../lib/progress.js';
import { seededInputs, summarize } from '../lib/stats.js';
import type { LayerRow, LayersResult } from '../lib/types.js';

export interface LayerStageOptions {
  alpha: number;
  resolution: number;
  /** Minimum timed sweeps and minimum time (ms). */
  sweeps: number;
  timeMs: number;
  warmupMs: number;
  seed: number;
}

export async function layerStage(o: LayerStageOptions, progress: Progress): Promise<LayersResult> {
  const { arch, folded } = seededModel(o);
  const backend = await createWasmBackend(arch, folded);
  const timed = arch.layers.map((layer, index) => ({ layer, index })).filter(({ layer }) => layer.kind !== 'softmax');
  const runners = timed.map(({ index }) => backend.layerRunner(index, 1));
  const keep = new Set([arch.output]);
  const inputs = seededInputs(4, arch.inputShape[0] * arch.inputShape[1] * 3, o.seed + 3);
  const samples = timed.map(() => [] as number[]);
  const whole: number[] = [];
  let turn = 0;
  const sweep = (record: boolean) => {
    for (let i = 0; i < runners.length; i++) {
      const t0 = performance.now();
      runners[i]!();
      const dt = performance.now() - t0;
      if (record) samples[i]!.push(dt);
    }
    const t0 = performance.now();
    backend.run(inputs[turn++ % inputs.length]!, 1, keep);
    if (record) whole.push(performance.now() - t0);
  };
  progress.begin('layers', 1);
  progress.update(`alpha ${o.alpha} @ ${o.resolution}: warm-up`);
  const warmEnd = performance.now() + o.warmupMs;
  for (let i = 0; i < 3 || performance.now() < warmEnd; i++) sweep(false);
  const start = performance.now();
  for (let n = 0; n < o.sweeps || performance.now() - start < o.timeMs; n++) {
    sweep(true);
    if (n % 5 === 0) progress.update(`alpha ${o.alpha} @ ${o.resolution}: sweep ${n + 1}`);
  }
  const totalMacs = timed.reduce((s, { layer }) => s + layer.macs, 0);
  const timings = samples.map(summarize);
  const sumOfMediansMs = timings.reduce((s, t) => s + t.medianMs, 0);
  const rows: LayerRow[] = timed.map(({ layer }, i) => ({
    name: layer.name,
    opName: 'opName' in layer ? (layer as ConvLayer).opName : `MobilenetV1/Logits/${layer.name}`,
    kind: layer.kind,
    params: layer.params,
    macs: layer.macs,
    timing: timings[i]!,
    timeShare: timings[i]!.medianMs / sumOfMediansMs,
    macShare: layer.macs / totalMacs,
  }));
  backend.dispose();
  progress.update('', true);
  const result = { alpha: o.alpha, resolution: o.resolution, rows, whole: summarize(whole), sumOfMediansMs };
  progress.end(`whole inference median ${result.whole.medianMs.toFixed(2)} ms, sum of layer medians ${sumOfMediansMs.toFixed(2)} ms, ${whole.length} sweeps`);
  return result;
}
