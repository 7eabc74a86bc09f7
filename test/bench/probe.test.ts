/** The hand-assembled ceiling probe: it validates, and computes what its comment says. */
import { describe, expect, it } from 'vitest';
import { instantiateProbe, probeExpected, probeModuleBytes, measureCeiling } from '../../bench/lib/probe.js';

describe('ceiling probe', () => {
  it('is a valid module with SIMD', () => {
    expect(WebAssembly.validate(probeModuleBytes())).toBe(true);
  });

  it('returns the float32 sum worked out in JS, for 0 to 1000 iterations', () => {
    const probe = instantiateProbe();
    for (const n of [0, 1, 2, 3, 10, 1000]) expect(probe(n)).toBe(probeExpected(n));
    // x = 1.5, 0.75, 1.25, 0.5 (sum 4); step u has w = 1 + u/8 and 2 + u/8 (sum 3 + u/4):
    // one iteration adds 4 x (3 + 3.25 + 3.5 + 3.75) = 54.
    expect(probeExpected(1)).toBe(54);
    expect(probeExpected(10)).toBe(540);
  });

  it('measureCeiling reports positive GMAC/s (no time is checked)', async () => {
    const c = await measureCeiling(5, 2);
    expect(c.tiles.map((t) => t.samples.length)).toEqual([2, 2]);
    expect(c.gmacs).toBeGreaterThan(0);
    expect(c.gflops).toBe(2 * c.gmacs);
  });
});

describe('ceiling probe, other tiles', () => {
  it("2x2 and 3x3 validate and compute the same sum", () => {
    for (const [r, c] of [[2, 2], [3, 3]] as const) {
      expect(WebAssembly.validate(probeModuleBytes(r, c))).toBe(true);
      expect(instantiateProbe(r, c)(100)).toBe(probeExpected(100, r, c));
    }
  });
});
