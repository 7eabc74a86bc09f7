// The threads build (build/kernels-threads.wasm): the same kernels, compiled over an imported
// shared memory, and the tile dispatcher the threads of a model share (tiles.ts), which runs the
// integer kernels (./q8/) too, reached only through it (Q8_TILES says whether this build has them).
export * from './index';
export { run_tiles, TILES_ABI, Q8_TILES } from './tiles';
