/**
 * `load(file, { worker: true })` (integers, the default for a quantized file): the integer model in a worker gives the
 * in-thread integer model's answers and says `dtype: 'uint8'`. The worker runs the compiled
 * package (dist/, after `npm run build`), as in test/engine/worker.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import type * as Package from '../../src/index.js';
import { repoRoot, requireShared, sharedPath } from '../helpers/shared.js';

const DIST = join(repoRoot, 'dist');
const distUrl = (rel: string) => pathToFileURL(join(DIST, rel)).href;
vi.mock('#spawn-worker', () => import(/* @vite-ignore */ distUrl('platform/spawn-node.js')));

const MODEL = 'models/mobilenet_v1_0.5_160_quant/mobilenet_v1_0.5_160_quant.tflite';
const HAVE = requireShared(MODEL, 'images/chelsea.png');

describe.skipIf(!HAVE)('the integer model in a worker', () => {
  it('dtype uint8, the same classes, probabilities and logits as in this thread', async () => {
    const pkg = (await import(/* @vite-ignore */ distUrl('index.js'))) as typeof Package;
    const local = await pkg.load(sharedPath(MODEL));
    const remote = await pkg.load(sharedPath(MODEL), { worker: true });
    try {
      expect([remote.dtype, remote.backend, remote.inWorker, local.dtype]).toEqual(['uint8', 'wasm', true, 'uint8']);
      const bytes = new Uint8Array(readFileSync(sharedPath('images/chelsea.png')));
      expect(await remote.classify(bytes, 10)).toEqual(await local.classify(bytes, 10));
      expect(await remote.embed(bytes)).toEqual(await local.embed(bytes));
    } finally {
      remote.dispose();
      local.dispose();
    }
  });
  it('dequantize: true reaches the worker: the float path there, the same answers as in this thread', async () => {
    const pkg = (await import(/* @vite-ignore */ distUrl('index.js'))) as typeof Package;
    const local = await pkg.load(sharedPath(MODEL), { dequantize: true });
    const remote = await pkg.load(sharedPath(MODEL), { dequantize: true, worker: true });
    try {
      expect([remote.dtype, remote.inWorker, local.dtype]).toEqual(['float32', true, 'float32']);
      const bytes = new Uint8Array(readFileSync(sharedPath('images/chelsea.png')));
      expect(await remote.classify(bytes, 10)).toEqual(await local.classify(bytes, 10));
    } finally {
      remote.dispose();
      local.dispose();
    }
  });
});
