/**
 * The messages between a model's host and its worker. The host posts nothing before the worker
 * says `ready` (its message handler is in place), so no message is ever lost to a worker still
 * evaluating its modules.
 */
import type { LoadProgress } from '../../fetch.js';
import type { ImageModel } from '../mobilenet.js';

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

/** The properties of a model, which `load` answers so that the host can answer property reads itself. */
export const MODEL_INFO = ['labels', 'normalization', 'inputShape', 'numClasses', 'endpoints', 'backend', 'memoryBytes', 'threads', 'precision', 'fusedMultiplyAdd', 'dtype'] as const;
export type ModelInfo = Pick<ImageModel, (typeof MODEL_INFO)[number]>;

export type { Port, WorkerPort } from '../../platform/types.js';
