/**
 * The linear head: softmax regression on L2-normalised embeddings, trained full batch with
 * L-BFGS, deterministic (the same bits in every engine for the same examples in the same order).
 *
 *   features   z = (x - mean) * scale, x the unit-normalised embedding, mean its per-dimension
 *              mean over the training examples, scale = 1 / sqrt(mean per-dimension variance)
 *              (one number: the features keep their relative sizes; centring conditions the problem)
 *   loss       (1/N) sum_n a[y_n] (logsumexp(W z_n + b) - (W z_n + b)[y_n]) + (l2/2) |W|^2
 *              a[c] = N / (C n_c) ('balanced', the default: every class weighs the same whatever
 *              its count) or 1 ('none'); the bias is not regularised
 *   optimiser  L-BFGS, history 10, from zero (or a given start: the held-out fit, see train.ts); backtracking line search (Armijo, c1 = 1e-4, halving);
 *              the first step scaled by 1 / |g|_1; a pair with s.y <= 0 is not kept (cannot happen
 *              with l2 > 0, which makes the loss strongly convex); stops when |g|_inf < tolerance,
 *              when an iteration lowers the loss by less than 1e-10 of it, or after maxIterations
 *   result     the centring and scale folded into the weights: W'[c,d] = W[c,d] scale,
 *              b'[c] = b[c] - sum_d W'[c,d] mean[d], rounded to float32 once; so predicting is
 *              logits = W' x + b' on the normalised embedding.
 *
 * Only +, -, *, / in float64 and the deterministic exp / log / rsqrt of math.ts; sums in index order.
 */
import { exp, log, rsqrt } from './math.js';

export interface LinearTrainOptions {
  /** L2 penalty on the weights. */
  l2: number;
  maxIterations: number;
  /** Stop when the largest gradient component is below this. */
  tolerance: number;
  classWeight: 'balanced' | 'none';
}

export interface LinearFit {
  /** The parameters in the centred, scaled space ([classes, dim] weights, then the biases): a warm start for another fit. */
  theta: Float64Array;
  /** [classes, dim], row-major. */
  weight: Float32Array;
  bias: Float32Array;
  iterations: number;
  loss: number;
}

const HISTORY = 10;
const ARMIJO = 1e-4;

/**
 * Trains on `x` ([n, dim] unit-normalised rows) with classes `y` (0..classes-1, every class
 * present).
 */
export function trainLinear(x: Float32Array, y: Int32Array, classes: number, dim: number, options: LinearTrainOptions, start?: Float64Array): LinearFit {
  const n = y.length;
  // Centring and one global scale (per-dimension scaling gives the noise of rarely active
  // features as much weight as the rest, and generalises worse to new photos).
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d]!;
  for (let d = 0; d < dim; d++) mean[d] = mean[d]! / n;
  let variance = 0;
  for (let d = 0; d < dim; d++) {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const t = x[i * dim + d]! - mean[d]!;
      v += t * t;
    }
    variance += v / n;
  }
  const scale = variance > 1e-30 ? rsqrt(variance / dim) : 1;
  const invStd = new Float64Array(dim).fill(scale);
  const z = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) z[i * dim + d] = (x[i * dim + d]! - mean[d]!) * invStd[d]!;

  const counts = new Float64Array(classes);
  for (let i = 0; i < n; i++) counts[y[i]!] += 1;
  const classWeight = new Float64Array(classes);
  for (let c = 0; c < classes; c++) classWeight[c] = options.classWeight === 'balanced' ? n / (classes * counts[c]!) : 1;

  const size = classes * dim + classes;
  const objective = makeObjective(z, y, n, dim, classes, classWeight, options.l2);
  const fit = lbfgs(objective, size, options.maxIterations, options.tolerance, start);

  // Fold the standardisation into the weights.
  const weight = new Float32Array(classes * dim);
  const bias = new Float32Array(classes);
  const theta = fit.theta;
  for (let c = 0; c < classes; c++) {
    let shift = 0;
    for (let d = 0; d < dim; d++) {
      const w = theta[c * dim + d]! * invStd[d]!;
      weight[c * dim + d] = w;
      shift += w * mean[d]!;
    }
    bias[c] = theta[classes * dim + c]! - shift;
  }
  return { theta: fit.theta, weight, bias, iterations: fit.iterations, loss: fit.loss };
}

type Objective = (theta: Float64Array, grad: Float64Array) => number;

