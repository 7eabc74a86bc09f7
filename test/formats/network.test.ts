/**
 * Network loads (shared/docs/bad-inputs.md case 24) against real node:http servers on 127.0.0.1:
 * a connect timeout (no response headers) and an idle timeout (a body that stops), both with
 * defaults and overridable; redirects kept on the origin asked for unless `redirects: 'any'`;
 * manifest shard paths that would leave the model's folder once percent-decoded, against a naive
 * server that would serve the escaped file. Every test passes short timeouts, and every wait is
 * bounded by `refusal`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { DEFAULT_TIMEOUTS, MAX_REDIRECTS, fetchBytes } from '../../src/fetch.js';
import { loadModelFile } from '../../src/formats/index.js';
import { loadLabels } from '../../src/formats/labels.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { loadTfjsGraphModel } from '../../src/formats/tfjs-graph.js';
import { loadTfjsLayersModel } from '../../src/formats/tfjs-layers.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { randomWeights } from '../../src/model/random.js';
import { kerasMobileNet } from '../fixtures-gen/keras-mobilenet.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { expectRefused, refusal } from '../helpers/special-files.js';

const GRAPH_DIR = 'models/mobilenet_v1_0.25_224';
const HAVE_GRAPH = requireShared(`${GRAPH_DIR}/model.json`);

/** Short timeouts for every test: a stall is reported in well under the 5 s `refusal` allows. */
const SHORT = { connect: 300, idle: 300 };

const root = mkdtempSync(join(tmpdir(), 'mobilenet-network-'));
const options = { depthMultiplier: 0.25, inputSize: 32, numClasses: 4 };
const SMALL = writeSafetensors({ options, weights: randomWeights(buildArchitecture(options), 5), pixelNormalization: 'unit-signed' });
const LABELS = 'cat\ndog\n';
const fixture = kerasMobileNet({ alpha: 0.25, size: 32, classes: 4, seed: 2 });
const SHARD = fixture.shards.get('group1-shard1of1.bin')!;

interface Site {
  server: Server;
  base: string;
  origin: string;
  requests: string[];
  sockets: Set<Socket>;
}

/** A server on 127.0.0.1, logging request paths; `handle` answers, or leaves the request hanging. */
async function site(handle: (req: IncomingMessage, res: ServerResponse, self: Site) => void): Promise<Site> {
  const self = { requests: [] as string[], sockets: new Set<Socket>() } as unknown as Site;
  self.server = createServer((req, res) => {
    self.requests.push(req.url!);
    handle(req, res, self);
  });
  self.server.on('connection', (s) => {
    self.sockets.add(s);
    s.on('close', () => self.sockets.delete(s));
  });
  await new Promise<void>((resolve) => self.server.listen(0, '127.0.0.1', resolve));
  self.origin = `http://127.0.0.1:${(self.server.address() as { port: number }).port}`;
  self.base = `${self.origin}/`;
  return self;
}

const close = (s: Site) => new Promise<void>((resolve) => {
  for (const socket of s.sockets) socket.destroy();
  s.server.close(() => resolve());
});

/**
 * A naive static server: the decoded path joined to `root`, so `/m/..%2fshard.bin` is served
 * from `/shard.bin`: if the loader ever asked for such a URL, the escaped file would come back.
 */
function serveFile(req: IncomingMessage, res: ServerResponse): void {
  const path = normalize(join(root, decodeURIComponent(new URL(req.url!, 'http://x').pathname)));
  try {
    const body = readFileSync(path);
    res.writeHead(200, { 'content-length': body.length }).end(body);
  } catch {
    res.writeHead(404, { 'content-type': 'text/html' }).end('<html>not found</html>');
  }
}

let main: Site;
let other: Site;
const timers = new Set<ReturnType<typeof setInterval>>();

