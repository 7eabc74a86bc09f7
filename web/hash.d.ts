/** Types for hash.js (the tests import it). */
export interface LogitsHashes {
  simd: boolean;
  reference: string;
  wasm: string;
  top1: number;
}
export declare function logitsHashes(options?: { kernels?: Uint8Array | ArrayBuffer | URL | WebAssembly.Module }): Promise<LogitsHashes>;
