// Bad-inputs #14 and "never allocate without bound": options that pass validation but ask for
// a tensor no typed array can hold must be refused with ERR_OPTION, not crash with a RangeError.
import { describe, expect, it } from 'vitest';
import { buildArchitecture, createModel, MobilenetError } from '../../src/index.js';

const cases: [string, Record<string, unknown>][] = [
  // Logits weights [1,1,1024,2^40]: 2^50 elements.
  ['numClasses 2^40', { numClasses: 2 ** 40 }],
  // Conv2d_13_pointwise weights [1,1,1024e7,1024e7].
  ['depthMultiplier 1e7', { depthMultiplier: 1e7 }],
  // Every layer 2^40 channels wide.
  ['minDepth 2^40', { minDepth: 2 ** 40 }],
];

describe('option bounds', () => {
  for (const [label, options] of cases) {
    it(`buildArchitecture refuses ${label} with ERR_OPTION`, () => {
      let err: unknown;
      try {
        buildArchitecture(options);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MobilenetError);
      expect((err as MobilenetError).code).toBe('ERR_OPTION');
    });
    it(`createModel refuses ${label} with ERR_OPTION (no RangeError)`, async () => {
      await expect(createModel({ ...options, backend: 'reference' })).rejects.toMatchObject({ code: 'ERR_OPTION' });
    });
  }
  it('still accepts large but sane models (21843 classes, alpha 2)', () => {
    expect(buildArchitecture({ numClasses: 21843, depthMultiplier: 2 }).options.numClasses).toBe(21843);
  });
});