beforeAll(async () => {
  writeFileSync(join(root, 'small.safetensors'), SMALL);
  writeFileSync(join(root, 'labels.txt'), LABELS);
  // Shards where an escape from /models/m/ would land: the loader must never ask for them.
  writeFileSync(join(root, 'group1-shard1of1.bin'), SHARD);
  mkdirSync(join(root, 'models', 'm'), { recursive: true });
  writeFileSync(join(root, 'models', 'group1-shard1of1.bin'), SHARD);
  writeFileSync(join(root, 'models', 'm', 'model.json'), JSON.stringify(fixture.modelJson));
  writeFileSync(join(root, 'models', 'm', 'group1-shard1of1.bin'), SHARD);

  other = await site((req, res) => serveFile(req, res));
  main = await site((req, res) => {
    const url = new URL(req.url!, main.origin);
    const p = url.pathname;
    if (p.startsWith('/stall-headers/')) return; // never answers
    if (p.startsWith('/stall-body/')) {
      // Headers and the first 100 bytes, then nothing.
      res.writeHead(200, { 'content-length': SMALL.length });
      res.write(SMALL.subarray(0, 100));
      return;
    }
    if (p === '/slow/small.safetensors') {
      // The whole file in 10 parts, one every 60 ms: slower than the idle timeout, never idle that long.
      res.writeHead(200, { 'content-length': SMALL.length });
      let at = 0;
      const t = setInterval(() => {
        res.write(SMALL.subarray(at, (at += Math.ceil(SMALL.length / 10))));
        if (at >= SMALL.length) {
          clearInterval(t);
          timers.delete(t);
          res.end();
        }
      }, 60);
      timers.add(t);
      return;
    }
    if (p.startsWith('/stall-shard/')) {
      if (p.endsWith('model.json')) return void res.writeHead(200).end(JSON.stringify(fixture.modelJson));
      res.writeHead(200);
      res.write(SHARD.subarray(0, 64));
      return;
    }
    const to = url.searchParams.get('to');
    if (p === '/redirect') return void res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: to! }).end('moved');
    if (p === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
    if (p.startsWith('/shard-elsewhere/')) {
      if (p.endsWith('model.json')) return void res.writeHead(200).end(JSON.stringify(fixture.modelJson));
      return void res.writeHead(302, { location: `${other.origin}/models/m/group1-shard1of1.bin` }).end();
    }
    if (p.startsWith('/escape/')) {
      // /escape/<n>/model.json: the fixture with its shard path replaced by ESCAPES[n].
      const n = Number(p.split('/')[2]);
      const json = structuredClone(fixture.modelJson) as { weightsManifest: { paths: string[] }[] };
      json.weightsManifest[0]!.paths = [ESCAPES[n]!];
      return void res.writeHead(200).end(JSON.stringify(json));
    }
    serveFile(req, res);
  });
});

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  await Promise.all([close(main), close(other)]);
  rmSync(root, { recursive: true, force: true });
});

/** Refused in bounded time (`refusal`), and quickly: a timeout of `ms` fires near `ms`, not at a default. */
async function refusedWithin(ms: number, p: Promise<unknown>, code: string, ...patterns: (string | RegExp)[]) {
  const t0 = performance.now();
  const e = await expectRefused(p, code, ...patterns);
  expect(performance.now() - t0).toBeLessThan(ms);
  return e;
}

describe('timeouts', () => {
  it('defaults are at most 60 s', () => {
    expect(DEFAULT_TIMEOUTS.connect).toBeGreaterThan(0);
    expect(DEFAULT_TIMEOUTS.connect).toBeLessThanOrEqual(60_000);
    expect(DEFAULT_TIMEOUTS.idle).toBeGreaterThan(0);
    expect(DEFAULT_TIMEOUTS.idle).toBeLessThanOrEqual(60_000);
  });

  it('a server that never answers: ERR_IO naming the URL and the connect timeout (loadModelFile, loadLabels, loadTfjsGraphModel, loadTfjsLayersModel)', async () => {
    const message = /no response within 300 ms \(the connect timeout, options\.timeouts\.connect\)/;
    const url = `${main.base}stall-headers/model.tflite`;
    await refusedWithin(3000, loadModelFile(url, { timeouts: SHORT }), ErrorCodes.IO, url, message);
    await refusedWithin(3000, loadModelFile(new URL(url), { timeouts: { connect: 300 } }), ErrorCodes.IO, url, message);
    await refusedWithin(3000, loadLabels(`${main.base}stall-headers/labels.txt`, { timeouts: SHORT }), ErrorCodes.IO, 'labels.txt', message);
    await refusedWithin(3000, loadTfjsGraphModel(`${main.base}stall-headers/`, { timeouts: SHORT }), ErrorCodes.IO, 'stall-headers/model.json', message);
    await refusedWithin(3000, loadTfjsLayersModel(`${main.base}stall-headers/model.json`, { timeouts: SHORT }), ErrorCodes.IO, 'stall-headers/model.json', message);
  });

  it('a body that stops: ERR_IO naming the URL, the bytes read and the idle timeout', async () => {
    const url = `${main.base}stall-body/model.safetensors`;
    await refusedWithin(3000, loadModelFile(url, { timeouts: SHORT }), ErrorCodes.IO, url, /no data for 300 ms after 100 bytes of the body \(the idle timeout, options\.timeouts\.idle\)/);
    await refusedWithin(3000, loadLabels(`${main.base}stall-body/labels.txt`, { timeouts: { idle: 300 } }), ErrorCodes.IO, /no data for 300 ms after 100 bytes/);
  });

  it('a shard that stops mid-body (model.json fine): the shard\'s URL is named', async () => {
    await refusedWithin(3000, loadModelFile(`${main.base}stall-shard/model.json`, { timeouts: SHORT }), ErrorCodes.IO,
      `${main.base}stall-shard/group1-shard1of1.bin`, /no data for 300 ms after 64 bytes/);
  });

  it('a slow body that never pauses for long loads: the idle timeout is per wait, not for the whole body', async () => {
    const t0 = performance.now();
    const m = await loadModelFile(`${main.base}slow/small.safetensors`, { timeouts: { connect: 1000, idle: 300 } });
    expect(m.format).toBe('safetensors');
    expect(performance.now() - t0).toBeGreaterThan(300); // the whole body took longer than the idle timeout
  });

  it('the caller\'s abort during a stall is ERR_ABORTED, not a timeout', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await refusedWithin(3000, loadModelFile(`${main.base}stall-headers/x.tflite`, { signal: controller.signal, timeouts: { connect: 10_000 } }), ErrorCodes.ABORTED, /aborted/);
    const c2 = new AbortController();
    setTimeout(() => c2.abort(), 100);
    await refusedWithin(3000, loadModelFile(`${main.base}stall-body/x.safetensors`, { signal: c2.signal, timeouts: { idle: 10_000 } }), ErrorCodes.ABORTED, /aborted/);
  });

  it('bad timeout and redirect options are ERR_OPTION', async () => {
    const url = `${main.base}small.safetensors`;
    for (const timeouts of [{ connect: -1 }, { idle: 0 }, { idle: Number.NaN }, { connect: '100' }, { total: 5 }, null, 5] as unknown[]) {
      await expectRefused(loadModelFile(url, { timeouts } as never), ErrorCodes.OPTION, /option timeouts/);
    }
    await expectRefused(loadLabels(url, { redirects: 'sometimes' } as never), ErrorCodes.OPTION, /option redirects: expected "same-origin" or "any"/);
    await expectRefused(loadTfjsGraphModel(url, { timeouts: { connect: 0 } }), ErrorCodes.OPTION, /timeouts\.connect/);
  });
});

