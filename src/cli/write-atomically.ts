/** Writing a command's --out file whole or not at all. */
import { rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCodes, fail } from '../errors.js';
import { errnoWords } from './io.js';

/** Beside the target, then renamed: a failed write never leaves half a file under the name. */
export async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    fail(ErrorCodes.IO, `--out ${path}: cannot write (${errnoWords(e)})`, e);
  }
}
