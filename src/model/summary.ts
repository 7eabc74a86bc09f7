/**
 * The per-layer summary of an architecture, in the seed's text format (TF-Slim's
 * `mobilenet_v1.md` tables) and as JSON. Every number is read from the layer table; nothing
 * here re-derives a shape. Params count weights only (no biases, no BatchNorm), as the seed does.
 */
import type { Architecture, ConvLayer, HWC } from './architecture.js';

export interface SummaryRow {
  /** The op name as the seed prints it, e.g. `MobilenetV1/Conv2d_0/Conv2D`. */
  readonly name: string;
  /** The end point, e.g. `Conv2d_0`. */
  readonly endpoint: string;
  readonly params: number;
  readonly macs: number;
  readonly output: HWC;
}

export interface Totals {
  readonly params: number;
  readonly macs: number;
}

export interface Summary {
  /** The body (the seed's table). */
  readonly rows: readonly SummaryRow[];
  /** The classifier, or null when the architecture has none. */
  readonly logits: SummaryRow | null;
  /** The seed's `Total`: the body only. */
  readonly body: Totals;
  /** Body plus classifier. */
  readonly total: Totals;
}

const DASHES = '-'.repeat(80);

function row(layer: ConvLayer): SummaryRow {
  return { name: layer.opName, endpoint: layer.name, params: layer.params, macs: layer.macs, output: layer.outShape };
}

function sum(rows: readonly SummaryRow[]): Totals {
  return {
    params: rows.reduce((s, r) => s + r.params, 0),
    macs: rows.reduce((s, r) => s + r.macs, 0),
  };
}

export function summaryRows(arch: Architecture): Summary {
  const rows = arch.body.map(row);
  const logitsLayer = arch.layers.find((l): l is ConvLayer => l.kind === 'logits');
  const logits = logitsLayer ? row(logitsLayer) : null;
  return { rows, logits, body: sum(rows), total: sum(logits ? [...rows, logits] : rows) };
}

/** `1234567` -> `1,234,567`; independent of the locale, unlike toLocaleString. */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const line = (label: string, params: number, macs: number) => `${label}: ${thousands(params)} ${thousands(macs)}`;

/** The seed's table for the body, then the classifier and a total that includes it. */
export function formatSummary(arch: Architecture): string {
  const s = summaryRows(arch);
  const out = ['Layer params macs', DASHES];
  for (const r of s.rows) out.push(line(r.name, r.params, r.macs));
  out.push(DASHES, line('Total', s.body.params, s.body.macs));
  if (s.logits) {
    out.push(line(s.logits.name, s.logits.params, s.logits.macs));
    out.push(DASHES, line('Total with logits', s.total.params, s.total.macs));
  }
  return out.join('\n') + '\n';
}

export interface SummaryJson {
  readonly layers: readonly { name: string; params: number; macs: number; output: [number, number, number, number] }[];
  readonly body: Totals;
  readonly total: Totals;
}

/** Machine-readable summary; `output` is NHWC with N = 1. */
export function summaryJson(arch: Architecture): SummaryJson {
  const s = summaryRows(arch);
  const all = s.logits ? [...s.rows, s.logits] : s.rows;
  return {
    layers: all.map((r) => ({ name: r.name, params: r.params, macs: r.macs, output: [1, ...r.output] })),
    body: s.body,
    total: s.total,
  };
}
