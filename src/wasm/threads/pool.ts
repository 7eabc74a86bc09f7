/**
 * The threads of one model: N - 1 workers beside the calling thread (or N workers when the
 * calling thread may not block: a browser's main thread), one shared WebAssembly.Memory, and a
 * control block in that memory through which they run the layers as steps.
 *
 * Control block (at `ctrl`, bytes; hot words on their own 64-byte lines):
 *   +0    GEN        run generation: workers sleep in Atomics.wait on it between runs
 *   +4    CMD        0 run, 1 exit
 *   +8    FIRST      first step of the run      +12 LAST   last step of the run
 *   +16   FAILED     0; 1 the run was abandoned; 2 a worker's kernels trapped
 *   +20   HOOK_STEP, +24 HOOK_THREAD, +28 HOOK_MODE   test hook (worker-source.ts)
 *   +32   GO         the generation whose input is in place: workers woken for a run wait for it
 *   +64   FIN        runs finished, summed over the workers (monotonic)
 *   +128 + 128 s     step s: items taken (+0), items done (+64)
 *   +128 + 128 S + 128 s   step s's descriptor (plan.ts, assembly/tiles.ts)
 *
 * A run: the host waits until every worker finished the previous run (FIN), resets the steps'
 * counters, bumps GEN and wakes the workers, copies the input in while they wake (tens of
 * microseconds on a VM), then sets GO. Every thread then does, for each step: take items
 * until none is left (run_tiles), then wait until the step's done counter reaches its item
 * count, a short spin and then Atomics.wait (whoever finishes the last item wakes the waiters).
 * A worker counts itself finished (FIN) as soon as it has no item of the last step left to take,
 * without that step's barrier: only the host waits for it. Between runs the workers sleep;
 * nothing spins after a run.
 *
 * Failure: the host blocked in Atomics.wait cannot see a worker's 'exit' event, so it waits in
 * slices and fails the run with ERR_WORKER when the counter it waits on has not moved for
 * `stallMs` (an item takes well under a millisecond to a few; a dead worker never finishes the
 * item it took). Outside a blocked wait, a worker's 'error' or 'exit' event fails the pool at
 * once. A failed pool ends its workers and refuses every later run with the same error.
 */
import { ErrorCodes, MobilenetError } from '../../errors.js';
import type { ThreadPort } from '../../platform/types.js';
import type { ThreadKernelExports } from '../kernels.js';
import { DESC_WORDS } from './plan.js';
import { THREAD_WORKER_BODY } from './worker-source.js';

/** Word indices (GEN ... FIN) and byte offsets (the rest) of the control block; sent to the workers. */
export const LAYOUT = {
  GEN: 0, CMD: 1, FIRST: 2, LAST: 3, FAILED: 4, HOOK_STEP: 5, HOOK_THREAD: 6, HOOK_MODE: 7, GO: 8, FIN: 16,
  COUNTERS: 128, COUNTER_BYTES: 128, DONE: 64, DESC_BYTES: DESC_WORDS * 4,
} as const;

/** Bytes of the control block for `steps` steps. */
export const controlBytes = (steps: number) => LAYOUT.COUNTERS + steps * (LAYOUT.COUNTER_BYTES + LAYOUT.DESC_BYTES);
/** Byte offset of step s's descriptor. */
export const descAt = (ctrl: number, steps: number, s: number) => ctrl + LAYOUT.COUNTERS + steps * LAYOUT.COUNTER_BYTES + s * LAYOUT.DESC_BYTES;
const counterAt = (ctrl: number, s: number) => ctrl + LAYOUT.COUNTERS + s * LAYOUT.COUNTER_BYTES;

/** Knobs, for tests and measurements. */
export const tuning = {
  /** No progress for this long while waiting: the run fails with ERR_WORKER. */
  stallMs: 5000,
  /** Atomics.load polls before a wait sleeps in Atomics.wait (a few microseconds). */
  spin: 2000,
  /** Wait slices (ms) between progress checks. */
  sliceMs: 50,
  /** Starting the workers takes at most this long. */
  startMs: 60_000,
  /** Tests: run as on a browser's main thread (the calling thread never blocks). */
  forceAsyncHost: false,
};

