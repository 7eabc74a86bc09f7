/**
 * `mobilenet classify` throughput, end to end: images per second over a folder of 1,000 photos
 * of mixed sizes, today's path (`--jobs 1`: read, decode, resize and inference one after the
 * other in the main thread) beside the decode pool (`--jobs 2`, ...) and the opt-in wasm decoders
 * (`--decoder wasm`), in the same run, with the JSON lines each writes compared byte for byte
 * (the `ms` field aside, a timing).
 *
 *   npm run build:ts && npx tsc -p tsconfig.bench.json && node build/bench/bench/classify-throughput.js [options]
 *
 *   --count N        photos (default 1000)
 *   --photos DIR     use (or fill, when empty or missing) this folder instead of a fresh temporary one
 *   --models A,B     `float` (MobileNet v1 0.25 @ 224 float TF.js, /work/shared or $MOBILENET_SHARED),
 *                    `default` (the package's 0.5 @ 160 uint8); default both
 *   --runs LIST      the classify runs, `jobs/decoder` each (default 1/js,2/js,1/wasm,2/wasm)
 *   --repeat N       each run N times, interleaved; the best is reported (default 1)
 *   --batch N        --batch of every run (default 8)
 *   --also BIN       also time the CLI of another build (e.g. the last commit's dist/cli/main.js, built
 *                    from `git archive HEAD`), run without --jobs and --decoder, its output compared too
 *   --json           the results as JSON on stdout
 *
 * The photos are made from the 8 shared ones with a fixed seed: a random crop (aspect 1:2 to 2:1,
 * 55-100% of the photo), resized (bilinear) to a long side of 200-1200 px, encoded as PNG or JPEG
 * (quality 70-95), half each; the same seed makes the same files. They live in a temporary folder
 * removed at the end (unless --photos is given); never in the repository.
 *
 * Timing: each run is the built CLI (dist/cli/main.js) in a fresh process; its wall time includes
 * process start and model load. That fixed cost is measured on its own (the same command on one
 * photo) and subtracted: images/s = (N - 1) / (T(N) - T(1)). Each process's CPU time (every
 * thread) is taken the same way, so that a run on a machine others keep busy still says how much
 * work each image took and how many cores the run kept busy. The decode share is measured in this
 * process: decode + crop + resize of every photo in one thread, beside inference of the whole set
 * in batches, with the same functions the CLI runs.
 */
/// <reference path="../src/image/jpeg-js-decoder.d.ts" />
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { loadInThread } from '../src/engine/load-core.js';
import type { MobileNet } from '../src/engine/mobilenet.js';
import { decodeImage, type RgbImage } from '../src/image/decode.js';
import { normalizeRgb } from '../src/image/normalize.js';
import { resizeBilinear } from '../src/image/resize.js';
import { loadWasmDecoders, type WasmDecoders } from '../src/image/wasm-decode.js';
import { prepareFile, type Prepared } from '../src/pool/prepare.js';

const SEED = 20_261_129;
const PHOTOS = ['bird.png', 'cat.png', 'chelsea.png', 'coffee.png', 'dog.png', 'grace_hopper.png', 'parrot.jpg', 'rocket.jpg'];

/** mulberry32: a small seeded generator, the same numbers on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function crop(image: RgbImage, x0: number, y0: number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(image.data.subarray(((y0 + y) * image.width + x0) * 3, ((y0 + y) * image.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, data };
}

function toRgba(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    out[j] = rgb[i]!;
    out[j + 1] = rgb[i + 1]!;
    out[j + 2] = rgb[i + 2]!;
    out[j + 3] = 255;
  }
  return out;
}

export interface PhotoSet {
  dir: string;
  files: string[];
  png: number;
  jpeg: number;
  /** Megapixels of all the photos. */
  megapixels: number;
}

