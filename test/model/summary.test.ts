import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildArchitecture } from '../../src/model/architecture.js';
import { formatSummary, summaryJson, summaryRows, thousands } from '../../src/model/summary.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const seedFile = resolve(repoRoot, '../shared/seed/000_03b1b0a215ae3dc1.txt');
const haveSeed = existsSync(seedFile);
const onCi = Boolean(process.env.CI);

interface SeedTable {
  alpha: number;
  height: number;
  width: number;
  /** From `Layer params macs` to `Total: ...`, inclusive. */
  lines: string[];
}

/** The seed's summary tables, each with the alpha and input size its title line names. */
function seedTables(text: string): SeedTable[] {
  const lines = text.split(/\r?\n/);
  const tables: SeedTable[] = [];
  lines.forEach((line, i) => {
    if (line !== 'Layer params macs') return;
    // Title two lines up: "100% Mobilenet V1 (base) with input size 224x224:", then "See mobilenet_v1()".
    const title = /^(\d+)% Mobilenet V1 \(base\) with input size (\d+)x(\d+):$/.exec(lines[i - 2] ?? '');
    if (!title) throw new Error(`no title above the table at line ${i + 1}: ${lines[i - 2]}`);
    const end = lines.findIndex((l, j) => j > i && l.startsWith('Total: '));
    tables.push({ alpha: Number(title[1]) / 100, height: Number(title[2]), width: Number(title[3]), lines: lines.slice(i, end + 1) });
  });
  return tables;
}

if (!haveSeed && !onCi) console.warn(`summary.test: seed document not found at ${seedFile}; skipping the seed comparison`);

describe('the seed document', () => {
  it.runIf(!haveSeed && onCi)('is present (required on CI)', () => {
    expect.fail(`seed document missing: ${seedFile}`);
  });

  describe.skipIf(!haveSeed)('tables', () => {
    const tables = haveSeed ? seedTables(readFileSync(seedFile, 'utf8')) : [];

    it('holds two tables: 1.0 at 224x224 and 0.75 at 128x128', () => {
      expect(tables.map((t) => [t.alpha, t.height, t.width])).toEqual([
        [1, 224, 224],
        [0.75, 128, 128],
      ]);
      // Header, dashes, 27 body rows, dashes, total.
      for (const t of tables) expect(t.lines).toHaveLength(31);
    });

    for (const [alpha, size] of [
      [1, 224],
      [0.75, 128],
    ] as const) {
      it(`formatSummary matches the seed row by row: alpha=${alpha} ${size}x${size}`, () => {
        const seed = tables.find((t) => t.alpha === alpha && t.height === size)!;
        const ours = formatSummary(buildArchitecture({ depthMultiplier: alpha, inputSize: size })).split('\n');
        for (let k = 0; k < seed.lines.length; k++) expect(ours[k], `line ${k + 1}`).toBe(seed.lines[k]);
        // What follows the seed's total is ours only: the classifier and the total with it.
        expect(ours[seed.lines.length]).toMatch(/^MobilenetV1\/Logits\/Conv2d_1c_1x1\/Conv2D: /);
      });
    }
  });
});

describe('summary numbers, by hand', () => {
  const arch = buildArchitecture();
  const s = summaryRows(arch);
  const byEndpoint = (name: string) => s.rows.find((r) => r.endpoint === name)!;

  it('Conv2d_0 at 224: 3x3x3x32 weights over a 112x112 output', () => {
    const r = byEndpoint('Conv2d_0');
    expect(r.name).toBe('MobilenetV1/Conv2d_0/Conv2D');
    expect(r.params).toBe(3 * 3 * 3 * 32);
    expect(r.params).toBe(864);
    expect(r.macs).toBe(864 * 112 * 112);
    expect(r.output).toEqual([112, 112, 32]);
  });

  it('Conv2d_1_depthwise: 3x3x32 weights, stride 1', () => {
    const r = byEndpoint('Conv2d_1_depthwise');
    expect(r.name).toBe('MobilenetV1/Conv2d_1_depthwise/depthwise');
    expect(r.params).toBe(3 * 3 * 32);
    expect(r.macs).toBe(3 * 3 * 32 * 112 * 112);
  });

  it('Conv2d_13_pointwise: 1024x1024 weights on 7x7', () => {
    const r = byEndpoint('Conv2d_13_pointwise');
    expect(r.params).toBe(1024 * 1024);
    expect(r.macs).toBe(1024 * 1024 * 7 * 7);
    expect(r.output).toEqual([7, 7, 1024]);
  });

  it('27 body rows; logits 1024x1001 without bias; totals with and without it', () => {
    expect(s.rows).toHaveLength(27);
    expect(s.logits).toMatchObject({ name: 'MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D', params: 1024 * 1001, macs: 1024 * 1001 });
    expect(s.body).toEqual({ params: 3_185_088, macs: 567_716_352 });
    expect(s.total).toEqual({ params: 3_185_088 + 1_025_024, macs: 567_716_352 + 1_025_024 });
  });

  it('formatSummary ends with the logits row and the total including it', () => {
    const tail = formatSummary(arch).trimEnd().split('\n').slice(-4);
    expect(tail).toEqual([
      'Total: 3,185,088 567,716,352',
      'MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D: 1,025,024 1,025,024',
      '-'.repeat(80),
      'Total with logits: 4,210,112 568,741,376',
    ]);
  });

  it('without a classifier the text stops at the body total, and JSON total equals body', () => {
    const headless = buildArchitecture({ numClasses: 0 });
    expect(formatSummary(headless).trimEnd().split('\n').at(-1)).toBe('Total: 3,185,088 567,716,352');
    const j = summaryJson(headless);
    expect(j.layers).toHaveLength(27);
    expect(j.total).toEqual(j.body);
  });

  it('summaryJson: NHWC outputs with N=1, logits last', () => {
    const j = summaryJson(arch);
    expect(j.layers).toHaveLength(28);
    expect(j.layers[0]).toEqual({ name: 'MobilenetV1/Conv2d_0/Conv2D', params: 864, macs: 10_838_016, output: [1, 112, 112, 32] });
    expect(j.layers.at(-1)).toEqual({ name: 'MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D', params: 1_025_024, macs: 1_025_024, output: [1, 1, 1, 1001] });
    expect(j.body).toEqual({ params: 3_185_088, macs: 567_716_352 });
    expect(j.total).toEqual({ params: 4_210_112, macs: 568_741_376 });
  });

  it('thousands separators do not depend on the locale', () => {
    expect([0, 7, 999, 1000, 12_345, 1_234_567, 1_000_000].map(thousands)).toEqual([
      '0', '7', '999', '1,000', '12,345', '1,234,567', '1,000,000',
    ]);
  });
});
