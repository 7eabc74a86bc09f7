/**
 * Calibration for post-training quantization (./ptq.ts, step 1): the float model runs on the
 * representative images, every end point returned, and each keeps the min and max of all its
 * values over all the images, as TFLite's calibrator does (its MinMax logger: a running min and
 * max per tensor, no averaging, no percentile).
 *
 * Images arrive as size x size RGB bytes (`preprocessImage`, the documented pipeline) and are
 * normalised with the model's own pixel normalisation, then run in batches.
 */
import { ErrorCodes, fail } from '../errors.js';
import { normalizeRgb, type PixelNormalization } from '../image/normalize.js';
import type { Tensor } from '../tensor.js';
import type { CalibrationRanges, FloatRange } from './ptq.js';

/** What calibration asks of a float model (a MobileNet has it): its end points, input, normalisation and run. */
export interface CalibrationModel {
  readonly endpoints: readonly string[];
  readonly inputShape: readonly number[];
  readonly normalization: PixelNormalization;
  run(input: Tensor, options: { outputs: string[] }): Record<string, Tensor>;
}

/** The end points calibrated: every convolution's output, the pool and the logits. */
export function calibrationEndpoints(model: Pick<CalibrationModel, 'endpoints'>): string[] {
  return model.endpoints.filter((e) => e !== 'Predictions');
}

/** Running min and max per end point. */
export class RangeCollector {
  private readonly mins = new Map<string, number>();
  private readonly maxs = new Map<string, number>();
  private inputMin = Infinity;
  private inputMax = -Infinity;
  private count = 0;

  /** Adds one batch: its normalised input and its end points. */
  add(input: Float32Array, outputs: Readonly<Record<string, { readonly data: ArrayLike<number> }>>, images: number): void {
    [this.inputMin, this.inputMax] = extend(input, this.inputMin, this.inputMax);
    for (const [name, t] of Object.entries(outputs)) {
      const [lo, hi] = extend(t.data, this.mins.get(name) ?? Infinity, this.maxs.get(name) ?? -Infinity);
      this.mins.set(name, lo);
      this.maxs.set(name, hi);
    }
    this.count += images;
  }

  get images(): number {
    return this.count;
  }

  result(): CalibrationRanges {
    if (this.count === 0) fail(ErrorCodes.INPUT, 'calibration: no image was run');
    const ranges = new Map<string, FloatRange>();
    for (const [name, min] of this.mins) ranges.set(name, { min, max: this.maxs.get(name)! });
    return { images: this.count, ranges, input: { min: this.inputMin, max: this.inputMax } };
  }
}

function extend(values: ArrayLike<number>, lo: number, hi: number): [number, number] {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== v) fail(ErrorCodes.OUTPUT_NONFINITE, 'calibration: the float model gave NaN');
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * Runs `model` on `images` (each size x size x 3 RGB bytes, the model's input size) in batches
 * of `batch` and returns the ranges of every end point but Predictions.
 */
export function calibrate(model: CalibrationModel, images: readonly Uint8Array[], batch = 4, collector = new RangeCollector()): CalibrationRanges {
  const [h, w] = model.inputShape;
  const endpoints = calibrationEndpoints(model);
  for (let at = 0; at < images.length; at += batch) {
    const chunk = images.slice(at, at + batch);
    const x = normalizeRgb(chunk, h, w, model.normalization);
    collector.add(x.data, model.run(x, { outputs: endpoints }), chunk.length);
  }
  return collector.result();
}
