// The base build (build/kernels.wasm): the f32 kernels (./index.ts, which the threads and relaxed
// builds share) and the integer kernels (./q8/: uint8 and int8 in TFLite's arithmetic), which
// only this build carries: the integer path runs on one thread, on exact (non-relaxed) SIMD.
export * from './index';
export * from './q8/index';
