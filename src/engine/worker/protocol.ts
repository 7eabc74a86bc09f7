/**
 * The messages between a model's host and its worker. The host posts nothing before the worker
 * says `ready` (its message handler is in place), so no message is ever lost to a worker still
 * evaluating its modules.
 */
import type { LoadProgress } from '../../fetch.js';

export type Method = 'load' | 'classify' | 'classifyBatch' | 'embed' | 'dispose';

export type ToWorker =
  | { readonly type: 'call'; readonly id: number; readonly method: Method; readonly args: readonly unknown[] }
  | { readonly type: 'abort'; readonly id: number };

export interface SerializedError {
  readonly code: string;
  readonly message: string;
  /** A batch's partial results and failures (see BatchFailure). */
  readonly results?: unknown;
  readonly failures?: unknown;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'result'; readonly id: number; readonly ok: false; readonly error: SerializedError }
  | { readonly type: 'progress'; readonly id: number; readonly progress: LoadProgress };

/** What `load` answers: the model's description, so the host can answer property reads itself. */
export interface ModelInfo {
  readonly labels: readonly string[] | null;
  readonly normalization: string;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly endpoints: readonly string[];
  readonly backend: 'reference' | 'wasm';
  readonly memoryBytes: number | null;
}

export type { Port, WorkerPort } from '../../platform/types.js';
