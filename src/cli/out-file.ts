/**
 * Opening `classify --out FILE`.
 *
 * A regular file (or a new one) is written by one run at a time: the run holds `FILE.lock`
 * (created with O_EXCL, holding "pid host"), made before the file is touched and removed on every
 * way out (the end, an error, a signal, process exit). A second run is refused with the pid that
 * holds it. A lock whose pid no longer runs on this host is stale and taken over; the take-over
 * itself is guarded by `FILE.lock.takeover` (O_EXCL), so two runs that find the same stale lock
 * cannot both take it.
 *
 * Why a lock and not "write a temporary file, rename at the end": results are written as they
 * are computed, so a stopped run (Ctrl-C, a kill, a full disk) leaves a valid file with what it
 * did, which `--resume` continues and `tail -f` follows; a rename at the end would leave nothing
 * under FILE until the end, and two runs would still race (the last rename silently discarding
 * the other's results). With the lock the second run is told at once.
 *
 * An existing non-empty file is replaced only with `--force`, or continued with `--resume`.
 * Devices and pipes (`/dev/stdout`, a FIFO) are written in place: no lock, no refusal, appended.
 */
import { accessSync, closeSync, constants, open, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync, type Stats } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCodes, badOption, fail } from '../errors.js';
import { FdWriter, fdKind } from './output.js';
import { errnoWords, type Io } from './io.js';
import { parsePrevious, type Format, type Previous } from './results.js';
import { Interrupted, type Interrupts } from './signals.js';

/** The largest file `--resume` reads back. */
const MAX_RESUME_BYTES = 1 << 30;
/** A lock file still empty after this long was left by a run that died while creating it. */
const EMPTY_LOCK_STALE_MS = 10_000;

export interface OutFile {
  /** `--out FILE`, for messages. */
  readonly where: string;
  /** False when the file already holds results (`--resume`): no CSV header. */
  readonly fresh: boolean;
  /** A regular file (results written to it are kept after a failure); false for devices and pipes. */
  readonly regular: boolean;
  /** What the earlier run wrote (`--resume`), or null. */
  readonly previous: Previous | null;
  /**
   * Opens the file for writing: truncates it (`--force`), or drops the earlier failures and
   * appends (`--resume`), or waits for a FIFO's reader. Called once the model is loaded, so a
   * model that cannot be loaded leaves the file as it was.
   */
  open(): Promise<void>;
  /** Writes one whole result (see FdWriter). */
  write(text: string): void;
  /** Closes the file and removes the lock. */
  close(): void;
}

export interface OutOptions {
  format: Format;
  force?: boolean;
  resume?: boolean;
  interrupts: Interrupts;
  io: Io;
}

const statOrNull = (path: string): Stats | null => {
  try {
    return statSync(path);
  } catch {
    return null;
  }
};

/** A descriptor's writer once `open` made it. */
function deferred(where: string, opener: () => Promise<FdWriter>, done: () => void = () => {}) {
  let writer: FdWriter | null = null;
  return {
    async open() {
      writer ??= await opener();
    },
    write(text: string) {
      if (!writer) throw new Error(`${where}: written before it was opened`);
      writer.write(text);
    },
    close() {
      writer?.close();
      done();
    },
  };
}

/**
 * Checks `--out` and takes its lock: everything that can be refused is refused here, before the
 * model is loaded; the file itself is opened (and truncated) by `open()`.
 */