/** Makes `count` photos in `dir` from the shared ones (or finds them there, made by an earlier run with the same seed). */
export function makePhotos(sharedImages: string, dir: string, count: number): PhotoSet {
  mkdirSync(dir, { recursive: true });
  const stamp = path.join(dir, 'PHOTOS.json');
  if (existsSync(stamp)) {
    const made = JSON.parse(readFileSync(stamp, 'utf8')) as PhotoSet & { seed: number };
    if (made.seed === SEED && made.files.length === count && made.files.every((f) => existsSync(path.join(dir, f)))) return { ...made, dir };
  }
  const sources = PHOTOS.map((name) => decodeImage(readFileSync(path.join(sharedImages, name)), name));
  const rand = random(SEED);
  const files: string[] = [];
  let png = 0;
  let megapixels = 0;
  for (let i = 0; i < count; i++) {
    const k = Math.floor(rand() * sources.length);
    const src = sources[k]!;
    const aspect = 2 ** (rand() * 2 - 1); // width / height, 1:2 to 2:1
    const scale = 0.55 + rand() * 0.45;
    let cw = Math.min(src.width, Math.round(Math.sqrt(src.width * src.height * scale * scale * aspect)));
    let ch = Math.min(src.height, Math.round(cw / aspect));
    cw = Math.max(16, cw);
    ch = Math.max(16, ch);
    const x0 = Math.floor(rand() * (src.width - cw + 1));
    const y0 = Math.floor(rand() * (src.height - ch + 1));
    const long = 200 + Math.floor(rand() * 1001);
    const w = cw >= ch ? long : Math.max(1, Math.round((long * cw) / ch));
    const h = cw >= ch ? Math.max(1, Math.round((long * ch) / cw)) : long;
    const pixels = resizeBilinear(crop(src, x0, y0, cw, ch).data, cw, ch, w, h);
    const asPng = rand() < 0.5;
    const quality = 70 + Math.floor(rand() * 26);
    const name = `photo-${String(i).padStart(4, '0')}-${PHOTOS[k]!.replace(/\.\w+$/, '')}-${w}x${h}.${asPng ? 'png' : 'jpg'}`;
    const bytes = asPng ? encodePng({ width: w, height: h, data: pixels, channels: 3, depth: 8 }) : jpeg.encode({ width: w, height: h, data: toRgba(pixels) }, quality).data;
    writeFileSync(path.join(dir, name), bytes);
    files.push(name);
    if (asPng) png++;
    megapixels += (w * h) / 1e6;
  }
  const set: PhotoSet = { dir, files, png, jpeg: count - png, megapixels };
  writeFileSync(stamp, JSON.stringify({ seed: SEED, ...set }));
  return set;
}

// ---------------------------------------------------------------------------------------------

interface Options {
  count: number;
  photos: string | null;
  models: ('float' | 'default')[];
  runs: { jobs: number; decoder: 'js' | 'wasm'; bin?: string }[];
  repeat: number;
  also: string | null;
  batch: number;
  json: boolean;
}

const USAGE = 'node build/bench/bench/classify-throughput.js [--count 1000] [--photos DIR] [--models float,default] [--runs 1/js,2/js,1/wasm,2/wasm] [--repeat 1] [--batch 8] [--also BIN] [--json]';

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { count: 1000, photos: null, models: ['float', 'default'], runs: [], repeat: 1, batch: 8, also: null, json: false };
  let runs = '1/js,2/js,1/wasm,2/wasm';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg}: a value is missing`);
      return v;
    };
    const int = (min: number) => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`${arg}: expected an integer >= ${min}, got ${v}`);
      return Number(v);
    };
    if (arg === '--count') o.count = int(2);
    else if (arg === '--photos') o.photos = path.resolve(value());
    else if (arg === '--models') {
      o.models = value().split(',').map((m) => {
        if (m !== 'float' && m !== 'default') throw new Error(`--models: float or default, got ${m}`);
        return m;
      });
    } else if (arg === '--runs') runs = value();
    else if (arg === '--repeat') o.repeat = int(1);
    else if (arg === '--batch') o.batch = int(1);
    else if (arg === '--also') o.also = path.resolve(value());
    else if (arg === '--json') o.json = true;
    else if (arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown option ${arg}; ${USAGE}`);
  }
  o.runs = runs.split(',').map((r) => {
    const m = /^(\d+)\/(js|wasm)$/.exec(r.trim());
    if (!m || Number(m[1]) < 1) throw new Error(`--runs: expected JOBS/DECODER items such as 2/js, got ${r}`);
    return { jobs: Number(m[1]), decoder: m[2] as 'js' | 'wasm' };
  });
  // The other build: jobs 0 marks it (it gets neither --jobs nor --decoder).
  if (o.also) o.runs.push({ jobs: 0, decoder: 'js', bin: o.also });
  return o;
}

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('no package.json above this file');
    dir = up;
  }
  return dir;
}

