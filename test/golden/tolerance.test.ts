/**
 * The per end point tolerances (src/golden/tolerance.ts): the rule's numbers, and, with
 * MEASURE_TOLERANCE=1, the measurement they were fitted to, repeated (slow: every configuration
 * of test/golden/configs.ts for MEASURE_SEEDS, default 0,1,2,3, on onnxruntime-node and -web,
 * TensorFlow.js cpu and wasm, and our wasm backend). It prints, per candidate growth model, the
 * largest c = max|other - golden| / (max|golden| * u * model(E)) per end point, and the fitted
 * C's margin: the numbers in docs/golden-format.md.
 */
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import { goldenInput } from '../../src/golden/bundle.js';
import {
  ATOL_FRACTION, MEASURED_C, TOLERANCE_COEFFICIENT, UNIT_ROUNDOFF, endpointTolerances, reductionLength, roundUp3,
} from '../../src/golden/tolerance.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { randomWeights } from '../../src/model/random.js';
import { mobilenetToOnnxModel } from '../../src/onnx/export.js';
import { ALL_CONFIGS, optionsOf } from './configs.js';
import { errorOf, runOnnx, runTfjs } from './engines.js';

describe('per end point tolerances', () => {
  it('rtol = C u sqrt(sum of 1 + log2 K up to the end point), rounded up to 3 digits; atol = rtol / 1000', () => {
    const arch = buildArchitecture({ depthMultiplier: 1, inputSize: 224 });
    const t = endpointTolerances(arch, arch.endpoints, 10);
    expect(t.map((e) => e.name)).toEqual(arch.endpoints);
    let s = 0;
    for (const [i, layer] of arch.layers.entries()) {
      s += 1 + Math.log2(reductionLength(layer));
      expect(t[i]!.roundings).toBeCloseTo(s, 2);
      if (layer.kind === 'softmax') continue;
      const exact = TOLERANCE_COEFFICIENT * UNIT_ROUNDOFF * Math.sqrt(t[i]!.roundings);
      expect(t[i]!.rtol).toBeGreaterThanOrEqual(exact);
      expect(t[i]!.rtol).toBeLessThan(exact * 1.01);
      expect(t[i]!.atol).toBe(roundUp3(t[i]!.rtol * ATOL_FRACTION));
    }
    expect(t.map((e) => e.reduction_length).slice(0, 3)).toEqual([27, 9, 32]);
    expect(t.find((e) => e.name === 'Conv2d_13_pointwise')!.reduction_length).toBe(1024);
    expect(t.find((e) => e.name === 'AvgPool_1a')!.reduction_length).toBe(49);
    // Predictions: twice the absolute error Logits may have (rtol x its scale, 10 here) plus its own rounding.
    const logits = t.find((e) => e.name === 'Logits')!;
    const p = t.find((e) => e.name === 'Predictions')!;
    expect(p.rtol).toBe(roundUp3(2 * logits.rtol * 10 + roundUp3(TOLERANCE_COEFFICIENT * UNIT_ROUNDOFF * Math.sqrt(p.roundings))));
    // The margin over the measured worst case.
    expect(TOLERANCE_COEFFICIENT / MEASURED_C).toBeGreaterThan(4);
  });

  it('roundUp3 never rounds down', () => {
    for (const x of [2.2879e-6, 1e-5, 1.0000001e-5, 9.999e-7, 3.14159, 0.0123456]) {
      const r = roundUp3(x);
      expect(r).toBeGreaterThanOrEqual(x);
      expect(r).toBeLessThan(x * 1.011);
      expect(String(r).replace(/^0\.0*|e.*$|\./g, '').length).toBeLessThanOrEqual(3);
    }
  });
});

