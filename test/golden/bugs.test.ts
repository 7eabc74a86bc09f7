/**
 * Wrong engines fail, at the first layer their bug touches: each bug is a copy of the bundle's
 * model.onnx changed the way a porting mistake would change it (decoded and re-encoded with the
 * same protobuf schema), run by onnxruntime-node, and checked by `mobilenet verify` and the
 * bundle's verify_golden.py (the same verdicts). Where a bug first acts is worked out from the
 * layer table and the golden values, independently of the checkers:
 *
 *   padding          TF SAME with the odd pixel before instead of after; for symmetric (torch)
 *                    and explicit padding, TF SAME instead: the first layer whose pads change
 *   late padding     the same in the deepest layer whose pads it changes, and only there
 *   no activation    ReLU6 (or ReLU) left out: the first layer with a clamped golden value
 *   relu for relu6   the 6 cap left out: the first layer with a golden value of exactly 6
 *   epsilon          BatchNorm folded with the other flavour's epsilon (1e-5 for 1e-3 and back): Conv2d_0
 *   depthwise        every depthwise filter transposed (kh and kw swapped): Conv2d_1_depthwise
 *   pool window      AvgPool_1a's window one smaller: AvgPool_1a
 *   input row        the image one row off (an off-by-one crop or resize): Conv2d_0
 *
 * Each must fail there, by a wide margin (its error over the allowed error is printed).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBundle, readBundle, writeBundle, type GoldenBundle } from '../../src/golden/bundle.js';
import { buildArchitecture, type Architecture, type ConvLayer } from '../../src/model/architecture.js';
import { foldWeights } from '../../src/model/fold.js';
import { randomWeights } from '../../src/model/random.js';
import type { NamedTensor } from '../../src/model/weights.js';
import { mobilenetToOnnxModel } from '../../src/onnx/export.js';
import { decodeModel, encodeModel } from '../../src/onnx/schema.js';
import { ALPHA_RHO, EXPLICIT, OS8, TORCH, optionsOf, type NamedConfig } from './configs.js';
import { runOnnx } from './engines.js';
import { checkBoth, writeOutputsNpy } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-golden-bugs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/* eslint-disable @typescript-eslint/no-explicit-any */
type Model = any;

interface Context {
  arch: Architecture;
  bundle: GoldenBundle;
  model: Uint8Array;
  nc: NamedConfig;
}

interface Bug {
  name: string;
  /** The broken model and input, or null when the bug does not apply to this configuration. */
  make(c: Context): { model: Uint8Array; input: Float32Array } | null;
  /** The first end point the bug changes (null: it changes none, the engine must pass). */
  expected(c: Context): string | null;
}

const convs = (arch: Architecture) => arch.layers.filter((l): l is ConvLayer => l.kind !== 'avgpool' && l.kind !== 'softmax');
const nodes = (m: Model) => m.graph.node as { name: string; op_type: string; input: string[]; output: string[]; attribute: { name: string; ints?: number[] }[] }[];

/** The layer table's pads, and the wrong ones: SAME's odd pixel moved before it, or SAME for symmetric / explicit padding. */
function wrongPads(arch: Architecture): Map<string, number[]> {
  const o = arch.options;
  const same = o.padding === 'same' && !o.useExplicitPadding;
  const sameArch = same ? arch : buildArchitecture({ ...optionsFromResolved(arch), padding: 'same', useExplicitPadding: false });
  const out = new Map<string, number[]>();
  for (const layer of convs(arch)) {
    const p = layer.padding;
    const q = (sameArch.layers.find((l) => l.name === layer.name) as ConvLayer).padding;
    const wrong = same ? [p.bottom, p.right, p.top, p.left] : [q.top, q.left, q.bottom, q.right];
    // Only where the output shape stays the same (the graph's shapes are fixed).
    const size = (n: number, before: number, after: number, axis: 0 | 1) => {
      const effective = layer.kernel[axis] + (layer.kernel[axis] - 1) * (layer.dilation - 1);
      return Math.floor((n + before + after - effective) / layer.stride) + 1;
    };
    const [h, w] = layer.inShape;
    if (size(h, wrong[0]!, wrong[2]!, 0) === layer.outShape[0] && size(w, wrong[1]!, wrong[3]!, 1) === layer.outShape[1]) out.set(layer.name, wrong);
  }
  return out;
}

