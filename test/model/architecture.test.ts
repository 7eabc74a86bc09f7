// The layer table: shapes, paddings and rates worked out by hand from TF-Slim's definitions.
import { describe, expect, it } from 'vitest';
import { buildArchitecture, expectedWeights, type ConvLayer, type MobileNetOptions } from '../../src/model/architecture.js';
import { MobilenetError } from '../../src/errors.js';

const layer = (options: MobileNetOptions, name: string) =>
  buildArchitecture(options).layers.find((l) => l.name === name) as ConvLayer;

describe('depth(d) = max(int(d * alpha), minDepth)', () => {
  it.each([
    [1, 8, 32, 1024],
    [0.75, 8, 24, 768],
    [0.5, 8, 16, 512],
    [0.25, 8, 8, 256],
    [0.1, 8, 8, 102], // int(32*0.1)=3 -> min_depth 8; int(1024*0.1)=102
    [0.25, 16, 16, 256],
    [1.3, 8, 41, 1331], // alpha > 1 is allowed: int(32*1.3)=41, int(1024*1.3)=1331
  ])('alpha=%s minDepth=%s: first conv %s channels, last %s', (alpha, minDepth, first, last) => {
    const arch = buildArchitecture({ depthMultiplier: alpha, minDepth });
    expect(arch.body[0]!.outShape[2]).toBe(first);
    expect(arch.body.at(-1)!.outShape[2]).toBe(last);
  });
});

describe('TF SAME padding', () => {
  it('stride 2 on an even input pads 0 before and 1 after', () => {
    const l = layer({}, 'Conv2d_0'); // 224 -> 112
    expect(l.outShape).toEqual([112, 112, 32]);
    expect(l.padding).toEqual({ top: 0, bottom: 1, left: 0, right: 1 });
  });
  it('stride 2 on an odd input pads 1 on each side', () => {
    const l = layer({ inputSize: 225 }, 'Conv2d_0'); // ceil(225/2) = 113, total pad 2
    expect(l.outShape[0]).toBe(113);
    expect(l.padding).toEqual({ top: 1, bottom: 1, left: 1, right: 1 });
  });
  it('stride 1 pads 1 on each side and keeps the size', () => {
    const l = layer({}, 'Conv2d_1_depthwise');
    expect(l.padding).toEqual({ top: 1, bottom: 1, left: 1, right: 1 });
    expect(l.outShape).toEqual([112, 112, 32]);
  });
  it('non-square input [160, 224]', () => {
    const arch = buildArchitecture({ inputSize: [160, 224], globalPool: true });
    expect(arch.body.at(-1)!.outShape).toEqual([5, 7, 1024]);
  });
});

describe('useExplicitPadding: _fixed_padding then VALID', () => {
  it('pads (k-1)/2 before and the rest after, independent of stride', () => {
    const l = layer({ useExplicitPadding: true }, 'Conv2d_0');
    expect(l.padding).toEqual({ top: 1, bottom: 1, left: 1, right: 1 });
    // floor((224 + 2 - 3) / 2) + 1 = 112: the same size as SAME.
    expect(l.outShape).toEqual([112, 112, 32]);
  });
  it('a dilated 3x3 at rate 2 has an effective kernel of 5: pad 2 and 2', () => {
    const l = layer({ useExplicitPadding: true, outputStride: 8, globalPool: true }, 'Conv2d_7_depthwise');
    expect(l.dilation).toBe(2);
    expect(l.padding).toEqual({ top: 2, bottom: 2, left: 2, right: 2 });
  });

  it('a non-square kernel is padded from kernel_size[0] on both axes, as _fixed_padding does', () => {
    // Conv [3, 1]: TF-Slim pads 1 and 1 on both axes, so the 1-wide window widens the map by 2.
    const arch = buildArchitecture({ useExplicitPadding: true, inputSize: 8, convDefs: [{ type: 'Conv', kernel: [3, 1], stride: 1, depth: 8 }], finalEndpoint: 'Conv2d_0' });
    const l = arch.body[0]!;
    expect(l.padding).toEqual({ top: 1, bottom: 1, left: 1, right: 1 });
    expect(l.outShape).toEqual([8, 10, 8]);
  });
});

describe('symmetric padding (PyTorch padding=1)', () => {
  it('stride 2 on an even input pads 1 and 1 and still halves', () => {
    const l = layer({ flavour: 'torch' }, 'Conv2d_0');
    expect(l.padding).toEqual({ top: 1, bottom: 1, left: 1, right: 1 });
    expect(l.outShape).toEqual([112, 112, 32]); // floor((224 + 2 - 3)/2) + 1
    expect(l.activation).toBe('relu');
  });
});