export interface PoolConfig {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  /** The calling thread's instance of the threads build (it works items in the blocking mode). */
  readonly kernels: ThreadKernelExports;
  /** Byte offset of the control block (controlBytes(steps) bytes, 64-byte aligned). */
  readonly ctrl: number;
  readonly steps: number;
  /** Threads that compute, the calling thread included when it blocks. */
  readonly threads: number;
  /** True: the calling thread may not block; `threads` workers compute and it awaits them. */
  readonly asyncHost: boolean;
  readonly spawn: (body: string) => Promise<ThreadPort>;
}

const now = () => performance.now();

/** True when this thread may block in Atomics.wait (not a browser's main thread). */
export function canBlock(): boolean {
  if (tuning.forceAsyncHost) return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

interface Pending {
  readonly gen: number;
  resolve(): void;
  reject(error: unknown): void;
}

export class ThreadPool {
  private readonly ports: ThreadPort[] = [];
  private i32: Int32Array;
  private gen = 0;
  private expectedFin = 0;
  private failure: MobilenetError | null = null;
  private disposed = false;
  private pending: Pending | null = null;
  /** Tests: called by the blocking host before it works each step. */
  beforeStep: ((step: number) => void) | null = null;
  /**
   * Benchmarks: when set (steps + 1 entries), the blocking host writes performance.now() at the
   * start of a run at [first] and when each step s is done by every thread at [s + 1].
   */
  profile: Float64Array | null = null;

  private constructor(private readonly cfg: PoolConfig) {
    this.i32 = new Int32Array(cfg.memory.buffer);
  }

  get workerCount(): number {
    return this.ports.length;
  }

  /** Starts the workers and resolves when each has instantiated the kernels; ERR_WORKER if one cannot. */
  static async start(cfg: PoolConfig): Promise<ThreadPool> {
    const pool = new ThreadPool(cfg);
    const count = cfg.asyncHost ? cfg.threads : cfg.threads - 1;
    const first = cfg.asyncHost ? 0 : 1;
    try {
      // One after another (each is quick: the workers start in parallel once created).
      for (let i = 0; i < count; i++) pool.ports.push(await cfg.spawn(THREAD_WORKER_BODY));
      const ports = pool.ports;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ready = ports.map((port, i) => new Promise<void>((resolve, reject) => {
        port.onMessage((raw) => {
          const m = raw as { type: string; message?: string; gen?: number; trapped?: boolean };
          if (m.type === 'ready') resolve();
          else if (m.type === 'done') pool.finished(m.gen!);
          else if (m.type === 'error') {
            const error = new MobilenetError(m.trapped ? ErrorCodes.KERNEL : ErrorCodes.WORKER, `${m.trapped ? 'wasm backend: ' : ''}thread worker ${first + i}: ${m.message}`);
            reject(error);
            pool.fail(error);
          }
        });
        port.onFailure((reason) => {
          const error = new MobilenetError(ErrorCodes.WORKER, `thread worker ${first + i} ${reason}`);
          reject(error);
          pool.fail(error);
        });
        port.post({
          type: 'init', module: cfg.module, memory: cfg.memory, ctrl: cfg.ctrl, thread: first + i,
          layout: { ...LAYOUT, DESCS: LAYOUT.COUNTERS + cfg.steps * LAYOUT.COUNTER_BYTES },
          threads: count, spin: tuning.spin, asyncHost: cfg.asyncHost, gen: 0,
        });
      }));
      await Promise.race([
        Promise.all(ready),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new MobilenetError(ErrorCodes.WORKER, `the thread workers did not start within ${tuning.startMs} ms`)), tuning.startMs);
        }),
      ]).finally(() => clearTimeout(timer));
    } catch (e) {
      pool.dispose();
      throw e instanceof MobilenetError ? e : new MobilenetError(ErrorCodes.WORKER, `cannot start the thread workers: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    for (const port of pool.ports) port.setIdle(true);
    return pool;
  }

  /** The memory grew: views over the new buffer (the control block itself never moves). */
  refreshViews(): void {
    this.i32 = new Int32Array(this.cfg.memory.buffer);
  }

  /**
   * Runs steps first..last on every thread, the calling thread working and blocking;
   * `prepare` (the input copy) runs while the workers wake.
   */
  run(first: number, last: number, prepare?: () => void): void {
    const { kernels, ctrl, steps } = this.cfg;
    this.begin(first, last);
    this.go(prepare);
    const profile = this.profile;
    if (profile) profile[first] = now();
    for (let s = first; s <= last; s++) {
      this.beforeStep?.(s);
      const counter = counterAt(ctrl, s);
      let finished: number;
      try {
        finished = kernels.run_tiles(descAt(ctrl, steps, s), counter, 0);
      } catch (e) {
        this.fail(new MobilenetError(ErrorCodes.KERNEL, `wasm backend: the kernels trapped in step ${s} on the calling thread`, { cause: e }));
        throw e;
      }
      const done = (counter + LAYOUT.DONE) >> 2;
      if (finished === 1) Atomics.notify(this.i32, done);
      this.waitFor(done, this.i32[(descAt(ctrl, steps, s) >> 2) + 1]!, `step ${s}`);
      if (profile) profile[s + 1] = now();
    }
  }

  /** Runs steps first..last on the workers and resolves when they are done, never blocking this thread. */
  runAsync(first: number, last: number, prepare?: () => void): Promise<void> {
    try {
      this.begin(first, last);
      this.go(prepare);
    } catch (e) {
      return Promise.reject(e);
    }
    for (const port of this.ports) port.setIdle(false);
    const gen = this.gen;
    const watched = () => {
      let sum = Atomics.load(this.i32, (this.cfg.ctrl >> 2) + LAYOUT.FIN);
      for (let s = first; s <= last; s++) sum += Atomics.load(this.i32, (counterAt(this.cfg.ctrl, s) + LAYOUT.DONE) >> 2);
      return sum;
    };
    return new Promise<void>((resolve, reject) => {
      let seen = watched();
      let since = now();
      const timer = setInterval(() => {
        const v = watched();
        if (v !== seen) {
          seen = v;
          since = now();
        } else if (now() - since > tuning.stallMs) {
          this.fail(this.stalled(`the run (steps ${first} to ${last})`));
        }
      }, tuning.sliceMs);
      const settle = () => {
        clearInterval(timer);
        this.pending = null;
        for (const port of this.ports) port.setIdle(true);
      };
      this.pending = {
        gen,
        resolve: () => (settle(), resolve()),
        reject: (e) => (settle(), reject(e)),
      };
    });
  }

  /** Ends the workers: the exit command, then terminate. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const c = this.cfg.ctrl >> 2;
    Atomics.store(this.i32, c + LAYOUT.CMD, 1);
    Atomics.add(this.i32, c + LAYOUT.GEN, 1);
    Atomics.notify(this.i32, c + LAYOUT.GEN);
    for (const port of this.ports) port.terminate();
    this.pending?.reject(new MobilenetError(ErrorCodes.DISPOSED, 'model: used after dispose()'));
  }

  /** Tests: the test hook of the worker source (mode 1 exit, 2 throw, 3 hang, 4 trap) at `step` on worker `thread`. */
  setHook(step: number, thread: number, mode: 1 | 2 | 3 | 4): void {
    const c = this.cfg.ctrl >> 2;
    Atomics.store(this.i32, c + LAYOUT.HOOK_THREAD, thread);
    Atomics.store(this.i32, c + LAYOUT.HOOK_MODE, mode);
    Atomics.store(this.i32, c + LAYOUT.HOOK_STEP, step + 1);
  }

  /** Tests: ends worker `index` (0-based among the workers) as a crash would. */
  terminateWorker(index: number): void {
    this.ports[index]!.terminate();
  }

  /**
   * Blocks until every worker has finished the previous run (FIN): call before rewriting the
   * step descriptors, which a worker that fell behind may still read (the host returns from a
   * run when its last step is done, not when every worker has left it).
   */
  settle(): void {
    this.check();
    this.waitFor((this.cfg.ctrl >> 2) + LAYOUT.FIN, this.expectedFin, 'the previous run');
  }

  /** Runs `prepare` while the workers wake, then lets them start (GO). */
  private go(prepare?: () => void): void {
    const c = this.cfg.ctrl >> 2;
    try {
      prepare?.();
    } finally {
      Atomics.store(this.i32, c + LAYOUT.GO, this.gen);
      Atomics.notify(this.i32, c + LAYOUT.GO);
    }
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.disposed) throw new MobilenetError(ErrorCodes.DISPOSED, 'wasm backend: used after dispose()');
  }

  /** Waits for the previous run's workers, resets the counters of steps first..last, starts the run. */
  private begin(first: number, last: number): void {
    this.check();
    const { ctrl } = this.cfg;
    const c = ctrl >> 2;
    this.waitFor(c + LAYOUT.FIN, this.expectedFin, 'the previous run');
    for (let s = first; s <= last; s++) {
      Atomics.store(this.i32, counterAt(ctrl, s) >> 2, 0);
      Atomics.store(this.i32, (counterAt(ctrl, s) + LAYOUT.DONE) >> 2, 0);
    }
    Atomics.store(this.i32, c + LAYOUT.FIRST, first);
    Atomics.store(this.i32, c + LAYOUT.LAST, last);
    this.expectedFin += this.ports.length;
    this.gen = Atomics.add(this.i32, c + LAYOUT.GEN, 1) + 1;
    Atomics.notify(this.i32, c + LAYOUT.GEN);
  }

  /**
   * Blocks until word `index` reaches `target`: a short spin, then Atomics.wait in slices; fails
   * (ERR_WORKER) when it has not moved for `stallMs`, or when a thread flagged a failure. On a
   * thread that may not block, a word not yet there at once is a failure (the async host only
   * calls it for FIN, which the workers' `done` message has already brought there).
   */
  private waitFor(index: number, target: number, what: string): void {
    const i32 = this.i32;
    const failedAt = (this.cfg.ctrl >> 2) + LAYOUT.FAILED;
    let seen = Atomics.load(i32, index);
    let since = -1;
    for (let n = 0; ; n++) {
      const v = Atomics.load(i32, index);
      if (v >= target) return;
      const flag = Atomics.load(i32, failedAt);
      if (flag !== 0) {
        this.fail(flag === 2
          ? new MobilenetError(ErrorCodes.KERNEL, `wasm backend: the kernels trapped on a thread worker while waiting for ${what}`)
          : new MobilenetError(ErrorCodes.WORKER, `the run was abandoned while waiting for ${what}`));
        throw this.failure!;
      }
      if (n < tuning.spin) continue;
      if (this.cfg.asyncHost) {
        this.fail(new MobilenetError(ErrorCodes.WORKER, `the thread workers had not finished ${what}`));
        throw this.failure!;
      }
      if (v !== seen || since < 0) {
        seen = v;
        since = now();
      } else if (now() - since > tuning.stallMs) {
        this.fail(this.stalled(what));
        throw this.failure!;
      }
      Atomics.wait(i32, index, v, tuning.sliceMs);
    }
  }

  private stalled(what: string): MobilenetError {
    return new MobilenetError(
      ErrorCodes.WORKER,
      `no thread made progress on ${what} for ${tuning.stallMs} ms: a thread worker died (killed, out of memory, terminated) or stopped; the model's threads are ended, load the model again`,
    );
  }

  /** A worker's `done` message (async host): the run of generation `gen` is complete. */
  private finished(gen: number): void {
    if (this.pending && this.pending.gen === gen) this.pending.resolve();
  }

  /** Fails the pool once: flags the threads, wakes every waiter, ends the workers, rejects a pending run. */
  fail(error: MobilenetError): void {
    if (this.disposed) this.failure ??= error;
    if (this.failure) return;
    this.failure = error;
    const { ctrl, steps } = this.cfg;
    const c = ctrl >> 2;
    if (Atomics.load(this.i32, c + LAYOUT.FAILED) === 0) Atomics.store(this.i32, c + LAYOUT.FAILED, 1);
    Atomics.notify(this.i32, c + LAYOUT.GEN);
    Atomics.notify(this.i32, c + LAYOUT.FIN);
    for (let s = 0; s < steps; s++) Atomics.notify(this.i32, (counterAt(ctrl, s) + LAYOUT.DONE) >> 2);
    for (const port of this.ports) port.terminate();
    this.pending?.reject(error);
  }
}
