/**
 * `mobilenet classify <images and folders...> --model <path>`: top-K classes per image.
 *
 * Folders are walked (PNG and JPEG by extension; a file named on the command line is always
 * tried; other files are counted in the summary, and a folder with nothing to classify is
 * reported). Images run in batches. A file that cannot be read or decoded is reported once, with
 * its path and reason, and the run goes on; the exit code says that one failed.
 *
 * Results are written as they are computed, one whole result per write, so an interrupted run
 * (Ctrl-C) leaves a valid file with everything done so far, and `--resume` continues it. Output
 * faults end the run: a closed pipe quietly (exit 0), anything else with one ERR_IO line (exit 2),
 * the results written before it kept (output.ts). `--out` files: see out-file.ts.
 *
 * Order of work: flags, labels, the inputs, the --out file, then the model, so that everything
 * that can be refused is refused before the model is loaded.
 *
 * Decoding: with --jobs N (default: one per core) N worker threads read, decode and resize the
 * next images while this thread runs the model on the current batch; --jobs 1 does it all in this
 * thread, one image after the other. The model receives the same bytes either way, and the output
 * is the same, in the same order (image-feed.ts). --decoder wasm swaps the pure-JavaScript JPEG
 * and PNG decoders for WebAssembly builds of mozjpeg and the png crate (src/image/wasm-decode.ts):
 * faster, the same PNG pixels, JPEG pixels a few levels apart.
 *
 * --head FILE: a head trained by `mobilenet train` (src/head/) answers instead of the model's
 * classifier. The file is read and its format checked with the flags (before the model), then
 * checked against the model once it is loaded (its base model's identity: ERR_HEAD_MODEL), before
 * any image is run. Each image's embedding at the head's end point goes to the head; the results
 * have the head's class names, `index` the class's place in the head (the unknown answer: one
 * past the last class) and `logit` the head's score (kNN: mean cosine similarity; linear: logit).
 */
import { Option, type Command } from 'commander';
import type { BackendName } from '../backend.js';
import { ErrorCodes, MobilenetError, badOption, fail } from '../errors.js';
import { loadLabels } from '../formats/labels.js';
import { loadInThread } from '../engine/load-core.js';
import type { BatchFailure, Classification, MobileNet } from '../engine/mobilenet.js';
import { readBytes } from '../fetch.js';
import { MAX_MODEL_FILE_BYTES } from '../formats/index.js';
import { decodeHeadFile } from '../head/format.js';
import type { Head } from '../head/heads.js';
import { loadHead } from '../head/train.js';
import { normalizeRgb } from '../image/normalize.js';
import { defaultJobs } from '../pool/decode-pool.js';
import { DECODER_NAMES, type DecoderName, type Prepared } from '../pool/prepare.js';
import { integer, parseBackend } from './flags.js';
import { openFeed, type ImageFeed } from './image-feed.js';
import { collectInputs, resolveModel, type Entry } from './inputs.js';
import { EXIT_USAGE, errnoWords, plainErrno, printable, type CommandStatus, type Io } from './io.js';
import { prepareOut, type OutFile } from './out-file.js';
import { CSV_HEADER, formatFor, formatResult, resumeKey, withoutPath, type Format, type Result } from './results.js';
import { Interrupted, Interrupts } from './signals.js';

/** Exit code of a run stopped by SIGINT, as shells report it (SIGTERM: 143, SIGHUP: 129). */
export const EXIT_INTERRUPTED = 130;

interface ClassifyFlags {
  model?: string;
  labels?: string;
  top: number;
  batch: number;
  json?: boolean;
  csv?: boolean;
  out?: string;
  force?: boolean;
  resume?: boolean;
  progress?: boolean;
  backend?: BackendName;
  /** --dequantize: load(..., { dequantize: true }). */
  dequantize?: boolean;
  jobs: number;
  decoder: DecoderName;
  head?: string;
}

/** Most decode workers --jobs takes. */
const MAX_JOBS = 256;

function parseDecoder(value: string): DecoderName {
  if (!(DECODER_NAMES as readonly string[]).includes(value)) badOption('--decoder', value, DECODER_NAMES.map((d) => `"${d}"`).join(' or '));
  return value as DecoderName;
}

