/**
 * Hand-written SVG plots: a scatter plot (log or linear axes, one marker shape and colour per
 * series, optional lines) and a grouped bar chart with reference lines. No dependencies; the
 * output is plain SVG 1.1 that browsers and GitHub render as is.
 *
 * Log axes span whole decades: major ticks (labelled) at 10^k, minor ticks at 2..9 x 10^k; when
 * the data fit in one decade, 2x and 5x are labelled too.
 */

export interface Point {
  x: number;
  y: number;
  /** Shown as the point's tooltip (<title>). */
  label?: string;
}

export interface Series {
  name: string;
  points: Point[];
  /** Join the points, in x order. */
  line?: boolean;
}

export interface RefLine {
  y: number;
  label: string;
}

export interface ScatterSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  series: Series[];
  hLines?: RefLine[];
  /** Lines y = f(x) across the plot (e.g. a constant rate on log-log axes), clipped to it. */
  guides?: { label: string; f: (x: number) => number }[];
  width?: number;
  height?: number;
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
}

export interface BarSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  categories: string[];
  /** One value per category; null leaves a gap. */
  series: { name: string; values: (number | null)[] }[];
  hLines?: RefLine[];
  width?: number;
  height?: number;
  yFormat?: (v: number) => string;
}

export interface Ticks {
  /** The axis's extent. */
  domain: [number, number];
  /** Ticks with a grid line and a label. */
  major: number[];
  /** Small ticks without a label. */
  minor: number[];
}

/** Colour-blind-safe palette (Okabe and Ito). */
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'triangle-down', 'cross'] as const;

/** Decades around [min, max] (both > 0): majors at 10^k, minors at 2..9 x 10^k strictly inside. */
export function logTicks(min: number, max: number): Ticks {
  if (!(min > 0 && max > 0)) throw new Error(`logTicks: expected positive bounds, got ${min}, ${max}`);
  let lo = Math.floor(Math.log10(Math.min(min, max)) + 1e-9);
  let hi = Math.ceil(Math.log10(Math.max(min, max)) - 1e-9);
  if (hi <= lo) hi = lo + 1;
  const major: number[] = [];
  const minor: number[] = [];
  for (let k = lo; k <= hi; k++) {
    major.push(decade(k));
    if (k < hi) for (let m = 2; m <= 9; m++) minor.push(m * decade(k));
  }
  // One decade only: label 2x and 5x too, so the axis has more than two numbers.
  if (hi - lo === 1) {
    for (const m of [2, 5]) {
      const v = m * decade(lo);
      major.splice(major.length - 1, 0, v);
      minor.splice(minor.indexOf(v), 1);
    }
  }
  return { domain: [decade(lo), decade(hi)], major, minor };
}

/** 10^k without the rounding noise of Math.pow (10^-1 is 0.1, not 0.10000000000000002). */
function decade(k: number): number {
  return k >= 0 ? 10 ** k : 1 / 10 ** -k;
}

/** Nice linear ticks (steps of 1, 2 or 5 x 10^k) from `min` (often 0) past `max`. */
export function linearTicks(min: number, max: number, count = 5): Ticks {
  if (!(max > min)) max = min + 1;
  const raw = (max - min) / count;
  const p = decade(Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const major: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) major.push(Number(v.toPrecision(12)));
  return { domain: [lo, hi], major, minor: [] };
}

/** Maps a value on the domain to a pixel on [from, to] (to < from for a y axis). */
export function scale(domain: [number, number], from: number, to: number, log: boolean): (v: number) => number {
  const f = log ? Math.log10 : (v: number) => v;
  const d0 = f(domain[0]);
  const d1 = f(domain[1]);
  return (v) => from + ((f(v) - d0) / (d1 - d0)) * (to - from);
}

/** A plain number with at most 3 significant digits: 1000, 0.5, 20 (for milliseconds). */
export function formatPlain(v: number): string {
  return trim(v);
}

/** 1.5k, 20M, 1G, 0.05: short labels for ticks. */
export function formatSi(v: number): string {
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [u, s] of units) if (Math.abs(v) >= u) return `${trim(v / u)}${s}`;
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const r1 = (v: number) => Math.round(v * 10) / 10;

