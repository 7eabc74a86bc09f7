// The threads build (build/kernels-threads.wasm): the same kernels, compiled over an imported
// shared memory, and the tile dispatcher the threads of a model share (tiles.ts).
export * from './index';
export { run_tiles, TILES_ABI } from './tiles';