export function registerClassify(program: Command, io: Io, status: CommandStatus): void {
  program
    .command('classify')
    .description('top-K ImageNet classes for each image (PNG or JPEG); folders are walked')
    .argument('<paths...>', 'image files and folders')
    .option('--model <path|url>', 'a .tflite or .safetensors file, a TF.js model.json, or a folder holding exactly one of these; a path or an http(s) URL (default: the model in the package, MobileNet v1 0.5 @ 160 uint8)')
    .option('--labels <file>', "class names, one per line, UTF-8 (default: the model's own, a labels file beside it, or ImageNet's for 1000 and 1001 classes)")
    .option('--top <k>', 'classes per image', integer('--top', 1, 4096), 5)
    .option('--batch <n>', 'images per inference', integer('--batch', 1, 4096), 8)
    .option('--json', 'JSON lines: {"file","top":[{"index","label","probability","logit"}],"ms"}, or {"file","error":{"code","message"}}')
    .option('--csv', 'CSV: file,rank,index,label,probability,logit,error')
    .option('--out <file>', 'write the results to this file as they are computed (stdout otherwise); the format follows the extension (.csv, .jsonl or .ndjson; anything else: the table, failures included) unless --json or --csv is given; .json is refused (use .jsonl); one run at a time (FILE.lock beside it); devices and FIFOs are written in place')
    .option('--force', 'replace an existing --out file')
    .option('--resume', 'continue an existing --out file (JSON lines or CSV): skip the images it has results for, retry its failures, append the rest')
    .option('--no-progress', 'no progress bar (it shows only on a terminal anyway)')
    .option('--backend <name>', 'reference or wasm (default: wasm where available)', parseBackend)
    .option('--dequantize', "a uint8 or int8 TFLite model (the default model too) computed in float32 on its dequantized weights instead of in TFLite's integer arithmetic (the default: probability = the softmax integer / 256, logit dequantized); other models: no effect")
    .option('--head <file>', "a head made by `mobilenet train` on this --model (.safetensors): its classes answer instead of the model's (index: the class's place in the head, <unknown> one past the last; logit: the head's score); not with --labels")
    .addOption(
      new Option('--jobs <n>', 'threads that read, decode and resize the next images while the model runs; 1: everything in this thread, one image after the other')
        .argParser(integer('--jobs', 1, MAX_JOBS))
        .default(defaultJobs(), `one per core, ${defaultJobs()} here`),
    )
    .option('--decoder <name>', 'js: the pure-JavaScript JPEG and PNG decoders, the same pixels in every runtime; wasm: mozjpeg and the Rust png crate compiled to WebAssembly, faster, the same PNG pixels, JPEG pixels a few levels apart', parseDecoder, 'js')
    .action(async (paths: string[], flags: ClassifyFlags) => {
      if (flags.json && flags.csv) badOption('--csv', true, 'not together with --json');
      status.exitCode = await classify(paths, flags, io);
    });
}

interface Counts {
  done: number;
  failed: number;
  /** Entries not run because of a signal. */
  notRun: number;
  skipped: number;
  /** Files whose result was already in the --resume file. */
  already: number;
}

