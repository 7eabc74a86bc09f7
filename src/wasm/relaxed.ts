/**
 * The fast tier (`precision: 'fast'`): the kernels compiled with relaxed SIMD
 * (kernels-relaxed.wasm, kernels-threads-relaxed.wasm), whose dense and pointwise convolutions
 * multiply-add with f32x4.relaxed_madd (assembly/f32/common.ts `madd`). What this engine does
 * with it is found once per process:
 *  - whether it validates relaxed SIMD at all (Node 22+, Chrome 114+, Deno, Firefox 145+; Node
 *    20 only with --experimental-wasm-relaxed-simd). Where it does not, a model asked for
 *    `fast` runs `exact` and a warning says why (once per reason);
 *  - a known-answer probe: relaxed_madd(1 + 2^-12, 1 + 2^-12, -(1 + 2^-11)) is 2^-24 fused (one
 *    rounding: FMA hardware) and 0 unfused (the product rounded first: a CPU without FMA). Fused,
 *    the fast kernels give the bits of the reference's fused twin (src/reference/fma.ts);
 *    unfused, relaxed_madd is a mul and an add, the exact tier's arithmetic.
 */
import { badOption } from '../errors.js';
import type { Precision } from '../backend.js';

/**
 * (module (func (export "f") (param f32 f32 f32) (result f32)
 *   local.get 0 f32x4.splat local.get 1 f32x4.splat local.get 2 f32x4.splat
 *   f32x4.relaxed_madd f32x4.extract_lane 0))
 */
const PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 125, 125, 125, 1, 125, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 22, 1, 20, 0, 32, 0, 253,
  19, 32, 1, 253, 19, 32, 2, 253, 19, 253, 133, 2, 253, 31, 0, 11,
]);

/** What relaxed SIMD does here: `fused` true where relaxed_madd rounds once (FMA hardware). */
export interface RelaxedSimd {
  readonly fused: boolean;
}

const NO_RELAXED =
  'this engine has no relaxed WebAssembly SIMD (Node 22+, Chrome 114+, Firefox 145+ and Deno have it; Node 20 with --experimental-wasm-relaxed-simd)';

let found: RelaxedSimd | string | undefined;

/** This engine's relaxed SIMD (validated and probed once), or why there is none. */
export function relaxedSimd(): RelaxedSimd | string {
  if (found !== undefined) return found;
  try {
    if (typeof WebAssembly !== 'object' || !WebAssembly.validate(PROBE)) return (found = NO_RELAXED);
    const f = new WebAssembly.Instance(new WebAssembly.Module(PROBE)).exports.f as (a: number, b: number, c: number) => number;
    const x = Math.fround(1 + 2 ** -12);
    const r = f(x, x, Math.fround(-(1 + 2 ** -11)));
    if (r === 2 ** -24) return (found = { fused: true });
    if (r === 0) return (found = { fused: false });
    return (found = `relaxed_madd failed its known-answer probe (expected 2^-24 fused or 0 unfused, got ${r})`);
  } catch (error) {
    return (found = `relaxed SIMD cannot run here (${(error as Error)?.message ?? error})`);
  }
}

/** The `precision` option: undefined is `exact`; anything but `exact` or `fast` is ERR_OPTION. */
export function resolvePrecisionOption(precision: unknown): Precision {
  if (precision === undefined) return 'exact';
  if (precision !== 'exact' && precision !== 'fast') badOption('precision', precision, '"exact" or "fast"');
  return precision;
}

const warned = new Set<string>();

/** Says once per process, per reason, that a model asked for `fast` runs `exact`. */
export function warnExact(reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  console.warn(`mobilenet-wasm: precision: "fast" asked, running "exact": ${reason}`);
}
