/**
 * Heads train to the same bits everywhere: the same embeddings (crops of the shared photos,
 * embedded once in Node by the default model) make a kNN and a linear head, each with an unknown
 * threshold, and three PNG photos make a linear head with seeded augmentation (decoded and embedded
 * in each runtime); the SHA-256 of every saved file, and a prediction, must agree between Node,
 * headless Chromium and, when installed, Deno and Bun. Each runtime runs the one function below
 * (HEAD_HASHES) against the package: src/ in Node, dist/ bundled by esbuild in Chromium, dist/ in
 * Deno and Bun. Chromium loads the default model from the package's assets, as an app would.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startServer } from '../../web/server.mjs';
import { load } from '../../src/engine/load.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { PHOTOS, embedCrops } from '../head/dataset.js';
import { CHROMIUM, CHROMIUM_ARGS, requireBuild, requireChromium } from './chromium.js';

const HAVE = requireChromium() && requireShared(...PHOTOS.map(([, f]) => `images/${f}`));

/** Runs in every runtime: `lib` is the package's exports, `data` the embeddings and the photos. */
const HEAD_HASHES = `
async function sha256(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
const fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export async function headHashes(lib, data) {
  const model = await lib.load();
  const examples = data.examples.map((e) => ({ embedding: new Float32Array(fromBase64(e.embedding).buffer), label: e.label, group: e.group }));
  const query = examples[examples.length - 1].embedding;
  const out = {};
  for (const method of ['knn', 'linear']) {
    const head = await lib.trainHead(model, examples, { method, unknown: true, seed: 4 });
    const bytes = head.save();
    out[method] = await sha256(bytes);
    out[method + 'Top'] = head.predictEmbedding(query)[0];
    const again = await lib.loadHead(bytes, model);
    out[method + 'Reloaded'] = await sha256(again.save());
  }
  const images = data.images.map((i) => ({ image: fromBase64(i.bytes), label: i.label }));
  const augmented = await lib.trainHead(model, images, { method: 'linear', augment: { copies: 2 }, seed: 3 });
  out.augmented = await sha256(augmented.save());
  out.augmentedExamples = augmented.training.examples;
  model.dispose();
  return out;
}
`;

interface Hashes {
  knn: string;
  linear: string;
  knnReloaded: string;
  linearReloaded: string;
  knnTop: { label: string; probability: number; score: number };
  linearTop: { label: string; probability: number; score: number };
  augmented: string;
  augmentedExamples: number;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

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

describe.skipIf(!HAVE)('a head trained in Node, Chromium, Deno and Bun: the same bytes', () => {
  let dir: string;
  let dataFile: string;
  let node: Hashes;
  let browser: Browser;
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    requireBuild(repoRoot);
    dir = mkdtempSync(join(tmpdir(), 'head-bits-'));
    writeFileSync(join(dir, 'head-hashes.mjs'), HEAD_HASHES);
    const model = await load();
    const crops = await embedCrops(model, 4, { seed: 12 });
    model.dispose();
    const data = {
      examples: crops.flatMap((c) => c.embeddings.map((e) => ({ embedding: b64(new Uint8Array(e.buffer, e.byteOffset, e.byteLength)), label: c.label, group: c.photo }))),
      images: (['cat.png', 'dog.png', 'coffee.png'] as const).map((f) => ({ bytes: b64(new Uint8Array(readFileSync(sharedPath(`images/${f}`)))), label: f.replace('.png', '') })),
    };
    dataFile = join(dir, 'data.json');
    writeFileSync(dataFile, JSON.stringify(data));
    const { headHashes } = (await import(pathToFileURL(join(dir, 'head-hashes.mjs')).href)) as { headHashes: (lib: unknown, data: unknown) => Promise<Hashes> };
    node = await headHashes(await import('../../src/index.js'), data);
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Node: the heads reload to the same bytes; the augmented head has 3 x 3 examples', () => {
    expect(node.knn).toMatch(/^[0-9a-f]{64}$/);
    expect(node.knnReloaded).toBe(node.knn);
    expect(node.linearReloaded).toBe(node.linear);
    expect(node.augmentedExamples).toBe(9);
    console.log(`head SHA-256, Node ${process.version}: knn ${node.knn}, linear ${node.linear}, augmented ${node.augmented}`);
  });

  it('headless Chromium: the same SHA-256 for all three heads, the same predictions', async () => {
    // The package's dist/ bundled for the browser as an app's bundler would, served beside the demo's bundles.
    const bundle = await build({
      stdin: { contents: `import * as lib from '../dist/index.js';\nimport { headHashes } from ${JSON.stringify(join(dir, 'head-hashes.mjs'))};\nwindow.run = (data) => headHashes(lib, data);\n`, resolveDir: join(repoRoot, 'web'), loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      tsconfigRaw: {},
      logLevel: 'error',
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.route(`${server.url}/web/dist/head-bits.js`, (route) => route.fulfill({ contentType: 'text/javascript', body: bundle.outputFiles[0]!.text }));
      await page.route(`${server.url}/web/dist/head-bits.html`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><script type="module" src="./head-bits.js"></script>' }));
      await page.goto(`${server.url}/web/dist/head-bits.html`);
      await page.waitForFunction(() => typeof (window as unknown as { run?: unknown }).run === 'function');
      const data = JSON.parse(readFileSync(dataFile, 'utf8'));
      const hashes = await page.evaluate((d) => (window as unknown as { run: (d: unknown) => Promise<Hashes> }).run(d), data);
      console.log(`head SHA-256, Chromium ${browser.version()}: knn ${hashes.knn}, linear ${hashes.linear}, augmented ${hashes.augmented}`);
      expect(errors).toEqual([]);
      expect(hashes).toEqual(node);
    } finally {
      await page.close();
    }
  });

  for (const name of ['deno', 'bun']) {
    const bin = findBinary(name);
    it.skipIf(!bin)(`${name}: the same SHA-256 (dist/ by file URL)`, () => {
      // As test/browser/same-bits.test.ts runs them: code evaluated in the repository (its package.json and node_modules).
      const script =
        `Promise.all([import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'index.js')).href)}), import(${JSON.stringify(pathToFileURL(join(dir, 'head-hashes.mjs')).href)}), import('node:fs')])` +
        `.then(([lib, { headHashes }, fs]) => headHashes(lib, JSON.parse(fs.readFileSync(${JSON.stringify(dataFile)}, 'utf8'))))` +
        `.then((r) => console.log(JSON.stringify(r)))`;
      const args = name === 'deno' ? ['eval', script] : ['-e', script];
      const out = execFileSync(bin!, args, { cwd: repoRoot, encoding: 'utf8', timeout: 240_000, env: { ...process.env, NO_COLOR: '1' } });
      const hashes = JSON.parse(out.trim().split('\n').at(-1)!) as Hashes;
      console.log(`head SHA-256, ${name}: knn ${hashes.knn}, linear ${hashes.linear}, augmented ${hashes.augmented}`);
      expect(hashes).toEqual(node);
    });
  }
});
