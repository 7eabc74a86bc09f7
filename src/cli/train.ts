/**
 * `mobilenet train DATASET_DIR --out head.safetensors`: a classification head (src/head/) on your
 * own classes, one folder per class.
 *
 *   DATASET_DIR/cat/*.png, DATASET_DIR/dog/*.jpg, ...   (class names are the folder names; images
 *                                                        are found in each folder and its subfolders)
 *
 * Order of work: flags, the --out file (refused if it exists, without --force), the dataset (an
 * empty class folder or a single class is refused), the split, the model, then embedding with a
 * progress bar (on a terminal), training, validation and the file.
 *
 * Validation: `--validation F` (default 0.2) of each class's images, chosen with `--seed`, are held
 * out whole: neither they nor their augmented copies are trained on (a class with one image has
 * none held out). The per-class accuracy and the confusion table are printed (stdout), then the
 * head is written (trained on the training images; `--refit` trains it again on all of them
 * first). A file that cannot be read is reported with its path and skipped; the exit code is then 2.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import type { BackendName } from '../backend.js';
import { ErrorCodes, MobilenetError, badOption, fail } from '../errors.js';
import { loadInThread } from '../engine/load-core.js';
import type { MobileNet } from '../engine/mobilenet.js';
import { describeIdentity } from '../head/identity.js';
import { createEmbedder, trainOnEmbedded, type Embedded } from '../head/train.js';
import type { Head, HeadMethod } from '../head/heads.js';
import { mulberry32 } from '../model/random.js';
import { shuffle } from '../head/math.js';
import { integer, parseBackend } from './flags.js';
import { collectInputs, resolveModel } from './inputs.js';
import { EXIT_USAGE, errnoWords, printable, type CommandStatus, type Io } from './io.js';
import { Interrupted, Interrupts } from './signals.js';
import { writeAtomically } from './write-atomically.js';

interface TrainFlags {
  out: string;
  method: HeadMethod;
  model?: string;
  backend?: BackendName;
  /** --dequantize: load(..., { dequantize: true }) (a head for `classify --dequantize`). */
  dequantize?: boolean;
  validation: number;
  seed: number;
  augment: number;
  k?: number;
  l2?: number;
  unknown?: boolean;
  refit?: boolean;
  force?: boolean;
  json?: boolean;
  progress?: boolean;
}

function parseMethod(value: string): HeadMethod {
  if (value !== 'knn' && value !== 'linear') badOption('--method', value, '"knn" or "linear"');
  return value;
}

function parseFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n < 1)) badOption('--validation', value, 'a fraction from 0 to below 1, such as 0.2');
  return n;
}

function parseL2(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0) || !Number.isFinite(n)) badOption('--l2', value, 'a number above 0, such as 0.001');
  return n;
}

export function registerTrain(program: Command, io: Io, status: CommandStatus): void {
  program
    .command('train')
    .description('train a classification head on your own classes (one folder of images per class) and write it as safetensors')
    .argument('<dataset>', 'a folder with one subfolder of PNG or JPEG images per class; the subfolder names are the class names')
    .requiredOption('--out <file>', 'the head to write (.safetensors); an existing file is replaced only with --force')
    .option('--method <name>', 'knn (stored examples, k nearest per class) or linear (softmax regression)', parseMethod, 'knn')
    .option('--model <path|url>', 'the base model, as for classify (default: the model in the package)')
    .option('--backend <name>', 'reference or wasm (default: wasm where available)', parseBackend)
    .option('--dequantize', 'a uint8 or int8 TFLite model computed in float32 on its dequantized weights (its head then answers with classify --dequantize); default: in integers')
    .option('--validation <fraction>', "each class's share of images held out for validation, chosen with --seed (0: none)", parseFraction, 0.2)
    .option('--seed <n>', 'seed of the split and the augmentation', integer('--seed', 0, 0xffffffff), 1)
    .option('--augment <n>', 'augmented copies of each training image (flips, crops, colour jitter; 0: none)', integer('--augment', 0, 256), 0)
    .option('--k <k>', 'knn: neighbours per class', integer('--k', 1, 1000))
    .option('--l2 <x>', 'linear: the L2 penalty (default 0.001)', parseL2)
    .option('--unknown', 'choose a threshold below which the head answers <unknown>')
    .option('--refit', 'after validating, train again on all the images (validation ones included) before writing')
    .option('--force', 'replace an existing --out file')
    .option('--json', 'the report as one JSON object on stdout instead of tables')
    .option('--no-progress', 'no progress bar (it shows only on a terminal anyway)')
    .action(async (dataset: string, flags: TrainFlags) => {
      status.exitCode = await train(dataset, flags, io);
    });
}

