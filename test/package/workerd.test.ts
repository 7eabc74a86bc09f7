/**
 * The package in a Cloudflare Worker, as a user gets it: the Worker in fixtures/workerd/worker.js
 * (`import { load } from 'mobilenet-wasm'`, the default model imported as a Data module) is bundled
 * from the packed project the way Wrangler bundles (esbuild, conditions workerd/worker/browser, ESM,
 * every *.wasm and *.tflite import kept external under a content-hash name and listed as a module),
 * then served by workerd itself (`workerd serve`, no nodejs_compat). JPEG and PNG photos POSTed to it
 * must come back with the same top-5, bit for bit, as Node gives for the same bytes with the same
 * installed package; a body that is no image must come back as a 4xx naming the error's code.
 *
 * It also reports what one request costs: workerd enforces no CPU limit locally, and on Cloudflare a
 * Worker's clocks stand still while it computes, so the cost is measured from outside (the workerd
 * process's CPU time in /proc/<pid>/stat, all threads, and the client's wall time, over sequential
 * requests after warm-up), next to what the Worker itself reads around classify() across zero-delay
 * timers (which moves the clock on Cloudflare too).
 *
 * workerd comes from the `workerd` devDependency; when its binary is missing the tests skip, and
 * with CI set they fail.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, requireShared, sharedPath } from '../helpers/shared.js';
import { packedProject, type PackedProject } from './packed.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/workerd/', import.meta.url));
const IMAGES = ['parrot.jpg', 'rocket.jpg', 'chelsea.png', 'grace_hopper.png'];
/** Requests timed per image, after WARMUP untimed ones. */
const TIMED = 20;
const WARMUP = 3;
/** A compatibility date this workerd supports (it refuses dates after its own). */
const COMPATIBILITY_DATE = '2026-11-01';
/** No workerd outlives the run: it is started under `timeout`, which ends it after this long. */
const WORKERD_MAX_SECONDS = 900;
const REQUEST_TIMEOUT_MS = 60_000;

/** The native workerd binary (not the npm wrapper script, so its pid is the process that computes). */
function findWorkerd(): string | null {
  const fromEnv = process.env.WORKERD_BIN;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  try {
    const bin = (createRequire(join(repoRoot, 'package.json'))('workerd') as { default: string }).default;
    return existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

function requireWorkerd(): string | null {
  const bin = findWorkerd();
  if (bin) return bin;
  const reason = 'the workerd binary is missing (npm install the `workerd` devDependency, or set WORKERD_BIN)';
  if (process.env.CI) throw new Error(`${reason}; CI is set: this is a failure, not a skip`);
  console.warn(`SKIPPED workerd tests: ${reason}`);
  return null;
}

const WORKERD = requireWorkerd();
const HAVE_SHARED = requireShared(...IMAGES.map((name) => `images/${name}`));

interface Classification {
  index: number;
  label: string | null;
  probability: number;
  logit: number;
}
interface NodeAnswer {
  model: string;
  backend: string;
  results: Record<string, Classification[]>;
  timing: { runs: number; wallMs: number; cpuMs: number };
}
interface Module {
  /** The module's name in the workerd config: the specifier the bundle imports it by, without "./". */
  name: string;
  path: string;
  type: 'wasm' | 'data';
}

/**
 * What Wrangler's module collector does with its default rules (CompiledWasm for *.wasm, Data
 * here for *.tflite): the import is resolved as esbuild resolves it (package exports included),
 * kept out of the bundle and renamed `./<sha1 of the content>-<file name>`, and the file becomes a
 * module of that name.
 */
function moduleCollector(modules: Module[]): esbuild.Plugin {
  return {
    name: 'wrangler-like-module-collector',
    setup(build) {
      build.onResolve({ filter: /\.(wasm|tflite)$/ }, async (args) => {
        if ((args.pluginData as { inner?: boolean } | undefined)?.inner) return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { inner: true } });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        const name = `${createHash('sha1').update(readFileSync(resolved.path)).digest('hex')}-${basename(resolved.path)}`;
        if (!modules.some((m) => m.name === name)) modules.push({ name, path: resolved.path, type: resolved.path.endsWith('.wasm') ? 'wasm' : 'data' });
        return { path: `./${name}`, external: true };
      });
    },
  };
}