describe('outputStride with atrous convolution', () => {
  const rates = (os: 8 | 16 | 32 | null) =>
    buildArchitecture({ outputStride: os, finalEndpoint: 'Conv2d_13_pointwise' }).body
      .filter((l) => l.kind === 'depthwise')
      .map((l) => `${l.stride}/${l.dilation}`);
  it('32 (or null) is the plain network: 7x7 at 224', () => {
    expect(buildArchitecture({ outputStride: 32 }).body.at(-1)!.outShape).toEqual([7, 7, 1024]);
    expect(rates(null)).toEqual(rates(32));
  });
  it('16: 14x14 at 224; block 12 keeps stride 1, block 13 runs at rate 2', () => {
    const arch = buildArchitecture({ outputStride: 16, finalEndpoint: 'Conv2d_13_pointwise' });
    expect(arch.body.at(-1)!.outShape).toEqual([14, 14, 1024]);
    expect(rates(16)).toEqual(['1/1', '2/1', '1/1', '2/1', '1/1', '2/1', '1/1', '1/1', '1/1', '1/1', '1/1', '1/1', '1/2']);
  });
  it('8: 28x28 at 224; rate 2 from block 7, rate 4 at block 13', () => {
    const arch = buildArchitecture({ outputStride: 8, finalEndpoint: 'Conv2d_13_pointwise' });
    expect(arch.body.at(-1)!.outShape).toEqual([28, 28, 1024]);
    expect(rates(8)).toEqual(['1/1', '2/1', '1/1', '2/1', '1/1', '1/1', '1/2', '1/2', '1/2', '1/2', '1/2', '1/2', '1/4']);
  });
});

describe('the head', () => {
  it('fixed 7x7 pool, 1x1 logits, squeezed, 1001 classes by default', () => {
    const arch = buildArchitecture({});
    expect(arch.endpoints.slice(-3)).toEqual(['AvgPool_1a', 'Logits', 'Predictions']);
    expect(arch.output).toBe('Logits');
    const logits = layer({}, 'Logits');
    expect(logits.outShape).toEqual([1, 1, 1001]);
    expect(logits.params).toBe(1024 * 1001);
  });
  it('_reduced_kernel_size_for_small_input: 128 -> 4x4 map -> 4x4 window', () => {
    const pool = buildArchitecture({ inputSize: 128 }).layers.find((l) => l.name === 'AvgPool_1a')!;
    expect(pool.inShape.slice(0, 2)).toEqual([4, 4]);
    expect(pool.kind === 'avgpool' && pool.kernel).toEqual([4, 4]);
    expect(pool.outShape).toEqual([1, 1, 1024]);
  });
  it('a larger input gives a larger pooled map: 320 -> 10x10 -> 7x7 window stride 2 -> 2x2', () => {
    const arch = buildArchitecture({ inputSize: 320, spatialSqueeze: false });
    expect(arch.layers.find((l) => l.name === 'AvgPool_1a')!.outShape).toEqual([2, 2, 1024]);
    expect(arch.layers.find((l) => l.name === 'Logits')!.outShape).toEqual([2, 2, 1001]);
  });
  it('globalPool pools any size down to 1x1', () => {
    const arch = buildArchitecture({ inputSize: 320, globalPool: true });
    expect(arch.layers.find((l) => l.name === 'global_pool')!.outShape).toEqual([1, 1, 1024]);
  });
  it('numClasses 0 or null returns the pooled features', () => {
    for (const numClasses of [0, null]) {
      const arch = buildArchitecture({ numClasses });
      expect(arch.output).toBe('AvgPool_1a');
      expect(arch.endpoints).not.toContain('Logits');
    }
  });
  it('finalEndpoint stops the body there, with no head', () => {
    const arch = buildArchitecture({ finalEndpoint: 'Conv2d_5_depthwise' });
    expect(arch.endpoints.at(-1)).toBe('Conv2d_5_depthwise');
    expect(arch.output).toBe('Conv2d_5_depthwise');
    expect(arch.layers).toHaveLength(1 + 4 * 2 + 1);
  });
  it('the torch flavour: AvgPool2d(7) with stride 7 and 1000 classes', () => {
    const arch = buildArchitecture({ flavour: 'torch' });
    const pool = arch.layers.find((l) => l.name === 'AvgPool_1a')!;
    expect(pool.kind === 'avgpool' && [pool.kernel, pool.stride]).toEqual([[7, 7], 7]);
    expect(arch.layers.find((l) => l.name === 'Logits')!.outShape).toEqual([1, 1, 1000]);
    expect(arch.options.batchNormEpsilon).toBe(1e-5);
  });
});

