/**
 * From a result set to what a person reads: bench/results/report.md and three SVG plots.
 * Pure functions of the results (no clock, no file system), so the tests feed them a small
 * synthetic set.
 */
import type { KernelRow, LayerRow, ModelRow, SuiteResults, ThreadsRow } from './types.js';
import { barPlot, formatPlain, scatterPlot, type Series } from './svg.js';

export const PLOT_FILES = {
  models: 'models-macs-vs-latency.svg',
  layers: 'layers-time-vs-macs.svg',
  gmacs: 'layers-gmacs-vs-ceiling.svg',
} as const;

export interface Plot {
  file: string;
  svg: string;
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const thousands = (n: number) => n.toLocaleString('en-US');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const configName = (r: { alpha: number; resolution: number }) => `${r.alpha.toFixed(2)} @ ${r.resolution}`;

function table(head: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const a = align ?? head.map((_, i) => (i === 0 ? 'l' : 'r'));
  return [
    `| ${head.join(' | ')} |`,
    `| ${a.map((x) => (x === 'l' ? ':--' : '--:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** Paper Table 2's grouping, plus the pool. */
function layerType(kind: string, name: string): string {
  switch (kind) {
    case 'pointwise':
      return 'Conv 1x1';
    case 'depthwise':
      return 'Conv DW 3x3';
    case 'conv':
      return name === 'Conv2d_0' ? 'Conv 3x3 (first)' : 'Conv 3x3';
    case 'logits':
      return 'Fully connected';
    default:
      return 'Pool';
  }
}

export interface TypeShare {
  type: string;
  layers: number;
  macs: number;
  params: number;
  ms: number;
  macShare: number;
  paramShare: number;
  timeShare: number;
}

/** The measured twin of Table 2: shares of Mult-Adds, parameters and time per layer type. */
export function typeShares(rows: readonly LayerRow[]): TypeShare[] {
  const total = { macs: 0, params: 0, ms: 0 };
  for (const r of rows) {
    total.macs += r.macs;
    total.params += r.params;
    total.ms += r.timing.medianMs;
  }
  const byType = new Map<string, TypeShare>();
  for (const r of rows) {
    const type = layerType(r.kind, r.name);
    const t = byType.get(type) ?? { type, layers: 0, macs: 0, params: 0, ms: 0, macShare: 0, paramShare: 0, timeShare: 0 };
    t.layers++;
    t.macs += r.macs;
    t.params += r.params;
    t.ms += r.timing.medianMs;
    byType.set(type, t);
  }
  return [...byType.values()].map((t) => ({
    ...t,
    macShare: total.macs ? t.macs / total.macs : 0,
    paramShare: total.params ? t.params / total.params : 0,
    timeShare: total.ms ? t.ms / total.ms : 0,
  }));
}

/** Engines in a fixed order: ours first, then the peers as they appear. */
function engines(rows: readonly ModelRow[]): string[] {
  const names = [...new Set(rows.map((r) => r.engine))];
  return names.sort((a, b) => (a.startsWith('ours') ? -1 : 0) - (b.startsWith('ours') ? -1 : 0));
}

function modelsSection(r: SuiteResults): string[] {
  const m = r.models!;
  const count = new Set(m.rows.map((x) => configName(x))).size;
  const out = [`## Models: ${count} alpha x resolution configuration${count === 1 ? '' : 's'}`, ''];
  const ceiling = r.ceiling?.gmacs ?? null;
  const names = engines(m.rows);
  const peers = names.filter((n) => !n.startsWith('ours'));
  for (const batch of [...new Set(m.rows.map((x) => x.batch))].sort((a, b) => a - b)) {
    const rows = m.rows.filter((x) => x.batch === batch);
    const configs = [...new Map(rows.map((x) => [configName(x), x])).values()].sort((a, b) => b.macs - a.macs);
    out.push(`### Batch ${batch}`, '');
    out.push(
      'Median (p90) ms per run of the batch; GMAC/s = Mult-Adds x batch / median; cold = build + first run; peers: their median and, in brackets, how many times slower than ours (below 1: faster).',
      '',
    );
    const head = ['alpha @ res', 'M Mult-Adds', 'ours ms (p90)', 'GMAC/s', ...(ceiling ? ['% ceiling'] : []), 'cold ms', 'arena', ...peers.map((p) => `${p} ms (x)`)];
    const body = configs.map((c) => {
      const get = (engine: string) => rows.find((x) => x.engine === engine && x.alpha === c.alpha && x.resolution === c.resolution);
      const ours = rows.find((x) => x.engine.startsWith('ours') && x.alpha === c.alpha && x.resolution === c.resolution);
      return [
        configName(c),
        (c.macs / 1e6).toFixed(1),
        ours ? `${ms(ours.timing.medianMs)} (${ms(ours.timing.p90Ms)})` : '-',
        ours ? ours.gmacs.toFixed(2) : '-',
        ...(ceiling ? [ours ? pct(ours.gmacs / ceiling) : '-'] : []),
        ours ? ms(ours.coldStartMs) : '-',
        ours?.memoryBytes ? mib(ours.memoryBytes) : '-',
        ...peers.map((p) => {
          const x = get(p);
          return x ? `${ms(x.timing.medianMs)} (${x.vsOurs === null ? '-' : x.vsOurs.toFixed(2)})` : '-';
        }),
      ];
    });
    out.push(table(head, body), '');
  }
  // Ratios summarised: the geometric mean of each peer's median / ours.
  const summary = peers.map((p) => {
    const ratios = m.rows.filter((x) => x.engine === p && x.vsOurs !== null).map((x) => x.vsOurs!);
    const geo = ratios.length ? Math.exp(ratios.reduce((s, v) => s + Math.log(v), 0) / ratios.length) : NaN;
    return [p, String(ratios.length), Number.isNaN(geo) ? '-' : geo.toFixed(2), ratios.length ? Math.min(...ratios).toFixed(2) : '-', ratios.length ? Math.max(...ratios).toFixed(2) : '-'];
  });
  if (summary.length) {
    out.push('### Ratios: peer median / our median', '', table(['peer', 'config x batch', 'geometric mean', 'min', 'max'], summary), '');
  }
  const cold = m.rows.find((x) => x.engine.startsWith('ours'))?.coldStartHow;
  const peerCold = m.rows.find((x) => !x.engine.startsWith('ours'))?.coldStartHow;
  if (cold) out.push(`Cold start, ours: ${cold}.`);
  if (peerCold) out.push(`Cold start, peers: ${peerCold}.`);
  out.push('', `![Mult-Adds vs latency](${PLOT_FILES.models})`, '');
  if (m.skipped.length) {
    out.push('### Not timed', '', table(['engine', 'config', 'batch', 'why'], m.skipped.map((s) => [s.engine, configName(s), String(s.batch), s.reason]), ['l', 'l', 'r', 'l']), '');
  }
  return out;
}

function layersSection(r: SuiteResults): string[] {
  const l = r.layers!;
  const shares = typeShares(l.rows);
  const out = [`## Layers: one inference of alpha ${l.alpha} @ ${l.resolution}, layer by layer`, ''];
  out.push(
    `Each layer timed alone in inference order (the wasm backend's \`layerRunner\`), sweeps interleaved with whole runs. ` +
      `Sum of the layer medians ${ms(l.sumOfMediansMs)} ms; whole inference median ${ms(l.whole.medianMs)} ms (p90 ${ms(l.whole.p90Ms)}).`,
    '',
  );
  out.push('### Table 2, measured: share of Mult-Adds, parameters and time per layer type', '');
  out.push(
    table(
      ['type', 'layers', 'Mult-Adds', 'parameters', 'time', 'ms'],
      shares.map((s) => [s.type, String(s.layers), pct(s.macShare), pct(s.paramShare), pct(s.timeShare), ms(s.ms)]),
    ),
    '',
  );
  const dw = shares.find((s) => s.type === 'Conv DW 3x3');
  if (dw) out.push(`Depthwise layers: ${pct(dw.macShare)} of the Mult-Adds, ${pct(dw.timeShare)} of the time.`, '');
  out.push('### Per layer (the seed\'s summary table with time added)', '');
  out.push('```', 'Layer params macs ms time% macs%', '-'.repeat(80));
  for (const x of l.rows) {
    out.push(`${x.opName}: ${thousands(x.params)} ${thousands(x.macs)} ${ms(x.timing.medianMs)} ${pct(x.timeShare)} ${pct(x.macShare)}`);
  }
  const tot = l.rows.reduce((s, x) => ({ params: s.params + x.params, macs: s.macs + x.macs }), { params: 0, macs: 0 });
  out.push('-'.repeat(80), `Total: ${thousands(tot.params)} ${thousands(tot.macs)} ${ms(l.sumOfMediansMs)}`, '```', '');
  const ceiling = r.ceiling?.gmacs ?? null;
  out.push(
    table(
      ['layer', 'kind', 'Mult-Adds', 'params', 'median ms', 'p90 ms', 'GMAC/s', ...(ceiling ? ['% ceiling'] : []), 'time share', 'Mult-Add share'],
      l.rows.map((x) => {
        const g = x.macs / (x.timing.medianMs * 1e6);
        return [x.name, x.kind, thousands(x.macs), thousands(x.params), ms(x.timing.medianMs), ms(x.timing.p90Ms), x.macs ? g.toFixed(2) : '-', ...(ceiling ? [x.macs ? pct(g / ceiling) : '-'] : []), pct(x.timeShare), pct(x.macShare)];
      }),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', ...(ceiling ? ['r' as const] : []), 'r', 'r'],
    ),
    '',
    `![Per-layer time vs Mult-Adds](${PLOT_FILES.layers})`,
    '',
  );
  return out;
}

function kernelGmacs(k: KernelRow, t: 'simd' | 'scalar' | 'reference'): number | null {
  const timing = k[t];
  return timing ? k.macs / (timing.medianMs * 1e6) : null;
}

function kernelsSection(r: SuiteResults): string[] {
  const k = r.kernels!;
  const ceiling = r.ceiling?.gmacs ?? null;
  const out = [`## Kernels on the layer shapes of alpha ${k.alpha} @ ${k.resolution}`, ''];
  out.push(
    'Each kernel alone, batch 1, weights packed once, inputs rotating over two buffers. GB/s (depthwise) counts input + output + weights + bias bytes once. ' +
      '`scalar`: the scalar wasm twin (same packing, same order, checked bit for bit against the SIMD kernel); `TS ref`: the plain-TypeScript reference kernel.',
    '',
  );
  out.push(
    table(
      ['layer', 'in -> out', 'Mult-Adds', 'SIMD ms (p90)', 'GMAC/s', ...(ceiling ? ['% ceiling'] : []), 'GB/s', 'scalar ms', 'SIMD speed-up', 'TS ref ms', 'SIMD = scalar'],
      k.rows.map((x) => {
        const g = kernelGmacs(x, 'simd')!;
        return [
          x.name,
          `${x.inShape.join('x')} -> ${x.outShape.join('x')}`,
          thousands(x.macs),
          `${ms(x.simd.medianMs)} (${ms(x.simd.p90Ms)})`,
          g.toFixed(2),
          ...(ceiling ? [pct(g / ceiling)] : []),
          x.kind === 'depthwise' ? (x.bytes / (x.simd.medianMs * 1e6)).toFixed(2) : '-',
          x.scalar ? ms(x.scalar.medianMs) : '-',
          x.scalar ? `${(x.scalar.medianMs / x.simd.medianMs).toFixed(2)}x` : '-',
          x.reference ? ms(x.reference.medianMs) : '-',
          x.simdVsScalar === null ? '-' : x.simdVsScalar === 0 ? 'yes' : `no (${x.simdVsScalar.toExponential(1)})`,
        ];
      }),
      ['l', 'l', 'r', 'r', 'r', ...(ceiling ? ['r' as const] : []), 'r', 'r', 'r', 'r', 'l'],
    ),
    '',
    `![GMAC/s per layer against the ceiling](${PLOT_FILES.gmacs})`,
    '',
  );
  return out;
}

/** The Markdown report. */
export function renderReport(r: SuiteResults): string {
  const m = r.meta;
  const out = [
    `# Benchmarks${m.quick ? ' (--quick: short runs, a subset of the configurations)' : ''}`,
    '',
    table(
      ['', ''],
      [
        ['date', m.date],
        ['commit', `${m.commit ?? 'unknown'}${m.dirty ? ' (with uncommitted changes)' : ''}`],
        ['runtime', `Node ${m.runtime.node}, V8 ${m.runtime.v8}, ${m.runtime.platform}`],
        ['CPU', `${m.cpu.model}, ${m.cpu.cores} logical cores${m.cpu.mhz ? `, ${m.cpu.mhz} MHz` : ''}`],
        ['load (1, 5, 15 min)', `start ${m.loadavg.start.map((v) => v.toFixed(2)).join(', ')}; end ${m.loadavg.end.map((v) => v.toFixed(2)).join(', ')}`],
        ['duration', `${m.durationS.toFixed(0)} s`],
        ['kernels.wasm', m.kernelsWasmBytes === null ? '-' : `${thousands(m.kernelsWasmBytes)} bytes`],
      ],
      ['l', 'l'],
    ),
    '',
    `${r.threads ? 'One thread everywhere but in the threads section. ' : 'One thread everywhere. '}Medians and p90 over pooled samples; engines interleaved round by round. A load above the core count means the numbers are noisy.`,
    '',
  ];
  if (r.ceiling) {
    out.push(
      '## Ceiling',
      '',
      `${r.ceiling.gmacs.toFixed(2)} GMAC/s (${r.ceiling.gflops.toFixed(2)} GFLOP/s): ${r.ceiling.method}. ` +
        `Per tile: ${r.ceiling.tiles.map((t) => `${t.tile} ${t.gmacs.toFixed(2)}`).join(', ')}. Every "% ceiling" below is a fraction of this.`,
      '',
    );
  }
  if (r.models) out.push(...modelsSection(r));
  if (r.layers) out.push(...layersSection(r));
  if (r.kernels) out.push(...kernelsSection(r));
  if (r.threads) out.push(...threadsSection(r));
  if (m.notes.length) out.push('## Notes', '', ...m.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

function threadsSection(r: SuiteResults): string[] {
  const t = r.threads!;
  const N = t.threads;
  const out = [`## Threads: 1 and ${N}, batch 1`, ''];
  out.push(
    'Each engine runs in slices of back-to-back runs, a 100 ms pause before each; a slice (or a layer sweep) during which other work kept more than 0.05 cores busy (/proc/stat) is dropped and run again: on 2 cores, a 2-thread run stalls on any core someone else holds. ' +
    `Each process times its engines interleaved; ratios are taken within a process: "x ours@1" is the median over ours at 1 thread in the same process, "x ours@${N}" over ours at ${N}. ` +
      `ort-web and TF.js wasm choose their thread count once per process, so their ${N}-thread rows come from a child process that times ours at 1 and ${N} threads too. ` +
      'Cores used: process CPU time / wall time over the engine\'s slices (1.00: one core busy; a pool that spins while it waits counts as busy). Ours at any thread count is checked bit for bit against ours at 1 thread before it is timed.',
    '',
  );
  const configs = [...new Map(t.rows.map((x) => [configName(x), x])).values()];
  for (const c of configs) {
    const rows = t.rows.filter((x) => x.alpha === c.alpha && x.resolution === c.resolution);
    const first = (where: 'main' | 'child') => rows.find((x) => x.process === where);
    const others = (['main', 'child'] as const)
      .filter((w) => first(w)?.othersBusyCores !== undefined && first(w)?.othersBusyCores !== null)
      .map((w) => `${w} ${first(w)!.othersBusyCores!.toFixed(2)}${first(w)!.droppedRounds ? ` (${first(w)!.droppedRounds} disturbed slices dropped and run again)` : ''}`);
    out.push(`### ${configName(c)} (${(c.macs / 1e6).toFixed(1)}M Mult-Adds)`, '');
    if (others.length) out.push(`Cores kept busy by other work in the slices kept: ${others.join(', ')} (of ${r.meta.cpu.cores}).`, '');
    const order = (x: ThreadsRow) => (x.process === 'main' ? 0 : 10) + (x.engine === 'ours' ? 0 : x.engine === 'ours-head' ? 1 : 2) + x.threads / 100;
    out.push(
      table(
        ['engine', 'threads', 'process', 'median ms (p90)', 'GMAC/s', 'cores used', 'x ours@1', `x ours@${N}`],
        [...rows].sort((a, b) => order(a) - order(b)).map((x) => [
          x.engine, String(x.threads), x.process, `${ms(x.timing.medianMs)} (${ms(x.timing.p90Ms)})`, (x.macs / (x.timing.medianMs * 1e6)).toFixed(2),
          x.cpuPerWall === null ? '-' : x.cpuPerWall.toFixed(2), x.vsOurs1.toFixed(2), x.vsOursN === null ? '-' : x.vsOursN.toFixed(2),
        ]),
        ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
  }
  if (t.layers) {
    const l = t.layers;
    out.push(`### ${configName(l)} layer by layer, 1 and ${N} threads`, '');
    out.push(
      `Whole inferences alternating between 1 and ${N} threads, every layer timed where it runs (at ${N} threads: from the end of the layer before until every thread is done with it, the barrier included). ` +
        `Whole inference: ${ms(l.wholeOne.medianMs)} ms at 1 thread, ${ms(l.wholeMany.medianMs)} ms at ${N} (x${(l.wholeOne.medianMs / l.wholeMany.medianMs).toFixed(2)}).` +
        (l.othersBusyCores === null ? '' : ` Cores kept busy by other work in the sweeps kept: ${l.othersBusyCores.toFixed(2)}${l.droppedSweeps ? ` (${l.droppedSweeps} disturbed sweeps dropped)` : ''}.`),
      '',
    );
    out.push(
      table(
        ['layer', 'kind', 'Mult-Adds', 'items', '1 thread ms', `${N} threads ms`, 'speedup'],
        l.rows.map((x) => [x.name, x.kind, thousands(x.macs), String(x.items), ms(x.one.medianMs), ms(x.many.medianMs), x.speedup.toFixed(2)]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
  }
  if (t.skipped.length) {
    out.push('### Not timed', '', table(['engine', 'config', 'why'], t.skipped.map((s) => [s.engine, configName(s), s.reason]), ['l', 'l', 'l']), '');
  }
  return out;
}

/** The three plots (only those whose stage ran). */
export function renderPlots(r: SuiteResults): Plot[] {
  const plots: Plot[] = [];
  if (r.models && r.models.rows.length) {
    const batch1 = r.models.rows.filter((x) => x.batch === 1);
    const rows = batch1.length ? batch1 : r.models.rows;
    const batch = rows[0]!.batch;
    const series: Series[] = engines(rows).map((engine) => ({
      name: engine,
      line: true,
      points: rows
        .filter((x) => x.engine === engine)
        .map((x) => ({ x: x.macs, y: x.timing.medianMs, label: `${engine} ${configName(x)}: ${(x.macs / 1e6).toFixed(1)}M Mult-Adds, ${ms(x.timing.medianMs)} ms` })),
    }));
    plots.push({
      file: PLOT_FILES.models,
      svg: scatterPlot({
        title: `Mult-Adds vs latency, alpha x resolution, batch ${batch} (measured Figure 4)`,
        xLabel: 'Mult-Adds per image (log)',
        yLabel: 'median latency, ms (log)',
        xLog: true,
        yLog: true,
        yFormat: formatPlain,
        series,
      }),
    });
  }
  if (r.layers && r.layers.rows.length) {
    const kinds = [...new Set(r.layers.rows.filter((x) => x.macs > 0).map((x) => x.kind))];
    plots.push({
      file: PLOT_FILES.layers,
      svg: scatterPlot({
        title: `Per-layer time vs Mult-Adds, alpha ${r.layers.alpha} @ ${r.layers.resolution}`,
        // At the ceiling a layer of M Mult-Adds takes M / (ceiling x 10^6) ms: the floor of the cloud.
        guides: r.ceiling ? [{ label: `ceiling ${r.ceiling.gmacs.toFixed(1)} GMAC/s`, f: (m: number) => m / (r.ceiling!.gmacs * 1e6) }] : [],
        xLabel: 'Mult-Adds of the layer (log)',
        yLabel: 'median time, ms (log)',
        xLog: true,
        yLog: true,
        yFormat: formatPlain,
        series: kinds.map((kind) => ({
          name: kind,
          points: r.layers!.rows
            .filter((x) => x.kind === kind && x.macs > 0)
            .map((x) => ({ x: x.macs, y: x.timing.medianMs, label: `${x.name}: ${(x.macs / 1e6).toFixed(2)}M Mult-Adds, ${ms(x.timing.medianMs)} ms` })),
        })),
      }),
    });
  }
  const kernelRows = r.kernels?.rows ?? [];
  if (kernelRows.length) {
    const hasScalar = kernelRows.some((x) => x.scalar);
    plots.push({
      file: PLOT_FILES.gmacs,
      svg: barPlot({
        title: `GMAC/s per layer, alpha ${r.kernels!.alpha} @ ${r.kernels!.resolution}`,
        xLabel: 'layer',
        yLabel: 'GMAC/s (10^9 Mult-Adds per second)',
        categories: kernelRows.map((x) => x.name),
        series: [
          { name: 'SIMD', values: kernelRows.map((x) => kernelGmacs(x, 'simd')) },
          ...(hasScalar ? [{ name: 'scalar', values: kernelRows.map((x) => kernelGmacs(x, 'scalar')) }] : []),
        ],
        hLines: r.ceiling ? [{ y: r.ceiling.gmacs, label: `ceiling ${r.ceiling.gmacs.toFixed(1)} GMAC/s` }] : [],
        yFormat: formatPlain,
      }),
    });
  }
  return plots;
}
