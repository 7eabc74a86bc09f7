/**
 * Ctrl-C (SIGINT), SIGTERM and SIGHUP during a run: the first stops it between two batches (what
 * is written stays whole, the lock is removed, the summary says how many were not run); a
 * second one ends the process at once (every write is synchronous and whole, so the output is
 * still whole; the lock goes with the process's 'exit' hook).
 */
import { constants } from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Handled = (typeof SIGNALS)[number];

/** A run stopped by a signal, thrown where a run waits (opening a FIFO, loading the model). */
export class Interrupted extends Error {
  constructor(readonly signal: Handled) {
    super(`stopped by ${signal}`);
    this.name = 'Interrupted';
  }
}

export class Interrupts {
  signal: Handled | null = null;
  /** Aborts what accepts a signal (the model load). */
  readonly controller = new AbortController();
  private readonly handlers = new Map<Handled, () => void>();
  private readonly hooks = new Set<() => void>();

  constructor() {
    for (const name of SIGNALS) {
      const handler = () => this.receive(name);
      this.handlers.set(name, handler);
      process.on(name, handler);
    }
  }

  /** 128 + the signal's number, as shells report a process a signal ended: 130 for SIGINT. */
  get exitCode(): number {
    return 128 + (this.signal ? constants.signals[this.signal] : 0);
  }

  /** Calls `hook` when the first signal arrives; returns the function that removes it. */
  onInterrupt(hook: () => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Throws `Interrupted` once a signal has arrived. */
  check(): void {
    if (this.signal) throw new Interrupted(this.signal);
  }

  private receive(name: Handled): void {
    if (this.signal) process.exit(this.exitCode);
    this.signal = name;
    this.controller.abort(new Interrupted(name));
    for (const hook of this.hooks) hook();
  }

  dispose(): void {
    for (const [name, handler] of this.handlers) process.removeListener(name, handler);
    this.hooks.clear();
  }
}
