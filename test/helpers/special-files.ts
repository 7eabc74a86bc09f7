/**
 * Files that are not regular files, for the hardening tests (bad-inputs.md case 23): named pipes,
 * a Unix socket, /dev/zero, a directory where a file is expected; deeply nested JSON (case 22);
 * and a bound on how long a refusal may take, so that a read that blocks fails the test instead
 * of hanging the run.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { expect } from 'vitest';
import { MobilenetError } from '../../src/errors.js';

export const HAVE_DEV_ZERO = process.platform !== 'win32' && existsSync('/dev/zero');
export const HAVE_MKFIFO = process.platform !== 'win32' && (() => {
  try {
    execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Makes a named pipe at `path` (nobody writes to it: an open for reading would wait for ever). */
export function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

/**
 * Opens `fifo` for writing and closes it at once: a reader blocked in open() on it (the bug these
 * tests look for) is released and sees end of file, so a failed test does not leave a thread
 * of the pool stuck for the rest of the run.
 */
export function releaseFifo(fifo: string): void {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: nobody is reading it, nothing to release.
  }
}

/** A Unix socket listening at `path`; close it with `server.close()`. */
export async function unixSocket(path: string): Promise<Server> {
  const server = createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  return server;
}

/** How long a refusal may take before it counts as a hang. */
export const HANG_MS = 5_000;

/**
 * Awaits `p` and returns the MobilenetError it rejects with; fails the test when it resolves,
 * rejects with anything else, or takes longer than HANG_MS (then `onHang` runs, to release it).
 */
export async function refusal(p: Promise<unknown> | (() => unknown), onHang?: () => void): Promise<MobilenetError> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), HANG_MS)));
  let outcome: unknown;
  try {
    const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
    outcome = await Promise.race([run.then(() => 'resolved' as const, (e: unknown) => ({ error: e })), hang]);
  } finally {
    clearTimeout(timer);
  }
  if (outcome === 'hang') {
    onHang?.();
    throw new Error(`no answer within ${HANG_MS} ms (a read that waits for ever?)`);
  }
  if (outcome === 'resolved') throw new Error('expected a MobilenetError, but the call succeeded');
  const error = (outcome as { error: unknown }).error;
  if (!(error instanceof MobilenetError)) throw new Error(`expected a MobilenetError, got ${(error as Error)?.stack ?? String(error)}`);
  return error;
}

/** `refusal`, then the code and every pattern checked against the message. */
export async function expectRefused(p: Promise<unknown> | (() => unknown), code: string, ...patterns: (string | RegExp)[]): Promise<MobilenetError> {
  const e = await refusal(p);
  expect(e.code, e.message).toBe(code);
  for (const m of patterns) expect(e.message).toMatch(m);
  return e;
}

/** About 10 KB of nested brackets: `[[[...1...]]]`. */
export const DEEP_ARRAY = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
/** About 12 KB of nested objects: `{"a":{"a":...1...}}`. */
export const DEEP_OBJECT = `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`;

/** `value` as JSON text with the string `"@@DEEP@@"` replaced by `deep` (JSON.stringify itself overflows on such depths). */
export function withDeep(value: unknown, deep: string): string {
  const text = JSON.stringify(value);
  if (!text.includes('"@@DEEP@@"')) throw new Error('withDeep: no "@@DEEP@@" placeholder in the value');
  return text.replace('"@@DEEP@@"', deep);
}