describe('weights the architecture needs', () => {
  it('TF-Slim names and layouts', () => {
    const specs = expectedWeights(buildArchitecture({ depthMultiplier: 0.25 }), false);
    const byName = new Map(specs.map((s) => [s.name, s.shape]));
    expect(byName.get('MobilenetV1/Conv2d_0/weights')).toEqual([3, 3, 3, 8]);
    expect(byName.get('MobilenetV1/Conv2d_0/BatchNorm/moving_variance')).toEqual([8]);
    expect(byName.get('MobilenetV1/Conv2d_1_depthwise/depthwise_weights')).toEqual([3, 3, 8, 1]);
    expect(byName.get('MobilenetV1/Conv2d_13_pointwise/weights')).toEqual([1, 1, 256, 256]);
    expect(byName.get('MobilenetV1/Logits/Conv2d_1c_1x1/weights')).toEqual([1, 1, 256, 1001]);
    expect(byName.get('MobilenetV1/Logits/Conv2d_1c_1x1/biases')).toEqual([1001]);
    expect(specs).toHaveLength(1 * 5 + 26 * 5 + 2);
  });
});

describe('refused options name the option, the value and what is allowed', () => {
  const refused = (options: unknown, ...fragments: string[]) => {
    let error: unknown;
    try {
      buildArchitecture(options as MobileNetOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MobilenetError);
    expect((error as MobilenetError).code).toBe('ERR_OPTION');
    for (const f of fragments) expect((error as Error).message).toContain(f);
  };
  it.each([
    [{ depthMultiplier: 0 }, 'depthMultiplier', '0', 'greater than zero'],
    [{ depthMultiplier: -1 }, 'depthMultiplier', '-1'],
    [{ depthMultiplier: NaN }, 'depthMultiplier', 'NaN'],
    [{ depthMultiplier: '1' }, 'depthMultiplier', '"1"'],
    [{ minDepth: 0 }, 'minDepth', 'positive integer'],
    [{ outputStride: 4 }, 'outputStride', '4', '8, 16, 32'],
    [{ finalEndpoint: 'Conv2d_14_pointwise' }, 'finalEndpoint', 'Conv2d_14_pointwise', 'Conv2d_13_pointwise'],
    [{ finalEndpoint: 'Logits' }, 'finalEndpoint', 'Logits'],
    [{ convDefs: 'deep' }, 'convDefs', 'deep', 'shallow'],
    [{ convDefs: [{ type: 'Pool', kernel: [3, 3], stride: 1, depth: 8 }] }, 'convDefs[0].type', 'Pool'],
    [{ convDefs: [{ type: 'Conv', kernel: [3, 3], stride: 0, depth: 8 }] }, 'convDefs[0].stride', '0'],
    [{ convDefs: [] }, 'convDefs', 'non-empty'],
    [{ inputSize: 0 }, 'inputSize', '0'],
    [{ inputSize: 100000 }, 'inputSize', '8192'],
    [{ inputSize: [224] }, 'inputSize'],
    [{ inputSize: 1.5 }, 'inputSize', '1.5'],
    [{ rho: 0 }, 'rho', '0'],
    [{ numClasses: -1 }, 'numClasses', '-1'],
    [{ activation: 'gelu' }, 'activation', 'gelu'],
    [{ padding: 'reflect' }, 'padding', 'reflect'],
    [{ flavour: 'keras' }, 'flavour', 'keras'],
    [{ depthMultipler: 0.5 }, 'depthMultipler'],
    [{ inputSize: 320 }, 'spatialSqueeze', '2x2'],
    [{ flavour: 'torch', inputSize: 128 }, 'inputSize', 'AvgPool2d(7)'],
  ] as [unknown, ...string[]][])('%j', (options, ...fragments) => refused(options, ...fragments));
});

it('rho is a convenience for round(224 * rho)', () => {
  expect(buildArchitecture({ rho: 0.714 }).inputShape).toEqual([160, 160, 3]);
  expect(buildArchitecture({ rho: 0.571 }).inputShape).toEqual([128, 128, 3]);
});

it('any input from 1x1 up runs with SAME padding', () => {
  const arch = buildArchitecture({ inputSize: 1 });
  expect(arch.body.every((l) => l.outShape[0] === 1 && l.outShape[1] === 1)).toBe(true);
});
