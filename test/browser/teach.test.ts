/**
 * The demo page's "Teach it" panel in headless Chromium: the page starts on the model in the
 * package (no file chosen); examples from files (the shared photos), a kNN and a linear head
 * trained in the page, their answer for a photo, the kNN learning a new example at once, a class
 * removed, the head saved (a download that Node loads) and loaded back, a head of another model
 * refused with its code; then the camera, faked by Chromium (--use-fake-device-for-media-stream):
 * frames as examples and live predictions.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startServer } from '../../web/server.mjs';
import { createModel } from '../../src/engine/create.js';
import { load } from '../../src/engine/load.js';
import { loadHead, trainHead } from '../../src/head/index.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { CHROMIUM, CHROMIUM_ARGS, requireBuild, requireChromium } from './chromium.js';

const HAVE = requireChromium() && requireShared('images/cat.png', 'images/chelsea.png', 'images/dog.png', 'images/rocket.jpg', 'images/bird.png', 'images/parrot.jpg');
const FAKE_CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

describe.skipIf(!HAVE)('demo page: Teach it', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof startServer>>;
  let dir: string;
  beforeAll(async () => {
    requireBuild(repoRoot);
    dir = mkdtempSync(join(tmpdir(), 'teach-'));
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...FAKE_CAMERA] });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1400 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/web/`);
    await page.waitForSelector('body[data-state="idle"]');
    return { page, errors };
  }

  /** Runs one panel action and waits until the panel is no longer busy. */
  async function act(page: Page, action: () => Promise<void>): Promise<void> {
    await action();
    await page.waitForSelector('body[data-teach="trained"], body[data-teach="idle"]', { timeout: 90_000 });
    await page.waitForSelector('body[data-state="idle"], body[data-state="done"]');
  }

  async function addFiles(page: Page, label: string, files: string[]): Promise<void> {
    await page.fill('#class-name', label);
    await act(page, () => page.setInputFiles('#teach-files', files.map((f) => sharedPath(`images/${f}`))));
  }

  const results = (page: Page) => page.locator('#teach-result .label').allTextContents();

  it('starts on the model in the package, then teaches from files, saves, loads and refuses a foreign head', async () => {
    const { page, errors } = await open();
    try {
      expect(await page.textContent('#status')).toMatch(/^model ready: MobileNet v1 0\.5 @ 160, uint8 TFLite \(the model in the package\)/);
      // A photo with no model file chosen: the default model classifies it (the same top-1 as in Node).
      const model = await load();
      const expected = (await model.classify(sharedPath('images/chelsea.png')))[0]!.label;
      await page.setInputFiles('#photo', sharedPath('images/chelsea.png'));
      await page.waitForSelector('body[data-state="done"]', { timeout: 90_000 });
      expect(await page.locator('#top5 .label').first().textContent()).toBe(expected);
      expect(await page.isDisabled('#train')).toBe(true);

      await addFiles(page, 'cat', ['cat.png']);
      await addFiles(page, 'dog', ['dog.png']);
      await addFiles(page, 'rocket', ['rocket.jpg']);
      expect(await page.locator('#classes li .label').allTextContents()).toEqual(['cat', 'dog', 'rocket']);
      expect(await page.locator('#classes li .count').allTextContents()).toEqual(['1 example', '1 example', '1 example']);

      // kNN: the photo of Chelsea (never given as an example) is a cat.
      await act(page, () => page.click('#train'));
      expect(await page.textContent('#teach-status')).toMatch(/^trained a kNN head in \d+ ms: 3 classes \(cat, dog, rocket\), 3 examples, k 3/);
      expect((await results(page))[0]).toBe('cat');
      expect(await page.textContent('#teach-where')).toMatch(/^the photo above/);

      // A new example goes into the kNN at once; a class removed leaves it at once.
      await addFiles(page, 'bird', ['bird.png', 'parrot.jpg']);
      expect(await page.textContent('#teach-status')).toMatch(/2 examples of "bird" added \(5 in all\); the kNN head has them already/);
      expect((await results(page)).sort()).toEqual(['bird', 'cat', 'dog', 'rocket']);
      await act(page, () => page.click('#classes li[data-label="rocket"] button'));
      expect(await page.locator('#classes li .label').allTextContents()).toEqual(['cat', 'dog', 'bird']);
      expect((await results(page)).sort()).toEqual(['bird', 'cat', 'dog']);

      // Saved: a download that Node loads against the same default model.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#head-save')]);
      expect(download.suggestedFilename()).toBe('head-knn.safetensors');
      const saved = join(dir, 'head-knn.safetensors');
      await download.saveAs(saved);
      const inNode = await loadHead(new Uint8Array(readFileSync(saved)), model);
      expect(inNode.labels).toEqual(['cat', 'dog', 'bird']);
      expect((await inNode.predict(sharedPath('images/chelsea.png')))[0]!.label).toBe('cat');

      // Linear, with augmentation and an unknown answer.
      await page.selectOption('#teach-method', 'linear');
      await page.check('#teach-augment');
      await page.check('#teach-unknown');
      await act(page, () => page.click('#train'));
      expect(await page.textContent('#teach-status')).toMatch(/^trained a linear head in \d+ ms: 3 classes \(cat, dog, bird\), 20 examples, \d+ L-BFGS iterations, unknown below /);
      expect(await results(page)).toContain('<unknown>');

      // Loaded back from the file.
      await act(page, () => page.setInputFiles('#head-file', saved));
      expect(await page.textContent('#teach-status')).toMatch(/^loaded head-knn\.safetensors: 3 classes \(cat, dog, bird\), 4 examples, k 3/);
      expect((await results(page))[0]).toBe('cat');

      // A head of another base model: refused, with its code and what differs.
      const other = await createModel({ alpha: 0.25, inputSize: 96, seed: 1, backend: 'reference' });
      const foreign = await trainHead(other, [
        { embedding: new Float32Array(256).fill(0.1), label: 'a' },
        { embedding: new Float32Array(256).fill(0.2).map((v, i) => v * (i % 2)), label: 'b' },
      ]);
      writeFileSync(join(dir, 'foreign.safetensors'), foreign.save());
      await act(page, () => page.setInputFiles('#head-file', join(dir, 'foreign.safetensors')));
      expect(await page.textContent('#teach-status')).toMatch(/^ERR_HEAD_MODEL: foreign\.safetensors: saved for another base model \(MobileNet v1 alpha 0\.25 @ 96.*differs in alpha 0\.25 \(this model: 0\.5\)/);
      expect(await page.getAttribute('#teach-status', 'class')).toBe('error');

      // The backend switched: the same base model, so the head stays.
      await page.selectOption('#backend', 'reference');
      await page.waitForSelector('body[data-state="done"]', { timeout: 90_000 });
      expect((await results(page))[0]).toBe('cat');
      expect(errors).toEqual([]);
      model.dispose();
    } finally {
      await page.close();
    }
  });

  it('the camera (faked by Chromium): frames as examples, then live predictions', async () => {
    const { page, errors } = await open();
    try {
      await act(page, () => page.click('#camera-start'));
      expect(await page.textContent('#teach-status')).toMatch(/^camera on/);
      await page.fill('#class-name', 'test pattern');
      for (let i = 0; i < 3; i++) await act(page, () => page.click('#camera-add'));
      expect(await page.locator('#classes li .count').allTextContents()).toEqual(['3 examples']);
      await addFiles(page, 'cat', ['cat.png', 'chelsea.png']);
      await act(page, () => page.click('#train'));
      await page.waitForFunction(() => document.querySelector('#teach-where')?.textContent?.startsWith('live from the camera'), null, { timeout: 30_000 });
      expect(await page.getAttribute('body', 'data-live')).toBe('on');
      expect((await results(page))[0]).toBe('test pattern');
      const ms = Number((await page.textContent('#teach-where'))!.match(/([\d.]+) ms per frame/)![1]);
      console.log(`live head prediction from the fake camera: ${ms} ms per frame (embed + kNN)`);
      await act(page, () => page.click('#camera-start'));
      expect(await page.textContent('#camera-start')).toBe('Start the camera');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
