/**
 * What `classify` reads: the images named or found in folders, and the model a folder holds.
 *
 * Folders are walked recursively in name order; PNG and JPEG by extension (a file named on the
 * command line is always tried). Other files are counted, not read; a folder in which nothing
 * can be classified is reported with what was skipped. A folder reached twice (a symlink loop)
 * is walked once.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ErrorCodes, MobilenetError, fail } from '../errors.js';
import { errnoWords } from './io.js';

const IMAGE_EXTENSIONS = /\.(png|jpe?g)$/i;

export interface Entry {
  file: string;
  /** Why it cannot be read (the message names the path). */
  error?: MobilenetError;
}

export interface Inputs {
  entries: Entry[];
  /** Files in the folders that are not PNG or JPEG by name. */
  skipped: number;
  /** Folders with nothing to classify, as messages naming them. */
  empty: string[];
}

interface Count {
  images: number;
  skipped: Map<string, number>;
}

export async function collectInputs(paths: readonly string[]): Promise<Inputs> {
  const inputs: Inputs = { entries: [], skipped: 0, empty: [] };
  const seen = new Set<string>();
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      inputs.entries.push({ file: path, error: unreadable(path, err) });
      continue;
    }
    if (!info.isDirectory()) {
      inputs.entries.push({ file: path });
      continue;
    }
    const real = await realpath(path).catch(() => path);
    if (seen.has(real)) continue;
    const count: Count = { images: 0, skipped: new Map() };
    const before = inputs.entries.length;
    await walk(path, real, seen, inputs, count);
    const skipped = [...count.skipped.values()].reduce((a, b) => a + b, 0);
    inputs.skipped += skipped;
    // A folder whose only entries are failures (an unreadable subfolder) is reported by those.
    if (count.images === 0 && inputs.entries.length === before) {
      inputs.empty.push(`no PNG or JPEG files found in ${path} (${skipped === 0 ? 'it holds no files' : `${plural(skipped, 'other file')} skipped: ${kinds(count.skipped)}`})`);
    }
  }
  return inputs;
}

async function walk(dir: string, real: string, seen: Set<string>, inputs: Inputs, count: Count): Promise<void> {
  seen.add(real);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    inputs.entries.push({ file: dir, error: new MobilenetError(ErrorCodes.IO, `${dir}: cannot list the folder (${errnoWords(err)})`) });
    return;
  }
  for (const name of names) {
    const child = join(dir, name);
    let info = null;
    let statError: unknown = null;
    try {
      info = await stat(child);
    } catch (err) {
      statError = err;
    }
    if (info?.isDirectory()) {
      const childReal = await realpath(child).catch(() => child);
      if (!seen.has(childReal)) await walk(child, childReal, seen, inputs, count);
    } else if (IMAGE_EXTENSIONS.test(name)) {
      count.images++;
      inputs.entries.push(info ? { file: child } : { file: child, error: unreadable(child, statError) });
    } else {
      const ext = extname(name).toLowerCase() || '(no extension)';
      count.skipped.set(ext, (count.skipped.get(ext) ?? 0) + 1);
    }
  }
}

function unreadable(path: string, err: unknown): MobilenetError {
  const missing = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
  return new MobilenetError(ErrorCodes.IO, `${path}: ${missing ? 'does not exist' : `cannot read (${errnoWords(err)})`}`);
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** `2 .txt, 1 .webp`, the commonest first, at most four kinds. */
function kinds(skipped: Map<string, number>): string {
  const sorted = [...skipped].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = sorted.slice(0, 4).map(([ext, n]) => `${n} ${ext}`);
  return sorted.length > 4 ? `${shown.join(', ')}, …` : shown.join(', ');
}

const MODEL_FILE = /\.(tflite|safetensors)$/i;

/**
 * `--model DIR`: the one `.tflite`, `.safetensors` or `model.json` directly in the folder. Several
 * are refused (ERR_OPTION, listing them), none is ERR_IO saying what was looked for. URLs and
 * files pass as they are.
 */
export async function resolveModel(model: string | undefined): Promise<string | undefined> {
  if (model === undefined || /^[a-z][a-z0-9+.-]+:/i.test(model)) return model;
  const info = await stat(model).catch(() => null);
  if (!info?.isDirectory()) return model;
  let names: string[];
  try {
    names = (await readdir(model)).sort();
  } catch (err) {
    return fail(ErrorCodes.IO, `--model ${model}: cannot list the folder (${errnoWords(err)})`);
  }
  const found: string[] = [];
  for (const name of names) {
    if (!(MODEL_FILE.test(name) || name === 'model.json')) continue;
    if ((await stat(join(model, name)).catch(() => null))?.isFile()) found.push(name);
  }
  if (found.length === 1) return join(model, found[0]!);
  if (found.length === 0) {
    return fail(ErrorCodes.IO, `--model ${model}: no model in the folder (looked for a .tflite file, a .safetensors file or a TF.js model.json directly in it)`);
  }
  return fail(ErrorCodes.OPTION, `--model ${model}: the folder holds ${found.length} models (${found.join(', ')}); name the one to use`);
}
