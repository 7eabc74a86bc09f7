/**
 * One cold start of our wasm engine, alone in a fresh Node process (the models stage spawns it
 * per configuration): compile the kernels, plan the arena, pack the seeded weights, run once.
 *
 *   node build/bench/bench/cold.js ALPHA RESOLUTION BATCH SEED KERNELS_WASM  ->  {"coldStartMs":...,"memoryBytes":...}
 */
import { coldStart } from '../src/engine/measure.js';

const [alpha, resolution, batch, seed, kernels] = process.argv.slice(2);
if (kernels === undefined) {
  process.stderr.write('usage: cold.js ALPHA RESOLUTION BATCH SEED KERNELS_WASM\n');
  process.exit(2);
}
const engine = await coldStart({ alpha: Number(alpha), resolution: Number(resolution), batch: Number(batch), backend: 'wasm', seed: Number(seed), kernels });
process.stdout.write(`${JSON.stringify({ coldStartMs: engine.coldStartMs, memoryBytes: engine.memoryBytes() })}\n`);