describe('redirects', () => {
  const redirect = (to: string, status = 302) => `${main.base}redirect?status=${status}&to=${encodeURIComponent(to)}`;

  it('to the same origin: followed (301, 302, 303, 307, 308), for a model and for labels', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const m = await loadModelFile(redirect('/small.safetensors', status), { timeouts: SHORT });
      expect(m.format).toBe('safetensors');
    }
    expect(await loadLabels(redirect(`${main.origin}/labels.txt`), { timeouts: SHORT })).toEqual(['cat', 'dog']);
  });

  it('to another origin (another port): ERR_IO naming both origins, and no request reaches it', async () => {
    const before = other.requests.length;
    const url = redirect(`${other.origin}/small.safetensors`);
    const message = new RegExp(`redirected to ${other.origin}/small\\.safetensors, on origin ${other.origin}; expected the origin asked for, ${main.origin} \\(pass redirects: 'any'`);
    await expectRefused(loadModelFile(url, { timeouts: SHORT }), ErrorCodes.IO, message);
    await expectRefused(loadLabels(redirect(`${other.origin}/labels.txt`), { timeouts: SHORT }), ErrorCodes.IO, /on origin http:\/\/127\.0\.0\.1:\d+; expected the origin asked for/);
    await expectRefused(loadModelFile(`${main.base}shard-elsewhere/model.json`, { timeouts: SHORT }), ErrorCodes.IO, 'shard-elsewhere/group1-shard1of1.bin', /redirected to .* on origin/);
    expect(other.requests.length).toBe(before);
  });

  it('to another origin with redirects: "any": followed', async () => {
    const m = await loadModelFile(redirect(`${other.origin}/small.safetensors`), { timeouts: SHORT, redirects: 'any' });
    expect(m.format).toBe('safetensors');
    expect(other.requests).toContain('/small.safetensors');
    const layers = await loadModelFile(`${main.base}shard-elsewhere/model.json`, { timeouts: SHORT, redirects: 'any' });
    expect(layers.format).toBe('tfjs-layers');
  });

  it('a loop: ERR_IO after MAX_REDIRECTS hops; a Location that is no URL: ERR_IO', async () => {
    await expectRefused(loadModelFile(`${main.base}loop`, { timeouts: SHORT }), ErrorCodes.IO, `more than ${MAX_REDIRECTS} redirects`);
    expect(main.requests.filter((r) => r === '/loop').length).toBe(MAX_REDIRECTS + 1);
    await expectRefused(loadModelFile(redirect('http://[not a host'), { timeouts: SHORT }), ErrorCodes.IO, /redirects to "http:\/\/\[not a host", which is not a URL/);
  });

  it('a fetch that follows redirects itself (ignores redirect: "manual"): the final response.url is checked', async () => {
    const following = ((url: URL, init?: RequestInit) => fetch(url, { ...init, redirect: 'follow' })) as typeof fetch;
    await expectRefused(loadModelFile(redirect(`${other.origin}/small.safetensors`), { fetch: following, timeouts: SHORT }), ErrorCodes.IO,
      new RegExp(`redirected to ${other.origin}/small\\.safetensors, on origin ${other.origin}`));
    expect((await loadModelFile(redirect('/small.safetensors'), { fetch: following, timeouts: SHORT })).format).toBe('safetensors');
  });

  it('where a manual redirect is opaque (as in browsers): fetched again with redirect: "follow", the final URL checked', async () => {
    const asked: string[] = [];
    const browserLike = (async (url: URL, init?: RequestInit) => {
      asked.push(init?.redirect ?? 'default');
      if (init?.redirect === 'manual') return { type: 'opaqueredirect', ok: false, status: 0, statusText: '', url: '', headers: new Headers(), body: null };
      return fetch(url, init);
    }) as unknown as typeof fetch;
    await expectRefused(fetchBytes(new URL(redirect(`${other.origin}/small.safetensors`)), 1 << 24, { fetch: browserLike, timeouts: SHORT }), ErrorCodes.IO, /on origin/);
    expect(asked).toEqual(['manual', 'follow']);
    const bytes = await fetchBytes(new URL(redirect('/small.safetensors')), 1 << 24, { fetch: browserLike, timeouts: SHORT });
    expect(bytes.length).toBe(SMALL.length);
  });
});

