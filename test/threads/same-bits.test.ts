/**
 * threads: N gives the bits of threads: 1, whole models: the 16 alpha x rho configurations at
 * batch 1 and 3, the architecture's options (output stride, explicit and symmetric padding, the
 * torch flavour, the conv and shallow presets, a non-square input, custom conv_defs, a final end
 * point, no classifier), and every end point of one configuration at 2 and 3 threads (3: more
 * threads than this machine's cores, other item counts).
 */
import { describe, it } from 'vitest';
import { compareThreads } from './helpers.js';

describe('threads: 2 = threads: 1, alpha x rho grid, batch 1 and 3 (output and Predictions)', () => {
  for (const alpha of [1, 0.75, 0.5, 0.25]) {
    for (const size of [224, 192, 160, 128]) {
      it(`alpha=${alpha} input=${size}`, () => compareThreads({ depthMultiplier: alpha, inputSize: size }, { batches: [1, 3], seed: Math.round(alpha * 100) + size }));
    }
  }
});

describe('threads: N = threads: 1, every end point', () => {
  it('alpha=0.5 input=160, threads 2 and 3, batch 1 and 2', () => compareThreads({ depthMultiplier: 0.5, inputSize: 160 }, { threads: [2, 3], batches: [1, 2], everyEndpoint: true }));
  it('alpha=0.25 input=128, threads 4, batch 5', () => compareThreads({ depthMultiplier: 0.25, inputSize: 128 }, { threads: [4], batches: [5], everyEndpoint: true }));
});

describe('threads: 2 = threads: 1, options (every end point)', () => {
  const every = { everyEndpoint: true, batches: [1, 2] } as const;
  it('outputStride=8 alpha=0.25 input 96 globalPool', () => compareThreads({ depthMultiplier: 0.25, inputSize: 96, outputStride: 8, globalPool: true }, every));
  it('outputStride=16 alpha=0.5 input 128', () => compareThreads({ depthMultiplier: 0.5, inputSize: 128, outputStride: 16 }, every));
  it('useExplicitPadding alpha=0.25 input 97x80 (non-square)', () => compareThreads({ depthMultiplier: 0.25, inputSize: [97, 80], useExplicitPadding: true }, every));
  it('non-square input 224x160 alpha=0.5', () => compareThreads({ depthMultiplier: 0.5, inputSize: [224, 160] }, every));
  it('torch flavour alpha=0.25 input 224 (symmetric padding, relu, AvgPool2d(7))', () => compareThreads({ flavour: 'torch', depthMultiplier: 0.25 }, every));
  it('symmetric padding relu6 alpha=0.25 input 160, spatialSqueeze false', () => compareThreads({ depthMultiplier: 0.25, inputSize: 160, padding: 'symmetric', spatialSqueeze: false }, every));
  it('convDefs=conv alpha=0.25 input 64', () => compareThreads({ convDefs: 'conv', depthMultiplier: 0.25, inputSize: 64 }, every));
  it('convDefs=shallow alpha=0.3 (odd channels) input 65 globalPool', () => compareThreads({ convDefs: 'shallow', depthMultiplier: 0.3, inputSize: 65, globalPool: true }, every));
  it('custom convDefs (5x5 depthwise, 1x3 conv, odd depths) input 41x37 numClasses 7', () =>
    compareThreads({
      convDefs: [
        { type: 'Conv', kernel: [3, 3], stride: 2, depth: 13 },
        { type: 'DepthSepConv', kernel: [5, 5], stride: 1, depth: 21 },
        { type: 'Conv', kernel: [1, 3], stride: 2, depth: 9 },
        { type: 'DepthSepConv', kernel: [3, 3], stride: 2, depth: 35 },
      ],
      inputSize: [41, 37],
      globalPool: true,
      numClasses: 7,
    }, every));
  it('finalEndpoint=Conv2d_5_depthwise alpha=0.5 input 64', () => compareThreads({ depthMultiplier: 0.5, inputSize: 64, finalEndpoint: 'Conv2d_5_depthwise' }, every));
  it('numClasses=0 alpha=0.25 input 128 outputStride=16 explicit', () => compareThreads({ depthMultiplier: 0.25, inputSize: 128, numClasses: 0, outputStride: 16, useExplicitPadding: true }, every));
});