export async function prepareOut(path: string, options: OutOptions): Promise<OutFile> {
  const where = `--out ${path}`;
  const cannot = (err: unknown): never => fail(ErrorCodes.IO, `${where}: cannot write (${errnoWords(err)})`, err);
  const absolute = resolve(path);
  // Our own stdout and stderr go through the process's streams: a socket (as Node's child processes
  // get) cannot be opened again by its /dev or /proc name, and the stream already holds the descriptor.
  const own = /^\/(?:dev\/(stdout|stderr|fd\/[12])|proc\/self\/fd\/[12])$/.exec(absolute);
  if (own) {
    if (options.resume) badOption('--resume', true, `a regular file to continue (${path} is this process's output)`);
    const stream = own[1] === 'stdout' || absolute.endsWith('/1') ? options.io.stdout : options.io.stderr;
    return { where, fresh: true, regular: false, previous: null, open: async () => {}, write: (text) => stream(text), close: () => {} };
  }
  const info = statOrNull(path);
  if (info?.isDirectory()) fail(ErrorCodes.IO, `${where}: is a folder; name a file to write`);
  const special = (info !== null && !info.isFile()) || /^\/(dev|proc)\//.test(absolute);
  if (special) {
    if (options.resume) badOption('--resume', true, `a regular file to continue (${path} is a device or a pipe)`);
    const file = deferred(where, async () => {
      const fd = await openInPlace(path, where, options);
      return new FdWriter(fd, where, fdKind(fd));
    });
    return { where, fresh: true, regular: false, previous: null, ...file };
  }
  if (info === null) {
    const parent = dirname(absolute);
    const folder = statOrNull(parent);
    if (folder === null) fail(ErrorCodes.IO, `${where}: cannot create it: the folder ${dirname(path)} does not exist`);
    if (!folder.isDirectory()) fail(ErrorCodes.IO, `${where}: cannot create it: ${dirname(path)} is not a folder`);
  }
  // The lock sits beside the real file, so two spellings of one path (or a symlink) share it.
  let real: string;
  try {
    real = info ? realpathSync(path) : join(realpathSync(dirname(absolute)), basename(absolute));
  } catch (err) {
    return cannot(err);
  }
  const lock = acquireLock(`${real}.lock`, where, `${path}.lock`, options.io);
  try {
    const now = statOrNull(real);
    let previous: Previous | null = null;
    if (now && now.size > 0 && !options.force && !options.resume) {
      fail(ErrorCodes.IO, `${where}: the file exists (${now.size} bytes); pass --force to replace it, or --resume to continue it`);
    }
    if (now) {
      // Refused now rather than after the model is loaded.
      try {
        accessSync(real, constants.W_OK);
      } catch (err) {
        cannot(err);
      }
    }
    if (options.resume && now && now.size > 0) {
      if (now.size > MAX_RESUME_BYTES) fail(ErrorCodes.IO, `${where}: ${now.size} bytes, above the ${MAX_RESUME_BYTES}-byte cap of --resume`);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(real));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code) return cannot(err);
        return fail(ErrorCodes.OPTION, `option --resume: ${where}: the file is not UTF-8 text; this is not a file classify wrote`);
      }
      previous = parsePrevious(text, options.format as Exclude<Format, 'table'>, where);
    }
    const kept = previous?.kept ?? null;
    const file = deferred(
      where,
      async () => {
        if (kept !== null) replaceContent(real, kept, now!.mode, where);
        return new FdWriter(openOrFail(real, previous ? 'a' : 'w', cannot), where, 'file');
      },
      () => lock.release(),
    );
    return { where, fresh: previous === null || kept === '', regular: true, previous, ...file };
  } catch (err) {
    lock.release();
    throw err;
  }
}

function openOrFail(path: string, flags: string, cannot: (err: unknown) => never): number {
  try {
    return openSync(path, flags);
  } catch (err) {
    return cannot(err);
  }
}

/** Rewrites `path` with `text` (a temporary file renamed over it: the old content or the new, never half of each). */
function replaceContent(path: string, text: string, mode: number, where: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode: mode & 0o777, flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Not created.
    }
    fail(ErrorCodes.IO, `${where}: cannot drop the earlier failures from it (${errnoWords(err)})`, err);
  }
}

/**
 * Opens a device or FIFO for appending. Opening a FIFO waits for a reader (as `echo > fifo` does):
 * the wait runs off the main thread, says so after a second, and a signal ends it (by opening
 * the FIFO for reading ourselves, which releases the pending open).
 */
async function openInPlace(path: string, where: string, { interrupts, io }: OutOptions): Promise<number> {
  if (!statOrNull(path)?.isFIFO()) {
    try {
      return openSync(path, 'a');
    } catch (err) {
      return fail(ErrorCodes.IO, `${where}: cannot write (${errnoWords(err)})`, err);
    }
  }
  const pending = new Promise<number>((res, rej) => open(path, 'a', (err, fd) => (err ? rej(err) : res(fd))));
  const note = setTimeout(() => io.stderr(`mobilenet: waiting for a process to read ${path}\n`), 1000);
  let reader: number | null = null;
  const stop = interrupts.onInterrupt(() => {
    try {
      reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      // The open went through meanwhile.
    }
  });
  try {
    const fd = await pending;
    if (interrupts.signal) {
      closeSync(fd);
      throw new Interrupted(interrupts.signal);
    }
    return fd;
  } catch (err) {
    if (err instanceof Interrupted) throw err;
    return fail(ErrorCodes.IO, `${where}: cannot write (${errnoWords(err)})`, err);
  } finally {
    clearTimeout(note);
    stop();
    if (reader !== null) closeSync(reader);
  }
}