const log = (text: string) => process.stderr.write(`classify-throughput: ${text}\n`);

/**
 * Cores this process can really use now: two threads spin for `ms` each; their CPU time over the
 * wall time. 2.0 on an idle 2-core machine; about 1 when something else keeps a core busy.
 */
async function usableCores(ms = 600): Promise<number> {
  const code = `const t = Date.now(); let x = 0; while (Date.now() - t < ${ms}) x++;`;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all([0, 1].map(() => new Promise((resolve) => new Worker(code, { eval: true }).on('exit', resolve))));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / (performance.now() - t0);
}

/** CPU time (ms) the whole machine has spent busy (Linux /proc/stat: all but idle and iowait); null elsewhere. */
function machineBusyMs(): number | null {
  if (!existsSync('/proc/stat')) return null;
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  // USER_HZ is 100 on Linux.
  return (user + nice + system + irq + softirq + steal) * 10;
}

/**
 * Loaded into each CLI process (`node --import`): at exit, the process's CPU time (user + system,
 * every thread: the decode workers too) written to stderr after a marker.
 */
const CPU_HOOK = `data:text/javascript,${encodeURIComponent("import{writeSync}from'node:fs';process.on('exit',()=>{const u=process.cpuUsage();writeSync(2,'\\nclassify-throughput-cpu-ms '+(u.user+u.system)/1000+'\\n')})")}`;
const CPU_MARK = /\nclassify-throughput-cpu-ms ([0-9.]+)\n/g;

/** One CLI run in a fresh process: wall time and CPU time in ms (output to `out`). */
function runCli(bin: string, args: string[]): Promise<{ ms: number; cpuMs: number; othersCores: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const busy0 = machineBusyMs();
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', CPU_HOOK, bin, 'classify', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      // The largest: each is the whole process's time so far.
      const marks = [...stderr.matchAll(CPU_MARK)].map((m) => Number(m[1]));
      const cpuMs = marks.length > 0 ? Math.max(...marks) : NaN;
      const busy1 = machineBusyMs();
      // Cores other processes kept busy meanwhile (this benchmark's own process is idle while it waits).
      const othersCores = busy0 === null || busy1 === null ? NaN : Math.max(0, busy1 - busy0 - cpuMs) / ms;
      resolve({ ms, cpuMs, othersCores, code, stderr: stderr.replace(CPU_MARK, '') });
    });
  });
}

const runTag = (cfg: { jobs: number; decoder: string; bin?: string }) => (cfg.bin ? 'other build' : `${cfg.jobs}/${cfg.decoder}`);

const stripMs = (text: string) => text.replace(/,"ms":[-+0-9.eE]+/g, '');

interface RunResult {
  model: string;
  /** 0: the other build (--also). */
  jobs: number;
  decoder: 'js' | 'wasm';
  /** Wall time of the whole set, best of --repeat (ms), and of one photo (the fixed cost). */
  wallMs: number;
  oneMs: number;
  /** CPU time (all threads) per image, the one-photo run's subtracted: (C(N) - C(1)) / (N - 1). */
  cpuMsPerImage: number;
  /** Cores kept busy on average: (C(N) - C(1)) / (T(N) - T(1)). */
  coresBusy: number;
  /** Cores other processes kept busy during the whole-set run (Linux; NaN elsewhere). */
  othersCores: number;
  imagesPerS: number;
  /** images/s with the fixed cost included. */
  imagesPerSWithStart: number;
  ratio: number;
  /** The JSON lines equal to the first run's with the same decoder (timings aside). */
  sameOutputAs: string | null;
  sameOutput: boolean;
}

interface Agreement {
  model: string;
  set: string;
  images: number;
  top1Agree: number;
  maxLogitDiff: number;
  /** Model-input bytes (after crop and resize) that differ, and by how much at most. */
  bytesDiffering: number;
  maxByteDiff: number;
  /** The same, JPEG files only. */
  jpeg: { images: number; top1Agree: number; maxLogitDiff: number };
}

interface ShareResult {
  model: string;
  decoder: 'js' | 'wasm';
  prepareMsPerImage: number;
  inferenceMsPerImage: number;
  decodeShare: number;
}

/**
 * In this process, one thread: prepare every photo with both decoders (the CLI's functions),
 * run the model on both, and compare the logits; the time of each phase gives the decode share.
 */
