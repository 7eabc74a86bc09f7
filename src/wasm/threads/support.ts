/**
 * The `threads` option: what it accepts, and whether this runtime can run a model's threads.
 * Where it cannot (no SharedArrayBuffer, a page that is not cross-origin isolated, Cloudflare
 * Workers, the reference backend), a model runs on one thread, `model.threads` says 1, and a
 * warning says why, once per reason in a process.
 */
import { platform } from '#platform';
import { badOption } from '../../errors.js';

/** The most threads a model may ask for (each is a worker with its own wasm instance). */
export const MAX_THREADS = 64;

/** The threads asked for: undefined is 1, 'auto' the available cores; anything else but an integer 1..MAX_THREADS is ERR_OPTION. */
export function resolveThreadsOption(threads: unknown): number {
  if (threads === undefined) return 1;
  if (threads === 'auto') return Math.min(MAX_THREADS, Math.max(1, Math.floor(platform.availableParallelism())));
  if (typeof threads !== 'number' || !Number.isSafeInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    badOption('threads', threads, `a positive integer (at most ${MAX_THREADS}) or "auto"`);
  }
  return threads;
}

/** Why threads cannot run here, or null when they can. */
export function threadsUnavailable(): string | null {
  const g = globalThis as { SharedArrayBuffer?: unknown; Atomics?: unknown; crossOriginIsolated?: boolean };
  const isolated = g.crossOriginIsolated;
  if (typeof g.SharedArrayBuffer !== 'function' || typeof g.Atomics !== 'object') {
    return isolated === false
      ? 'this page is not cross-origin isolated, so it has no SharedArrayBuffer (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)'
      : 'this runtime has no SharedArrayBuffer';
  }
  if (isolated === false) return 'this page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
  if (!platform.spawnThread || !platform.defaultThreadKernels) {
    return platform.name === 'workerd' ? 'Cloudflare Workers cannot start threads' : 'this runtime cannot start workers';
  }
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return 'this engine has no shared WebAssembly.Memory';
  }
  return null;
}

const warned = new Set<string>();

/** Says once per process, per reason, that a model asked for `asked` threads runs on one. */
export function warnOneThread(asked: number, reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  console.warn(`mobilenet-wasm: threads: ${asked} asked, running on one thread: ${reason}`);
}
