/**
 * Node's file system and paths, loaded so that a failure to load is not an error: in a browser
 * the rest of the package still loads, and only a call that needs a file path is refused.
 */
import { ErrorCodes, MobilenetError, fail } from '../errors.js';

const fsp = await import('node:fs/promises').catch(() => null);
const path = await import('node:path').catch(() => null);
const url = await import('node:url').catch(() => null);

function need<T>(mod: T | null, what: string): T {
  return mod ?? fail(ErrorCodes.IO, `${what} needs Node's file system; in this runtime pass the bytes instead`);
}

export const readFile = (p: string) => need(fsp, `reading ${p}`).readFile(p);
export const stat = (p: string) => need(fsp, `reading ${p}`).stat(p);
export const join = (...parts: string[]) => need(path, 'a file path').join(...parts);
export const dirname = (p: string) => need(path, 'a file path').dirname(p);
export const fileURLToPath = (u: URL) => need(url, 'a file: URL').fileURLToPath(u);

/** Runs a file (or fetch) operation, turning its failure into ERR_IO named after `what`; our own errors pass through. */
export async function io<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof MobilenetError) throw e;
    return fail(ErrorCodes.IO, `${what}: ${(e as Error)?.message ?? String(e)}`, e);
  }
}