interface Lock {
  release(): void;
}

/** Takes `lockPath` for this process (see the module comment), or refuses with who holds it. */
function acquireLock(lockPath: string, where: string, shown: string, io: Io): Lock {
  const content = `${process.pid} ${hostname()}\n`;
  for (let attempt = 0; ; attempt++) {
    let fd: number | null = null;
    try {
      fd = openSync(lockPath, 'wx');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') fail(ErrorCodes.IO, `${where}: cannot write in the folder ${dirname(shown)} (${errnoWords(err)})`, err);
      if (code !== 'EEXIST') fail(ErrorCodes.IO, `${where}: cannot create the lock file ${shown} beside it (${errnoWords(err)})`, err);
    }
    if (fd !== null) {
      try {
        writeSync(fd, content);
      } catch (err) {
        // A lock without its pid would hold others off for a while: remove it (a full disk, most likely).
        closeSync(fd);
        unlinkSync(lockPath);
        fail(ErrorCodes.IO, `${where}: cannot write the lock file ${shown} beside it (${errnoWords(err)})`, err);
      }
      closeSync(fd);
      break;
    }
    const holder = readLock(lockPath);
    if (holder === null) continue; // Released in between: try again.
    if (holder.live) {
      const who = holder.pid === null ? 'another run' : `another run (pid ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ''})`;
      fail(ErrorCodes.IO, `${where}: ${who} is writing it; wait for it to end, or remove ${shown} if no such run exists`);
    }
    if (attempt >= 100) fail(ErrorCodes.IO, `${where}: cannot take over the stale lock ${shown}; remove it`);
    if (takeOver(lockPath, holder.raw) && holder.pid !== null) {
      io.stderr(`mobilenet: ${shown} was left by pid ${holder.pid}, which is no longer running; taking it over\n`);
    }
  }
  const release = () => {
    process.removeListener('exit', release);
    try {
      if (readFileSync(lockPath, 'utf8') === content) unlinkSync(lockPath);
    } catch {
      // Already gone.
    }
  };
  // A process.exit() anywhere (a second Ctrl-C) still removes it.
  process.on('exit', release);
  return { release };
}

function readLock(lockPath: string): { raw: string; pid: number | null; host: string; live: boolean } | null {
  let raw: string;
  let mtime: number;
  try {
    raw = readFileSync(lockPath, 'utf8');
    mtime = statSync(lockPath).mtimeMs;
  } catch {
    return null;
  }
  const match = /^(\d+) (\S+)\n$/.exec(raw);
  if (!match) return { raw, pid: null, host: '', live: Date.now() - mtime < EMPTY_LOCK_STALE_MS };
  const pid = Number(match[1]);
  const host = match[2]!;
  return { raw, pid, host, live: host !== hostname() || isRunning(pid) };
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes a stale lock whose content is still `raw`, under the take-over guard. Returns true when
 * this run removed it; false when another run is taking over (the caller tries again).
 */
function takeOver(lockPath: string, raw: string): boolean {
  const guard = `${lockPath}.takeover`;
  try {
    closeSync(openSync(guard, 'wx'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') fail(ErrorCodes.IO, `cannot take over the stale lock ${lockPath} (${errnoWords(err)}); remove it`, err);
    // A guard is held for microseconds; one older than that was left by a run that died holding it.
    const age = Date.now() - (statOrNull(guard)?.mtimeMs ?? Date.now());
    if (age > EMPTY_LOCK_STALE_MS) {
      try {
        unlinkSync(guard);
      } catch {
        // Removed by another run.
      }
    } else {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    return false;
  }
  try {
    if (readFileSync(lockPath, 'utf8') !== raw) return false;
    unlinkSync(lockPath);
    return true;
  } catch {
    return false;
  } finally {
    try {
      unlinkSync(guard);
    } catch {
      // Removed as stale by another run (it waited more than EMPTY_LOCK_STALE_MS): nothing to undo.
    }
  }
}
