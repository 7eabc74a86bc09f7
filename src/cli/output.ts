/**
 * Writing output so that every fault ends the run cleanly:
 *
 * - a closed pipe (EPIPE) throws `OutputClosed`: the command stops and exits 0, quietly;
 * - any other write error (a full disk, a file size limit, an I/O error) throws ERR_IO naming
 *   where it was writing;
 * - a line is written whole or not at all: when a regular file takes only part of a line (the
 *   disk filled up in the middle of it), the part is cut off again, so the file ends on the last
 *   complete line.
 *
 * Regular files and devices are written with synchronous writes (an interrupted run loses
 * nothing it reported); pipes, sockets and terminals through Node's stream, whose errors arrive
 * asynchronously and are thrown by the next write or by `flush`.
 */
import { closeSync, fstatSync, ftruncateSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { ErrorCodes, MobilenetError } from '../errors.js';
import { OutputClosed, errnoWords, type Io } from './io.js';

/** What a write failure becomes: `OutputClosed` for a reader that went away, ERR_IO otherwise. */
export function writeFailure(err: unknown, where: string): Error {
  if (err instanceof OutputClosed || err instanceof MobilenetError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED') return new OutputClosed(where);
  return new MobilenetError(ErrorCodes.IO, `${where}: cannot write (${errnoWords(err)})`, { cause: err });
}

/** What kind of thing a descriptor writes to: a regular file can be cut back after a partial line. */
export type FdKind = 'file' | 'pipe' | 'device';

export function fdKind(fd: number): FdKind {
  const s = fstatSync(fd);
  if (s.isFile()) return 'file';
  if (s.isFIFO() || s.isSocket()) return 'pipe';
  return 'device';
}

/**
 * Whole-line synchronous writes to a descriptor. `where` names it in errors (`stdout`,
 * `--out results.jsonl`). After the first failure every write throws the same error.
 */
export class FdWriter {
  private fault: Error | null = null;
  /** Bytes written by this writer (complete writes only). */
  written = 0;
  constructor(
    readonly fd: number,
    readonly where: string,
    readonly kind: FdKind,
  ) {}

  write(text: string): void {
    if (this.fault) throw this.fault;
    const bytes = Buffer.from(text, 'utf8');
    // Only a regular file can be cut back; its size before the write is where the last complete line ends.
    let before = -1;
    let at = 0;
    try {
      if (this.kind === 'file') before = fstatSync(this.fd).size;
      while (at < bytes.length) at += writeSync(this.fd, bytes, at, bytes.length - at);
      this.written += bytes.length;
    } catch (err) {
      if (at > 0 && before >= 0) this.cutBack(before, at);
      this.fault = writeFailure(err, this.where);
      throw this.fault;
    }
  }

  /** Removes the `partial` bytes of an unfinished line, when they are what the file grew by (nobody else wrote). */
  private cutBack(before: number, partial: number): void {
    try {
      if (fstatSync(this.fd).size === before + partial) ftruncateSync(this.fd, before);
    } catch {
      // The write error is what gets reported.
    }
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // Closing after a failed write can fail again (EIO, ENOSPC on NFS); the first error was reported.
    }
  }
}

/**
 * The process's stdout and stderr as an `Io`. stderr errors are dropped (there is nowhere left to
 * report them, and a closed stderr must not crash the run); stdout errors end the command.
 */
export function processIo(): Io {
  // Errors of the streams would otherwise be thrown as "Unhandled 'error' event".
  process.stderr.on('error', () => {});
  return {
    stdout: stdoutWriter(),
    stderr: (text) => {
      if (!process.stderr.destroyed) process.stderr.write(text);
    },
    stderrIsTTY: process.stderr.isTTY === true,
    flush: flushStdout,
  };
}

let streamFault: Error | null = null;
let usesStream = false;

function stdoutWriter(): (text: string) => void {
  let kind: FdKind | null = null;
  try {
    kind = fdKind(1);
  } catch {
    // fd 1 closed: Node reopens it on /dev/null at start-up, so this is rare; the stream reports it.
  }
  if (kind === 'file' || (kind === 'device' && !isatty(1))) {
    // Node's stream for files drops the rest of a short write without an error: write ourselves.
    const writer = new FdWriter(1, 'stdout', kind);
    return (text) => writer.write(text);
  }
  usesStream = true;
  process.stdout.on('error', (err) => {
    streamFault ??= writeFailure(err, 'stdout');
  });
  return (text) => {
    if (streamFault) throw streamFault;
    process.stdout.write(text);
    // A write that fails at once (EPIPE on a pipe with no reader) marks the stream errored synchronously.
    const err = process.stdout.errored;
    if (err) {
      streamFault ??= writeFailure(err, 'stdout');
      throw streamFault;
    }
  };
}

/** Waits until the stdout stream has handed what it holds to the system; throws a write error that came late. */
async function flushStdout(): Promise<void> {
  if (!usesStream) return;
  const out = process.stdout;
  if (!streamFault && !out.destroyed && out.writableLength > 0) {
    // The callback of a write runs once everything before it is written, or with the error that stopped it.
    await new Promise<void>((resolve) => out.write('', (err) => {
      if (err) streamFault ??= writeFailure(err, 'stdout');
      resolve();
    }));
  }
  if (streamFault) throw streamFault;
}
