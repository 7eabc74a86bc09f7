/**
 * The packed package in a user's browser app, bundled by Vite 8 and by webpack 5 with no
 * configuration about wasm or about the package: `import { load } from 'mobilenet-wasm'`, then
 * `load()` with no argument must find the kernels and the default model among the files the
 * bundler emitted, served from the app's own origin, in headless Chromium.
 *
 * The app (test/package/fixtures/vite-app/) is copied into a fresh folder inside the packed
 * project (so `mobilenet-wasm` resolves from its node_modules, by name), with the shared photos
 * in public/images/. Node runs the same packed package (fixtures/node-reference.mjs, a child
 * process in the packed project) for the reference logits.
 *
 * Checked: PNG bytes decoded by Chromium give Node's bits exactly; JPEG with `decoder: 'js'`
 * gives Node's bits exactly (the browser's own JPEG decoder is measured against jpeg-js and
 * reported); every element source of a PNG gives the bytes' bits; a module Web Worker gives the
 * in-thread bits; nothing 404s, no console errors, no `node:` module in the bundle; the decoders
 * and the ImageNet labels are lazily loaded chunks. Printed: cold start, classify latency, the
 * main chunk's gzip size.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium } from '../browser/chromium.js';
import { repoRoot, requireShared, sharedPath } from '../helpers/shared.js';
import { packedProject, type PackedProject } from './packed.js';

const run = promisify(execFile);
const FIXTURES = join(repoRoot, 'test', 'package', 'fixtures');
const PNGS = ['cat.png', 'bird.png', 'dog.png', 'chelsea.png', 'coffee.png', 'grace_hopper.png'];
const JPEGS = ['parrot.jpg', 'rocket.jpg'];
/** The PNG the worker and latency checks use (no colour chunks: what <img> shows is what the file stores). */
const ELEMENT_PNG = 'cat.png';
/** The kernel builds the package publishes (kernels.wasm, kernels-threads.wasm, ...), by file name. */
const KERNEL_BUILDS = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).files as string[])
  .filter((f) => f.endsWith('.wasm'))
  .map((f) => f.split('/').pop()!)
  .sort();
/** PNGs made into every kind of element source: one without colour chunks, one with an sRGB ICC profile (iCCP). */
const ELEMENT_PNGS = ['cat.png', 'chelsea.png'];

const HAVE_SHARED = requireShared(...[...PNGS, ...JPEGS].map((name) => `images/${name}`));
const HAVE_CHROMIUM = requireChromium();

// ---------------------------------------------------------------------------------------------
// Helpers: a static server, the page's network log, logits from base64.

interface Site {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

/** A static server for one folder on 127.0.0.1 (a random port), as an app would be deployed. */
async function serveDir(root: string): Promise<Site> {
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(root, normalize(path).replace(/^[/\\]+/, ''));
    const info = file.startsWith(root + sep) && existsSync(file) ? statSync(file) : null;
    if (!info?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end(`not found: ${path}\n`);
    }
    // Cacheable, as a static host serves them (each test opens a fresh browser context, so every load is cold).
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': info.size });
    res.end(readFileSync(file));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(() => ok())) };
}

interface Traffic {
  responses: { url: string; status: number; type: string }[];
  failed: { url: string; error: string; status: number | null }[];
  consoleErrors: string[];
  pageErrors: string[];
}

function watch(context: BrowserContext, page: Page): Traffic {
  const t: Traffic = { responses: [], failed: [], consoleErrors: [], pageErrors: [] };
  context.on('response', (r) => t.responses.push({ url: r.url(), status: r.status(), type: r.request().resourceType() }));
  context.on('requestfailed', (r) => {
    void r.response().then((res) => t.failed.push({ url: r.url(), error: r.failure()?.errorText ?? '?', status: res?.status() ?? null }), () => t.failed.push({ url: r.url(), error: r.failure()?.errorText ?? '?', status: null }));
  });
  page.on('console', (m) => {
    if (m.type() === 'error') t.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => t.pageErrors.push(e.message));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && t.consoleErrors.push(`worker: ${m.text()}`)));
  return t;
}

/**
 * Requests that failed, less one benign case: with `Cache-Control: no-store`, Chromium reports
 * `net::ERR_ABORTED` for a fetch whose whole body JavaScript has already read (a 200, every byte
 * delivered, the model loaded) when the renderer is busy right after the last read. Seen with a
 * plain fetch + getReader() loop followed by synchronous work, not with the package's code only;
 * it is not a failed download. This server sends cacheable files, so it should not happen here.
 */