/** Shard paths that leave /models/m/ once decoded, trimmed or stripped of tabs and newlines (a URL parser does all three). */
const ESCAPES = [
  '%2e%2e/group1-shard1of1.bin',
  '%2E%2E/group1-shard1of1.bin',
  '.%2e/group1-shard1of1.bin',
  '%2e./group1-shard1of1.bin',
  '..%2fgroup1-shard1of1.bin',
  '..%2Fgroup1-shard1of1.bin',
  '%2e%2e%2fgroup1-shard1of1.bin',
  '%252e%252e/group1-shard1of1.bin',
  'sub/%2e%2e/%2e%2e/group1-shard1of1.bin',
  '..%5cgroup1-shard1of1.bin',
  '.\t./group1-shard1of1.bin',
  '..\n/group1-shard1of1.bin',
  ' ../group1-shard1of1.bin',
  '%20../group1-shard1of1.bin',
];

describe('manifest paths that leave the model\'s folder once percent-decoded', () => {
  it('the naive server would serve the escaped file (the test can tell an escape from a refusal)', async () => {
    const res = await fetch(`${main.base}models/m/..%2fgroup1-shard1of1.bin`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(SHARD);
  });

  for (const [i, path] of ESCAPES.entries()) {
    it(`${JSON.stringify(path)}: ERR_MANIFEST naming the path, no shard requested (URL, folder on disk)`, async () => {
      const before = main.requests.length;
      const e = await expectRefused(loadModelFile(`${main.base}escape/${i}/model.json`, { timeouts: SHORT }), ErrorCodes.MANIFEST, /weightsManifest\[0\]\.paths: .* is not a relative shard file name/);
      expect(e.message).toContain(JSON.stringify(path).slice(1, 12));
      expect(main.requests.slice(before)).toEqual([`/escape/${i}/model.json`]);
      await expectRefused(loadTfjsLayersModel(`${main.base}escape/${i}/model.json`, { timeouts: SHORT }), ErrorCodes.MANIFEST, /is not a relative shard file name/);
      // The same manifest on disk: refused by the same check, nothing read beside it.
      const dir = join(root, 'models', `disk-${i}`);
      mkdirSync(dir, { recursive: true });
      const json = structuredClone(fixture.modelJson) as { weightsManifest: { paths: string[] }[] };
      json.weightsManifest[0]!.paths = [path];
      writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
      await expectRefused(loadModelFile(dir), ErrorCodes.MANIFEST, /is not a relative shard file name/);
    });
  }

  it.skipIf(!HAVE_GRAPH)('a graph model\'s manifest, and plain names still load (the real model by URL)', async () => {
    const text = readFileSync(sharedPath(`${GRAPH_DIR}/model.json`), 'utf8');
    const json = JSON.parse(text);
    json.weightsManifest[0].paths = ['%2e%2e/group1-shard1of1.bin'];
    const d = join(root, 'graph-escape');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'model.json'), JSON.stringify(json));
    const e = await refusal(loadTfjsGraphModel(`${main.base}graph-escape/model.json`, { timeouts: SHORT }));
    expect(e.code).toBe(ErrorCodes.MANIFEST);
    expect(e.message).toContain('"%2e%2e/group1-shard1of1.bin" is not a relative shard file name');
    // Plain names (and a file name with an encoded character in it) are fine.
    const ok = await loadModelFile(`${main.base}models/m/model.json`, { timeouts: SHORT });
    expect(ok.format).toBe('tfjs-layers');
  });
});
