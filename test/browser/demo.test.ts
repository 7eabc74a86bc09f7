/**
 * The demo page end to end in headless Chromium: the shared float TF.js model (model.json, its
 * shard and the labels) and chelsea.png chosen through the file inputs, on the wasm backend
 * and on the reference path; the top-1 shown is "Egyptian cat"; a screenshot is written.
 */
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startServer } from '../../web/server.mjs';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { CHROMIUM, CHROMIUM_ARGS, requireBuild, requireChromium } from './chromium.js';

const HAVE = requireChromium() && requireShared('models/mobilenet_v1_0.25_224/model.json', 'models/imagenet_labels_1001.txt', 'images/chelsea.png');

describe.skipIf(!HAVE)('demo page (web/index.html)', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof startServer>>;
  const shots = mkdtempSync(join(tmpdir(), 'mobilenet-demo-'));
  beforeAll(async () => {
    requireBuild(repoRoot);
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (!process.env.KEEP_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
  });

  async function open(): Promise<{ page: Page; errors: string[]; requests: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${server.url}/web/`);
    await page.waitForSelector('body[data-state="idle"]');
    return { page, errors, requests };
  }

  async function runDemo(page: Page): Promise<void> {
    const model = sharedPath('models/mobilenet_v1_0.25_224');
    await page.setInputFiles('#model-files', [join(model, 'model.json'), join(model, 'group1-shard1of1.bin'), sharedPath('models/imagenet_labels_1001.txt')]);
    await page.waitForSelector('body[data-state="idle"]');
    await page.setInputFiles('#photo', sharedPath('images/chelsea.png'));
    await page.waitForSelector('body[data-state="done"]', { timeout: 90_000 });
  }

  it('wasm backend: top-1 "Egyptian cat", top-5 bars, per-layer chart, screenshot', async () => {
    const { page, errors, requests } = await open();
    try {
      expect(await page.inputValue('#backend')).toBe('wasm');
      await runDemo(page);
      const labels = await page.locator('#top5 .label').allTextContents();
      expect(labels).toHaveLength(5);
      expect(labels[0]).toBe('Egyptian cat');
      expect(await page.textContent('#backend-in-use')).toBe('backend: wasm (WebAssembly SIMD)');
      expect(await page.locator('#layers .layer').count()).toBe(30); // every layer of the table: 27 convolutions, the pool, Logits, Predictions
      expect(await page.textContent('#layers h2')).toMatch(/^Time per layer: wasm SIMD kernels/);
      const file = join(shots, 'demo-wasm.png');
      await page.screenshot({ path: file, fullPage: true });
      const png = readFileSync(file);
      expect(statSync(file).size).toBeGreaterThan(10_000);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      console.log(`demo screenshot: ${file} (${png.length} bytes)`);
      expect(errors).toEqual([]);
      // Nothing but the local server. (node: specifiers are the optional Node imports failing, as designed; they never reach a network.)
      expect(requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:') && !u.startsWith('node:'))).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('reference backend: the same top-1, timed layer by layer; a bad file is reported with its code', async () => {
    const { page, errors } = await open();
    try {
      await page.selectOption('#backend', 'reference');
      await runDemo(page);
      expect(await page.locator('#top5 .label').first().textContent()).toBe('Egyptian cat');
      expect(await page.textContent('#backend-in-use')).toBe('backend: reference (plain TypeScript)');
      expect(await page.textContent('#layers h2')).toMatch(/^Time per layer: reference path, layer by layer/);
      await page.setInputFiles('#model-files', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from([1, 2, 3]) });
      await page.waitForSelector('#status.error');
      expect(await page.textContent('#status')).toMatch(/^ERR_FILE_TOO_SHORT: safetensors: needs at least 8 bytes/);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
