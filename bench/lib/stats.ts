/**
 * Order statistics of timing samples: `percentile` (src/engine/measure.ts, shared with
 * `mobilenet bench`) interpolates linearly between order statistics, as tinybench does, so a
 * median of pooled rounds reads like tinybench's own.
 */
import { percentile } from '../../src/engine/measure.js';

export interface Timing {
  medianMs: number;
  p90Ms: number;
  minMs: number;
  /** Number of timed samples behind the median and p90. */
  runs: number;
}

export function summarize(samples: readonly number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  return { medianMs: percentile(sorted, 0.5), p90Ms: percentile(sorted, 0.9), minMs: sorted[0] ?? NaN, runs: sorted.length };
}

/** max|a - b| / max|b|: the check every engine passes before it is timed. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

export { randomInputs as seededInputs } from '../../src/model/random.js';