function makeObjective(z: Float64Array, y: Int32Array, n: number, dim: number, classes: number, classWeight: Float64Array, l2: number): Objective {
  const logits = new Float64Array(classes);
  const e = new Float64Array(classes);
  const wEnd = classes * dim;
  return (theta, grad) => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const zi = i * dim;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) {
        const w = c * dim;
        let s0 = 0;
        let s1 = 0;
        let d = 0;
        for (; d + 1 < dim; d += 2) {
          s0 += theta[w + d]! * z[zi + d]!;
          s1 += theta[w + d + 1]! * z[zi + d + 1]!;
        }
        if (d < dim) s0 += theta[w + d]! * z[zi + d]!;
        const v = theta[wEnd + c]! + (s0 + s1);
        logits[c] = v;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        e[c] = exp(logits[c]! - max);
        sum += e[c]!;
      }
      const yi = y[i]!;
      const a = classWeight[yi]! / n;
      loss += a * (max + log(sum) - logits[yi]!);
      for (let c = 0; c < classes; c++) {
        const g = a * (e[c]! / sum - (c === yi ? 1 : 0));
        if (g === 0) continue;
        const w = c * dim;
        for (let d = 0; d < dim; d++) grad[w + d] += g * z[zi + d]!;
        grad[wEnd + c] += g;
      }
    }
    let penalty = 0;
    for (let k = 0; k < wEnd; k++) {
      const w = theta[k]!;
      penalty += w * w;
      grad[k] += l2 * w;
    }
    return loss + 0.5 * l2 * penalty;
  };
}

function dotF64(a: Float64Array, b: Float64Array): number {
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  for (; i + 1 < a.length; i += 2) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
  }
  if (i < a.length) s0 += a[i]! * b[i]!;
  return s0 + s1;
}

function lbfgs(f: Objective, size: number, maxIterations: number, tolerance: number, start?: Float64Array): { theta: Float64Array; iterations: number; loss: number } {
  let theta = start && start.length === size ? Float64Array.from(start) : new Float64Array(size);
  let grad = new Float64Array(size);
  let loss = f(theta, grad);
  const s: Float64Array[] = [];
  const yv: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(HISTORY);
  const dir = new Float64Array(size);
  let next = new Float64Array(size);
  let nextGrad = new Float64Array(size);
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    let gMax = 0;
    let g1 = 0;
    for (let k = 0; k < size; k++) {
      const a = Math.abs(grad[k]!);
      if (a > gMax) gMax = a;
      g1 += a;
    }
    if (gMax < tolerance) break;
    // Two-loop recursion: dir = -H grad.
    for (let k = 0; k < size; k++) dir[k] = -grad[k]!;
    const m = s.length;
    for (let j = m - 1; j >= 0; j--) {
      alpha[j] = rho[j]! * dotF64(s[j]!, dir);
      const yj = yv[j]!;
      const a = alpha[j]!;
      for (let k = 0; k < size; k++) dir[k] -= a * yj[k]!;
    }
    if (m > 0) {
      const gamma = dotF64(s[m - 1]!, yv[m - 1]!) / dotF64(yv[m - 1]!, yv[m - 1]!);
      for (let k = 0; k < size; k++) dir[k] *= gamma;
    }
    for (let j = 0; j < m; j++) {
      const beta = rho[j]! * dotF64(yv[j]!, dir);
      const sj = s[j]!;
      const c = alpha[j]! - beta;
      for (let k = 0; k < size; k++) dir[k] += c * sj[k]!;
    }
    let slope = dotF64(grad, dir);
    if (!(slope < 0)) {
      // Not a descent direction (rounding): start the history over along the gradient.
      s.length = 0;
      yv.length = 0;
      rho.length = 0;
      for (let k = 0; k < size; k++) dir[k] = -grad[k]!;
      slope = dotF64(grad, dir);
    }
    let step = m === 0 ? 1 / Math.max(1, g1) : 1;
    let nextLoss = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let k = 0; k < size; k++) next[k] = theta[k]! + step * dir[k]!;
      nextLoss = f(next, nextGrad);
      if (nextLoss <= loss + ARMIJO * step * slope) break;
      step *= 0.5;
    }
    if (!(nextLoss <= loss)) break; // no step lowers the loss: as good as it gets in float64
    const sk = new Float64Array(size);
    const yk = new Float64Array(size);
    for (let k = 0; k < size; k++) {
      sk[k] = next[k]! - theta[k]!;
      yk[k] = nextGrad[k]! - grad[k]!;
    }
    const sy = dotF64(sk, yk);
    if (sy > 0) {
      if (s.length === HISTORY) {
        s.shift();
        yv.shift();
        rho.shift();
      }
      s.push(sk);
      yv.push(yk);
      rho.push(1 / sy);
    }
    const decrease = loss - nextLoss;
    [theta, next] = [next, theta];
    [grad, nextGrad] = [nextGrad, grad];
    loss = nextLoss;
    if (decrease <= 1e-10 * Math.max(1, Math.abs(loss))) {
      iterations++;
      break;
    }
  }
  return { theta, iterations, loss };
}

/** Logits of one normalised embedding: W x + b, float64 sums in index order. */
export function linearLogits(weight: Float32Array, bias: Float32Array, x: Float32Array, classes: number, dim: number): Float64Array {
  const out = new Float64Array(classes);
  for (let c = 0; c < classes; c++) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const w = c * dim;
    let d = 0;
    for (; d + 3 < dim; d += 4) {
      s0 += weight[w + d]! * x[d]!;
      s1 += weight[w + d + 1]! * x[d + 1]!;
      s2 += weight[w + d + 2]! * x[d + 2]!;
      s3 += weight[w + d + 3]! * x[d + 3]!;
    }
    for (; d < dim; d++) s0 += weight[w + d]! * x[d]!;
    out[c] = bias[c]! + (s0 + s1 + (s2 + s3));
  }
  return out;
}
