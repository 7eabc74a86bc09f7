/** What every subcommand shares: where it writes, the exit codes, and how text is made safe to print. */

/**
 * Where a command writes; tests pass collectors, the bin passes the process streams (output.ts).
 * `stdout` may throw: `OutputClosed` when the reader went away (`| head -1`), or ERR_IO when the
 * output cannot take more (a full disk). Either ends the command; run() turns them into exit codes.
 */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stderr is a terminal: progress bars show only then. */
  stderrIsTTY?: boolean;
  /**
   * Resolves once stdout has taken what was written (a slow pipe reader holds a long run back
   * instead of letting it buffer without bound); throws as `stdout` does when a write failed late.
   */
  flush?(): Promise<void>;
}

/** Refused input (bad options, bad files), or output that cannot be written: the user can fix it. */
export const EXIT_USAGE = 2;
/** Anything else is a bug in the engine. */
export const EXIT_INTERNAL = 1;

/** What a command reports back besides errors: the exit code of a run that finished with failures. */
export interface CommandStatus {
  exitCode: number;
}

/**
 * The reader of our output went away (EPIPE: `mobilenet classify ... | head -1`). Not a failure:
 * the run ends at once, quietly, with exit code 0, as Unix tools do when their reader has enough.
 */
export class OutputClosed extends Error {
  constructor(readonly where: string) {
    super(`${where}: the reader closed the output`);
    this.name = 'OutputClosed';
  }
}

/**
 * C0 and C1 control characters (ESC, NUL, CR, ...), DEL, the Unicode line separators and the
 * bidirectional overrides: text from files (labels, file names) that could move the cursor, recolour
 * the terminal, hide text or break a line. JSON.stringify escapes C0 already; this covers the rest.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every character of UNPRINTABLE written as `\uXXXX` (ESC becomes the six characters `\u001b`). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for this file system or for the process file size limit',
  EIO: 'input/output error',
  EISDIR: 'is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
  EBADF: 'not open for writing',
  ENXIO: 'no process is reading it',
  EMFILE: 'too many open files',
  EEXIST: 'already exists',
  EBUSY: 'busy',
};

/** An errno code in plain words with the code after it: `no space left on the device, ENOSPC`. */
export function errnoWords(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') return ERRNO_WORDS[code] ? `${ERRNO_WORDS[code]}, ${code}` : code;
  return String((err as Error | null)?.message ?? err);
}

/** `cannot read (ENOENT)` as the loaders word it, with the code's plain words: `cannot read (no such file or folder, ENOENT)`. */
export function plainErrno(message: string): string {
  return message.replace(/\((E[A-Z]+)\)/g, (whole, code: string) => (ERRNO_WORDS[code] ? `(${ERRNO_WORDS[code]}, ${code})` : whole));
}