describe.skipIf(process.env.MEASURE_TOLERANCE !== '1')('the measurement behind C (MEASURE_TOLERANCE=1)', () => {
  it('correct engines over every configuration and seed', async () => {
    const seeds = (process.env.MEASURE_SEEDS ?? '0,1,2,3').split(',').map(Number);
    const u = UNIT_ROUNDOFF;
    interface Row { engine: string; endpoint: string; depth: number; R: number; S: number; rel: number }
    const rows: Row[] = [];
    for (const seed of seeds) {
      for (const { label, config } of ALL_CONFIGS) {
        const options = optionsOf(config);
        const arch = buildArchitecture(options);
        const weights = randomWeights(arch, seed);
        const model = await createModel({ ...options, weights, backend: 'reference' });
        const [h, w] = arch.inputShape;
        const x = goldenInput(seed, config.batch, h, w);
        const golden = model.run(x, { outputs: [...arch.endpoints] });
        const engines: Record<string, Map<string, Float32Array>> = {};
        const onnx = mobilenetToOnnxModel(arch, model.folded, { batch: config.batch, producerVersion: 'measure' });
        for (const e of ['ort-node', 'ort-web'] as const) engines[e] = new Map([...(await runOnnx(e, onnx, x.data, x.shape))].map(([k, v]) => [k, v.data]));
        for (const e of ['tfjs-cpu', 'tfjs-wasm'] as const) engines[e] = await runTfjs(e, arch, weights, x.data, config.batch);
        const wasm = await createModel({ ...options, weights, backend: 'wasm' });
        const wo = wasm.run(x, { outputs: [...arch.endpoints] });
        engines['wasm'] = new Map(arch.endpoints.map((e) => [e, wo[e]!.data]));
        wasm.dispose();
        model.dispose();
        let R = 0;
        let S = 0;
        arch.layers.forEach((layer, i) => {
          const k = reductionLength(layer);
          R += k;
          S += 1 + Math.log2(k);
          for (const [engine, out] of Object.entries(engines)) {
            rows.push({ engine, endpoint: layer.name, depth: i + 1, R, S, rel: errorOf(out.get(layer.name)!, golden[layer.name]!.data).rel });
          }
        });
        console.log(`seed ${seed} ${label}: done`);
      }
    }
    const body = rows.filter((r) => r.engine !== 'wasm' && r.endpoint !== 'Predictions' && r.endpoint !== 'AvgPool_1a' && r.endpoint !== 'global_pool' && r.endpoint !== 'Logits');
    const models: Record<string, (r: Row) => number> = {
      'sqrt(sum 1 + log2 K)  (the rule)': (r) => Math.sqrt(r.S),
      'sqrt(sum K)': (r) => Math.sqrt(r.R),
      'sqrt(depth)': (r) => Math.sqrt(r.depth),
      depth: (r) => r.depth,
    };
    const lines: string[] = [];
    for (const [name, f] of Object.entries(models)) {
      const per = new Map<string, number>();
      for (const r of body) per.set(r.endpoint, Math.max(per.get(r.endpoint) ?? 0, r.rel / (u * f(r))));
      const v = [...per.values()];
      lines.push(`${name.padEnd(34)} max c ${Math.max(...v).toFixed(2)}, min over end points ${Math.min(...v).toFixed(2)}, spread ${(Math.max(...v) / Math.min(...v)).toFixed(2)}`);
    }
    const rule = rows.filter((r) => r.engine !== 'wasm' && r.endpoint !== 'Predictions');
    const c = Math.max(...rule.map((r) => r.rel / (u * Math.sqrt(r.S))));
    const perEngine = ['ort-node', 'ort-web', 'tfjs-cpu', 'tfjs-wasm', 'wasm'].map((e) => `${e} ${Math.max(...rows.filter((r) => r.engine === e && r.endpoint !== 'Predictions').map((r) => r.rel / (u * Math.sqrt(r.S)))).toFixed(2)}`);
    console.log([...lines, `fitted c = ${c.toFixed(2)} (per engine: ${perEngine.join(', ')}); C = ${TOLERANCE_COEFFICIENT}, margin ${(TOLERANCE_COEFFICIENT / c).toFixed(1)}`].join('\n'));
    expect(c).toBeLessThanOrEqual(MEASURED_C * 1.25);
  }, 3_600_000);
});
