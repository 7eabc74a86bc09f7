/**
 * `mobilenet classify <images and folders...> --model <path>`: top-K classes per image.
 *
 * Folders are walked (PNG and JPEG by extension; a file named on the command line is always
 * tried). Images run in batches. A file that cannot be read or decoded is reported with its
 * path and reason and the run goes on; the exit code says that one failed. Results are written
 * as they are computed, one complete line at a time, so an interrupted run (Ctrl-C) leaves a
 * valid file with everything done so far.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { BackendName } from '../backend.js';
import { ErrorCodes, MobilenetError, badOption, fail } from '../errors.js';
import { parseLabels } from '../formats/labels.js';
import { loadInThread } from '../engine/load-core.js';
import type { BatchFailure, Classification, MobileNet } from '../engine/mobilenet.js';
import { integer, parseBackend } from './flags.js';
import { EXIT_USAGE, type CommandStatus, type Io } from './io.js';

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;
/** Exit code of a run stopped by SIGINT, as shells report it. */
export const EXIT_INTERRUPTED = 130;

interface ClassifyFlags {
  model?: string;
  labels?: string;
  top: number;
  batch: number;
  json?: boolean;
  csv?: boolean;
  out?: string;
  progress?: boolean;
  backend?: BackendName;
}

export function registerClassify(program: Command, io: Io, status: CommandStatus): void {
  program
    .command('classify')
    .description('top-K ImageNet classes for each image (PNG or JPEG); folders are walked')
    .argument('<paths...>', 'image files and folders')
    .option('--model <path|url>', 'a TF.js model directory or model.json, a .safetensors or a .tflite file; a path or an http(s) URL (default: the model in the package, MobileNet v1 0.5 @ 160 uint8)')
    .option('--labels <file>', "class names, one per line (default: the model's own, a labels file beside it, or ImageNet's for 1000 and 1001 classes)")
    .option('--top <k>', 'classes per image', integer('--top', 1, 4096), 5)
    .option('--batch <n>', 'images per inference', integer('--batch', 1, 4096), 8)
    .option('--json', 'JSON lines: {"file","top":[{"index","label","probability","logit"}],"ms"}, or {"file","error":{"code","message"}}')
    .option('--csv', 'CSV: file,rank,index,label,probability,logit,error')
    .option('--out <file>', 'write the results to this file as they are computed (stdout otherwise)')
    .option('--no-progress', 'no progress bar (it shows only on a terminal anyway)')
    .option('--backend <name>', 'reference or wasm (default: wasm where available)', parseBackend)
    .action(async (paths: string[], flags: ClassifyFlags) => {
      if (flags.json && flags.csv) badOption('--csv', true, 'not together with --json');
      status.exitCode = await classify(paths, flags, io);
    });
}


interface Result {
  file: string;
  top?: Classification[];
  ms?: number;
  error?: { code: string; message: string };
}

async function classify(paths: string[], flags: ClassifyFlags, io: Io): Promise<number> {
  const labels = flags.labels ? await readLabels(flags.labels) : undefined;
  // The same path as the API's load(): labels and pixel normalisation found from the file.
  // Without SIMD the default falls back to the reference path (with a warning); an explicit --backend wasm does not.
  const model = await loadInThread(flags.model, { ...(labels ? { labels } : {}), ...(flags.backend ? { backend: flags.backend } : {}) });
  try {
    return await classifyWith(model, paths, flags, io);
  } finally {
    // Every way out, including a failure to walk a folder or to open --out.
    model.dispose();
  }
}

async function classifyWith(model: MobileNet, paths: string[], flags: ClassifyFlags, io: Io): Promise<number> {
  const files = await collect(paths);
  const sink = openSink(flags, io);
  const progress = new Progress(files.length, io, flags.progress !== false);
  let done = 0;
  let failed = 0;
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
  };
  process.once('SIGINT', onInterrupt);

  const emit = (r: Result) => {
    if (r.error) {
      failed++;
      const named = r.error.message.includes(r.file) ? r.error.message : `${r.file}: ${r.error.message}`;
      io.stderr(`${progress.clearLine()}mobilenet: ${r.error.code}: ${named.replace(/\s*\n\s*/g, ' ')}\n`);
    } else {
      done++;
    }
    sink.write(r);
    progress.tick();
  };

  try {
    for (let start = 0; start < files.length && !interrupted; start += flags.batch) {
      const chunk = files.slice(start, start + flags.batch);
      const results: Result[] = chunk.map((entry) => (entry.error ? { file: entry.file, error: describeError(entry.error) } : { file: entry.file }));
      const readable = results.filter((r) => !r.error);
      if (readable.length > 0) {
        const t0 = performance.now();
        let tops: (Classification[] | null)[];
        let failures: BatchFailure['failures'] = [];
        try {
          tops = await model.classifyBatch(readable.map((r) => r.file), flags.top, { batchSize: readable.length });
        } catch (err) {
          const partial = err as MobilenetError & Partial<BatchFailure>;
          if (!partial.results || !partial.failures) throw err;
          tops = partial.results;
          failures = partial.failures;
        }
        const ms = (performance.now() - t0) / readable.length;
        readable.forEach((r, k) => {
          const failure = failures.find((f) => f.index === k);
          if (failure) r.error = { code: failure.code, message: failure.message };
          else Object.assign(r, { top: tops[k]!, ms });
        });
      }
      results.forEach(emit);
      // Let a pending SIGINT be seen between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    sink.close();
    progress.finish();
  }
  const skipped = files.length - done - failed;
  if (failed > 0 || interrupted || files.length > 1) {
    io.stderr(`mobilenet: classified ${done}, failed ${failed}${interrupted ? `, interrupted with ${skipped} not run` : ''}\n`);
  }
  if (interrupted) return EXIT_INTERRUPTED;
  return failed > 0 ? EXIT_USAGE : 0;
}

