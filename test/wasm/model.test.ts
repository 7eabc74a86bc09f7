/**
 * The wasm backend against the reference backend, whole models, every end point, bit-exact
 * (the kernels keep the reference's summation order). The 16 alpha x rho configurations live
 * in model-grid.test.ts; this file covers the options and the runtime's contract.
 */
import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { foldWeights } from '../../src/model/fold.js';
import { createModel } from '../../src/engine/create.js';
import { randomWeights } from '../../src/model/random.js';
import { Tensor } from '../../src/tensor.js';
import { createWasmBackend, WasmBackend } from '../../src/wasm/backend.js';
import { compileKernels, hasWasmSimd } from '../../src/wasm/loader.js';
import { compareModels } from './model-helpers.js';
import { randomArray, wasmBytes } from './harness.js';

describe('wasm backend vs reference, options (every end point, bit-exact)', () => {
  it('alpha=0.25 rho=0.5 (112) batch 3', () => compareModels({ depthMultiplier: 0.25, inputSize: 112 }, 3));
  it('outputStride=8 alpha=0.25 input 96', () => compareModels({ depthMultiplier: 0.25, inputSize: 96, outputStride: 8, globalPool: true }));
  it('outputStride=16 alpha=0.5 input 96 batch 2', () => compareModels({ depthMultiplier: 0.5, inputSize: 96, outputStride: 16, globalPool: true }, 2));
  it('useExplicitPadding alpha=0.25 input 97x80', () => compareModels({ depthMultiplier: 0.25, inputSize: [97, 80], useExplicitPadding: true }));
  it('torch flavour alpha=0.25 input 224 (symmetric padding, relu, AvgPool2d(7))', () => compareModels({ flavour: 'torch', depthMultiplier: 0.25 }));
  it('convDefs=conv alpha=0.25 input 64', () => compareModels({ convDefs: 'conv', depthMultiplier: 0.25, inputSize: 64 }));
  it('convDefs=shallow alpha=0.3 (odd channels) input 65 globalPool', () => compareModels({ convDefs: 'shallow', depthMultiplier: 0.3, inputSize: 65, globalPool: true }));
  it('custom convDefs (5x5 depthwise, 1x3 conv, odd depths) input 41x37 numClasses 7', () =>
    compareModels({
      convDefs: [
        { type: 'Conv', kernel: [3, 3], stride: 2, depth: 13 },
        { type: 'DepthSepConv', kernel: [5, 5], stride: 1, depth: 21 },
        { type: 'Conv', kernel: [1, 3], stride: 2, depth: 9 },
        { type: 'DepthSepConv', kernel: [3, 3], stride: 2, depth: 35 },
      ],
      inputSize: [41, 37],
      globalPool: true,
      numClasses: 7,
    }, 2));
  it('finalEndpoint=Conv2d_5_depthwise alpha=0.5 input 64', () => compareModels({ depthMultiplier: 0.5, inputSize: 64, finalEndpoint: 'Conv2d_5_depthwise' }));
  it('numClasses=0 (pooled features) alpha=0.25 input 128 outputStride=16 explicit', () =>
    compareModels({ depthMultiplier: 0.25, inputSize: 128, numClasses: 0, outputStride: 16, useExplicitPadding: true }));
  it('symmetric padding with relu6, spatialSqueeze false, input 160 alpha 0.25', () =>
    compareModels({ depthMultiplier: 0.25, inputSize: 160, padding: 'symmetric', spatialSqueeze: false }));
});