function realFailures(t: Traffic): string[] {
  return t.failed.filter((f) => !(f.error === 'net::ERR_ABORTED' && f.status === 200)).map((f) => `${f.url}: ${f.error} (status ${f.status})`);
}

/** The page's `load()` resolved: milliseconds from navigation start (or the load error). */
async function openApp(page: Page, url: string): Promise<number> {
  await page.goto(url);
  await page.waitForFunction(() => (window as any).coldStartMs !== undefined || (window as any).loadError !== undefined, null, { timeout: 90_000 });
  const { coldStartMs, loadError } = await page.evaluate(() => ({ coldStartMs: (window as any).coldStartMs as number, loadError: (window as any).loadError as string }));
  expect(loadError).toBeUndefined();
  return coldStartMs;
}

/** Calls one export of the app's checks.js chunk in the page. */
function check<T>(page: Page, fn: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(async ([fn, args]) => ((await (window as any).app.checks()) as any)[fn as string](...(args as unknown[])), [fn, args] as const);
}

interface Logits {
  logits: string;
  top1: number;
  label: string | null;
  error?: string;
}

const f32 = (b64: string) => new Float32Array(Uint8Array.from(Buffer.from(b64, 'base64')).buffer);
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

interface NodeReference {
  node: string;
  backend: string;
  images: Record<string, Logits & { width?: number; height?: number; rgb?: string }>;
}

/** Node running the packed package by name: fixtures/node-reference.mjs in the packed project. */
async function nodeReference(project: PackedProject): Promise<NodeReference> {
  const script = join(project.dir, 'node-reference.mjs');
  cpSync(join(FIXTURES, 'node-reference.mjs'), script);
  const { stdout } = await run(process.execPath, [script, ...[...PNGS, ...JPEGS].map((n) => sharedPath(`images/${n}`))], {
    cwd: project.dir,
    maxBuffer: 64 << 20,
    timeout: 120_000,
  });
  return JSON.parse(stdout) as NodeReference;
}

/** A fresh copy of the app inside the packed project, the photos in public/images/. */
function freshApp(project: PackedProject, prefix: string): string {
  const app = mkdtempSync(join(project.dir, prefix));
  for (const name of readdirSync(join(FIXTURES, 'vite-app'))) cpSync(join(FIXTURES, 'vite-app', name), join(app, name));
  mkdirSync(join(app, 'public', 'images'), { recursive: true });
  for (const name of [...PNGS, ...JPEGS]) cpSync(sharedPath(`images/${name}`), join(app, 'public', 'images', name));
  return app;
}

