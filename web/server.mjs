#!/usr/bin/env node
/**
 * A tiny static server for the demo page and the browser tests: node:http, loopback only,
 * serving the repository's dist/, build/, assets/ and web/ folders (nothing else) with the right
 * content types (application/wasm for the kernels, so streaming compilation works).
 * On start it bundles web/app.js and web/hash.js into web/dist/ with esbuild for the browser
 * (the package's `browser` conditions), as an app's bundler would.
 *
 *   node web/server.mjs [--port N]     (npm run demo:web)   prints http://127.0.0.1:N/web/
 *
 * `startServer({ port: 0 })` is what the tests use: a random free port.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SERVED = ['dist', 'build', 'assets', 'web'];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.tflite': 'application/octet-stream',
};

/**
 * Bundles the pages' scripts for the browser. The bundles sit two folders below the root
 * (web/dist/), so the package's `new URL('../../build/kernels.wasm', import.meta.url)`, which
 * esbuild leaves as it is, still points at build/kernels.wasm.
 */
export async function buildPages() {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(repoRoot, 'web', 'app.js'), join(repoRoot, 'web', 'hash.js')],
    outdir: join(repoRoot, 'web', 'dist'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Not the repository's tsconfig: its `paths` send #platform to Node's sources for tsc.
    tsconfigRaw: {},
    logLevel: 'error',
  });
}

/** Starts the server; resolves to its base URL (no trailing slash) and a close function. */
export async function startServer({ port = 0, host = '127.0.0.1', root = repoRoot } = {}) {
  await buildPages();
  const server = createServer(async (req, res) => {
    const send = (status, text) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad request\n');
    }
    if (path === '/' || path === '/web') {
      res.writeHead(302, { location: '/web/' });
      return res.end();
    }
    if (path.endsWith('/')) path += 'index.html';
    const rel = normalize(path).replace(/^[/\\]+/, '');
    const file = resolve(root, rel);
    if (!SERVED.includes(rel.split(/[/\\]/)[0]) || !file.startsWith(root + sep)) return send(404, 'not found\n');
    const info = await stat(file).catch(() => null);
    if (!info || !info.isFile()) return send(404, `not found: ${path}\n`);
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-store',
      // Cross-origin isolation: finer performance.now() for the per-layer chart.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, ok);
  });
  const address = server.address();
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8080);
  const { url } = await startServer({ port });
  console.log(`mobilenet-wasm demo: ${url}/web/  (serving dist/, build/ and web/ of ${repoRoot}; Ctrl-C to stop)`);
}