async function classify(paths: string[], flags: ClassifyFlags, io: Io): Promise<number> {
  const format = formatFor(flags);
  if (flags.resume && flags.out === undefined) badOption('--resume', true, 'together with --out FILE, the file to continue');
  if (flags.resume && flags.force) badOption('--resume', true, 'not together with --force (--force starts the file over, --resume continues it)');
  if (flags.resume && format === 'table') badOption('--resume', true, 'a JSON lines or CSV --out file (.jsonl, .ndjson or .csv, or --json / --csv): a table cannot be read back');
  if (flags.head !== undefined && flags.labels !== undefined) badOption('--labels', flags.labels, 'no --labels together with --head (the head names its own classes)');
  const labels = flags.labels ? await readLabels(flags.labels) : undefined;
  const head = flags.head !== undefined ? await readHead(flags.head) : undefined;
  const modelSource = await resolveModel(flags.model);

  const interrupts = new Interrupts();
  const counts: Counts = { done: 0, failed: 0, notRun: 0, skipped: 0, already: 0 };
  let out: OutFile | null = null;
  let total = 0;
  try {
    const inputs = await collectInputs(paths);
    counts.skipped = inputs.skipped;
    for (const message of inputs.empty) io.stderr(`mobilenet: ${ErrorCodes.INPUT}: ${printable(message)}\n`);
    // Nothing to classify: the folders were reported above; no output file is touched, no model loaded.
    if (inputs.entries.length === 0) return EXIT_USAGE;
    total = inputs.entries.length;
    let entries = inputs.entries;
    if (flags.out !== undefined) {
      out = await prepareOut(flags.out, { format, force: flags.force, resume: flags.resume, interrupts, io });
      const previous = out.previous;
      if (previous) {
        entries = entries.filter((e) => !previous.done.has(resumeKey(e.file)));
        counts.already = inputs.entries.length - entries.length;
      }
    }
    const status = await classifyEntries(entries, { flags, format, labels, head, modelSource, out, interrupts, counts, io });
    const problems = status || inputs.empty.length > 0;
    if (counts.failed > 0 || counts.notRun > 0 || inputs.entries.length > 1 || counts.skipped > 0 || counts.already > 0 || inputs.empty.length > 0) summary(counts, out, io);
    if (interrupts.signal) return interrupts.exitCode;
    return problems ? EXIT_USAGE : 0;
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    counts.notRun = Math.max(0, total - counts.already - counts.done - counts.failed);
    summary(counts, out, io);
    return interrupts.exitCode;
  } finally {
    out?.close();
    interrupts.dispose();
  }
}

function summary(c: Counts, out: OutFile | null, io: Io): void {
  const parts = [`classified ${c.done}`, `failed ${c.failed}`];
  if (c.notRun > 0) parts.push(`interrupted with ${c.notRun} not run`);
  if (c.skipped > 0) parts.push(`skipped ${c.skipped} ${c.skipped === 1 ? 'file that is' : 'files that are'} not PNG or JPEG`);
  if (c.already > 0 && out) parts.push(`${c.already} already in ${printable(out.where.replace(/^--out /, ''))}`);
  io.stderr(`mobilenet: ${parts.join(', ')}\n`);
}

interface Run {
  flags: ClassifyFlags;
  format: Format;
  labels: string[] | undefined;
  /** The --head file's bytes (its format already checked). */
  head: Uint8Array | undefined;
  modelSource: string | undefined;
  out: OutFile | null;
  interrupts: Interrupts;
  counts: Counts;
  io: Io;
}

/**
 * What answers for a batch of images already at the model's input size (uint8 RGB): the model's
 * classifier, or the --head on the model's embeddings.
 */
type Answer = (model: MobileNet, rgb: Uint8Array[], top: number) => Promise<Classification[][]>;

/** The model's classifier on raw pixels of exactly its size, which it takes as they are (no crop, no resize). */
const byClassifier: Answer = (model, rgb, top) => {
  const [height, width] = model.inputShape;
  return model.classifyBatch(rgb.map((data) => ({ data, width, height })), top, { batchSize: rgb.length });
};

/**
 * The head on the batch's embeddings at its end point: the model run once on the batch (the same
 * values per image as `model.embed`, which runs one image), each row to `head.predictEmbedding`.
 */
function byHead(head: Head): Answer {
  const index = new Map(head.labels.map((label, i) => [label, i]));
  const endpoint = head.base.endpoint;
  return async (model, rgb, top) => {
    const [height, width] = model.inputShape;
    const features = model.run(normalizeRgb(rgb, height, width, model.normalization), { outputs: [endpoint], checkOutputs: true })[endpoint]!.data;
    const dim = features.length / rgb.length;
    return rgb.map((_, k) =>
      head.predictEmbedding(features.subarray(k * dim, (k + 1) * dim), { topK: top }).map((p) => ({
        index: index.get(p.label) ?? head.labels.length,
        label: p.label,
        probability: p.probability,
        logit: p.score,
      })),
    );
  };
}