function marker(kind: (typeof MARKERS)[number], x: number, y: number, s = 4.5): string {
  switch (kind) {
    case 'circle':
      return `<circle class="point" cx="${r1(x)}" cy="${r1(y)}" r="${s}"`;
    case 'square':
      return `<rect class="point" x="${r1(x - s)}" y="${r1(y - s)}" width="${2 * s}" height="${2 * s}"`;
    case 'triangle':
      return `<path class="point" d="M${r1(x)},${r1(y - s * 1.2)} L${r1(x + s * 1.1)},${r1(y + s * 0.8)} L${r1(x - s * 1.1)},${r1(y + s * 0.8)} Z"`;
    case 'triangle-down':
      return `<path class="point" d="M${r1(x)},${r1(y + s * 1.2)} L${r1(x + s * 1.1)},${r1(y - s * 0.8)} L${r1(x - s * 1.1)},${r1(y - s * 0.8)} Z"`;
    case 'diamond':
      return `<path class="point" d="M${r1(x)},${r1(y - s * 1.3)} L${r1(x + s * 1.3)},${r1(y)} L${r1(x)},${r1(y + s * 1.3)} L${r1(x - s * 1.3)},${r1(y)} Z"`;
    case 'cross':
      return `<path class="point" stroke-width="2" d="M${r1(x - s)},${r1(y - s)} L${r1(x + s)},${r1(y + s)} M${r1(x - s)},${r1(y + s)} L${r1(x + s)},${r1(y - s)}"`;
  }
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function header(f: Frame, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    `<text x="${f.width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

function axisTitles(f: Frame, xLabel: string, yLabel: string, xTitleY: number): string[] {
  const midX = (f.left + f.width - f.right) / 2;
  const midY = (f.top + f.height - f.bottom) / 2;
  return [
    `<text class="x-title" x="${midX}" y="${xTitleY}" text-anchor="middle" font-size="13">${escapeXml(xLabel)}</text>`,
    `<text class="y-title" x="0" y="0" transform="translate(18,${midY}) rotate(-90)" text-anchor="middle" font-size="13">${escapeXml(yLabel)}</text>`,
  ];
}

function yAxis(f: Frame, ticks: Ticks, y: (v: number) => number, format: (v: number) => string): string[] {
  const x0 = f.left;
  const x1 = f.width - f.right;
  const out = [`<g class="y-axis">`];
  for (const v of ticks.minor) out.push(`<line x1="${x0}" y1="${r1(y(v))}" x2="${x1}" y2="${r1(y(v))}" stroke="#f0f0f0"/>`);
  for (const v of ticks.major) {
    out.push(`<line x1="${x0}" y1="${r1(y(v))}" x2="${x1}" y2="${r1(y(v))}" stroke="#d9d9d9"/>`);
    out.push(`<line x1="${x0 - 5}" y1="${r1(y(v))}" x2="${x0}" y2="${r1(y(v))}" stroke="#333"/>`);
    out.push(`<text class="tick" x="${x0 - 8}" y="${r1(y(v) + 4)}" text-anchor="end">${escapeXml(format(v))}</text>`);
  }
  for (const v of ticks.minor) out.push(`<line x1="${x0 - 3}" y1="${r1(y(v))}" x2="${x0}" y2="${r1(y(v))}" stroke="#333"/>`);
  out.push(`<line x1="${x0}" y1="${f.top}" x2="${x0}" y2="${f.height - f.bottom}" stroke="#333"/>`, `</g>`);
  return out;
}

function legend(f: Frame, names: string[], kind: 'marker' | 'bar'): string[] {
  const x = f.width - f.right + 16;
  const out = [`<g class="legend">`];
  names.forEach((name, i) => {
    const y = f.top + 10 + i * 20;
    const color = COLORS[i % COLORS.length]!;
    out.push(
      kind === 'marker'
        ? `<g fill="${color}" stroke="${color}">${marker(MARKERS[i % MARKERS.length]!, x + 6, y)}/></g>`
        : `<rect x="${x}" y="${y - 6}" width="12" height="12" fill="${color}"/>`,
    );
    out.push(`<text x="${x + 18}" y="${y + 4}">${escapeXml(name)}</text>`);
  });
  out.push(`</g>`);
  return out;
}

function refLines(f: Frame, lines: readonly RefLine[], y: (v: number) => number): string[] {
  return lines.flatMap((l) => [
    `<line class="ref" x1="${f.left}" y1="${r1(y(l.y))}" x2="${f.width - f.right}" y2="${r1(y(l.y))}" stroke="#b00020" stroke-width="1.5" stroke-dasharray="6,4"/>`,
    `<text x="${f.width - f.right - 4}" y="${r1(y(l.y) - 5)}" text-anchor="end" fill="#b00020" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(l.label)}</text>`,
  ]);
}

/** A scatter plot; with `xLog`/`yLog` the axes are logarithmic (all values must be > 0). */
export function scatterPlot(spec: ScatterSpec): string {
  const f: Frame = { width: spec.width ?? 760, height: spec.height ?? 480, left: 80, right: 170, top: 40, bottom: 60 };
  const xs = spec.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = [...spec.series.flatMap((s) => s.points.map((p) => p.y)), ...(spec.hLines ?? []).map((l) => l.y)];
  if (xs.length === 0) xs.push(1);
  if (ys.length === 0) ys.push(1);
  const xt = spec.xLog ? logTicks(Math.min(...xs), Math.max(...xs)) : linearTicks(Math.min(0, ...xs), Math.max(...xs));
  const yt = spec.yLog ? logTicks(Math.min(...ys), Math.max(...ys)) : linearTicks(Math.min(0, ...ys), Math.max(...ys));
  const x = scale(xt.domain, f.left, f.width - f.right, spec.xLog ?? false);
  const y = scale(yt.domain, f.height - f.bottom, f.top, spec.yLog ?? false);
  const xFormat = spec.xFormat ?? formatSi;
  const yFormat = spec.yFormat ?? formatSi;
  const bottom = f.height - f.bottom;
  const out = header(f, spec.title);
  out.push(`<g class="x-axis">`);
  for (const v of xt.minor) {
    out.push(`<line x1="${r1(x(v))}" y1="${f.top}" x2="${r1(x(v))}" y2="${bottom}" stroke="#f0f0f0"/>`);
    out.push(`<line x1="${r1(x(v))}" y1="${bottom}" x2="${r1(x(v))}" y2="${bottom + 3}" stroke="#333"/>`);
  }
  for (const v of xt.major) {
    out.push(`<line x1="${r1(x(v))}" y1="${f.top}" x2="${r1(x(v))}" y2="${bottom}" stroke="#d9d9d9"/>`);
    out.push(`<line x1="${r1(x(v))}" y1="${bottom}" x2="${r1(x(v))}" y2="${bottom + 5}" stroke="#333"/>`);
    out.push(`<text class="tick" x="${r1(x(v))}" y="${bottom + 18}" text-anchor="middle">${escapeXml(xFormat(v))}</text>`);
  }
  out.push(`<line x1="${f.left}" y1="${bottom}" x2="${f.width - f.right}" y2="${bottom}" stroke="#333"/>`, `</g>`);
  out.push(...yAxis(f, yt, y, yFormat));
  out.push(...refLines(f, spec.hLines ?? [], y));
  if (spec.guides?.length) {
    out.push(`<clipPath id="plot-area"><rect x="${f.left}" y="${f.top}" width="${f.width - f.left - f.right}" height="${bottom - f.top}"/></clipPath>`);
    for (const g of spec.guides) {
      const [x0, x1] = xt.domain;
      const [ya, yb] = [g.f(x0), g.f(x1)];
      if (!(ya > 0 && yb > 0) && (spec.yLog ?? false)) continue;
      out.push(`<g class="guide" clip-path="url(#plot-area)"><line x1="${r1(x(x0))}" y1="${r1(y(ya))}" x2="${r1(x(x1))}" y2="${r1(y(yb))}" stroke="#b00020" stroke-width="1.2" stroke-dasharray="6,4"/></g>`);
      // The label near the right end, inside the plot.
      const xv = spec.xLog ? 10 ** (Math.log10(x0) + 0.75 * (Math.log10(x1) - Math.log10(x0))) : x0 + 0.75 * (x1 - x0);
      const xl = x(xv);
      const yl = y(g.f(xv));
      if (yl > f.top + 10 && yl < bottom - 5) {
        out.push(`<text x="${r1(xl)}" y="${r1(yl - 6)}" text-anchor="end" fill="#b00020" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(g.label)}</text>`);
      }
    }
  }
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    out.push(`<g class="series" data-series="${escapeXml(s.name)}" fill="${color}" stroke="${color}">`);
    if (s.line && s.points.length > 1) {
      const pts = [...s.points].sort((a, b) => a.x - b.x).map((p) => `${r1(x(p.x))},${r1(y(p.y))}`).join(' ');
      out.push(`<polyline class="line" points="${pts}" fill="none" stroke-width="1.5" opacity="0.6"/>`);
    }
    for (const p of s.points) {
      const tip = p.label ?? `${s.name}: ${xFormat(p.x)}, ${yFormat(p.y)}`;
      out.push(`${marker(MARKERS[i % MARKERS.length]!, x(p.x), y(p.y))}><title>${escapeXml(tip)}</title>${closeTag(MARKERS[i % MARKERS.length]!)}`);
    }
    out.push(`</g>`);
  });
  out.push(...legend(f, spec.series.map((s) => s.name), 'marker'));
  out.push(...axisTitles(f, spec.xLabel, spec.yLabel, f.height - 18));
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}

function closeTag(kind: (typeof MARKERS)[number]): string {
  return kind === 'circle' ? '</circle>' : kind === 'square' ? '</rect>' : '</path>';
}

/** Grouped bars on a linear y axis from 0, one group per category, labels turned 60 degrees. */
export function barPlot(spec: BarSpec): string {
  const longest = Math.max(1, ...spec.categories.map((c) => c.length));
  const f: Frame = { width: spec.width ?? 900, height: spec.height ?? 420 + longest * 5, left: 80, right: 170, top: 40, bottom: 50 + longest * 5.5 };
  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const yt = linearTicks(0, Math.max(1e-9, ...values, ...(spec.hLines ?? []).map((l) => l.y)) * 1.05);
  const y = scale(yt.domain, f.height - f.bottom, f.top, false);
  const yFormat = spec.yFormat ?? formatSi;
  const bottom = f.height - f.bottom;
  const band = (f.width - f.left - f.right) / Math.max(1, spec.categories.length);
  const barW = (band * 0.8) / Math.max(1, spec.series.length);
  const out = header(f, spec.title);
  out.push(...yAxis(f, yt, y, yFormat));
  out.push(`<g class="x-axis">`);
  spec.categories.forEach((c, i) => {
    const cx = f.left + band * (i + 0.5);
    out.push(`<text class="tick" x="0" y="0" transform="translate(${r1(cx + 3)},${bottom + 8}) rotate(-60)" text-anchor="end">${escapeXml(c)}</text>`);
  });
  out.push(`<line x1="${f.left}" y1="${bottom}" x2="${f.width - f.right}" y2="${bottom}" stroke="#333"/>`, `</g>`);
  spec.series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!;
    out.push(`<g class="series" data-series="${escapeXml(s.name)}" fill="${color}">`);
    s.values.forEach((v, i) => {
      if (v === null) return;
      const x0 = f.left + band * i + band * 0.1 + barW * k;
      const top = y(v);
      out.push(`<rect class="bar" x="${r1(x0)}" y="${r1(top)}" width="${r1(barW)}" height="${r1(Math.max(0, bottom - top))}"><title>${escapeXml(`${spec.categories[i]} ${s.name}: ${yFormat(v)}`)}</title></rect>`);
    });
    out.push(`</g>`);
  });
  out.push(...refLines(f, spec.hLines ?? [], y));
  out.push(...legend(f, spec.series.map((s) => s.name), 'bar'));
  out.push(...axisTitles(f, spec.xLabel, spec.yLabel, f.height - 8));
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