function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof MobilenetError) return { code: err.code, message: err.message };
  const e = err as NodeJS.ErrnoException;
  return { code: ErrorCodes.IO, message: e?.code ? `cannot read (${e.code})` : String(e?.message ?? err) };
}

interface Sink {
  write(r: Result): void;
  close(): void;
}

/** Writes each result as one complete line, synchronously, so nothing done is lost on an interrupt. */
function openSink(flags: ClassifyFlags, io: Io): Sink {
  let fd: number | null = null;
  if (flags.out) {
    try {
      fd = openSync(flags.out, 'w');
    } catch (err) {
      fail(ErrorCodes.IO, `--out ${flags.out}: cannot write (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }
  const put = (text: string) => (fd === null ? io.stdout(text) : void writeSync(fd, text));
  if (flags.csv) put('file,rank,index,label,probability,logit,error\n');
  return {
    write(r) {
      if (flags.json) put(JSON.stringify(r.error ? { file: r.file, error: r.error } : { file: r.file, top: r.top, ms: r.ms }) + '\n');
      else if (flags.csv) put(csvRows(r));
      else if (!r.error) put(formatTop(r));
    },
    close() {
      if (fd !== null) closeSync(fd);
    },
  };
}

function csvRows(r: Result): string {
  const cell = (v: unknown) => {
    const s = v === undefined || v === null ? '' : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  if (r.error) return [r.file, '', '', '', '', '', `${r.error.code}: ${r.error.message}`].map(cell).join(',') + '\n';
  return r.top!.map((t, i) => [r.file, i + 1, t.index, t.label, t.probability, t.logit, ''].map(cell).join(',') + '\n').join('');
}

function formatTop(r: Result): string {
  const lines = r.top!.map((t) => `  ${(t.probability * 100).toFixed(2).padStart(6)}%  ${t.label ?? `class ${t.index}`} (${t.index})`);
  return `${r.file}  (${r.ms!.toFixed(1)} ms per image, batch average)\n${lines.join('\n')}\n`;
}

/** A one-line progress bar with rate and ETA on stderr, only when stderr is a terminal. */
class Progress {
  private done = 0;
  private readonly start = performance.now();
  private readonly enabled: boolean;
  constructor(
    private readonly total: number,
    private readonly io: Io,
    wanted: boolean,
  ) {
    this.enabled = wanted && total > 1 && io.stderrIsTTY === true;
  }
  tick(): void {
    this.done++;
    if (!this.enabled) return;
    const seconds = (performance.now() - this.start) / 1000;
    const rate = this.done / Math.max(seconds, 1e-3);
    const eta = (this.total - this.done) / rate;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    this.io.stderr(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total}  ${rate.toFixed(1)} img/s  ETA ${eta.toFixed(0)} s `);
  }
  clearLine(): string {
    return this.enabled ? '\r\x1b[K' : '';
  }
  finish(): void {
    if (this.enabled) this.io.stderr('\r\x1b[K');
  }
}

type WalkEntry = { file: string; error?: unknown };

async function collect(paths: string[]): Promise<WalkEntry[]> {
  const entries: WalkEntry[] = [];
  for await (const e of walk(paths)) entries.push(e);
  return entries;
}

/**
 * Files as named, folders walked recursively in name order (images by extension only). A folder
 * reached twice (a symlink loop) is walked once; a folder that cannot be listed is reported.
 */
async function* walk(paths: string[], seen = new Set<string>()): AsyncGenerator<WalkEntry> {
  const unreadable = (path: string, error: unknown) => ({
    file: path,
    error: new MobilenetError(ErrorCodes.IO, `cannot read (${(error as NodeJS.ErrnoException).code ?? error})`),
  });
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      yield unreadable(path, error);
      continue;
    }
    if (!info.isDirectory()) {
      yield { file: path };
      continue;
    }
    const real = await realpath(path).catch(() => path);
    if (seen.has(real)) continue;
    seen.add(real);
    let names: string[];
    try {
      names = (await readdir(path)).sort();
    } catch (error) {
      yield unreadable(path, error);
      continue;
    }
    const children = [];
    for (const name of names) {
      const child = join(path, name);
      const s = await stat(child).catch(() => null);
      if (s?.isDirectory() || IMAGE_EXTENSIONS.test(name)) children.push(child);
    }
    yield* walk(children, seen);
  }
}

async function readLabels(path: string): Promise<string[]> {
  try {
    return parseLabels(await readFile(path, 'utf8'));
  } catch (err) {
    if (err instanceof MobilenetError) throw err;
    return fail(ErrorCodes.IO, `--labels ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}