/** Runs the entries; returns true when one failed. The model is loaded only when there is an image to read. */
async function classifyEntries(entries: Entry[], run: Run): Promise<boolean> {
  const { flags, out, interrupts, counts, io } = run;
  let model: MobileNet | null = null;
  let feed: ImageFeed | null = null;
  let answer: Answer = byClassifier;
  let sink: Sink | null = null;
  const progress = new Progress(entries.length, io, flags.progress !== false);
  const emit = (r: Result) => {
    if (r.error) {
      counts.failed++;
      io.stderr(`${progress.clearLine()}mobilenet: ${r.error.code}: ${printable(r.file)}: ${printable(r.error.message)}\n`);
    } else {
      counts.done++;
    }
    sink!.write(r);
    progress.tick();
  };
  try {
    const files = entries.filter((e) => !e.error).map((e) => e.file);
    if (files.length > 0) {
      // The decode workers start while the model loads. A head reads prepared pixels, in this thread with --jobs 1.
      feed = await openFeed({ jobs: flags.jobs, decoder: flags.decoder, batch: flags.batch, prepared: run.head !== undefined }, files.length);
      model = await loadModel(run);
      let head: Head | null = null;
      if (run.head) {
        head = await loadHead(run.head, model, { name: `--head ${flags.head}` });
        answer = byHead(head);
      }
      checkResumeTop(run, model, head);
    }
    // Only now is the output touched: a model (or head) that cannot be loaded, or a Ctrl-C before
    // any image, leaves an --out file as it was.
    interrupts.check();
    await out?.open();
    sink = openSink(run);
    if (feed) {
      const [height, width] = model!.inputShape;
      feed.begin(files, height, width);
    }
    for (let start = 0; start < entries.length; start += flags.batch) {
      if (interrupts.signal) {
        counts.notRun = entries.length - start;
        break;
      }
      const chunk = entries.slice(start, start + flags.batch);
      const results: Result[] = chunk.map((e) => (e.error ? { file: e.file, error: describe(e.error, e.file) } : { file: e.file }));
      const readable = results.filter((r) => !r.error);
      if (readable.length > 0) await (feed ? classifyPrepared(model!, feed, answer, readable, flags.top) : classifyChunk(model!, readable, flags.top));
      results.forEach(emit);
      // Lets a pending signal be seen between batches, and a slow reader of a pipe hold the run back.
      await new Promise((resolve) => setImmediate(resolve));
      await io.flush?.();
    }
  } finally {
    progress.finish();
    feed?.close();
    model?.dispose();
  }
  return counts.failed > 0;
}

async function loadModel(run: Run): Promise<MobileNet> {
  const { flags, labels, modelSource, interrupts } = run;
  try {
    // The same path as the API's load(): labels and pixel normalisation found from the file.
    // Without SIMD the default falls back to the reference path (with a warning); an explicit --backend wasm does not.
    return await loadInThread(modelSource, {
      ...(labels ? { labels } : {}),
      ...(flags.backend ? { backend: flags.backend } : {}),
      ...(flags.dequantize ? { dequantize: true } : {}),
      signal: interrupts.controller.signal,
    });
  } catch (err) {
    interrupts.check();
    throw err;
  }
}

/** `--resume` of a file written with another --top would mix result sizes: refused. */
function checkResumeTop(run: Run, model: MobileNet, head: Head | null): void {
  const lengths = run.out?.previous?.topLengths;
  if (!lengths || lengths.size === 0) return;
  // A head answers each of its classes, and the unknown answer when it has a threshold.
  const classes = head ? head.labels.length + (head.threshold !== null ? 1 : 0) : model.numClasses;
  const wanted = Math.min(run.flags.top, classes);
  if (lengths.size > 1 || !lengths.has(wanted)) {
    fail(ErrorCodes.OPTION, `option --resume: ${run.out!.where} holds top-${[...lengths].join('/top-')} results; this run would write top-${wanted} (pass the --top the file was written with)`);
  }
}

async function classifyChunk(model: MobileNet, readable: Result[], top: number): Promise<void> {
  const t0 = performance.now();
  let tops: (Classification[] | null)[];
  let failures: BatchFailure['failures'] = [];
  try {
    tops = await model.classifyBatch(readable.map((r) => r.file), top, { batchSize: readable.length });
  } catch (err) {
    const partial = err as MobilenetError & Partial<BatchFailure>;
    if (!partial.results || !partial.failures) throw err;
    tops = partial.results;
    failures = partial.failures;
  }
  const ms = (performance.now() - t0) / readable.length;
  readable.forEach((r, k) => {
    const failure = failures.find((f) => f.index === k);
    if (failure) r.error = describe(failure, r.file);
    else Object.assign(r, { top: tops[k]!, ms, batch: readable.length });
  });
}

