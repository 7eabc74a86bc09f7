/**
 * The same bits everywhere: the logits of alpha 0.25 at 128x128 (seed 1) hash the same, on the
 * reference path and on the wasm SIMD path, in Node, in headless Chromium and, when they are
 * installed, in Deno and Bun. Every runtime runs the one file web/hash.js against dist/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logitsHashes, type LogitsHashes } from '../../web/hash.js';
import { repoRoot, startServer } from '../../web/server.mjs';
import { CHROMIUM, CHROMIUM_ARGS, requireBuild, requireChromium } from './chromium.js';

const HAVE_CHROMIUM = requireChromium();
requireBuild(repoRoot);

let node: LogitsHashes;
beforeAll(async () => {
  node = await logitsHashes();
});

describe('Node', () => {
  it('reference and wasm logits are the same bits', () => {
    expect(node.simd).toBe(true);
    expect(node.reference).toMatch(/^[0-9a-f]{64}$/);
    expect(node.wasm).toBe(node.reference);
    console.log(`logits SHA-256, Node ${process.version}: reference ${node.reference}, wasm ${node.wasm}`);
  });
});

describe.skipIf(!HAVE_CHROMIUM)('headless Chromium', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  // The kernels from the URL next to the module (default), as bytes, and as a compiled Module.
  for (const kernels of ['url', 'bytes', 'module']) {
    it(`matches Node's hashes on both backends (kernels from ${kernels})`, async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      try {
        await page.goto(`${server.url}/web/selftest.html${kernels === 'url' ? '' : `?kernels=${kernels}`}`);
        await page.waitForFunction(() => (window as unknown as { hashes?: unknown }).hashes !== undefined, null, { timeout: 90_000 });
        const hashes = await page.evaluate(() => (window as unknown as { hashes: LogitsHashes & { error?: string } }).hashes);
        expect(hashes.error).toBeUndefined();
        expect(errors).toEqual([]);
        const version = browser.version();
        console.log(`logits SHA-256, Chromium ${version} (kernels ${kernels}): reference ${hashes.reference}, wasm ${hashes.wasm}`);
        expect(hashes).toEqual(node);
      } finally {
        await page.close();
      }
    });
  }
});

/**
 * Deno and Bun, from PATH, DENO_BIN / BUN_BIN, or node_modules/.bin (the npm packages `deno` and
 * `bun` ship their binaries; .ci/run installs them). Skipped when absent, unless CI is set.
 */
function findBinary(name: string): string | null {
  const fromEnv = process.env[`${name.toUpperCase()}_BIN`];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const dirs = [join(repoRoot, 'node_modules', '.bin'), ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

const SCRIPT = `import(${JSON.stringify(pathToFileURL(join(repoRoot, 'web', 'hash.js')).href)}).then((m) => m.logitsHashes()).then((r) => console.log(JSON.stringify(r)))`;
const RUNTIMES: [string, string | null, (bin: string) => string[]][] = [
  ['deno', findBinary('deno'), () => ['eval', SCRIPT]],
  ['bun', findBinary('bun'), () => ['-e', SCRIPT]],
];

for (const [name, bin, args] of RUNTIMES) {
  if (!bin) {
    const reason = `no ${name} binary on PATH, in node_modules/.bin or in ${name.toUpperCase()}_BIN`;
    if (process.env.CI) throw new Error(`${reason}; CI is set: this is a failure, not a skip`);
    console.warn(`SKIPPED ${name}: ${reason}`);
  }
  describe.skipIf(!bin)(name, () => {
    it(`matches Node's hashes on both backends`, () => {
      const version = execFileSync(bin!, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
      const out = execFileSync(bin!, args(bin!), { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      const hashes = JSON.parse(out.trim().split('\n').at(-1)!) as LogitsHashes;
      console.log(`logits SHA-256, ${name} ${version}: reference ${hashes.reference}, wasm ${hashes.wasm}`);
      expect(hashes).toEqual(node);
    });
  });
}
