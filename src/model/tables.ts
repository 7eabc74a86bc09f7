/**
 * The MobileNets paper's resource tables (Howard et al., 2017, Tables 2-7) recomputed from the
 * layer table, each row beside the value the paper prints. The paper's column is typed in from
 * shared/docs/paper-tables.md; ours always comes from `buildArchitecture`.
 *
 * The paper counts a 1024 x 1000 classifier without bias on top of the body, and neither
 * biases nor BatchNorm; `numClasses: 1000` and weight-only `params` match that.
 */
import { buildArchitecture, convLayers, type ConvDefType, type ConvLayer, type MobileNetOptions } from './architecture.js';
import { thousands } from './summary.js';

export interface Counts {
  readonly params: number;
  readonly macs: number;
}

export interface TableRow {
  readonly label: string;
  /** Raw counts from the layer table. */
  readonly counts: Counts;
  /** Ours in the table's unit (millions, or percent for Table 2), unrounded. */
  readonly ours: { readonly multAdds: number; readonly params: number };
  /** As the paper prints them, same unit. */
  readonly paper: { readonly multAdds: number; readonly params: number };
  /** Set where ours and the paper's printed value disagree beyond its printed precision: why. */
  readonly note?: string;
}

export interface PaperTable {
  readonly number: number;
  readonly title: string;
  /** What the first column names, as in the paper. */
  readonly heading: string;
  readonly unit: 'millions' | 'percent';
  readonly rows: readonly TableRow[];
  readonly notes: readonly string[];
}

/** Paper's convention: 1000 classes, weights only. */
function modelCounts(options: MobileNetOptions): Counts {
  const arch = buildArchitecture({ numClasses: 1000, ...options });
  return sumLayers(convLayers(arch));
}

function sumLayers(layers: readonly ConvLayer[]): Counts {
  return {
    params: layers.reduce((s, l) => s + l.params, 0),
    macs: layers.reduce((s, l) => s + l.macs, 0),
  };
}

/**
 * Table 3's single layer (14x14x512 in, 3x3, 512 out) through the same code as the full model:
 * a one-entry body cannot start from 512 channels (the input has 3), so a 1x1 stem lifts the
 * input to 512 * alpha channels first and is left out of the count.
 */
export function singleLayerCounts(type: ConvDefType, alpha: number, size: number): Counts {
  const arch = buildArchitecture({
    depthMultiplier: alpha,
    inputSize: size,
    convDefs: [
      { type: 'Conv', kernel: [1, 1], stride: 1, depth: 512 },
      { type, kernel: [3, 3], stride: 1, depth: 512 },
    ],
    finalEndpoint: type === 'Conv' ? 'Conv2d_1' : 'Conv2d_1_pointwise',
  });
  return sumLayers(arch.body.slice(1));
}

const millions = (label: string, counts: Counts, paperMultAdds: number, paperParams: number, note?: string): TableRow => ({
  label,
  counts,
  ours: { multAdds: counts.macs / 1e6, params: counts.params / 1e6 },
  paper: { multAdds: paperMultAdds, params: paperParams },
  ...(note === undefined ? {} : { note }),
});

const m = (macs: number) => `${(macs / 1e6).toFixed(2)}M`;

function table2(): PaperTable {
  const arch = buildArchitecture({ numClasses: 1000 });
  const conv = convLayers(arch);
  const total = sumLayers(conv);
  const byKind = (kind: ConvLayer['kind']) => sumLayers(conv.filter((l) => l.kind === kind));
  const share = (label: string, counts: Counts, paperMultAdds: number, paperParams: number): TableRow => ({
    label,
    counts,
    ours: { multAdds: (100 * counts.macs) / total.macs, params: (100 * counts.params) / total.params },
    paper: { multAdds: paperMultAdds, params: paperParams },
  });
  const first = byKind('conv');
  const firstShare = ((100 * first.macs) / total.macs).toFixed(2);
  return {
    number: 2,
    title: 'Resources per layer type (MobileNet 1.0, 224)',
    heading: 'type',
    unit: 'percent',
    rows: [
      share('Conv 1x1', byKind('pointwise'), 94.86, 74.59),
      share('Conv DW 3x3', byKind('depthwise'), 3.06, 1.06),
      {
        ...share('Conv 3x3', first, 1.19, 0.02),
        note:
          `Mult-Adds: the paper prints 1.19%, the layer table gives ${firstShare}% (${thousands(first.macs)} of ${thousands(total.macs)}). ` +
          'The printed shares sum to 99.29%, ours to 100%: the printed value looks like transposed digits.',
      },
      share('Fully connected', byKind('logits'), 0.18, 24.33),
    ],
    notes: [],
  };
}

