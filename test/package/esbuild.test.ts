/**
 * esbuild users, from the tarball. Bundled in the packed project (so `mobilenet-wasm` is the
 * installed package, resolved by its exports and `imports` conditions):
 *
 *   inline, ESM     `mobilenet-wasm/inline`, platform browser, format esm, minified;
 *   inline, IIFE    the same as a classic script (format iife, target es2020, global MobilenetApp);
 *   main, ESM       `mobilenet-wasm`, platform browser, format esm, minified;
 *   main + file     the main entry with `import kernels from 'mobilenet-wasm/kernels.wasm'` and
 *                   esbuild's `file` loader for .wasm (the recipe for esbuild users).
 *
 * Each builds without an error or a warning, reaches no `node:` module (nor the Node platform
 * files), and the ESM outputs have no top-level await. Then headless Chromium runs them against
 * a local server (the model's bytes fetched from it) and classifies a photo: the IIFE and the
 * inline ESM bundle give Node's results bit for bit; the main entry's ESM bundle, whose
 * `new URL('../../build/kernels.wasm', import.meta.url)` esbuild does not rewrite, fails with an
 * error naming the URL it tried and saying how to pass the kernels, and works once they are passed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { build, type BuildOptions, type Metafile, type Message } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../browser/chromium.js';
import { PHOTO, PHOTO_TOP1, removeDir, run, scratch, topLevelAwaits } from './helpers.js';
import { packedProject, type PackedProject } from './packed.js';

const HAVE_PHOTO = requireShared(PHOTO);

interface Classified {
  backend: string;
  top: { index: number; label: string | null; probability: number; logit: number }[];
}

const BUNDLES: Record<string, BuildOptions> = {
  'inline-esm': { entryPoints: ['inline-app.js'], platform: 'browser', format: 'esm', minify: true },
  'inline-iife': { entryPoints: ['inline-app.js'], platform: 'browser', format: 'iife', target: 'es2020', globalName: 'MobilenetApp', minify: true },
  'main-esm': { entryPoints: ['main-app.js'], platform: 'browser', format: 'esm', minify: true },
  'main-file': { entryPoints: ['main-app-file-loader.js'], platform: 'browser', format: 'esm', minify: true, loader: { '.wasm': 'file' } },
};

/** What index.html defines. */
interface PageHelpers {
  bytes(url: string): Promise<Uint8Array>;
  importApp(url: string): Promise<unknown>;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.png': 'image/png', '.tflite': 'application/octet-stream' };

describe('esbuild bundles of the tarball', () => {
  let project: PackedProject;
  let dir: string;
  const built: Record<string, { errors: Message[]; warnings: Message[]; metafile?: Metafile }> = {};
  beforeAll(async () => {
    project = await packedProject();
    dir = scratch(project, 'esbuild', 'esbuild');
    for (const [name, options] of Object.entries(BUNDLES)) {
      try {
        const r = await build({ ...options, absWorkingDir: dir, bundle: true, outdir: join(dir, 'out', name), metafile: true, logLevel: 'silent', write: true });
        built[name] = r;
      } catch (e) {
        const failure = e as { errors?: Message[]; warnings?: Message[] };
        built[name] = { errors: failure.errors ?? [{ text: String(e) } as Message], warnings: failure.warnings ?? [] };
      }
    }
  }, 600_000);
  afterAll(() => removeDir(dir));

  for (const name of Object.keys(BUNDLES)) {
    it(`${name}: builds with no error and no warning, and reaches no node: module`, () => {
      const r = built[name]!;
      expect(r.errors.map((m) => m.text)).toEqual([]);
      expect(r.warnings.map((m) => `${m.text} (${m.location?.file}:${m.location?.line})`)).toEqual([]);
      const inputs = Object.keys(r.metafile!.inputs);
      expect(inputs.filter((i) => i.startsWith('node:') || /mobilenet-wasm\/dist\/platform\/(node|spawn-node|workerd)\.js$/.test(i))).toEqual([]);
      expect(inputs.some((i) => i.endsWith('mobilenet-wasm/dist/platform/web.js'))).toBe(true);
      for (const [output, meta] of Object.entries(r.metafile!.outputs)) {
        expect(meta.imports.filter((i) => i.external).map((i) => i.path), output).toEqual([]);
        if (output.endsWith('.js')) expect(topLevelAwaits(readFileSync(join(dir, output), 'utf8')), output).toEqual([]);
      }
    });
  }

  it('main-file: the kernels are copied beside the bundle, byte for byte', () => {
    const wasm = Object.keys(built['main-file']!.metafile!.outputs).filter((o) => o.endsWith('.wasm'));
    expect(wasm).toHaveLength(1);
    expect(readFileSync(join(dir, wasm[0]!)).equals(readFileSync(join(project.installed, 'build', 'kernels.wasm')))).toBe(true);
  });

  const HAVE_CHROMIUM = requireChromium();
  describe.skipIf(!HAVE_CHROMIUM || !HAVE_PHOTO)('in headless Chromium', () => {
    let browser: Browser;
    let server: Server;
    let base: string;
    let node: Classified;
    let page: Page;
    const pageErrors: string[] = [];
    beforeAll(async () => {
      const r = run(process.execPath, ['node-bits.mjs', sharedPath(PHOTO)], dir);
      expect(r.status, r.stderr).toBe(0);
      node = JSON.parse(r.stdout) as Classified;
      expect(node.top[0]!.label).toBe(PHOTO_TOP1);

      // The page's own helpers, as a script the test runner does not transform (its import() stays the browser's).
      writeFileSync(
        join(dir, 'out', 'index.html'),
        '<!doctype html><meta charset="utf-8"><title>esbuild bundles</title><script>' +
          'window.bytes = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());' +
          'window.importApp = (u) => import(u);</script>',
      );
      // /app/… is dir/out/… (the bundles); the model, the photo and a copy of the kernels at the root; nothing else.
      const fixed: Record<string, string> = {
        '/model.tflite': join(project.installed, 'assets', 'mobilenet_v1_0.5_160_quant.tflite'),
        '/photo.png': sharedPath(PHOTO),
        '/kernels.wasm': join(project.installed, 'build', 'kernels.wasm'),
      };
      const outRoot = join(dir, 'out');
      server = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        let file = fixed[path];
        if (!file && path.startsWith('/app/')) {
          const candidate = normalize(join(outRoot, decodeURIComponent(path.slice(5))));
          if (candidate.startsWith(outRoot + sep)) file = candidate;
        }
        try {
          const body = readFileSync(file ?? '');
          res.writeHead(200, { 'content-type': TYPES[extname(file!)] ?? 'application/octet-stream' }).end(body);
        } catch {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    });

    const openPage = async () => {
      page = await browser.newPage();
      pageErrors.length = 0;
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${base}/app/index.html`);
      return page;
    };

    it('the IIFE bundle (inline kernels) loads the model from the server and classifies the photo with Node\'s bits', async () => {
      const p = await openPage();
      try {
        await p.addScriptTag({ url: `${base}/app/inline-iife/inline-app.js` });
        const result = await p.evaluate(async () => {
          const { bytes, importApp } = window as unknown as PageHelpers;
          const app = (globalThis as unknown as { MobilenetApp: { classify(m: Uint8Array, i: Uint8Array): Promise<unknown> } }).MobilenetApp;
          return app.classify(await bytes('/model.tflite'), await bytes('/photo.png'));
        });
        expect(pageErrors).toEqual([]);
        expect(result).toEqual(node);
      } finally {
        await p.close();
      }
    });

    it('the inline ESM bundle: the same', async () => {
      const p = await openPage();
      try {
        const result = await p.evaluate(async (url) => {
          const { bytes, importApp } = window as unknown as PageHelpers;
          const app = (await importApp(url)) as { classify(m: Uint8Array, i: Uint8Array): Promise<unknown> };
          return app.classify(await bytes('/model.tflite'), await bytes('/photo.png'));
        }, `${base}/app/inline-esm/inline-app.js`);
        expect(pageErrors).toEqual([]);
        expect(result).toEqual(node);
      } finally {
        await p.close();
      }
    });

    it('the main entry\'s ESM bundle: kernels not found names the URL and says how to pass them; passing them works', async () => {
      const p = await openPage();
      try {
        const url = `${base}/app/main-esm/main-app.js`;
        const [failure, passed] = await p.evaluate(async (url) => {
          const { bytes, importApp } = window as unknown as PageHelpers;
          const app = (await importApp(url)) as { classify(m: unknown, i: Uint8Array, o?: unknown): Promise<unknown> };
          const photo = await bytes('/photo.png');
          const failure = await app.classify('/model.tflite', photo).then(
            () => null,
            (e: { code?: string; message?: string }) => ({ code: e.code, message: e.message }),
          );
          const passed = await app.classify('/model.tflite', photo, { wasm: { source: '/kernels.wasm' } });
          return [failure, passed] as const;
        }, url);
        // esbuild kept the package's relative URL: from /app/main-esm/main-app.js, ../../build/kernels.wasm.
        const tried = new URL('../../build/kernels.wasm', url).href;
        console.log(`main entry bundled by esbuild, kernels not passed: ${failure?.code}: ${failure?.message}`);
        expect(failure?.code).toBe('ERR_IO');
        expect(failure?.message).toContain(tried);
        expect(failure?.message).toContain('{ wasm: { source } }');
        expect(failure?.message).toContain('mobilenet-wasm/inline');
        expect(passed).toEqual(node);
      } finally {
        await p.close();
      }
    });

    it('the main entry with `import kernels from \'mobilenet-wasm/kernels.wasm\'` (file loader): Node\'s bits', async () => {
      const p = await openPage();
      try {
        const result = await p.evaluate(async (url) => {
          const { bytes, importApp } = window as unknown as PageHelpers;
          const app = (await importApp(url)) as { classify(m: unknown, i: Uint8Array): Promise<unknown> };
          return app.classify('/model.tflite', await bytes('/photo.png'));
        }, `${base}/app/main-file/main-app-file-loader.js`);
        expect(pageErrors).toEqual([]);
        expect(result).toEqual(node);
      } finally {
        await p.close();
      }
    });
  });
});
