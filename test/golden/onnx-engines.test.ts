/**
 * Correct engines pass: for every configuration (the 16 alpha x rho, output stride 8 and 16,
 * explicit padding, the PyTorch flavour) `mobilenet golden --onnx` writes a bundle whose
 * model.onnx onnxruntime-node and onnxruntime-web run as they are (outputs named and shaped
 * as the manifest's end points, NHWC), and `mobilenet verify` (and the bundle's
 * verify_golden.py, with the same verdicts) accepts their outputs, and TensorFlow.js's (cpu and
 * wasm, BatchNorm unfolded, from the bundle's weights.safetensors), within the per end point
 * tolerances. Each correct engine must stay within half of every tolerance (the derivation's
 * margin, docs/golden-format.md); the worst errors are printed as a table.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../src/formats/index.js';
import { createBundle, readBundle, writeBundle, type GoldenManifest, type ManifestOnnx } from '../../src/golden/bundle.js';
import type { VerifyReport } from '../../src/golden/verify.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import type { NamedTensor } from '../../src/model/weights.js';
import { decodeModel } from '../../src/onnx/schema.js';
import { ALL_CONFIGS, optionsOf } from './configs.js';
import { runOnnx, runTfjs } from './engines.js';
import { checkBoth, writeOutputsNpy, writeOutputsSafetensors } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-golden-engines-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Row {
  config: string;
  engine: string;
  worstRel: number;
  worstAt: string;
  usage: number;
  usageAt: string;
  python: string;
}
const rows: Row[] = [];

afterAll(() => {
  const lines = ['config                                              engine      worst rel err (at)                   most of a tolerance used (at)         python'];
  for (const r of rows) {
    lines.push(`${r.config.padEnd(52)}${r.engine.padEnd(12)}${`${r.worstRel.toExponential(2)} (${r.worstAt})`.padEnd(37)}${`${(100 * r.usage).toFixed(1)}% (${r.usageAt})`.padEnd(38)}${r.python}`);
  }
  console.log(lines.join('\n'));
});

function summarise(config: string, engine: string, report: VerifyReport, python: string) {
  let worst = { rel: 0, at: '' };
  let usage = { u: 0, at: '' };
  for (const e of report.endpoints) {
    if (e.maxRelError! >= worst.rel) worst = { rel: e.maxRelError!, at: e.name };
    const u = e.maxAbsError! / e.allowed!;
    if (u >= usage.u) usage = { u, at: e.name };
  }
  rows.push({ config, engine, worstRel: worst.rel, worstAt: worst.at, usage: usage.u, usageAt: usage.at, python });
  return usage.u;
}

describe('correct engines pass every configuration', () => {
  for (const { label, config } of ALL_CONFIGS) {
    it(label, async () => {
      const dir = join(tmp, label.replaceAll(' ', '-'));
      await writeBundle(dir, await createBundle(config, 'test'));
      const bundle = await readBundle(dir);
      const m = bundle.manifest as GoldenManifest & { onnx: ManifestOnnx };
      const endpoints = m.endpoints.computed;
      expect(m.format_version).toBe(2);
      expect(m.onnx).toMatchObject({ file: 'model.onnx', opset: 13, batch_norm: 'folded', layout: 'NHWC', input: 'input', outputs: endpoints });

      // The file itself: opset 13, one input, the end points as outputs with the manifest's shapes.
      const model = readFileSync(join(dir, 'model.onnx'));
      const decoded = decodeModel(model) as { opset_import: { version: number }[]; graph: { input: { name: string }[]; output: { name: string; type: { tensor_type: { shape: { dim: { dim_value: number }[] } } } }[] } };
      expect(decoded.opset_import.map((o) => o.version)).toEqual([13]);
      expect(decoded.graph.input.map((i) => i.name)).toEqual(['input']);
      expect(decoded.graph.output.map((o) => o.name)).toEqual(endpoints);
      for (const o of decoded.graph.output) {
        expect(o.type.tensor_type.shape.dim.map((d) => d.dim_value), o.name).toEqual(bundle.outputs.get(o.name)!.shape);
      }

      const input = bundle.input;
      for (const engine of ['ort-node', 'ort-web'] as const) {
        const out = await runOnnx(engine, model, input.data, input.shape);
        expect([...out.keys()]).toEqual(endpoints);
        const tensors = new Map<string, NamedTensor>();
        for (const e of endpoints) {
          // NHWC as the bundle: the very shapes, not only the element count.
          expect(out.get(e)!.dims, `${engine} ${e}`).toEqual(bundle.outputs.get(e)!.shape);
          tensors.set(e, { shape: out.get(e)!.dims, data: out.get(e)!.data });
        }
        const path = engine === 'ort-node'
          ? writeOutputsSafetensors(join(tmp, `${engine}.safetensors`), tensors)
          : writeOutputsNpy(join(tmp, `${engine}-${label.replaceAll(' ', '-')}`), tensors);
        const r = await checkBoth(dir, path);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.report!.compared).toBe(endpoints.length);
        const usage = summarise(label, engine, r.report!, r.python ? `agrees (exit ${r.python.code})` : 'not run');
        expect(usage).toBeLessThanOrEqual(0.5);
      }

      // TensorFlow.js from the bundle's unfolded weights, through the TF-Slim oracle.
      const { weights } = await loadModelFile(join(dir, 'weights.safetensors'));
      const arch = buildArchitecture(optionsOf(config));
      for (const engine of ['tfjs-cpu', 'tfjs-wasm'] as const) {
        const out = await runTfjs(engine, arch, weights, input.data, config.batch);
        const tensors = new Map(endpoints.map((e) => [e, { shape: bundle.outputs.get(e)!.shape, data: out.get(e)! }]));
        const r = await checkBoth(dir, writeOutputsSafetensors(join(tmp, `${engine}.safetensors`), tensors));
        expect(r.code, r.stdout + r.stderr).toBe(0);
        const usage = summarise(label, engine, r.report!, r.python ? `agrees (exit ${r.python.code})` : 'not run');
        expect(usage).toBeLessThanOrEqual(0.5);
      }
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