async function measureInProcess(model: MobileNet, modelName: string, files: string[], wasm: WasmDecoders, batch: number, setName: string): Promise<{ agreement: Agreement; shares: ShareResult[] }> {
  const [h, w] = model.inputShape;
  const t = { js: 0, wasm: 0, inferJs: 0, inferWasm: 0 };
  const agreement: Agreement = { model: modelName, set: setName, images: 0, top1Agree: 0, maxLogitDiff: 0, bytesDiffering: 0, maxByteDiff: 0, jpeg: { images: 0, top1Agree: 0, maxLogitDiff: 0 } };
  let bytes = 0;
  const logitsOf = (images: Uint8Array[]) => model.run(normalizeRgb(images, h, w, model.normalization), { outputs: ['Logits'] }).Logits!.data;
  const rgbOf = (p: Prepared, file: string) => {
    if (!p.ok) throw new Error(`${file}: ${p.message}`);
    return p.rgb;
  };
  for (let start = 0; start < files.length; start += batch) {
    const chunk = files.slice(start, start + batch);
    const js: Uint8Array[] = [];
    const wa: Uint8Array[] = [];
    let t0 = performance.now();
    for (const f of chunk) js.push(rgbOf(await prepareFile(f, h, w, null), f));
    t.js += performance.now() - t0;
    t0 = performance.now();
    for (const f of chunk) wa.push(rgbOf(await prepareFile(f, h, w, wasm), f));
    t.wasm += performance.now() - t0;
    t0 = performance.now();
    const lj = logitsOf(js);
    t.inferJs += performance.now() - t0;
    t0 = performance.now();
    const lw = logitsOf(wa);
    t.inferWasm += performance.now() - t0;
    const classes = lj.length / chunk.length;
    chunk.forEach((f, k) => {
      let argJ = 0;
      let argW = 0;
      let diff = 0;
      for (let c = 0; c < classes; c++) {
        const a = lj[k * classes + c]!;
        const b = lw[k * classes + c]!;
        if (a > lj[k * classes + argJ]!) argJ = c;
        if (b > lw[k * classes + argW]!) argW = c;
        diff = Math.max(diff, Math.abs(a - b));
      }
      for (let i = 0; i < js[k]!.length; i++) {
        const d = Math.abs(js[k]![i]! - wa[k]![i]!);
        if (d > 0) agreement.bytesDiffering++;
        agreement.maxByteDiff = Math.max(agreement.maxByteDiff, d);
      }
      bytes += js[k]!.length;
      agreement.images++;
      if (argJ === argW) agreement.top1Agree++;
      agreement.maxLogitDiff = Math.max(agreement.maxLogitDiff, diff);
      if (/\.jpe?g$/i.test(f)) {
        agreement.jpeg.images++;
        if (argJ === argW) agreement.jpeg.top1Agree++;
        agreement.jpeg.maxLogitDiff = Math.max(agreement.jpeg.maxLogitDiff, diff);
      }
    });
  }
  agreement.bytesDiffering /= bytes;
  const n = files.length;
  const share = (decoder: 'js' | 'wasm', prep: number, infer: number): ShareResult => ({
    model: modelName, decoder, prepareMsPerImage: prep / n, inferenceMsPerImage: infer / n, decodeShare: prep / (prep + infer),
  });
  return { agreement, shares: [share('js', t.js, t.inferJs), share('wasm', t.wasm, t.inferWasm)] };
}

