/**
 * A fixed pool of decode workers (worker_threads) for `mobilenet classify --jobs N`: each worker
 * reads, decodes, crops and resizes one file at a time (prepare.ts) and hands back the model-size
 * uint8 RGB; the main thread normalises and runs the model. Our own small pool rather than a
 * library (piscina was weighed): the work is one kind of task on a fixed number of threads, and
 * what the CLI needs is precise behaviour at the edges, which a few lines here give exactly:
 *
 * - Answers are values, never rejections (prepare.ts): a file the caller prefetched but no longer
 *   waits for (Ctrl-C, a closed pipe) can never become an unhandled rejection.
 * - A worker that dies while it holds a file (a crash, an exit, an out-of-memory end) fails that
 *   file only, with ERR_WORKER naming it; a fresh worker takes its place and the run goes on.
 * - A worker that dies before it is ready (its code cannot load, a thread cannot start) breaks
 *   the pool: every file waiting, and every later one, gets a `fatal` answer, which ends the run
 *   with one ERR_WORKER line instead of one per file.
 * - Tasks go to ready workers only, at most two each: the one it runs and the next, so that a
 *   worker never waits for the main thread (busy running the model) to be given its next file.
 *   A worker runs its files in order, so a crash is blamed on the first; the second goes back to
 *   the queue for another worker.
 * - Workers keep the process alive only while they hold or wait for work (ref/unref), and
 *   `close()` terminates them all: the process ends with the run, whatever way it ends.
 *
 * The queue has no bound of its own: the caller bounds it (the CLI keeps a window of files ahead).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ErrorCodes } from '../errors.js';
import { wasmCodecFiles } from '../image/wasm-decode.js';
import type { DecoderName, Prepared } from './prepare.js';
import type { FromWorker, Task, WorkerSetup } from './protocol.js';

export interface PoolOptions {
  /** Workers, at least 1. */
  jobs: number;
  decoder: DecoderName;
}

/** The default number of decode workers: the cores this process may use. */
export const defaultJobs = (): number => Math.max(1, availableParallelism());

/** Files a worker is given at once: the one it runs and the next. */
const TASKS_PER_WORKER = 2;

interface Pending extends Task {
  resolve(result: Prepared): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** Files sent and not answered, in the order sent: the worker runs them in that order, the first now. */
  tasks: Pending[];
  /** The first error the worker reported, kept to say why it ended. */
  reason: string | null;
  refed: boolean;
}

/** Workers started and not yet ended, in this process (tests check that none is left). */
let live = 0;
export const liveDecodeWorkers = (): number => live;

export class DecodePool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private broken: string | null = null;

  private constructor(
    private readonly entry: URL,
    private readonly setup: WorkerSetup,
    jobs: number,
  ) {
    for (let i = 0; i < jobs; i++) this.slots.push(this.spawn());
  }

  /** Starts `jobs` workers (they load their code while the caller goes on). */
  static async start(options: PoolOptions): Promise<DecodePool> {
    const setup: WorkerSetup = { decoder: options.decoder, wasmFiles: options.decoder === 'wasm' ? wasmCodecFiles() : null };
    return new DecodePool(await workerEntry(), setup, options.jobs);
  }

  get size(): number {
    return this.slots.length;
  }

  /** `file` read, decoded and resized to `height` x `width` by the next free worker. Never rejects. */
  prepare(file: string, height: number, width: number): Promise<Prepared> {
    if (this.broken !== null) return Promise.resolve(this.fatal());
    if (this.closed) return Promise.resolve(stopped(file));
    return new Promise<Prepared>((resolve) => {
      this.queue.push({ id: this.nextId++, file, height, width, resolve });
      this.dispatch();
    });
  }

  /** Ends every worker; what was still waiting is answered as not run. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const answer = (task: Pending) => task.resolve(this.broken !== null ? this.fatal() : stopped(task.file));
    for (const slot of this.slots) {
      slot.tasks.splice(0).forEach(answer);
      void slot.worker.terminate();
    }
    for (const task of this.queue.splice(0)) answer(task);
  }

  private spawn(): Slot {
    // A worker inherits the process's Node options; --input-type (a script given by -e or stdin) makes it refuse its entry.
    const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
    // stdout: its own stream, read and dropped: nothing a worker prints may land among the results on our stdout.
    const worker = new Worker(this.entry, { workerData: this.setup, execArgv, stdout: true });
    worker.stdout.resume();
    live++;
    const slot: Slot = { worker, ready: false, tasks: [], reason: null, refed: true };
    worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
    worker.on('error', (e) => (slot.reason ??= (e as Error)?.message ?? String(e)));
    worker.on('messageerror', (e) => (slot.reason ??= `a message could not be read (${e?.message ?? e})`));
    worker.on('exit', (code) => {
      live--;
      this.onExit(slot, code);
    });
    this.updateRef(slot);
    return slot;
  }

  private dispatch(): void {
    // The least busy ready worker first, so that a free worker is never left waiting while another holds two.
    for (let depth = 0; depth < TASKS_PER_WORKER; depth++) {
      for (const slot of this.slots) {
        if (this.queue.length === 0) break;
        if (!slot.ready || slot.tasks.length !== depth) continue;
        const task = this.queue.shift()!;
        slot.tasks.push(task);
        slot.worker.postMessage({ id: task.id, file: task.file, height: task.height, width: task.width } satisfies Task);
      }
    }
    for (const slot of this.slots) this.updateRef(slot);
  }

  /** A worker holds the process open only while it has files, or is starting while files wait. */
  private updateRef(slot: Slot): void {
    const wanted = !this.closed && (slot.tasks.length > 0 || (!slot.ready && this.queue.length > 0));
    if (wanted === slot.refed) return;
    slot.refed = wanted;
    if (wanted) slot.worker.ref();
    else slot.worker.unref();
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    if (message.type === 'ready') {
      slot.ready = true;
    } else {
      const at = slot.tasks.findIndex((t) => t.id === message.id);
      if (at < 0) return;
      const [task] = slot.tasks.splice(at, 1);
      task!.resolve(message.result);
    }
    if (!this.closed) this.dispatch();
  }

  private onExit(slot: Slot, code: number): void {
    if (this.closed) return;
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    const reason = slot.reason ?? `it exited with code ${code}`;
    if (!slot.ready) {
      this.broken = `a decode worker could not start (${reason})`;
      this.close();
      return;
    }
    const [task, ...waiting] = slot.tasks.splice(0);
    task?.resolve({ ok: false, code: ErrorCodes.WORKER, message: `${task.file}: the decode worker reading it ended (${reason}); the file was not classified`, ms: 0 });
    // The files it had not started go to the front of the queue, in order.
    this.queue.unshift(...waiting);
    // A fresh worker in its place; the run goes on.
    this.slots[index] = this.spawn();
    this.dispatch();
  }

  private fatal(): Prepared {
    return { ok: false, code: ErrorCodes.WORKER, message: `--jobs: ${this.broken}`, ms: 0, fatal: true };
  }
}

function stopped(file: string): Prepared {
  return { ok: false, code: ErrorCodes.WORKER, message: `${file}: not run (the decode workers were stopped)`, ms: 0 };
}

/**
 * The worker's script: decode-worker.js beside this module. Run from the TypeScript sources (the
 * tests), there is no such file: the worker is bundled from its sources (source-entry.ts).
 */
async function workerEntry(): Promise<URL> {
  if (!import.meta.url.endsWith('.ts')) return new URL('./decode-worker.js', import.meta.url);
  const { bundledWorker } = await import('./source-entry.js');
  return bundledWorker(new URL('./decode-worker.ts', import.meta.url));
}
