/**
 * The report and plot generators on a small synthetic result set: the SVG is well formed, has
 * the series and points it should, and log ticks sit where they are computed by hand.
 */
import { describe, expect, it } from 'vitest';
import { PLOT_FILES, renderPlots, renderReport, typeShares } from '../../bench/lib/report.js';
import { barPlot, formatSi, linearTicks, logTicks, scale, scatterPlot } from '../../bench/lib/svg.js';
import type { SuiteResults, Timing } from '../../bench/lib/types.js';

interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

/** A strict little XML parser: throws on anything not well formed (enough for our SVG). */
function parseXml(src: string): XmlNode {
  const root: XmlNode = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: XmlNode[] = [root];
  const token = /<!--[\s\S]*?-->|<\/([A-Za-z][\w:.-]*)\s*>|<([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*\s*=\s*"[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = token.exec(src)) !== null) {
    if (m.index !== last) throw new Error(`unparsed text at ${last}`);
    last = token.lastIndex;
    const top = stack[stack.length - 1]!;
    if (m[0].startsWith('<!--')) continue;
    if (m[6] !== undefined) throw new Error(`stray "<" at ${m.index}: ${src.slice(m.index, m.index + 40)}`);
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(m[5])) throw new Error(`bad entity in text: ${m[5]}`);
      top.text += m[5];
      continue;
    }
    if (m[1] !== undefined) {
      if (top.name !== m[1]) throw new Error(`</${m[1]}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of m[3]!.matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*"([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(a[2]!)) throw new Error(`bad entity in attribute ${a[1]}`);
      attrs[a[1]!] = a[2]!;
    }
    const node: XmlNode = { name: m[2]!, attrs, children: [], text: '' };
    top.children.push(node);
    if (m[4] !== '/') stack.push(node);
  }
  if (last !== src.length) throw new Error('trailing garbage');
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  const elements = root.children;
  if (elements.length !== 1 || root.text.trim() !== '') throw new Error('expected exactly one root element');
  return elements[0]!;
}

function all(node: XmlNode, pred: (n: XmlNode) => boolean): XmlNode[] {
  return [...(pred(node) ? [node] : []), ...node.children.flatMap((c) => all(c, pred))];
}
const byClass = (node: XmlNode, cls: string) => all(node, (n) => (n.attrs['class'] ?? '').split(' ').includes(cls));

const t = (medianMs: number): Timing => ({ medianMs, p90Ms: medianMs * 1.1, minMs: medianMs * 0.95, runs: 20 });

/** Two configurations, two engines (one peer), two batches, three layers. */
function synthetic(): SuiteResults {
  const model = (alpha: number, resolution: number, batch: number, engine: string, macs: number, ms: number, vsOurs: number | null) => ({
    alpha, resolution, batch, engine, macs, params: 1000, coldStartMs: 50, coldStartHow: engine === 'ours-wasm' ? 'fresh process' : 'in process',
    timing: t(ms), gmacs: (macs * batch) / (ms * 1e6), maxRelError: engine === 'ours-wasm' ? 0 : 1e-6, vsOurs,
    memoryBytes: engine === 'ours-wasm' ? 3 * 2 ** 20 : null,
  });
  return {
    meta: {
      date: '2026-11-27T12:00:00.000Z', commit: 'abcdef0123456789', dirty: false,
      runtime: { node: 'v20.0.0', v8: '11.3', platform: 'linux-x64' },
      cpu: { model: 'Test CPU <&>', cores: 2, mhz: 3000 },
      loadavg: { start: [0.5, 0.4, 0.3], end: [0.6, 0.5, 0.4] },
      quick: true, options: {}, durationS: 12, kernelsWasmBytes: 12345, notes: ['a note'],
    },
    ceiling: { gmacs: 20, gflops: 40, tiles: [{ tile: '4x2', gmacs: 20, samples: [19, 20] }], method: 'probe' },
    kernels: {
      alpha: 1, resolution: 224,
      rows: [
        { name: 'Conv2d_0', kind: 'conv', inShape: [224, 224, 3], outShape: [112, 112, 32], params: 864, macs: 10_838_016, bytes: 4 * (150528 + 401408 + 896), simd: t(1), scalar: t(10), reference: t(40), simdVsScalar: 0 },
        { name: 'Conv2d_1_depthwise', kind: 'depthwise', inShape: [112, 112, 32], outShape: [112, 112, 32], params: 288, macs: 3_612_672, bytes: 4 * (401408 * 2 + 320), simd: t(0.5), scalar: null, reference: null, simdVsScalar: null },
      ],
    },
    layers: {
      alpha: 1, resolution: 224, sumOfMediansMs: 4, whole: t(4.2),
      rows: [
        { name: 'Conv2d_0', opName: 'MobilenetV1/Conv2d_0/Conv2D', kind: 'conv', params: 864, macs: 1e7, timing: t(1), timeShare: 0.25, macShare: 0.1 },
        { name: 'Conv2d_1_depthwise', opName: 'MobilenetV1/Conv2d_1_depthwise/depthwise', kind: 'depthwise', params: 288, macs: 1e6, timing: t(1), timeShare: 0.25, macShare: 0.01 },
        { name: 'Conv2d_1_pointwise', opName: 'MobilenetV1/Conv2d_1_pointwise/Conv2D', kind: 'pointwise', params: 2048, macs: 8.9e7, timing: t(2), timeShare: 0.5, macShare: 0.89 },
      ],
    },
    models: {
      rows: [
        model(1, 224, 1, 'ours-wasm', 568_741_376, 50, null),
        model(1, 224, 1, 'tfjs-wasm', 568_741_376, 55, 1.1),
        model(0.25, 128, 1, 'ours-wasm', 13_570_304, 1, null),
        model(0.25, 128, 1, 'tfjs-wasm', 13_570_304, 2, 2),
        model(0.25, 128, 8, 'ours-wasm', 13_570_304, 7, null),
      ],
      skipped: [{ engine: 'tfjs-cpu', alpha: 1, resolution: 224, batch: 1, reason: 'too slow' }],
    },
  };
}

describe('log ticks', () => {
  it('spans whole decades: 3..700 -> 1..1000, minors 2..9 x 10^k inside', () => {
    const ticks = logTicks(3, 700);
    expect(ticks.domain).toEqual([1, 1000]);
    expect(ticks.major).toEqual([1, 10, 100, 1000]);
    expect(ticks.minor).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 20, 30, 40, 50, 60, 70, 80, 90, 200, 300, 400, 500, 600, 700, 800, 900]);
  });

  it('exact decades stay put; below 1 the ticks are exact decimals', () => {
    expect(logTicks(10, 1000).domain).toEqual([10, 1000]);
    expect(logTicks(0.02, 0.5).major).toEqual([0.01, 0.1, 1]);
  });

  it('one decade: 2x and 5x are labelled too', () => {
    const ticks = logTicks(12, 80);
    expect(ticks.major).toEqual([10, 20, 50, 100]);
    expect(ticks.minor).toEqual([30, 40, 60, 70, 80, 90]);
  });

  it('places ticks by hand: 1..1000 over x = 100..400 px', () => {
    const x = scale([1, 1000], 100, 400, true);
    // log10 of 1, 10, 100, 1000 = 0, 1, 2, 3: one decade per 100 px.
    expect([1, 10, 100, 1000].map(x)).toEqual([100, 200, 300, 400]);
    // 2 sits log10(2) = 0.30103 of a decade in; 5 at 0.69897.
    expect(x(2)).toBeCloseTo(130.103, 3);
    expect(x(5)).toBeCloseTo(169.897, 3);
    // A y axis runs downwards: 300 px at the bottom for 0.1, 100 px at the top for 10.
    const y = scale([0.1, 10], 300, 100, true);
    expect([0.1, 1, 10].map(y)).toEqual([300, 200, 100]);
  });

  it('refuses non-positive bounds', () => {
    expect(() => logTicks(0, 10)).toThrow(/positive/);
  });
});

describe('linear ticks and labels', () => {
  it('steps of 1, 2 or 5 x 10^k', () => {
    expect(linearTicks(0, 23).major).toEqual([0, 5, 10, 15, 20, 25]);
    expect(linearTicks(0, 0.9).major).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
  it('short SI labels', () => {
    expect([1e9, 2e7, 1500, 1, 0.05].map(formatSi)).toEqual(['1G', '20M', '1.5k', '1', '0.05']);
  });
});

describe('SVG plots', () => {
  it('scatter: well formed, one group per series, one marker per point, escaped text', () => {
    const svg = scatterPlot({
      title: 'A & B <test>',
      xLabel: 'x',
      yLabel: 'y',
      xLog: true,
      yLog: true,
      series: [
        { name: 'one', line: true, points: [{ x: 1e7, y: 1 }, { x: 1e8, y: 5 }, { x: 5e8, y: 40 }] },
        { name: 'two "quoted"', points: [{ x: 2e7, y: 3, label: 'p<1>' }] },
      ],
    });
    const root = parseXml(svg);
    expect(root.name).toBe('svg');
    expect(root.attrs['xmlns']).toBe('http://www.w3.org/2000/svg');
    const series = byClass(root, 'series');
    expect(series.map((s) => s.attrs['data-series'])).toEqual(['one', 'two &quot;quoted&quot;']);
    expect(series.map((s) => byClass(s, 'point').length)).toEqual([3, 1]);
    expect(byClass(series[0]!, 'line')).toHaveLength(1);
    expect(byClass(series[1]!, 'line')).toHaveLength(0);
    // x spans 1e7..1e9: three labelled decades; y spans 1..100.
    const xTicks = byClass(all(root, (n) => n.attrs['class'] === 'x-axis')[0]!, 'tick').map((n) => n.text);
    expect(xTicks).toEqual(['10M', '100M', '1G']);
    const yTicks = byClass(all(root, (n) => n.attrs['class'] === 'y-axis')[0]!, 'tick').map((n) => n.text);
    expect(yTicks).toEqual(['1', '10', '100']);
    expect(svg).toContain('A &amp; B &lt;test&gt;');
  });

  it('scatter: a point lands where the scale puts it', () => {
    const svg = scatterPlot({ title: 't', xLabel: 'x', yLabel: 'y', xLog: true, yLog: true, width: 760, height: 480, series: [{ name: 's', points: [{ x: 10, y: 10 }, { x: 1000, y: 100 }] }] });
    const [first] = byClass(parseXml(svg), 'point');
    // Plot area: x 80..590 (760 - 170), y 420 (480 - 60) .. 40. x = 10 is the left end of 10..1000,
    // y = 10 the bottom of 10..100.
    expect(first!.attrs['cx']).toBe('80');
    expect(first!.attrs['cy']).toBe('420');
  });

  it('bars: one rect per non-null value, the reference line, rotated category labels', () => {
    const svg = barPlot({
      title: 'bars',
      xLabel: 'layer',
      yLabel: 'GMAC/s',
      categories: ['a', 'b', 'c'],
      series: [{ name: 'SIMD', values: [1, 2, 3] }, { name: 'scalar', values: [0.5, null, 0.7] }],
      hLines: [{ y: 4, label: 'ceiling' }],
    });
    const root = parseXml(svg);
    expect(byClass(root, 'series').map((s) => byClass(s, 'bar').length)).toEqual([3, 2]);
    expect(byClass(root, 'ref')).toHaveLength(1);
    expect(svg).toMatch(/rotate\(-60\)/);
  });
});

describe('report', () => {
  const r = synthetic();

  it('Table 2 shares add up per type', () => {
    const s = typeShares(r.layers!.rows);
    expect(s.map((x) => x.type)).toEqual(['Conv 3x3 (first)', 'Conv DW 3x3', 'Conv 1x1']);
    expect(s.map((x) => x.timeShare)).toEqual([0.25, 0.25, 0.5]);
    expect(s.reduce((a, x) => a + x.macShare, 0)).toBeCloseTo(1, 12);
  });

  it('markdown: every section, the ratios, the seed-style rows with time, the plot links', () => {
    const md = renderReport(r);
    for (const h of ['# Benchmarks', '## Ceiling', '## Models', '### Batch 1', '### Batch 8', '## Layers', '### Table 2, measured', '## Kernels', '## Notes', '### Not timed']) {
      expect(md).toContain(h);
    }
    expect(md).toContain('| 1.00 @ 224 | 568.7 | 50.0 (55.0) | 11.37 | 56.9% | 50.0 | 3.0 MiB | 55.0 (1.10) |');
    expect(md).toContain('MobilenetV1/Conv2d_1_depthwise/depthwise: 288 1,000,000 1.00 25.0% 1.0%');
    expect(md).toContain('Depthwise layers: 1.0% of the Mult-Adds, 25.0% of the time.');
    expect(md).toMatch(/\| tfjs-wasm \| 2 \| 1\.48 \| 1\.10 \| 2\.00 \|/);
    for (const f of Object.values(PLOT_FILES)) expect(md).toContain(`](${f})`);
    expect(md).toContain('| Conv2d_0 | 224x224x3 -> 112x112x32 | 10,838,016 | 1.00 (1.10) | 10.84 | 54.2% | - | 10.0 | 10.00x | 40.0 | yes |');
  });

  it('plots: three valid SVGs; Figure 4 has one series per engine and one point per configuration', () => {
    const plots = renderPlots(r);
    expect(plots.map((p) => p.file)).toEqual([PLOT_FILES.models, PLOT_FILES.layers, PLOT_FILES.gmacs]);
    const roots = plots.map((p) => parseXml(p.svg));
    const fig4 = byClass(roots[0]!, 'series');
    expect(fig4.map((s) => s.attrs['data-series'])).toEqual(['ours-wasm', 'tfjs-wasm']);
    expect(fig4.map((s) => byClass(s, 'point').length)).toEqual([2, 2]);
    expect(byClass(roots[1]!, 'series').map((s) => [s.attrs['data-series'], byClass(s, 'point').length])).toEqual([['conv', 1], ['depthwise', 1], ['pointwise', 1]]);
    const bars = byClass(roots[2]!, 'series');
    expect(bars.map((s) => byClass(s, 'bar').length)).toEqual([2, 1]);
    expect(byClass(roots[2]!, 'ref')).toHaveLength(1);
  });

  it('a result set with only some stages renders only those', () => {
    const partial: SuiteResults = { ...r, kernels: null, layers: null, ceiling: null };
    expect(renderPlots(partial).map((p) => p.file)).toEqual([PLOT_FILES.models]);
    const md = renderReport(partial);
    expect(md).not.toContain('## Kernels');
    expect(md).not.toContain('% ceiling');
  });
});

describe('guides', () => {
  it('a constant-rate guide on log-log axes is one clipped line, drawn only on the plot', () => {
    const svg = scatterPlot({
      title: 'g', xLabel: 'x', yLabel: 'y', xLog: true, yLog: true,
      series: [{ name: 's', points: [{ x: 1e6, y: 0.1 }, { x: 1e8, y: 10 }] }],
      guides: [{ label: 'ceiling', f: (m) => m / 1e7 }],
    });
    const root = parseXml(svg);
    const guides = byClass(root, 'guide');
    expect(guides).toHaveLength(1);
    expect(guides[0]!.attrs['clip-path']).toBe('url(#plot-area)');
    expect(all(root, (n) => n.name === 'clipPath')).toHaveLength(1);
  });
});