/**
 * One batch from the feed: the images' model-size RGB (prepared by the workers, or in this
 * thread with --jobs 1 and --decoder wasm or --head) go to `answer`: the same bytes as when the
 * model reads the files itself. `ms`: the time the files took to prepare (in whichever thread)
 * plus the batch's inference, per image, as classifyChunk measures it.
 */
async function classifyPrepared(model: MobileNet, feed: ImageFeed, answer: Answer, readable: Result[], top: number): Promise<void> {
  const prepared = await feed.next(readable.length);
  const ready: { r: Result; rgb: Uint8Array }[] = [];
  let prepareMs = 0;
  readable.forEach((r, k) => {
    const p: Prepared | undefined = prepared[k];
    if (!p) throw new Error(`classify: no image prepared for ${r.file}`);
    prepareMs += p.ms;
    if (p.ok) return void ready.push({ r, rgb: p.rgb });
    if (p.fatal) fail(p.code as never, p.message);
    // Not ours: a bug, which ends the run as one in this thread would.
    if (p.internal) throw new Error(p.message);
    r.error = describe(p, r.file);
  });
  if (ready.length === 0) return;
  const t0 = performance.now();
  // Whole images of the model's size: nothing in them can fail on its own (a failure here is the batch's, and ends the run).
  const tops = await answer(model, ready.map(({ rgb }) => rgb), top);
  const ms = (prepareMs + performance.now() - t0) / readable.length;
  ready.forEach(({ r }, k) => Object.assign(r, { top: tops[k]!, ms, batch: readable.length }));
}

/** A failure's code and message, the message without the file's path (the output names it once). */
function describe(err: { code: string; message: string }, file: string): { code: string; message: string } {
  return { code: err.code, message: plainErrno(withoutPath(err.message, file)) };
}

interface Sink {
  write(r: Result): void;
}

/**
 * Each result as one write. In a --out file, a write that fails reports what was kept: the
 * results before it are whole in the file (output.ts cuts off a partial line).
 */
function openSink({ format, out, io }: Run): Sink {
  if (!out) {
    if (format === 'csv') io.stdout(`${CSV_HEADER}\n`);
    return { write: (r) => io.stdout(formatResult(r, format, false)) };
  }
  let written = 0;
  const put = (text: string) => {
    try {
      out.write(text);
    } catch (err) {
      if (!(err instanceof MobilenetError) || !out.regular) throw err;
      const kept = written === 0 ? 'nothing was written to it' : `the ${written} result${written === 1 ? '' : 's'} written before are kept, whole`;
      throw new MobilenetError(err.code, `${err.message}; ${kept}${out.previous ? ' (besides what it held before)' : ''}`, { cause: err });
    }
  };
  if (format === 'csv' && out.fresh) put(`${CSV_HEADER}\n`);
  return {
    write(r) {
      put(formatResult(r, format, true));
      written++;
    },
  };
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

/**
 * `--head`: the file's bytes, its format checked now (ERR_HEAD_FORMAT, or the safetensors
 * container's own code), so that a broken head is refused before the model loads. Whether it
 * belongs to the model is checked once the model is loaded (ERR_HEAD_MODEL).
 */
async function readHead(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(path, MAX_MODEL_FILE_BYTES);
  } catch (err) {
    if (err instanceof MobilenetError) fail(err.code, `--head ${err.message}`, err);
    return fail(ErrorCodes.IO, `--head ${path}: cannot read (${errnoWords(err)})`, err);
  }
  decodeHeadFile(bytes, `--head ${path}`);
  return bytes;
}

/** `--labels`: read as the API reads a labels file (UTF-8 checked: ERR_HEADER_FORMAT otherwise). */
async function readLabels(path: string): Promise<string[]> {
  try {
    return await loadLabels(path);
  } catch (err) {
    if (err instanceof MobilenetError) fail(err.code, `--labels ${err.message}`, err);
    return fail(ErrorCodes.IO, `--labels ${path}: cannot read (${errnoWords(err)})`, err);
  }
}
