/**
 * `mobilenet bench`: the shape of its JSON and its refusals. Never a time: the numbers depend
 * on the machine, so only their presence and sign are checked.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerBench } from '../../src/cli/bench.js';
import { reportError, type Io } from '../../src/cli/main.js';

/** The program as main.ts builds it, with only `bench` registered (the lead wires it into main.ts). */
async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) };
  const program = new Command('mobilenet').exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });
  registerBench(program, io);
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    code = reportError(err, io);
  }
  return { code, stdout, stderr };
}

const KEYS = ['alpha', 'resolution', 'batch', 'backend', 'medianMs', 'p90Ms', 'gflops', 'coldStartMs', 'memoryBytes'];
const FAST = ['--iterations', '2', '--time', '0', '--warmup', '0'];

describe('mobilenet bench', () => {
  it('--json on alpha 0.25 @ 32, wasm: one object with every key', async () => {
    const r = await cli('bench', '--alpha', '0.25', '--resolution', '32', '--backend', 'wasm', ...FAST, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(KEYS);
    expect(j).toMatchObject({ alpha: 0.25, resolution: 32, batch: 1, backend: 'wasm' });
    for (const k of ['medianMs', 'p90Ms', 'gflops', 'coldStartMs', 'memoryBytes']) {
      expect(typeof j[k]).toBe('number');
      expect(j[k] as number).toBeGreaterThan(0);
    }
    expect(j['p90Ms'] as number).toBeGreaterThanOrEqual(j['medianMs'] as number);
    expect((j['memoryBytes'] as number) % 65536).toBe(0);
  });

  it('--json with the reference backend and a batch: memoryBytes is null', async () => {
    const r = await cli('bench', '--alpha', '0.25', '--resolution', '32', '--backend', 'reference', '--batch', '2', ...FAST, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(KEYS);
    expect(j).toMatchObject({ backend: 'reference', batch: 2, memoryBytes: null });
    expect(j['medianMs'] as number).toBeGreaterThan(0);
  });

  it('without --json: one human line', async () => {
    const r = await cli('bench', '--alpha', '0.25', '--resolution', '32', ...FAST);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^alpha 0\.25 @ 32x32, batch 1, (wasm|reference): median [\d.]+ ms, p90 [\d.]+ ms, [\d.]+ GFLOP\/s; cold start [\d.]+ ms.*\n$/);
  });

  const bad: [string[], RegExp][] = [
    [['--alpha', '0'], /--alpha.*"0"/],
    [['--alpha', 'x'], /--alpha/],
    [['--resolution', '0'], /--resolution/],
    [['--backend', 'gpu'], /--backend.*"gpu"/],
    [['--batch', '0'], /--batch/],
    [['--batch', '1.5'], /--batch/],
    [['--iterations', '0'], /--iterations/],
    [['--bogus'], /--bogus/],
  ];
  for (const [args, mentions] of bad) {
    it(`refuses ${args.join(' ')}: exit 2, one ERR_OPTION line`, async () => {
      const r = await cli('bench', ...args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^mobilenet: ERR_OPTION: [^\n]+\n$/);
      expect(r.stderr).toMatch(mentions);
    });
  }
});