function optionsFromResolved(arch: Architecture) {
  const o = arch.options;
  return { flavour: o.flavour, depthMultiplier: o.depthMultiplier, inputSize: [o.inputHeight, o.inputWidth] as [number, number], outputStride: o.outputStride, globalPool: o.globalPool, activation: o.activation, batchNormEpsilon: o.batchNormEpsilon, numClasses: o.numClasses };
}

const samePads = (l: ConvLayer, pads: number[]) => pads.join() === [l.padding.top, l.padding.left, l.padding.bottom, l.padding.right].join();

function edit(model: Uint8Array, change: (m: Model) => void): Uint8Array {
  const m = decodeModel(model);
  change(m);
  return encodeModel(m);
}

/** The first activated layer with a golden value equal to one of `values`. */
function firstWith(c: Context, values: number[]): string | null {
  for (const layer of convs(c.arch)) {
    if (layer.activation === 'none' || !c.bundle.outputs.has(layer.name)) continue;
    if (c.bundle.outputs.get(layer.name)!.data.some((v) => values.includes(v))) return layer.name;
  }
  return null;
}

const input = (c: Context) => c.bundle.input.data;

const BUGS: Bug[] = [
  {
    name: 'padding',
    make: (c) => {
      const pads = wrongPads(c.arch);
      return {
        input: input(c),
        model: edit(c.model, (m) => {
          for (const n of nodes(m)) if (n.op_type === 'Conv') {
            const layer = n.name.split('/')[0]!;
            if (pads.has(layer)) n.attribute.find((a) => a.name === 'pads')!.ints = pads.get(layer)!;
          }
        }),
      };
    },
    expected: (c) => {
      const pads = wrongPads(c.arch);
      return convs(c.arch).find((l) => pads.has(l.name) && !samePads(l, pads.get(l.name)!))?.name ?? null;
    },
  },
  {
    // The same mistake in one layer only, the deepest whose padding it changes: deep errors of
    // correct engines are the largest, and the bug must still stand out there.
    name: 'late padding',
    make: (c) => {
      const pads = wrongPads(c.arch);
      const last = convs(c.arch).filter((l) => pads.has(l.name) && !samePads(l, pads.get(l.name)!)).pop();
      if (!last) return null;
      return {
        input: input(c),
        model: edit(c.model, (m) => {
          const n = nodes(m).find((x) => x.name === `${last.name}/Conv`)!;
          n.attribute.find((a) => a.name === 'pads')!.ints = pads.get(last.name)!;
        }),
      };
    },
    expected: (c) => {
      const pads = wrongPads(c.arch);
      return convs(c.arch).filter((l) => pads.has(l.name) && !samePads(l, pads.get(l.name)!)).pop()?.name ?? null;
    },
  },
  {
    name: 'no activation',
    make: (c) => ({
      input: input(c),
      model: edit(c.model, (m) => {
        const acts = nodes(m).filter((n) => n.op_type === 'Clip' || n.op_type === 'Relu');
        for (const a of acts) nodes(m).find((n) => n.output[0] === a.input[0])!.output = [a.output[0]!];
        m.graph.node = nodes(m).filter((n) => !acts.includes(n));
      }),
    }),
    expected: (c) => firstWith(c, c.arch.options.activation === 'relu6' ? [0, 6] : [0]),
  },
  {
    name: 'relu for relu6',
    make: (c) => c.arch.options.activation !== 'relu6' ? null : {
      input: input(c),
      model: edit(c.model, (m) => {
        for (const n of nodes(m)) if (n.op_type === 'Clip') Object.assign(n, { op_type: 'Relu', input: [n.input[0]!] });
      }),
    },
    expected: (c) => firstWith(c, [6]),
  },
  {
    name: 'epsilon',
    make: (c) => {
      const o = c.arch.options;
      const wrong = buildArchitecture({ ...optionsFromResolved(c.arch), batchNormEpsilon: o.flavour === 'torch' ? 1e-3 : 1e-5 });
      const folded = foldWeights(wrong, randomWeights(c.arch, c.nc.config.seed)).map((f) => ({ ...f, layer: convs(c.arch).find((l) => l.name === f.layer.name)! }));
      return { input: input(c), model: mobilenetToOnnxModel(c.arch, folded, { batch: c.nc.config.batch, outputs: c.bundle.manifest.endpoints.computed, producerVersion: 'bug' }) };
    },
    expected: () => 'Conv2d_0',
  },
  {
    name: 'depthwise',
    make: (c) => ({
      input: input(c),
      model: edit(c.model, (m) => {
        for (const t of m.graph.initializer) if (t.name.endsWith('/depthwise_weights_OIHW')) {
          const [C, , kh, kw] = t.dims as number[];
          const src = new Float32Array(new Uint8Array(t.raw_data).buffer);
          const dst = new Float32Array(src.length);
          for (let ch = 0; ch < C!; ch++) for (let y = 0; y < kh!; y++) for (let x = 0; x < kw!; x++) dst[(ch * kh! + y) * kw! + x] = src[(ch * kw! + x) * kh! + y]!;
          t.raw_data = new Uint8Array(dst.buffer);
        }
      }),
    }),
    expected: (c) => convs(c.arch).find((l) => l.kind === 'depthwise')!.name,
  },
  {
    name: 'pool window',
    make: (c) => c.arch.options.globalPool ? null : {
      input: input(c),
      model: edit(c.model, (m) => {
        const pool = nodes(m).find((n) => n.op_type === 'AveragePool')!;
        const k = pool.attribute.find((a) => a.name === 'kernel_shape')!;
        k.ints = k.ints!.map((v) => v - 1);
      }),
    },
    expected: () => 'AvgPool_1a',
  },
  {
    name: 'input row',
    make: (c) => {
      const [n, h, w] = c.bundle.input.shape as [number, number, number];
      const x = c.bundle.input.data;
      const shifted = new Float32Array(x.length);
      const row = w * 3;
      for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) shifted.set(x.subarray((b * h + Math.min(y + 1, h - 1)) * row, (b * h + Math.min(y + 1, h - 1) + 1) * row), (b * h + y) * row);
      return { input: shifted, model: c.model };
    },
    expected: () => 'Conv2d_0',
  },
];

