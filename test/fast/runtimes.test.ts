/**
 * The fast tier where relaxed SIMD runs: test/fast/same-bits.test.ts in a child vitest on Node 20
 * with --experimental-wasm-relaxed-simd (passed to vitest's workers with --execArgv), and on
 * Node 22 and 24 (relaxed SIMD on by default). The main run (plain Node 20) has none: there
 * test/fast/options.test.ts checks the fallback to exact.
 *
 * Node 22 and 24: /tmp/mobilenet-node-versions (as test/runtimes/node-versions.test.ts finds
 * them), or NODE22_BIN / NODE24_BIN; missing, a failure under CI and a skip elsewhere.
 *
 * Deno and Bun (/tmp/mobilenet-runtimes, DENO_BIN / BUN_BIN, or PATH) run the built package
 * (dist/, after `npm run build`) on a small model: precision fast, and fused (the probe) gives the
 * reference twin's bits, unfused exact's bits. Measured here: Deno 2 fused; Bun 1 (JavaScriptCore)
 * validates relaxed SIMD but its relaxed_madd is unfused, so fast is exact's bits there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared.js';

const FILES = ['test/fast/same-bits.test.ts', 'test/fast/kernels.test.ts', 'test/fast/options.test.ts'];
const nested = process.env.MOBILENET_NESTED_RUN === '1';

function nodeBinary(major: number): string | null {
  const fromEnv = process.env[`NODE${major}_BIN`];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const installed = `/tmp/mobilenet-node-versions/node_modules/node${major}/bin/node`;
  return existsSync(installed) ? installed : null;
}

const RUNS: { name: string; bin: string | null; flags: string[] }[] = [
  { name: 'Node 20 with --experimental-wasm-relaxed-simd', bin: process.version.startsWith('v20.') ? process.execPath : null, flags: ['--execArgv=--experimental-wasm-relaxed-simd'] },
  { name: 'Node 22', bin: nodeBinary(22), flags: [] },
  { name: 'Node 24', bin: nodeBinary(24), flags: [] },
];

for (const run of RUNS) {
  const bin = nested ? null : run.bin;
  if (!bin && !nested && run.name !== RUNS[0]!.name) {
    const reason = `no ${run.name} binary (see test/runtimes/node-versions.test.ts)`;
    if (process.env.CI) throw new Error(`${reason}; CI is set: this is a failure, not a skip`);
    console.warn(`SKIPPED the fast tier on ${run.name}: ${reason}`);
  }
  describe.skipIf(!bin)(run.name, () => {
    it('runs the fast tier: the fused twin bit for bit, the real model within 1e-5', () => {
      const child = spawnSync(bin!, [join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...run.flags, ...FILES], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 600_000,
        env: { ...process.env, MOBILENET_NESTED_RUN: '1', NO_COLOR: '1', FORCE_COLOR: '0' },
      });
      const out = `${child.stdout}\n${child.stderr}`;
      const summary = out.split('\n').filter((l) => /^\s*(Test Files|Tests)\s/.test(l)).join('; ').replace(/\s+/g, ' ');
      const said = out.split('\n').filter((l) => /^fast tier/.test(l.trim()));
      console.log(`${run.name}: ${summary || '(no summary)'}\n${said.join('\n')}`);
      if (child.status !== 0) console.log(out.split('\n').filter((l) => /FAIL|×|Error|differ/.test(l)).slice(0, 40).join('\n'));
      expect(child.status, `${run.name}: the fast tier's tests`).toBe(0);
      // The fast tier ran there: it was not all skipped.
      expect(out).toMatch(/fast tier, Node v\d+[.\d]*: relaxed_madd (fused|unfused)/);
    }, 660_000);
  });
}

const SCRIPT = `
const { createModel, Tensor } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'index.js')).href)});
const options = { alpha: 0.25, inputSize: 64, seed: 3 };
const [exact, fast, twin] = [await createModel(options), await createModel({ ...options, precision: 'fast' }), await createModel({ ...options, precision: 'fast', backend: 'reference' })];
const x = new Tensor(new Float32Array(64 * 64 * 3).map((_, i) => Math.sin(i)), [1, 64, 64, 3]);
const out = (m) => m.run(x, { outputs: ['Logits'] }).Logits.data;
const same = (a, b) => a.every((v, i) => Object.is(v, b[i]));
console.log(JSON.stringify({ precision: fast.precision, fused: fast.fusedMultiplyAdd, sameAsTwin: same(out(fast), out(twin)), sameAsExact: same(out(fast), out(exact)) }));
`;

function binary(name: string): string | null {
  const fromEnv = process.env[`${name.toUpperCase()}_BIN`];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  for (const dir of ['/tmp/mobilenet-runtimes/node_modules/.bin', ...(process.env.PATH ?? '').split(delimiter)]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

const HAVE_DIST = existsSync(join(repoRoot, 'dist', 'index.js'));
for (const [name, args] of [['deno', ['run', '-A', '--node-modules-dir=manual']], ['bun', []]] as const) {
  const bin = nested ? null : binary(name);
  if (!bin && !nested) console.warn(`SKIPPED the fast tier on ${name}: no binary (${name.toUpperCase()}_BIN, /tmp/mobilenet-runtimes or PATH)`);
  describe.skipIf(!bin || !HAVE_DIST)(name, () => {
    it('precision fast: fused gives the twin\'s bits, unfused exact\'s', () => {
      const dir = mkdtempSync(join(tmpdir(), 'mobilenet-fast-'));
      const script = join(dir, 'fast.mjs');
      writeFileSync(script, SCRIPT);
      const child = spawnSync(bin!, [...args, script], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
      const line = child.stdout.trim().split('\n').at(-1) ?? '';
      expect(child.status, `${name}: ${child.stderr}`).toBe(0);
      const r = JSON.parse(line) as { precision: string; fused: boolean; sameAsTwin: boolean; sameAsExact: boolean };
      const version = spawnSync(bin!, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]!.trim();
      console.log(`fast tier, ${name} ${version.replace(/^deno /, '')}: precision ${r.precision}, relaxed_madd ${r.fused ? 'fused' : 'unfused'}`);
      expect(r.precision).toBe('fast');
      expect(r.fused ? r.sameAsTwin : r.sameAsExact).toBe(true);
    }, 180_000);
  });
}