interface Item {
  file: string;
  cls: number;
  /** Its place in the dataset: the group of its augmented copies. */
  index: number;
}

async function findDataset(dataset: string, io: Io): Promise<{ labels: string[]; items: Item[]; failed: number }> {
  let info;
  try {
    info = statSync(dataset);
  } catch (err) {
    return fail(ErrorCodes.IO, `${dataset}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot read (${errnoWords(err)})`}`);
  }
  if (!info.isDirectory()) fail(ErrorCodes.HEAD_DATA, `${dataset}: expected a folder with one subfolder of images per class, found a file`);
  let names: string[];
  try {
    names = (await readdir(dataset, { withFileTypes: true })).filter((d) => d.isDirectory() || (d.isSymbolicLink() && statSync(join(dataset, d.name)).isDirectory())).map((d) => d.name).sort();
  } catch (err) {
    return fail(ErrorCodes.IO, `${dataset}: cannot list the folder (${errnoWords(err)})`);
  }
  if (names.length === 0) fail(ErrorCodes.HEAD_DATA, `${dataset}: no class folders; expected one subfolder of images per class (at least 2)`);
  const items: Item[] = [];
  let failed = 0;
  for (const [cls, name] of names.entries()) {
    const inputs = await collectInputs([join(dataset, name)]);
    const readable = inputs.entries.filter((e) => !e.error);
    for (const e of inputs.entries.filter((e) => e.error)) {
      failed++;
      io.stderr(`mobilenet: ${e.error!.code}: ${printable(e.error!.message)}\n`);
    }
    if (readable.length === 0) fail(ErrorCodes.HEAD_DATA, `class ${JSON.stringify(name)}: ${inputs.empty[0] ?? `no readable images in ${join(dataset, name)}`}; every class needs at least one image`);
    for (const e of readable) items.push({ file: e.file, cls, index: items.length });
  }
  if (names.length < 2) fail(ErrorCodes.HEAD_DATA, `${dataset}: only one class folder (${JSON.stringify(names[0])}); expected at least 2`);
  return { labels: names, items, failed };
}

/** Per class: a seeded shuffle, then the first round(fraction * n) held out (at most n - 1). */
function split(items: Item[], classes: number, fraction: number, seed: number): { train: Item[]; held: Item[] } {
  const next = mulberry32(seed);
  const held = new Set<Item>();
  for (let c = 0; c < classes; c++) {
    const mine = shuffle(items.filter((i) => i.cls === c), next);
    const n = Math.min(mine.length - 1, Math.round(mine.length * fraction));
    for (const item of mine.slice(0, n)) held.add(item);
  }
  return { train: items.filter((i) => !held.has(i)), held: items.filter((i) => held.has(i)) };
}

class Progress {
  private readonly enabled: boolean;
  private readonly start = performance.now();
  constructor(
    private readonly io: Io,
    wanted: boolean,
  ) {
    this.enabled = wanted && io.stderrIsTTY === true;
  }
  show(what: string, done: number, total: number): void {
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    const rate = done / Math.max((performance.now() - this.start) / 1000, 1e-3);
    this.io.stderr(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${what} ${done}/${total}  ${rate.toFixed(1)} img/s \x1b[K`);
  }
  clear(): string {
    return this.enabled ? '\r\x1b[K' : '';
  }
  finish(): void {
    if (this.enabled) this.io.stderr('\r\x1b[K');
  }
}

