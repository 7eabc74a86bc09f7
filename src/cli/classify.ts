/**
 * `mobilenet classify <images and folders...> --model <path>`: top-K classes per image.
 * A file that cannot be read or decoded is reported (one line on stderr, and a JSON line with
 * `error` under --json) and the others still run; the exit code says that one failed.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { ErrorCodes, MobilenetError, badOption, fail } from '../errors.js';
import { loadModelFile, type LoadedModel } from '../formats/index.js';
import { parseLabels } from '../formats/labels.js';
import { preprocessImage, normalizePixels } from '../image/index.js';
import { createModel, type BackendName, type MobileNet } from '../model/mobilenet.js';
import { EXIT_USAGE, type CommandStatus, type Io } from './main.js';

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

interface ClassifyFlags {
  model: string;
  labels?: string;
  top: number;
  json?: boolean;
  backend?: BackendName;
}

export function registerClassify(program: Command, io: Io, status: CommandStatus): void {
  program
    .command('classify')
    .description('top-K ImageNet classes for each image (PNG or JPEG); folders are walked')
    .argument('<paths...>', 'image files and folders')
    .requiredOption('--model <path>', 'model: a TF.js model directory or model.json, a .safetensors or a .tflite file')
    .option('--labels <file>', 'class names, one per line (default: the model\'s own, or a labels file beside it)')
    .option('--top <k>', 'classes per image', parseTop, 5)
    .option('--json', 'one JSON object per image: {"file","top":[{"index","label","probability","logit"}],"ms"}')
    .option('--backend <name>', 'reference or wasm (default: wasm where available)', parseBackend)
    .action(async (paths: string[], flags: ClassifyFlags) => {
      status.exitCode = await classify(paths, flags, io);
    });
}

function parseTop(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) badOption('--top', value, 'a positive integer');
  return Number(value);
}

function parseBackend(value: string): BackendName {
  if (value !== 'reference' && value !== 'wasm') badOption('--backend', value, '"reference" or "wasm"');
  return value;
}

async function classify(paths: string[], flags: ClassifyFlags, io: Io): Promise<number> {
  const loaded = await loadModelFile(flags.model);
  const labels = flags.labels ? await readLabels(flags.labels) : (loaded.labels ?? (await findLabelsBeside(flags.model, loaded)));
  // Without SIMD the default falls back to the reference path (with a warning); an explicit --backend wasm does not.
  const model = await createModel({
    ...loaded.options,
    weights: loaded.weights,
    labels,
    backend: flags.backend ?? 'wasm',
    fallback: flags.backend ? 'none' : 'reference',
  });
  const size = model.architecture.inputShape[0];
  let failed = 0;
  let done = 0;
  const report = (file: string, err: unknown) => {
    failed++;
    const code = err instanceof MobilenetError ? err.code : ErrorCodes.IO;
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`mobilenet: ${code}: ${file}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (flags.json) io.stdout(JSON.stringify({ file, error: { code, message } }) + '\n');
  };
  try {
    for await (const entry of walk(paths)) {
      if ('error' in entry) {
        report(entry.file, entry.error);
        continue;
      }
      try {
        const bytes = new Uint8Array(await readFile(entry.file));
        const pixels = preprocessImage(bytes, size, entry.file);
        const start = performance.now();
        const [top] = model.classify(normalizePixels([pixels], size, loaded.pixelNormalization), flags.top);
        const ms = performance.now() - start;
        io.stdout(flags.json ? JSON.stringify({ file: entry.file, top, ms }) + '\n' : formatTop(entry.file, top!, ms));
        done++;
      } catch (err) {
        report(entry.file, err);
      }
    }
  } finally {
    model.dispose();
  }
  if (failed > 0) io.stderr(`mobilenet: classified ${done}, failed ${failed}\n`);
  return failed > 0 ? EXIT_USAGE : 0;
}

function formatTop(file: string, top: ReturnType<MobileNet['classify']>[number], ms: number): string {
  const lines = top.map((t) => `  ${(t.probability * 100).toFixed(2).padStart(6)}%  ${t.label ?? `class ${t.index}`} (${t.index})`);
  return `${file}  (${ms.toFixed(1)} ms)\n${lines.join('\n')}\n`;
}

type WalkEntry = { file: string } | { file: string; error: unknown };

/** Files as named, folders walked recursively in name order (images by extension only). */
async function* walk(paths: string[]): AsyncGenerator<WalkEntry> {
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      yield { file: path, error: new MobilenetError(ErrorCodes.IO, `cannot read: ${(error as NodeJS.ErrnoException).code ?? error}`) };
      continue;
    }
    if (!info.isDirectory()) {
      yield { file: path };
      continue;
    }
    const names = (await readdir(path)).sort();
    const children = [];
    for (const name of names) {
      const child = join(path, name);
      const s = await stat(child).catch(() => null);
      if (s?.isDirectory() || IMAGE_EXTENSIONS.test(name)) children.push(child);
    }
    yield* walk(children);
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

/** A labels file with exactly one line per class, in the model's folder or the one above it. */
async function findLabelsBeside(modelPath: string, loaded: LoadedModel): Promise<string[] | undefined> {
  const classes = loaded.options.numClasses ?? 1001;
  const start = (await stat(modelPath).catch(() => null))?.isDirectory() ? modelPath : dirname(modelPath);
  for (const dir of [start, dirname(start)]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => /labels.*\.txt$/i.test(n)).sort()) {
      const labels = parseLabels(await readFile(join(dir, name), 'utf8').catch(() => ''));
      if (labels.length === classes) return labels;
    }
  }
  return undefined;
}