describe('wasm runtime', () => {
  it('detects SIMD', () => expect(hasWasmSimd()).toBe(true));

  it('loads from bytes, a path, a URL and a precompiled Module', async () => {
    const url = new URL('../../build/kernels.wasm', import.meta.url);
    const fromBytes = await compileKernels(wasmBytes());
    await compileKernels(url);
    await compileKernels(url.pathname);
    // An ArrayBuffer holding exactly the file (Node 24's readFileSync may hand back a view of a larger pool).
    await compileKernels(new Uint8Array(wasmBytes()).slice().buffer);
    expect(await compileKernels(fromBytes)).toBe(fromBytes);
  });

  it('refuses bytes that are not \\0asm with ERR_WASM_BYTES', async () => {
    await expect(compileKernels(new TextEncoder().encode('<html>not wasm</html>'))).rejects.toMatchObject({ code: ErrorCodes.WASM_BYTES });
    await expect(compileKernels(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff]))).rejects.toMatchObject({ code: ErrorCodes.WASM_BYTES });
    await expect(compileKernels(new Uint8Array(0))).rejects.toMatchObject({ code: ErrorCodes.WASM_BYTES });
  });

  it('refuses a plan above the memory limit with ERR_MEMORY_LIMIT (bytes needed vs limit)', async () => {
    const arch = buildArchitecture({ depthMultiplier: 0.25, inputSize: 64 });
    const folded = foldWeights(arch, randomWeights(arch, 1));
    await expect(createWasmBackend(arch, folded, { maxMemoryBytes: 100_000 })).rejects.toMatchObject({
      code: ErrorCodes.MEMORY_LIMIT,
      message: expect.stringMatching(/needs \d+ bytes.*limit of 100000 bytes/),
    });
    const backend = await createWasmBackend(arch, folded, { maxMemoryBytes: 4 * 65536 * 16 });
    const input = randomArray(64 * 64 * 3 * 1000, 1);
    expect(() => backend.run(input, 1000, new Set(['Logits']))).toThrow(expect.objectContaining({ code: ErrorCodes.MEMORY_LIMIT }));
  });

  it('grows for a larger batch, then runs smaller batches in the same arena; results unchanged', async () => {
    const model = await createModel({ depthMultiplier: 0.25, inputSize: 64, seed: 3, backend: 'wasm' });
    const ref = await createModel({ depthMultiplier: 0.25, inputSize: 64, seed: 3 });
    const backend = (model as unknown as { backendImpl: WasmBackend }).backendImpl;
    const one = new Tensor(randomArray(64 * 64 * 3, 2), [1, 64, 64, 3]);
    const three = new Tensor(randomArray(3 * 64 * 64 * 3, 3), [3, 64, 64, 3]);
    const before = backend.memoryBytes;
    const a = model.predict(one).data;
    expect(model.predict(three).data).toEqual(ref.predict(three).data);
    expect(backend.memoryBytes).toBeGreaterThan(before);
    const grown = backend.memoryBytes;
    expect(model.predict(one).data).toEqual(a);
    expect(backend.memoryBytes).toBe(grown);
    expect(a).toEqual(ref.predict(one).data);
    model.dispose();
    expect(() => model.predict(one)).toThrow(expect.objectContaining({ code: ErrorCodes.DISPOSED }));
  });

  it('dispose() releases the arena; the backend then refuses with ERR_DISPOSED', async () => {
    const arch = buildArchitecture({ depthMultiplier: 0.25, inputSize: 32, numClasses: 5 });
    const backend = await createWasmBackend(arch, foldWeights(arch, randomWeights(arch, 1)));
    expect(backend.memoryBytes).toBeGreaterThan(0);
    backend.dispose();
    backend.dispose();
    expect(backend.memoryBytes).toBe(0);
    expect(() => backend.run(new Float32Array(32 * 32 * 3), 1, new Set(['Logits']))).toThrow(expect.objectContaining({ code: ErrorCodes.DISPOSED }));
  });

  it('refuses to start without SIMD (ERR_NO_SIMD)', async () => {
    const spy = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    try {
      expect(hasWasmSimd()).toBe(false);
      await expect(compileKernels(wasmBytes())).rejects.toMatchObject({ code: ErrorCodes.NO_SIMD });
    } finally {
      spy.mockRestore();
    }
  });

  it('outputs are caller-owned copies', async () => {
    const model = await createModel({ depthMultiplier: 0.25, inputSize: 64, seed: 3, backend: 'wasm' });
    const x = new Tensor(randomArray(64 * 64 * 3, 5), [1, 64, 64, 3]);
    const first = model.run(x, { outputs: ['Conv2d_1_pointwise', 'Logits'] });
    const copy = first.Logits!.data.slice();
    model.run(new Tensor(randomArray(64 * 64 * 3, 6), [1, 64, 64, 3]));
    expect(first.Logits!.data).toEqual(copy);
    expect(first.Logits!.data.buffer).not.toBe(first.Conv2d_1_pointwise!.data.buffer);
  });

  it('arena for alpha 1.0@224 <= packed weights + 2 x largest activation + 10%', async () => {
    const arch = buildArchitecture({});
    const folded = foldWeights(arch, randomWeights(arch, 1));
    const backend = await createWasmBackend(arch, folded);
    const weightBytes = folded.reduce((s, f) => s + 4 * (f.filter.length + f.bias.length), 0);
    const largest = 4 * Math.max(...arch.layers.map((l) => l.outShape[0] * l.outShape[1] * l.outShape[2]));
    expect(backend.memoryBytes).toBeLessThanOrEqual(1.1 * (weightBytes + 2 * largest));
  });
});