async function train(dataset: string, flags: TrainFlags, io: Io): Promise<number> {
  if (!flags.out.toLowerCase().endsWith('.safetensors')) badOption('--out', flags.out, 'a file name ending in .safetensors');
  if (flags.k !== undefined && flags.method !== 'knn') badOption('--k', flags.k, 'only with --method knn');
  if (flags.l2 !== undefined && flags.method !== 'linear') badOption('--l2', flags.l2, 'only with --method linear');
  if (existsSync(flags.out)) {
    if (statSync(flags.out).isDirectory()) fail(ErrorCodes.IO, `--out ${flags.out}: is a folder; name a file to write`);
    if (!flags.force) fail(ErrorCodes.IO, `--out ${flags.out}: the file exists (${statSync(flags.out).size} bytes); pass --force to replace it`);
  } else if (!existsSync(dirname(flags.out)) || !statSync(dirname(flags.out)).isDirectory()) {
    fail(ErrorCodes.IO, `--out ${flags.out}: cannot create it: the folder ${dirname(flags.out)} does not exist`);
  }
  const { labels, items, failed: unreadable } = await findDataset(dataset, io);
  const { train: trainItems, held } = split(items, labels.length, flags.validation, flags.seed);
  const modelSource = await resolveModel(flags.model);
  const interrupts = new Interrupts();
  const progress = new Progress(io, flags.progress !== false);
  let model: MobileNet | null = null;
  let failed = unreadable;
  try {
    model = await loadInThread(modelSource, { ...(flags.backend ? { backend: flags.backend } : {}), ...(flags.dequantize ? { dequantize: true } : {}), signal: interrupts.controller.signal }).catch((err: unknown) => {
      interrupts.check();
      throw err;
    });
    const options = {
      method: flags.method,
      seed: flags.seed,
      ...(flags.augment > 0 ? { augment: { copies: flags.augment } } : {}),
      ...(flags.k !== undefined ? { k: flags.k } : {}),
      ...(flags.l2 !== undefined ? { l2: flags.l2 } : {}),
      ...(flags.unknown ? { unknown: true } : {}),
      signal: interrupts.controller.signal,
    };
    const embedder = await createEmbedder(model, options);
    const copies = embedder.copies;
    const total = trainItems.length * (1 + copies) + held.length + (flags.refit ? held.length * copies : 0);
    let done = 0;
    const data: Embedded = { rows: [], classes: [], groups: [] };
    const heldRows: { item: Item; row: Float32Array }[] = [];
    const embedAll = async (list: Item[], augment: boolean, into: (item: Item, rows: Float32Array[]) => void) => {
      for (const item of list) {
        interrupts.check();
        try {
          into(item, await embedder.embed({ image: item.file }, item.file, augment));
        } catch (err) {
          if (interrupts.signal) throw new Interrupted(interrupts.signal);
          if (!(err instanceof MobilenetError) || err.code === ErrorCodes.ABORTED) throw err;
          failed++;
          io.stderr(`${progress.clear()}mobilenet: ${err.code}: ${printable(err.message)}\n`);
        }
        done += augment ? 1 + copies : 1;
        progress.show('embedding', done, total);
      }
    };
    const addRows = (item: Item, rows: Float32Array[]) => {
      for (const row of rows) {
        data.rows.push(row);
        data.classes.push(item.cls);
        data.groups.push(item.index);
      }
    };
    await embedAll(trainItems, true, addRows);
    await embedAll(held, false, (item, rows) => heldRows.push({ item, row: rows[0]! }));
    progress.finish();
    interrupts.check();
    const t0 = performance.now();
    let head = trainOnEmbedded(model, embedder.base, labels, data, options);
    const trainMs = performance.now() - t0;
    const report = validate(head, labels, heldRows, flags.validation);
    const noThreshold = () => {
      if (flags.unknown && head.threshold === null) {
        io.stderr('mobilenet: --unknown: no threshold could be chosen (no example was answered right without having been seen: give classes two images or more, or --augment); the head never answers <unknown>\n');
      }
    };
    if (flags.refit && held.length > 0) {
      // The validation images join the training ones (augmented like them), then train again.
      await embedAll(held, true, addRows);
      progress.finish();
      interrupts.check();
      head = trainOnEmbedded(model, embedder.base, labels, data, options);
    }
    noThreshold();
    const bytes = head.save();
    await writeAtomically(flags.out, bytes);
    const summary = {
      out: flags.out,
      method: head.method,
      classes: labels,
      images: { train: trainItems.length, validation: held.length, failed },
      examples: head.training.examples,
      augmentedCopies: copies,
      trainMs: Math.round(trainMs),
      ...(head.training.iterations !== undefined ? { iterations: head.training.iterations } : {}),
      threshold: head.threshold,
      refit: Boolean(flags.refit && held.length > 0),
      bytes: bytes.length,
      base: head.base,
      validation: report,
    };
    if (flags.json) io.stdout(`${JSON.stringify(summary)}\n`);
    else io.stdout(formatReport(summary, report, labels));
    return failed > 0 ? EXIT_USAGE : 0;
  } catch (err) {
    progress.finish();
    if (err instanceof Interrupted || interrupts.signal) {
      io.stderr(`mobilenet: interrupted; ${flags.out} was not written\n`);
      return interrupts.exitCode;
    }
    throw err;
  } finally {
    model?.dispose();
    interrupts.dispose();
  }
}