/** Every emitted .js file under `dir`. */
function jsFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.js')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** An import of a Node built-in in emitted code (`from "node:fs"`, `import("node:fs")`, `require("node:fs")`). */
const NODE_IMPORT = /(?:from\s*|import\s*\(\s*|require\s*\(\s*|import\s*)["'`]node:[a-z_/]+["'`]/;

const VLQ = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function decodeVlq(segment: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of segment) {
    const digit = VLQ.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

/** Minified characters of a chunk attributed to each original source, by its source map. */
function charsBySource(code: string, map: { sources: string[]; mappings: string }): Map<string, number> {
  const lines = code.split('\n');
  const out = new Map<string, number>();
  let source = 0;
  map.mappings.split(';').forEach((line, li) => {
    let col = 0;
    const segments: [number, string][] = [];
    for (const seg of line.split(',')) {
      if (!seg) continue;
      const v = decodeVlq(seg);
      col += v[0]!;
      if (v.length >= 4) source += v[1]!;
      segments.push([col, v.length >= 4 ? map.sources[source]!.replace(/^.*node_modules\//, '') : '(unmapped)']);
    }
    segments.forEach(([c, name], i) => {
      const end = i + 1 < segments.length ? segments[i + 1]![0] : (lines[li]?.length ?? c);
      out.set(name, (out.get(name) ?? 0) + end - c);
    });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_SHARED || !HAVE_CHROMIUM)('the packed package in a bundled browser app', () => {
  let project: PackedProject;
  let reference: NodeReference;
  let browser: Browser;
  const cleanup: (() => Promise<unknown> | void)[] = [];

  beforeAll(async () => {
    project = await packedProject();
    [reference, browser] = await Promise.all([nodeReference(project), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
    console.log(`Chromium ${browser.version()}; Node ${reference.node} reference on the ${reference.backend} backend`);
  }, 600_000);

  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
    await browser?.close();
  });

  describe('Vite 8, no configuration', () => {
    let app: string;
    let dist: string;
    let site: Site;
    let context: BrowserContext | undefined;
    let page: Page;
    let traffic: Traffic;
    let coldStartMs: number[];
    let viteLog: string;
    let bytesResults: Record<string, { platform: Logits; js: Logits }>;

    beforeAll(async () => {
      app = freshApp(project, 'vite-app-');
      cleanup.push(() => rmSync(app, { recursive: true, force: true }));
      const { stdout, stderr } = await run(join(repoRoot, 'node_modules', '.bin', 'vite'), ['build', app, '--sourcemap'], { cwd: app, timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      viteLog = stdout + stderr;
      dist = join(app, 'dist');
      site = await serveDir(dist);
      cleanup.push(() => site.close());
      // Cold starts in fresh contexts (empty cache); the last page stays open for the checks.
      coldStartMs = [];
      for (let i = 0; i < 3; i++) {
        if (context) await context.close();
        context = await browser.newContext();
        page = await context.newPage();
        traffic = watch(context, page);
        coldStartMs.push(await openApp(page, `${site.url}/`));
      }
      cleanup.push(() => context?.close());
    }, 180_000);

    it('is built by Vite 8.3.8 with no node: module and the kernels and model emitted as files', () => {
      const version = JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'vite', 'package.json'), 'utf8')).version as string;
      console.log(`Vite ${version} build:\n${viteLog.trim()}`);
      expect(version).toBe('8.3.8');
      expect(viteLog).not.toMatch(/externalized for browser compatibility|node:/);
      const assets = readdirSync(join(dist, 'assets'));
      // Each kernel build once (the SIMD kernels; the others are fetched only by a model that asks for them).
      expect(assets.filter((n) => n.endsWith('.wasm')).map((n) => n.replace(/-[^-]+\.wasm$/, '.wasm')).sort()).toEqual(KERNEL_BUILDS);
      expect(assets.filter((n) => n.endsWith('.tflite'))).toHaveLength(1);
      for (const file of jsFiles(dist)) expect(readFileSync(file, 'utf8'), file).not.toMatch(NODE_IMPORT);
    });

    it('load() with no argument fetches the kernels and the model from the app\'s own origin', async () => {
      const sorted = [...coldStartMs].sort((a, b) => a - b);
      console.log(`Vite app cold start (navigation to load() resolved, fresh context each): median ${ms(sorted[1]!)} of ${coldStartMs.map(ms).join(', ')}`);
      const fromSite = (re: RegExp) => traffic.responses.filter((r) => re.test(new URL(r.url).pathname));
      const wasm = fromSite(/\.wasm$/);
      const model = fromSite(/\.tflite$/);
      expect(wasm.length).toBeGreaterThanOrEqual(1);
      expect(model.length).toBeGreaterThanOrEqual(1);
      for (const r of [...wasm, ...model]) {
        expect(new URL(r.url).origin).toBe(site.url);
        expect(r.status).toBe(200);
      }
      const info = await page.evaluate(async () => {
        const m = await (window as any).app.ready;
        return { backend: m.backend, numClasses: m.numClasses, label: m.labels?.[1], inputShape: m.inputShape };
      });
      expect(info).toEqual({ backend: 'wasm', numClasses: 1001, label: 'tench, Tinca tinca', inputShape: [160, 160, 3] });
    });

    it('PNG bytes decoded by Chromium give Node\'s bits exactly; decoder "js" too', async () => {
      bytesResults = await check(page, 'bytesLogits', [...PNGS, ...JPEGS].map((n) => `/images/${n}`));
      for (const name of PNGS) {
        const got = bytesResults[`/images/${name}`]!;
        const want = reference.images[name]!;
        const diff = maxAbs(f32(got.platform.logits), f32(want.logits));
        console.log(`${name}: Chromium decoder ${got.platform.logits === want.logits ? 'same bits as Node' : `max |logit| difference ${diff}`}; top-1 ${got.platform.top1} (${got.platform.label}), Node ${want.top1}`);
        expect(got.platform.logits, `${name}, Chromium's decoder`).toBe(want.logits);
        expect(got.js.logits, `${name}, decoder js`).toBe(want.logits);
      }
    });

    it('JPEG: decoder "js" gives Node\'s bits exactly; the browser\'s own decoder is measured against jpeg-js', async () => {
      for (const name of JPEGS) {
        const got = bytesResults[`/images/${name}`]!;
        const want = reference.images[name]!;
        expect(got.js.logits, `${name}, decoder js`).toBe(want.logits);
        const pixels = await check<{ width: number; height: number; rgb: string }>(page, 'browserPixels', `/images/${name}`);
        expect([pixels.width, pixels.height]).toEqual([want.width, want.height]);
        const a = Buffer.from(pixels.rgb, 'base64');
        const b = Buffer.from(want.rgb!, 'base64');
        let max = 0;
        let sum = 0;
        let signed = 0;
        let differing = 0;
        for (let i = 0; i < a.length; i++) {
          const d = Math.abs(a[i]! - b[i]!);
          max = Math.max(max, d);
          sum += d;
          signed += a[i]! - b[i]!;
          if (d) differing++;
        }
        const logitDiff = maxAbs(f32(got.platform.logits), f32(want.logits));
        console.log(
          `${name} (${pixels.width}x${pixels.height}): Chromium's JPEG decoder vs jpeg-js: max |pixel level| difference ${max}, mean |difference| ${(sum / a.length).toFixed(3)}, mean (Chromium - jpeg-js) ${(signed / a.length).toFixed(3)}, ` +
            `${((100 * differing) / a.length).toFixed(1)}% of samples differ; max |logit| difference ${logitDiff.toFixed(4)}; ` +
            `top-1 ${got.platform.top1} (${got.platform.label}) vs Node ${want.top1} (${want.label}): ${got.platform.top1 === want.top1 ? 'agree' : 'DISAGREE'}`,
        );
        expect(a.length).toBe(b.length);
      }
    });

    it.each(ELEMENT_PNGS)('every element source of %s gives the bits of its bytes', async (png) => {
      const want = reference.images[png]!.logits;
      const results = await check<Record<string, Logits & { videoWidth?: number }>>(page, 'elementLogits', `/images/${png}`);
      const lines: string[] = [];
      for (const [kind, r] of Object.entries(results)) {
        lines.push(`  ${kind}: ${r.error ? `ERROR ${r.error.split('\n')[0]}` : r.logits === want ? 'same bits' : `max |logit| difference ${maxAbs(f32(r.logits), f32(want))}, top-1 ${r.top1}`}`);
      }
      console.log(`${png} as each kind of source, in Chromium, against its bytes (= Node):\n${lines.join('\n')}`);
      for (const [kind, r] of Object.entries(results)) {
        if (kind === 'HTMLVideoElement') continue;
        expect(r.error, kind).toBeUndefined();
        expect(r.logits, kind).toBe(want);
      }
      // A <video> playing canvas.captureStream(): its frame passes through the media pipeline,
      // which may convert it (YUV); it must classify, and the same class is expected.
      const video = results.HTMLVideoElement!;
      expect(video.error).toBeUndefined();
      expect(video.top1).toBe(reference.images[png]!.top1);
    });

    it('a module Web Worker (load(undefined, { worker: true })) gives the in-thread bits', async () => {
      const urls = [`/images/${ELEMENT_PNG}`, '/images/chelsea.png', '/images/rocket.jpg'];
      const w = await check<{ inWorker: boolean; bytes: Record<string, { platform: Logits; js: Logits }>; HTMLImageElement: Logits; medianMs: number }>(page, 'workerLogits', urls, `/images/${ELEMENT_PNG}`);
      expect(w.inWorker).toBe(true);
      for (const url of urls) {
        expect(w.bytes[url]!.platform.logits, `${url} in the worker, Chromium's decoder`).toBe(bytesResults[url]!.platform.logits);
        expect(w.bytes[url]!.js.logits, `${url} in the worker, decoder js`).toBe(bytesResults[url]!.js.logits);
      }
      expect(w.HTMLImageElement.logits).toBe(reference.images[ELEMENT_PNG]!.logits);
      const workerScripts = traffic.responses.filter((r) => r.type === 'script' || /entry-web/.test(r.url)).map((r) => new URL(r.url).pathname);
      expect(workerScripts.some((p) => /entry-web/.test(p))).toBe(true);
      console.log(`worker: classify(${ELEMENT_PNG} bytes, top 5) median ${ms(w.medianMs)} (20 runs, bytes copied to the worker)`);
    });

    it('classify latency in Chromium (median of 20)', async () => {
      const t = await check<Record<string, number>>(page, 'latency', `/images/${ELEMENT_PNG}`, 20);
      console.log(
        `classify(${ELEMENT_PNG} 512x341, top 5) in Chromium, median of 20: <img> ${ms(t.HTMLImageElement!)}, ` +
          `bytes (Chromium decoder) ${ms(t.bytes!)}, bytes (decoder js) ${ms(t.bytesJs!)}`,
      );
      for (const v of Object.values(t)) expect(v).toBeGreaterThan(0);
    });

    it('the main chunk is small; the JS decoders and the ImageNet labels are lazily loaded chunks', () => {
      const html = readFileSync(join(dist, 'index.html'), 'utf8');
      const main = [...html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"|<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map((m) => (m[1] ?? m[2])!);
      expect(main.length).toBeGreaterThanOrEqual(1);
      let raw = 0;
      let gzip = 0;
      const contents = new Map<string, number>();
      for (const src of main) {
        const code = readFileSync(join(dist, src));
        raw += code.length;
        gzip += gzipSync(code, { level: 9 }).length;
        const map = JSON.parse(readFileSync(join(dist, `${src}.map`), 'utf8'));
        for (const [name, n] of charsBySource(code.toString('utf8'), map)) contents.set(name, (contents.get(name) ?? 0) + n);
      }
      const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
      console.log(`Vite main chunk(s) ${main.join(', ')}: ${kb(raw)} minified, ${kb(gzip)} gzip (level 9)`);
      const listing = [...contents].sort((a, b) => b[1] - a[1]).map(([name, n]) => `  ${kb(n).padStart(9)}  ${name}`);
      if (gzip > 60 * 1024) console.log(`over 60 KB gzip; what it holds (minified characters by source):\n${listing.join('\n')}`);
      else console.log(`what it holds (minified characters by source, top 12):\n${listing.slice(0, 12).join('\n')}`);
      const inMain = [...contents.keys()];
      for (const lazy of [/fast-png\//, /jpeg-js\//, /imagenet-labels\.js$/, /image\/codecs\.js$/]) {
        expect(inMain.filter((n) => lazy.test(n)), `${lazy} must not be in the main chunk`).toEqual([]);
      }
      // …and they are emitted, in chunks of their own, fetched on demand.
      const lazyChunks = jsFiles(join(dist, 'assets')).filter((f) => !main.some((m) => f.endsWith(m.replace(/^\//, ''))));
      const sourcesOf = (f: string) => (JSON.parse(readFileSync(`${f}.map`, 'utf8')).sources as string[]).join(' ');
      for (const lazy of [/fast-png\//, /jpeg-js\//, /imagenet-labels\.js/]) expect(lazyChunks.some((f) => lazy.test(sourcesOf(f))), String(lazy)).toBe(true);
      console.log(
        `lazy chunks (fetched on demand):\n${lazyChunks
          .map((f) => {
            const code = readFileSync(f);
            return `  ${f.slice(dist.length + 1)}: ${kb(code.length)} minified, ${kb(gzipSync(code, { level: 9 }).length)} gzip`;
          })
          .join('\n')}`,
      );
      expect(gzip).toBeLessThan(80 * 1024);
    });

    it('nothing 404s or fails and there are no console errors over the whole session', () => {
      const bad = traffic.responses.filter((r) => r.status >= 400);
      expect(bad).toEqual([]);
      expect(realFailures(traffic)).toEqual([]);
      expect(traffic.consoleErrors).toEqual([]);
      expect(traffic.pageErrors).toEqual([]);
      const foreign = traffic.responses.filter((r) => !r.url.startsWith(site.url) && !r.url.startsWith('data:') && !r.url.startsWith('blob:'));
      expect(foreign).toEqual([]);
    });
  });

  describe('webpack 5, no configuration for wasm', () => {
    let app: string;
    let site: Site;
    let page: Page;
    let traffic: Traffic;
    let coldStartMs: number;

    beforeAll(async () => {
      app = freshApp(project, 'webpack-app-');
      cleanup.push(() => rmSync(app, { recursive: true, force: true }));
      const out = join(app, 'webpack-dist');
      const { default: webpack } = await import('webpack');
      const stats = await new Promise<import('webpack').Stats>((ok, fail) =>
        webpack({ mode: 'production', target: 'web', context: app, entry: './main.js', output: { path: out, clean: true }, devtool: 'source-map', performance: { hints: false } }, (err, s) =>
          err || !s ? fail(err) : ok(s),
        ),
      );
      const info = stats.toJson({ all: false, errors: true, warnings: true, assets: true });
      console.log(`webpack ${webpack.version}: ${info.assets?.map((a) => `${a.name} ${(a.size / 1024).toFixed(1)} KB`).join(', ')}`);
      const main = readFileSync(join(out, 'main.js'));
      const mainSources = (JSON.parse(readFileSync(join(out, 'main.js.map'), 'utf8')).sources as string[]).join(' ');
      const decodersInMain = ['fast-png', 'jpeg-js', 'imagenet-labels'].filter((n) => mainSources.includes(n));
      console.log(`webpack main.js: ${(main.length / 1024).toFixed(1)} KB minified, ${(gzipSync(main, { level: 9 }).length / 1024).toFixed(1)} KB gzip; decoders or labels in it: ${decodersInMain.join(', ') || 'none'}`);
      if (info.warnings?.length) console.log(`webpack warnings:\n${info.warnings.map((w) => w.message).join('\n')}`);
      expect(info.errors?.map((e) => e.message) ?? []).toEqual([]);
      // The kernels and the model are emitted as files (asset modules from `new URL(…, import.meta.url)`).
      expect(readdirSync(out).filter((n) => /\.(wasm|tflite)$/.test(n))).toHaveLength(KERNEL_BUILDS.length + 1);
      for (const file of jsFiles(out)) expect(readFileSync(file, 'utf8'), file).not.toMatch(NODE_IMPORT);
      // A classic script: webpack's default output; it finds its own folder from document.currentScript.
      writeFileSync(join(out, 'index.html'), readFileSync(join(app, 'index.html'), 'utf8').replace('<script type="module" src="./main.js"></script>', '<script src="./main.js"></script>'));
      cpSync(join(app, 'public', 'images'), join(out, 'images'), { recursive: true });
      site = await serveDir(out);
      cleanup.push(() => site.close());
      const context = await browser.newContext();
      cleanup.push(() => context.close());
      page = await context.newPage();
      traffic = watch(context, page);
      coldStartMs = await openApp(page, `${site.url}/`);
    }, 180_000);

    it('load() finds the emitted kernels and model; an <img> gives Node\'s bits', async () => {
      console.log(`webpack app cold start (navigation to load() resolved): ${ms(coldStartMs)}`);
      for (const ext of [/\.wasm$/, /\.tflite$/]) {
        const hits = traffic.responses.filter((r) => ext.test(new URL(r.url).pathname));
        expect(hits.length, String(ext)).toBeGreaterThanOrEqual(1);
        for (const r of hits) expect([new URL(r.url).origin, r.status]).toEqual([site.url, 200]);
      }
      const img = await check<Logits>(page, 'imageLogits', `/images/${ELEMENT_PNG}`);
      expect(img.logits).toBe(reference.images[ELEMENT_PNG]!.logits);
    });

    it('a Web Worker gives the same bits', async () => {
      const w = await check<{ inWorker: boolean; bytes: Record<string, { platform: Logits; js: Logits }>; HTMLImageElement: Logits }>(page, 'workerLogits', [`/images/${ELEMENT_PNG}`], `/images/${ELEMENT_PNG}`);
      expect(w.inWorker).toBe(true);
      expect(w.bytes[`/images/${ELEMENT_PNG}`]!.platform.logits).toBe(reference.images[ELEMENT_PNG]!.logits);
      expect(w.HTMLImageElement.logits).toBe(reference.images[ELEMENT_PNG]!.logits);
    });

    it('nothing 404s or fails and there are no console errors', () => {
      expect(traffic.responses.filter((r) => r.status >= 400)).toEqual([]);
      expect(realFailures(traffic)).toEqual([]);
      expect(traffic.consoleErrors).toEqual([]);
      expect(traffic.pageErrors).toEqual([]);
    });
  });
});
