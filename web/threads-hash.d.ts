/** Types for threads-hash.js (the tests import it). */
export interface ThreadHashes {
  /** model.threads of the threads: 1 model and of the threads: N model. */
  threads: number[];
  /** SHA-256 per end point, for each model. */
  hashes: Record<string, string>[];
  /** 'ok' when a synchronous run worked with threads, else the error code it threw. */
  syncRun: string;
}
export declare function threadHashes(options?: { threads?: number; alpha?: number; size?: number; batch?: number }): Promise<ThreadHashes>;
