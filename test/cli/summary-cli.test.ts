import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';

/** Runs the CLI in-process and collects what it writes. */
async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'mobilenet-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Json {
  layers: { name: string; params: number; macs: number; output: number[] }[];
  body: { params: number; macs: number };
  total: { params: number; macs: number };
}

describe('mobilenet summary', () => {
  it('prints the seed-format table with the classifier and both totals', async () => {
    const r = await cli('summary');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual(['Layer params macs', '-'.repeat(80), 'MobilenetV1/Conv2d_0/Conv2D: 864 10,838,016']);
    expect(lines).toContain('Total: 3,185,088 567,716,352');
    expect(lines).toContain('MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D: 1,025,024 1,025,024');
    expect(lines.at(-1)).toBe('Total with logits: 4,210,112 568,741,376');
  });

  it('--json: layers with NHWC outputs, body and total', async () => {
    const r = await cli('summary', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Json;
    expect(Object.keys(j)).toEqual(['layers', 'body', 'total']);
    expect(j.layers).toHaveLength(28);
    expect(j.layers[0]).toEqual({ name: 'MobilenetV1/Conv2d_0/Conv2D', params: 864, macs: 864 * 112 * 112, output: [1, 112, 112, 32] });
    expect(j.layers[27]).toEqual({ name: 'MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D', params: 1024 * 1001, macs: 1024 * 1001, output: [1, 1, 1, 1001] });
    expect(j.body).toEqual({ params: 3_185_088, macs: 567_716_352 });
    expect(j.total).toEqual({ params: 3_185_088 + 1024 * 1001, macs: 567_716_352 + 1024 * 1001 });
  });

  it('--alpha 0.75 --resolution 128 gives the seed second total', async () => {
    const r = await cli('summary', '--alpha', '0.75', '--resolution', '128');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\nTotal: 1,800,144 106,002,432\n');
  });

  it('--resolution HxW: 160x224', async () => {
    const j = JSON.parse((await cli('summary', '--resolution', '160x224', '--json')).stdout) as Json;
    expect(j.layers[0]!.output).toEqual([1, 80, 112, 32]);
  });

  it('--conv-defs shallow: five 14x14x512 blocks fewer', async () => {
    const j = JSON.parse((await cli('summary', '--conv-defs', 'shallow', '--json')).stdout) as Json;
    expect(j.layers).toHaveLength(28 - 10);
    // Each removed block: 3*3*512 + 512*512 weights, times 14*14 for Mult-Adds.
    const block = 9 * 512 + 512 * 512;
    expect(j.body).toEqual({ params: 3_185_088 - 5 * block, macs: 567_716_352 - 5 * block * 196 });
  });

  it('--conv-defs FILE.json: a custom body', async () => {
    const file = join(tmp, 'defs.json');
    writeFileSync(file, JSON.stringify([
      { type: 'Conv', kernel: [3, 3], stride: 2, depth: 16 },
      { type: 'DepthSepConv', kernel: 3, stride: 2, depth: 32 },
    ]));
    const r = await cli('summary', '--conv-defs', file, '--resolution', '32', '--classes', '10', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Json;
    expect(j.layers.map((l) => [l.name, l.params, l.macs, l.output])).toEqual([
      ['MobilenetV1/Conv2d_0/Conv2D', 3 * 3 * 3 * 16, 432 * 16 * 16, [1, 16, 16, 16]],
      ['MobilenetV1/Conv2d_1_depthwise/depthwise', 3 * 3 * 16, 144 * 8 * 8, [1, 8, 8, 16]],
      ['MobilenetV1/Conv2d_1_pointwise/Conv2D', 16 * 32, 512 * 8 * 8, [1, 8, 8, 32]],
      ['MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D', 32 * 10, 320, [1, 1, 1, 10]],
    ]);
  });

  it('--flavour torch: 1000 classes by default, same body', async () => {
    const j = JSON.parse((await cli('summary', '--flavour', 'torch', '--json')).stdout) as Json;
    expect(j.layers.at(-1)).toMatchObject({ params: 1024 * 1000, output: [1, 1, 1, 1000] });
    expect(j.body).toEqual({ params: 3_185_088, macs: 567_716_352 });
  });

  it('--classes 0: no classifier row', async () => {
    const r = await cli('summary', '--classes', '0');
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('Total: 3,185,088 567,716,352');
  });

  const bad: [string[], RegExp][] = [
    [['--alpha', '0'], /--alpha/],
    [['--alpha', 'abc'], /--alpha.*"abc"/],
    [['--alpha', '-1'], /--alpha/],
    [['--resolution', '0'], /--resolution/],
    [['--resolution', '224x'], /--resolution/],
    [['--conv-defs', 'nope'], /--conv-defs.*"nope"/],
    [['--classes', '1.5'], /--classes/],
    [['--flavour', 'caffe'], /--flavour/],
    [['--bogus'], /--bogus/],
  ];
  for (const [args, mentions] of bad) {
    it(`refuses ${args.join(' ')}: exit 2, one ERR_OPTION line`, async () => {
      const r = await cli('summary', ...args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^mobilenet: ERR_OPTION: [^\n]+\n$/);
      expect(r.stderr).toMatch(mentions);
    });
  }

  it('refuses a conv defs file with a bad entry or bad JSON: exit 2, one line', async () => {
    const badEntry = join(tmp, 'bad-entry.json');
    writeFileSync(badEntry, JSON.stringify([{ type: 'Pool', kernel: 3, stride: 1, depth: 8 }]));
    const badJson = join(tmp, 'bad.json');
    writeFileSync(badJson, '[{');
    for (const file of [badEntry, badJson]) {
      const r = await cli('summary', '--conv-defs', file);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^mobilenet: ERR_OPTION: [^\n]+\n$/);
    }
  });

  it('a missing conv defs file is an ERR_IO line, exit 2', async () => {
    const r = await cli('summary', '--conv-defs', join(tmp, 'missing.json'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mobilenet: ERR_IO: [^\n]+\n$/);
  });

  it('--help exits 0', async () => {
    const r = await cli('summary', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--conv-defs/);
  });
});

describe('mobilenet tables', () => {
  it('prints Tables 2-7 with the printed 1.19% and our 1.91%', async () => {
    const r = await cli('tables');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('## Table 7:');
    expect(r.stdout).toMatch(/1\.91% \| 1\.19%/);
  });

  it('--json: six tables', async () => {
    const r = await cli('tables', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { number: number }[]).map((t) => t.number)).toEqual([2, 3, 4, 5, 6, 7]);
  });
});
