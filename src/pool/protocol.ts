/** What the decode pool (decode-pool.ts) and its workers (decode-worker.ts) say to each other. */
import type { WasmCodecFiles } from '../image/wasm-decode.js';
import type { DecoderName, Prepared } from './prepare.js';

/** The worker's `workerData`. */
export interface WorkerSetup {
  decoder: DecoderName;
  /** With the wasm decoder: its files, resolved by the main thread (a bundled worker cannot resolve packages). */
  wasmFiles: WasmCodecFiles | null;
}

/** To a worker: prepare one file. A worker holds at most two (the one it runs and the next) and runs them in order. */
export interface Task {
  id: number;
  file: string;
  height: number;
  width: number;
}

/** From a worker: it has loaded its code (and decoders) and takes tasks; then one answer per task. */
export type FromWorker = { type: 'ready' } | { type: 'done'; id: number; result: Prepared };