function workerdConfig(port: number, modules: readonly Module[]): string {
  const q = JSON.stringify;
  const lines = [
    `(name = "worker.js", esModule = embed "worker.js")`,
    ...modules.map((m) => `(name = ${q(m.name)}, ${m.type} = embed ${q(m.name)})`),
  ];
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .classifier) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);

# No compatibilityFlags: nodejs_compat is off, so no node: module could be imported.
const classifier :Workerd.Worker = (
  modules = [
    ${lines.join(',\n    ')},
  ],
  compatibilityDate = ${q(COMPATIBILITY_DATE)},
);
`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Workerd {
  readonly url: string;
  /** The workerd process itself (the child of `timeout` when that wraps it). */
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** `workerd serve` on a free loopback port, up when it answers; a port taken in between is retried. */
async function startWorkerd(bin: string, dir: string, modules: readonly Module[]): Promise<Workerd> {
  let lastOutput = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, 'config.capnp'), workerdConfig(port, modules));
    const useTimeout = existsSync('/usr/bin/timeout');
    const [cmd, args] = useTimeout
      ? ['/usr/bin/timeout', ['--kill-after=5', String(WORKERD_MAX_SECONDS), bin, 'serve', 'config.capnp']]
      : [bin, ['serve', 'config.capnp']];
    const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exited = false;
    const exit = new Promise<void>((resolve) =>
      child.once('exit', () => {
        exited = true;
        resolve();
      }),
    );
    const stop = async () => {
      if (exited) return;
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(5000)]);
      if (!exited) child.kill('SIGKILL');
      await Promise.race([exit, sleep(5000)]);
    };
    const url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + 30_000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await response.arrayBuffer();
        up = true;
        break;
      } catch {
        await sleep(100);
      }
    }
    if (up) {
      let pid = child.pid!;
      if (useTimeout) {
        const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
        if (children.length !== 1) throw new Error(`expected one child of timeout (${pid}), found ${children.join(' ') || 'none'}`);
        pid = Number(children[0]);
      }
      return { url, pid, child, output: () => output, stop };
    }
    await stop();
    lastOutput = output;
    if (!/address already in use/i.test(output)) break;
  }
  throw new Error(`workerd did not start within 30 s:\n${lastOutput}`);
}

/** CPU time (user + system, every thread) the process has used, in milliseconds. */
function cpuMsOf(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

function ticksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** A number's float32 bits (every probability and logit is a float32 widened to a double). */
const f32Bits = (x: number) => {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0]!.toString(16).padStart(8, '0');
};
const bitsOf = (top: Classification[]) => top.map((c) => ({ index: c.index, label: c.label, probability: f32Bits(c.probability), logit: f32Bits(c.logit) }));

describe.skipIf(!WORKERD || !HAVE_SHARED)('a Cloudflare Worker served by workerd, with the packed package', () => {
  let packed: PackedProject;
  let dir: string;
  let bundle: esbuild.Metafile;
  let bundleText: string;
  const modules: Module[] = [];
  let workerd: Workerd | undefined;
  let node: NodeAnswer;
  let version: string;

  const post = async (body: BodyInit, what: string) => {
    const response = await fetch(workerd!.url, { method: 'POST', body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).catch((e: unknown) => {
      throw new Error(`POST ${what} to workerd failed (${(e as Error).message}); workerd said:\n${workerd!.output()}`);
    });
    const json = (await response.json()) as { top?: Classification[]; ms?: number; backend?: string; error?: { code: string; message: string } };
    return { status: response.status, loads: response.headers.get('x-model-loads'), json };
  };
  const image = (name: string) => new Uint8Array(readFileSync(sharedPath(`images/${name}`)));

  beforeAll(async () => {
    packed = await packedProject();
    version = execFileSync(WORKERD!, ['--version'], { encoding: 'utf8', timeout: 30_000 }).trim();

    // The user's project: the Worker, and node_modules as npm installed it from the tarball.
    dir = mkdtempSync(join(tmpdir(), 'mobilenet-workerd-'));
    copyFileSync(join(FIXTURES, 'worker.js'), join(dir, 'src-worker.js'));
    copyFileSync(join(FIXTURES, 'node-classify.mjs'), join(dir, 'node-classify.mjs'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'classifier-worker', private: true, type: 'module' }));
    symlinkSync(join(packed.dir, 'node_modules'), join(dir, 'node_modules'), 'dir');

    const result = await esbuild.build({
      absWorkingDir: dir,
      entryPoints: ['src-worker.js'],
      outfile: join(dir, 'worker.js'),
      bundle: true,
      format: 'esm',
      target: 'es2022',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser'],
      plugins: [moduleCollector(modules)],
      metafile: true,
      logLevel: 'silent',
    });
    bundle = result.metafile;
    bundleText = readFileSync(join(dir, 'worker.js'), 'utf8');
    for (const m of modules) copyFileSync(m.path, join(dir, m.name));

    // Node's answers first, so the timings below do not share the cores with it.
    const script = [join(dir, 'node-classify.mjs'), sharedPath('images/parrot.jpg'), ...IMAGES.map((name) => sharedPath(`images/${name}`))];
    node = JSON.parse(execFileSync(process.execPath, script, { cwd: dir, encoding: 'utf8', timeout: 180_000, maxBuffer: 16 << 20 })) as NodeAnswer;

    workerd = await startWorkerd(WORKERD!, dir, modules);
  }, 600_000);

  afterAll(async () => {
    await workerd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bundles as Wrangler does: the workerd platform, no node: module, the kernels and the model as modules', () => {
    const inputs = Object.keys(bundle.inputs);
    expect(inputs.some((p) => p.endsWith('mobilenet-wasm/dist/platform/workerd.js'))).toBe(true);
    expect(inputs.filter((p) => /dist\/platform\/(node|spawn-node|spawn-web)\.js$/.test(p))).toEqual([]);
    // The package comes from the packed project, never from the work tree.
    expect(inputs.filter((p) => p.includes('mobilenet-wasm/') && !p.includes('node_modules/mobilenet-wasm/'))).toEqual([]);
    const imports = Object.values(bundle.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
    expect(imports.sort()).toEqual(modules.map((m) => `./${m.name}`).sort());
    expect(modules.map((m) => [m.type, basename(m.path)]).sort()).toEqual([
      ['data', 'mobilenet_v1_0.5_160_quant.tflite'],
      ['wasm', 'kernels.wasm'],
    ]);
    // The model the Worker imports is the very file Node loaded.
    expect(modules.find((m) => m.type === 'data')!.path).toBe(node.model);
    expect(bundleText).not.toMatch(/from\s*["']node:/);
    console.log(`workerd: ${version} (npm workerd ${(createRequire(join(repoRoot, 'package.json'))('workerd/package.json') as { version: string }).version}); bundle ${bundleText.length} bytes; modules ${modules.map((m) => `${m.name} (${m.type})`).join(', ')}`);
  });

  it('loads the model once for concurrent first requests, and answers each photo as Node does, bit for bit', async () => {
    // The isolate's first requests arrive together: all of them wait for the one load.
    const first = await Promise.all(IMAGES.map((name) => post(image(name), name)));
    for (const [i, name] of IMAGES.entries()) {
      const answer = first[i]!;
      expect(answer.json.error, `${name}: ${answer.json.error?.message}\n${workerd!.output()}`).toBeUndefined();
      expect(answer.status).toBe(200);
      expect(answer.loads).toBe('1');
      expect(answer.json.backend).toBe('wasm');
      expect(node.backend).toBe('wasm');
      const expected = node.results[sharedPath(`images/${name}`)]!;
      expect(answer.json.top).toHaveLength(5);
      expect(bitsOf(answer.json.top!)).toEqual(bitsOf(expected));
      expect(answer.json.top).toEqual(expected);
      console.log(`workerd ${name}: ${answer.json.top!.map((c) => `${c.label} ${c.probability.toFixed(4)}`).join(', ')}`);
    }
    // And again, one by one, on the warm isolate.
    for (const name of IMAGES) {
      const again = await post(image(name), name);
      expect(again.status).toBe(200);
      expect(again.loads).toBe('1');
      expect(again.json.top).toEqual(node.results[sharedPath(`images/${name}`)]);
    }
  });

  it('answers a body that is no image with a 4xx and the error code', async () => {
    const cases: [string, BodyInit, number, string][] = [
      ['text', 'this is not an image', 400, 'ERR_IMAGE_DECODE'],
      ['an empty body', new Uint8Array(0), 400, 'ERR_IMAGE_DECODE'],
      ['a GIF', new Uint8Array([...'GIF89a'].map((c) => c.charCodeAt(0)).concat(new Array(32).fill(0))), 415, 'ERR_IMAGE_FORMAT'],
      ['a PNG signature and nothing after it', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 400, 'ERR_IMAGE_DECODE'],
    ];
    for (const [what, body, status, code] of cases) {
      const answer = await post(body, what);
      expect({ what, status: answer.status, code: answer.json.error?.code }).toEqual({ what, status, code });
      expect(answer.json.error!.message.length).toBeGreaterThan(0);
      expect(answer.loads).toBe('1');
    }
    // A bad request leaves the isolate serving.
    const ok = await post(image('rocket.jpg'), 'rocket.jpg');
    expect(ok.status).toBe(200);
  });

  it('reports the CPU and wall time of one request (default model)', async () => {
    const hz = ticksPerSecond();
    const report: string[] = [];
    for (const name of ['parrot.jpg', 'rocket.jpg', 'chelsea.png']) {
      const body = image(name);
      for (let i = 0; i < WARMUP; i++) expect((await post(body, name)).status).toBe(200);
      const walls: number[] = [];
      const inWorker: number[] = [];
      const cpu0 = cpuMsOf(workerd!.pid, hz);
      for (let i = 0; i < TIMED; i++) {
        const t0 = performance.now();
        const answer = await post(body, name);
        walls.push(performance.now() - t0);
        expect(answer.status).toBe(200);
        inWorker.push(answer.json.ms!);
      }
      const cpuPerRequest = (cpuMsOf(workerd!.pid, hz) - cpu0) / TIMED;
      walls.sort((a, b) => a - b);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(cpuPerRequest).toBeGreaterThan(0);
      expect(Number.isFinite(mean(walls))).toBe(true);
      report.push(
        `${name.padEnd(12)} workerd CPU ${cpuPerRequest.toFixed(1)} ms/request (/proc/${workerd!.pid}/stat utime+stime over ${TIMED} requests, ${1000 / hz} ms ticks); ` +
          `client wall mean ${mean(walls).toFixed(1)} ms, median ${walls[TIMED >> 1]!.toFixed(1)} ms, min ${walls[0]!.toFixed(1)} ms; ` +
          `in-Worker classify() ${mean(inWorker).toFixed(1)} ms (Date.now() across zero-delay timers)`,
      );
    }
    report.push(`Node ${process.version}, same package, parrot.jpg: classify() ${node.timing.cpuMs.toFixed(1)} ms CPU, ${node.timing.wallMs.toFixed(1)} ms wall (mean of ${node.timing.runs})`);
    console.log(`Cost of one request, ${version}, MobileNet v1 0.5 @ 160 uint8 (the default model):\n  ${report.join('\n  ')}`);
  });
});