async function main(o: Options): Promise<void> {
  const root = packageRoot();
  const bin = path.join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(bin)) throw new Error(`${bin} is not built: run npm run build:ts first`);
  const shared = process.env.MOBILENET_SHARED ?? path.resolve(root, '..', 'shared');
  const models = {
    float: { name: 'float', label: 'MobileNet v1 0.25 @ 224, float TF.js', path: path.join(shared, 'models', 'mobilenet_v1_0.25_224') },
    default: { name: 'default', label: 'MobileNet v1 0.5 @ 160, uint8 TFLite (the package default)', path: path.join(root, 'assets', 'mobilenet_v1_0.5_160_quant.tflite') },
  };
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'classify-throughput-'));
  const photosDir = o.photos ?? path.join(scratch, 'photos');
  const t0 = performance.now();
  try {
    log(`making ${o.count} photos in ${photosDir} (seed ${SEED})`);
    const set = makePhotos(path.join(shared, 'images'), photosDir, o.count);
    log(`${set.png} PNG, ${set.jpeg} JPEG, ${set.megapixels.toFixed(0)} megapixels (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    const oneDir = path.join(scratch, 'one');
    mkdirSync(oneDir);
    copyFileSync(path.join(photosDir, set.files[0]!), path.join(oneDir, set.files[0]!));
    const loadStart = os.loadavg();
    const coresStart = await usableCores();
    log(`usable cores now: ${coresStart.toFixed(2)} of ${os.availableParallelism()}; load ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);

    const runs: RunResult[] = [];
    for (const key of o.models) {
      const m = models[key];
      const modelArgs = key === 'default' ? [] : ['--model', m.path];
      const best = new Map<string, { wall: number; one: number; cpu: number; cpuOne: number; others: number; out: string }>();
      for (let r = 0; r < o.repeat; r++) {
        for (const cfg of o.runs) {
          const tag = runTag(cfg);
          const out = path.join(scratch, `${key}-${cfg.jobs}-${cfg.decoder}.jsonl`);
          const flags = cfg.bin ? [] : ['--jobs', String(cfg.jobs), '--decoder', cfg.decoder];
          const args = (dir: string, file: string) => [dir, ...modelArgs, '--out', file, '--force', ...flags, '--batch', String(o.batch), '--no-progress'];
          const one = await runCli(cfg.bin ?? bin, args(oneDir, path.join(scratch, 'one.jsonl')));
          const all = await runCli(cfg.bin ?? bin, args(photosDir, out));
          if (all.code !== 0 || one.code !== 0) throw new Error(`${key} ${tag}: exit ${all.code}/${one.code}: ${all.stderr}${one.stderr}`);
          log(`${key} ${tag}: ${(all.ms / 1000).toFixed(1)} s for ${o.count} (CPU ${(all.cpuMs / 1000).toFixed(1)} s; others kept ${all.othersCores.toFixed(2)} cores busy), ${(one.ms / 1000).toFixed(2)} s for one`);
          const prev = best.get(tag);
          if (!prev || all.ms - one.ms < prev.wall - prev.one) best.set(tag, { wall: all.ms, one: one.ms, cpu: all.cpuMs, cpuOne: one.cpuMs, others: all.othersCores, out: readFileSync(out, 'utf8') });
        }
      }
      const base = best.get(runTag(o.runs[0]!))!;
      const baseRate = (o.count - 1) / ((base.wall - base.one) / 1000);
      for (const cfg of o.runs) {
        const tag = runTag(cfg);
        const b = best.get(tag)!;
        const firstSame = o.runs.find((c) => c.decoder === cfg.decoder)!;
        const refTag = runTag(firstSame);
        const rate = (o.count - 1) / ((b.wall - b.one) / 1000);
        runs.push({
          model: key, jobs: cfg.jobs, decoder: cfg.decoder, wallMs: b.wall, oneMs: b.one, cpuMsPerImage: (b.cpu - b.cpuOne) / (o.count - 1), coresBusy: (b.cpu - b.cpuOne) / (b.wall - b.one), othersCores: b.others, imagesPerS: rate, imagesPerSWithStart: o.count / (b.wall / 1000), ratio: rate / baseRate,
          sameOutputAs: refTag === tag ? null : refTag, sameOutput: stripMs(b.out) === stripMs(best.get(refTag)!.out),
        });
      }
    }

    log('decode share and decoder agreement, in this process');
    const wasm = await loadWasmDecoders();
    const agreements: Agreement[] = [];
    const shares: ShareResult[] = [];
    const sharedPhotos = PHOTOS.map((p) => path.join(shared, 'images', p));
    for (const key of o.models) {
      const model = await loadInThread(models[key].path);
      try {
        agreements.push((await measureInProcess(model, key, sharedPhotos, wasm, o.batch, 'the 8 shared photos')).agreement);
        const big = await measureInProcess(model, key, set.files.map((f) => path.join(photosDir, f)), wasm, o.batch, `the ${o.count} photos`);
        agreements.push(big.agreement);
        shares.push(...big.shares);
      } finally {
        model.dispose();
      }
    }
    const coresEnd = await usableCores();
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: `${os.cpus()[0]?.model ?? 'unknown'} (${os.availableParallelism()} cores)`,
      usableCores: { start: coresStart, end: coresEnd },
      loadavg: { start: loadStart, end: os.loadavg() },
      photos: { count: o.count, png: set.png, jpeg: set.jpeg, megapixels: set.megapixels, seed: SEED },
      batch: o.batch,
      repeat: o.repeat,
      runs,
      shares,
      agreements,
      wasmFallbacks: wasm.fallbacks,
    };
    if (o.json) process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
    else process.stdout.write(report(result, models));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function report(r: { usableCores: { start: number; end: number }; loadavg: { start: number[]; end: number[] }; cpu: string; node: string; photos: { count: number; png: number; jpeg: number; megapixels: number }; batch: number; repeat: number; runs: RunResult[]; shares: ShareResult[]; agreements: Agreement[] }, models: Record<string, { label: string }>): string {
  const lines: string[] = [];
  lines.push(`# classify throughput (${r.cpu}, Node ${r.node})`, '');
  lines.push(`${r.photos.count} photos (${r.photos.png} PNG, ${r.photos.jpeg} JPEG, ${r.photos.megapixels.toFixed(0)} MP in all), --batch ${r.batch}, best of ${r.repeat}.`);
  lines.push(`Usable cores (two spinning threads): ${r.usableCores.start.toFixed(2)} at the start, ${r.usableCores.end.toFixed(2)} at the end; load ${r.loadavg.start.map((l) => l.toFixed(2)).join(' ')} -> ${r.loadavg.end.map((l) => l.toFixed(2)).join(' ')}.`);
  lines.push('images/s: (N - 1) / (T(N) - T(1)), process start and model load excluded; with them, N / T(N). CPU ms/image: the process\'s CPU time (every thread) the same way, (C(N) - C(1)) / (N - 1); cores busy: (C(N) - C(1)) / (T(N) - T(1)); others busy: the cores other processes kept busy during the run (/proc/stat), out of ' + String(os.availableParallelism()) + '.', '');
  lines.push('| model | --jobs | --decoder | T(N) s | T(1) s | images/s | with start | vs first | CPU ms/image | cores busy | others busy | output |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const x of r.runs) {
    lines.push(`| ${x.model} | ${x.jobs === 0 ? 'other build' : x.jobs} | ${x.jobs === 0 ? '' : x.decoder} | ${(x.wallMs / 1000).toFixed(1)} | ${(x.oneMs / 1000).toFixed(2)} | ${x.imagesPerS.toFixed(1)} | ${x.imagesPerSWithStart.toFixed(1)} | ${x.ratio.toFixed(2)}x | ${x.cpuMsPerImage.toFixed(1)} | ${x.coresBusy.toFixed(2)} | ${x.othersCores.toFixed(2)} | ${x.sameOutputAs === null ? 'reference' : x.sameOutput ? `= ${x.sameOutputAs}` : `DIFFERS from ${x.sameOutputAs}`} |`);
  }
  lines.push('', 'Decode share (one thread, in process: read + decode + crop + resize, beside normalise + inference):', '');
  lines.push('| model | decoder | prepare ms/image | inference ms/image | decode share |', '|---|---|---|---|---|');
  for (const s of r.shares) lines.push(`| ${s.model} | ${s.decoder} | ${s.prepareMsPerImage.toFixed(2)} | ${s.inferenceMsPerImage.toFixed(2)} | ${(s.decodeShare * 100).toFixed(1)}% |`);
  lines.push('', '--decoder wasm against js (the model input bytes and the logits):', '');
  lines.push('| model | photos | top-1 agree | max logit diff | bytes differing | max byte diff | JPEG: top-1 agree | JPEG: max logit diff |', '|---|---|---|---|---|---|---|---|');
  for (const a of r.agreements) {
    lines.push(`| ${a.model} | ${a.set} | ${a.top1Agree}/${a.images} (${((a.top1Agree / a.images) * 100).toFixed(1)}%) | ${a.maxLogitDiff.toFixed(4)} | ${(a.bytesDiffering * 100).toFixed(2)}% | ${a.maxByteDiff} | ${a.jpeg.top1Agree}/${a.jpeg.images} | ${a.jpeg.maxLogitDiff.toFixed(4)} |`);
  }
  lines.push('', ...Object.entries(models).map(([k, m]) => `${k}: ${m.label}`), '');
  return `${lines.join('\n')}\n`;
}

try {
  await main(parseArgs(process.argv.slice(2)));
} catch (e) {
  process.stderr.write(`classify-throughput: ${(e as Error)?.message ?? e}\n`);
  process.exit(1);
}