interface ValidationReport {
  images: number;
  correct: number;
  accuracy: number | null;
  perClass: { label: string; images: number; correct: number; accuracy: number | null }[];
  /** confusion[truth][predicted], the last column `<unknown>` when the head has a threshold. */
  confusion: number[][];
  unknown: number;
}

function validate(head: Head, labels: string[], held: { item: Item; row: Float32Array }[], fraction: number): ValidationReport | null {
  if (fraction === 0) return null;
  const C = labels.length;
  const confusion = labels.map(() => new Array<number>(C + 1).fill(0));
  let unknown = 0;
  for (const { item, row } of held) {
    const top = head.predictEmbedding(row)[0]!;
    const p = labels.indexOf(top.label);
    if (p < 0) unknown++;
    confusion[item.cls]![p < 0 ? C : p]!++;
  }
  const perClass = labels.map((label, c) => {
    const images = confusion[c]!.reduce((a, b) => a + b, 0);
    const correct = confusion[c]![c]!;
    return { label, images, correct, accuracy: images ? correct / images : null };
  });
  const correct = perClass.reduce((a, p) => a + p.correct, 0);
  return { images: held.length, correct, accuracy: held.length ? correct / held.length : null, perClass, confusion: head.threshold === null ? confusion.map((r) => r.slice(0, C)) : confusion, unknown };
}

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

function formatReport(s: { out: string; method: string; examples: number; augmentedCopies: number; trainMs: number; iterations?: number; threshold: number | null; refit: boolean; bytes: number; base: Parameters<typeof describeIdentity>[0]; images: { train: number; validation: number; failed: number } }, report: ValidationReport | null, labels: string[]): string {
  const lines: string[] = [];
  const name = (l: string) => printable(l);
  if (report && report.images > 0) {
    lines.push(`validation: ${report.correct}/${report.images} correct (${pct(report.accuracy)})${report.unknown ? `, ${report.unknown} answered <unknown>` : ''}`);
    const w = Math.max(5, ...labels.map((l) => name(l).length));
    lines.push('');
    lines.push(`${'class'.padEnd(w)}  images  correct  accuracy`);
    for (const p of report.perClass) lines.push(`${name(p.label).padEnd(w)}  ${String(p.images).padStart(6)}  ${String(p.correct).padStart(7)}  ${pct(p.accuracy).padStart(8)}`);
    lines.push('');
    const cols = report.confusion[0]!.length > labels.length ? [...labels, '<unknown>'] : labels;
    const cw = cols.map((c) => Math.max(4, name(c).length));
    lines.push(`confusion (rows: true class, columns: predicted)`);
    lines.push(`${''.padEnd(w)}  ${cols.map((c, i) => name(c).padStart(cw[i]!)).join('  ')}`);
    report.confusion.forEach((row, r) => lines.push(`${name(labels[r]!).padEnd(w)}  ${row.map((v, i) => String(v).padStart(cw[i]!)).join('  ')}`));
    lines.push('');
  } else if (report) {
    lines.push('validation: no image held out (each class has a single image)');
  }
  const iterations = s.iterations !== undefined ? `, ${s.iterations} L-BFGS iterations` : '';
  lines.push(
    `${printable(s.out)}: ${s.method} head, ${labels.length} classes, ${s.examples} examples from ${s.images.train}${s.refit ? ` + ${s.images.validation}` : ''} images` +
      `${s.augmentedCopies ? ` (${s.augmentedCopies} augmented copies each)` : ''}, trained in ${s.trainMs} ms${iterations}` +
      `${s.threshold !== null ? `, unknown below ${s.threshold.toPrecision(4)}` : ''}, ${s.bytes} bytes; base ${describeIdentity(s.base)}`,
  );
  if (s.images.failed > 0) lines.push(`${s.images.failed} file${s.images.failed === 1 ? '' : 's'} could not be read (reported above)`);
  return `${lines.join('\n')}\n`;
}