/** Every table, ours beside the paper's printed numbers. */
export function tablesData(): PaperTable[] {
  const base = modelCounts({});
  const convNet = modelCounts({ convDefs: 'conv' });
  const convBody = modelCounts({ convDefs: 'conv', numClasses: 0 });
  const at160 = modelCounts({ inputSize: 160 });
  const body160 = modelCounts({ inputSize: 160, numClasses: 0 });
  return [
    table2(),
    {
      number: 3,
      title: 'One layer: 14x14x512 input, 3x3 kernel, 512 outputs',
      heading: 'layer / modification',
      unit: 'millions',
      rows: [
        millions('Convolution', singleLayerCounts('Conv', 1, 14), 462, 2.36),
        millions('Depthwise separable conv', singleLayerCounts('DepthSepConv', 1, 14), 52.3, 0.27),
        millions('alpha = 0.75', singleLayerCounts('DepthSepConv', 0.75, 14), 29.6, 0.15),
        // rho = 0.714 turns the 14x14 map into round(14 * 0.714) = 10.
        millions('rho = 0.714', singleLayerCounts('DepthSepConv', 0.75, 10), 15.1, 0.15),
      ],
      notes: ['Each modification applies on top of the previous row (rho with alpha = 0.75).'],
    },
    {
      number: 4,
      title: 'Depthwise separable vs full convolution',
      heading: 'model',
      unit: 'millions',
      rows: [
        millions(
          'Conv MobileNet',
          convNet,
          4866,
          29.3,
          `Mult-Adds: ours ${m(convNet.macs)} with the classifier, ` +
            `${m(convBody.macs)} without; the paper's 4866 matches the body without its classifier, ` +
            'while its 569 for MobileNet and its 29.3 parameters include it.',
        ),
        millions('MobileNet', base, 569, 4.2),
      ],
      notes: [],
    },
    {
      number: 5,
      title: 'Narrow vs shallow',
      heading: 'model',
      unit: 'millions',
      rows: [
        millions('0.75 MobileNet', modelCounts({ depthMultiplier: 0.75 }), 325, 2.6),
        millions('Shallow MobileNet', modelCounts({ convDefs: 'shallow' }), 307, 2.9),
      ],
      notes: ['Shallow MobileNet: alpha 1.0 with the five 14x14x512 separable layers removed.'],
    },
    {
      number: 6,
      title: 'Width multiplier (224)',
      heading: 'model',
      unit: 'millions',
      rows: [
        millions('1.0 MobileNet-224', base, 569, 4.2),
        millions('0.75 MobileNet-224', modelCounts({ depthMultiplier: 0.75 }), 325, 2.6),
        millions('0.5 MobileNet-224', modelCounts({ depthMultiplier: 0.5 }), 149, 1.3),
        millions('0.25 MobileNet-224', modelCounts({ depthMultiplier: 0.25 }), 41, 0.5),
      ],
      notes: [],
    },
    {
      number: 7,
      title: 'Resolution (alpha 1.0)',
      heading: 'model',
      unit: 'millions',
      rows: [
        millions('1.0 MobileNet-224', base, 569, 4.2),
        millions('1.0 MobileNet-192', modelCounts({ inputSize: 192 }), 418, 4.2),
        millions(
          '1.0 MobileNet-160',
          at160,
          290,
          4.2,
          `Mult-Adds: ours ${m(at160.macs)}, which rounds to ${Math.round(at160.macs / 1e6)}; the paper prints 290. ` +
            `The body alone (${m(body160.macs)}) would round to 290, but every other row of this table includes the classifier.`,
        ),
        millions('1.0 MobileNet-128', modelCounts({ inputSize: 128 }), 186, 4.2),
      ],
      notes: [],
    },
  ];
}

function fmt(value: number, unit: PaperTable['unit']): string {
  if (unit === 'percent') return `${value.toFixed(2)}%`;
  // More digits than the paper prints, so its rounding can be checked by eye.
  return value >= 100 ? value.toFixed(1) : value >= 10 ? value.toFixed(2) : value.toFixed(3);
}

/** Markdown tables: ours and the paper's printed values side by side. */
export function formatTables(tables: readonly PaperTable[] = tablesData()): string {
  const out: string[] = [];
  for (const t of tables) {
    const unit = t.unit === 'percent' ? 'percent of the whole model (body and 1000-class classifier)' : 'millions';
    out.push(`## Table ${t.number}: ${t.title}`, '');
    out.push(`| ${t.heading} | Mult-Adds (ours) | Mult-Adds (paper) | parameters (ours) | parameters (paper) |`);
    out.push('|---|---:|---:|---:|---:|');
    for (const r of t.rows) {
      const paper = (v: number) => (t.unit === 'percent' ? `${v.toFixed(2)}%` : String(v));
      out.push(`| ${r.label} | ${fmt(r.ours.multAdds, t.unit)} | ${paper(r.paper.multAdds)} | ${fmt(r.ours.params, t.unit)} | ${paper(r.paper.params)} |`);
    }
    out.push('', `Units: ${unit}.`);
    for (const n of t.notes) out.push(`Note: ${n}`);
    for (const r of t.rows) if (r.note) out.push(`Note (${r.label}): ${r.note}`);
    out.push('');
  }
  return out.join('\n');
}
