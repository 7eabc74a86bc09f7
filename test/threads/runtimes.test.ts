/**
 * The same bits with threads in every runtime: web/threads-hash.js hashes seven end points of
 * alpha 0.5 @ 160 with threads: 1 and threads: 2 (through the async `embed`), in Node, in
 * headless Chromium on a cross-origin isolated page (web/server.mjs sends COOP/COEP; the
 * package bundled by esbuild) on the main thread and in a Web Worker, and in Deno and Bun. Every
 * runtime must report 2 threads and Node's hashes; a synchronous run with threads is refused on
 * the browser's main thread only. On a page that is not cross-origin isolated: one thread, a
 * warning, the same bits. Needs `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threadHashes, type ThreadHashes } from '../../web/threads-hash.js';
import { repoRoot, startServer } from '../../web/server.mjs';
import { CHROMIUM, CHROMIUM_ARGS, requireBuild, requireChromium } from '../browser/chromium.js';

const HAVE_CHROMIUM = requireChromium();
requireBuild(repoRoot);
if (!existsSync(join(repoRoot, 'build', 'kernels-threads.wasm')) || !existsSync(join(repoRoot, 'dist', 'wasm', 'threads', 'pool.js'))) {
  throw new Error('build/kernels-threads.wasm or dist/wasm/threads/ is missing: run `npm run build` before test/threads/runtimes.test.ts');
}

let node: ThreadHashes;
beforeAll(async () => {
  node = await threadHashes();
});

/** Both models' hashes equal each other; the thread counts and the sync-run outcome as expected. */
function expectSame(r: ThreadHashes, threads: number[], syncRun: string): void {
  expect(r.threads).toEqual(threads);
  expect(r.hashes[1]).toEqual(r.hashes[0]);
  expect(r.hashes[0]).toEqual(node.hashes[0]);
  expect(r.syncRun).toBe(syncRun);
}

describe('Node', () => {
  it('threads: 2 runs on 2 threads with the bits of threads: 1, every end point', () => {
    expectSame(node, [1, 2], 'ok');
    expect(Object.keys(node.hashes[0]!)).toHaveLength(7);
    console.log(`threads, Node ${process.version}: Logits ${node.hashes[0]!.Logits}`);
  });
});

describe.skipIf(!HAVE_CHROMIUM)('headless Chromium', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer();
    // The pages' scripts, as an app's bundler would build them (beside web/server.mjs's bundles).
    await build({
      entryPoints: [join(repoRoot, 'web', 'threads-hash.js'), join(repoRoot, 'web', 'threads-worker.js')],
      outdir: join(repoRoot, 'web', 'dist'),
      bundle: true, splitting: true, format: 'esm', platform: 'browser', target: 'es2022', tsconfigRaw: {}, logLevel: 'error',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(isolated: boolean, query = ''): Promise<{ result: { crossOriginIsolated: boolean; main: ThreadHashes; worker: ThreadHashes | null; error?: string }; console: string[]; errors: string[] }> {
    const page: Page = await browser.newPage();
    const messages: string[] = [];
    const errors: string[] = [];
    page.on('console', (m) => messages.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    if (!isolated) {
      // The same files without Cross-Origin-Opener-Policy / -Embedder-Policy: no SharedArrayBuffer.
      await page.route('**/*', async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers() };
        delete headers['cross-origin-opener-policy'];
        delete headers['cross-origin-embedder-policy'];
        await route.fulfill({ response, headers });
      });
    }
    try {
      await page.goto(`${server.url}/web/threads-selftest.html${query}`);
      await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, null, { timeout: 120_000 });
      const result = await page.evaluate(() => (window as unknown as { result: never }).result);
      return { result, console: messages, errors };
    } finally {
      await page.close();
    }
  }

  it('a cross-origin isolated page: threads: 2 on the main thread (async runs) and in a Web Worker, Node\'s bits; a sync run on the main thread is ERR_OPTION', async () => {
    const { result, errors } = await open(true);
    expect(result.error).toBeUndefined();
    expect(errors).toEqual([]);
    expect(result.crossOriginIsolated).toBe(true);
    expectSame(result.main, [1, 2], 'ERR_OPTION');
    expectSame(result.worker!, [1, 2], 'ok');
    console.log(`threads, Chromium ${browser.version()}: Logits ${result.main.hashes[1]!.Logits} (main thread), ${result.worker!.hashes[1]!.Logits} (worker)`);
  });

  it('a page that is not cross-origin isolated: one thread, a warning saying why, the same bits', async () => {
    const { result, console: messages } = await open(false, '?worker=0');
    expect(result.error).toBeUndefined();
    expect(result.crossOriginIsolated).toBe(false);
    expectSame(result.main, [1, 1], 'ok');
    expect(messages.filter((m) => /threads: 2 asked, running on one thread: this page is not cross-origin isolated/.test(m))).toHaveLength(1);
  });
});

/** Deno and Bun: PATH, DENO_BIN / BUN_BIN, node_modules/.bin, or /tmp/mobilenet-runtimes (where .ci/run installs them). */
function findBinary(name: string): string | null {
  const fromEnv = process.env[`${name.toUpperCase()}_BIN`];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const dirs = [join(repoRoot, 'node_modules', '.bin'), '/tmp/mobilenet-runtimes/node_modules/.bin', ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

const SCRIPT = `import(${JSON.stringify(pathToFileURL(join(repoRoot, 'web', 'threads-hash.js')).href)}).then((m) => m.threadHashes()).then((r) => console.log(JSON.stringify(r)))`;
const RUNTIMES: [string, string | null, string[]][] = [
  ['deno', findBinary('deno'), ['eval', SCRIPT]],
  ['bun', findBinary('bun'), ['-e', SCRIPT]],
];

for (const [name, bin, args] of RUNTIMES) {
  if (!bin) {
    const reason = `no ${name} binary on PATH, in node_modules/.bin, /tmp/mobilenet-runtimes or ${name.toUpperCase()}_BIN`;
    if (process.env.CI) throw new Error(`${reason}; CI is set: this is a failure, not a skip`);
    console.warn(`SKIPPED ${name}: ${reason}`);
  }
  describe.skipIf(!bin)(name, () => {
    it('threads: 2 (worker_threads) gives Node\'s bits, every end point', () => {
      const version = execFileSync(bin!, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
      const out = execFileSync(bin!, args, { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      const r = JSON.parse(out.trim().split('\n').at(-1)!) as ThreadHashes;
      console.log(`threads, ${name} ${version}: Logits ${r.hashes[1]!.Logits}`);
      expectSame(r, [1, 2], 'ok');
    });
  });
}