const CONFIGS: NamedConfig[] = [ALPHA_RHO[0]!, ALPHA_RHO[15]!, OS8, EXPLICIT, TORCH];

const table: string[] = [];
afterAll(() => console.log(['config                                              bug               first failing end point (expected)          error / allowed', ...table].join('\n')));

describe('each deliberate bug fails at the first layer it touches, in both checkers', () => {
  for (const nc of CONFIGS) {
    it(nc.label, async () => {
      const dir = join(tmp, nc.label.replaceAll(' ', '-'));
      await writeBundle(dir, await createBundle(nc.config, 'test'));
      const bundle = await readBundle(dir);
      const c: Context = { arch: buildArchitecture(optionsOf(nc.config)), bundle, model: readFileSync(join(dir, 'model.onnx')), nc };
      const endpoints = bundle.manifest.endpoints.computed;
      for (const bug of BUGS) {
        const broken = bug.make(c);
        if (!broken) continue;
        const expected = bug.expected(c);
        const out = await runOnnx('ort-node', broken.model, broken.input, bundle.input.shape);
        const tensors = new Map<string, NamedTensor>(endpoints.map((e) => [e, { shape: out.get(e)!.dims, data: out.get(e)!.data }]));
        const r = await checkBoth(dir, writeOutputsNpy(join(tmp, `${nc.label}-${bug.name}`.replaceAll(' ', '-')), tensors));
        const report = r.report!;
        const first = report.endpoints.find((e) => e.name === report.firstDivergence);
        table.push(`${nc.label.padEnd(52)}${bug.name.padEnd(18)}${`${report.firstDivergence} (${expected})`.padEnd(44)}${first ? (first.maxAbsError! / first.allowed!).toExponential(1) : '-'}`);
        expect(report.firstDivergence, `${nc.label}: ${bug.name}`).toBe(expected);
        expect(r.code).toBe(expected === null ? 0 : 1);
        // Far outside the tolerance, not at its edge.
        if (first) expect(first.maxAbsError! / first.allowed!, `${nc.label}: ${bug.name}`).toBeGreaterThan(10);
      }
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
