/**
 * The reference kernels: the golden oracle and the fallback path.
 *
 * Simple loops over NHWC float32 data, in float32 arithmetic exactly: every product and every
 * sum is rounded with Math.fround, so the result is the same bits in every JavaScript engine
 * (IEEE-754 makes +, *, / and sqrt exact; nothing here calls a transcendental function but the
 * deterministic `exp` below).
 *
 * Summation order, the contract the wasm scalar twins follow bit for bit:
 *   convolutions: acc = bias[co]; then for ky, for kx, for ci (ascending):
 *                 acc = fround(acc + fround(x * w)); taps in the padding are skipped;
 *                 then the activation (relu: max(acc, 0); relu6: min(max(acc, 0), 6)).
 *   average pool: acc = 0; for ky, for kx: acc = fround(acc + x); out = fround(acc / count),
 *                 count = the taps inside the input (VALID windows are always full).
 *
 * The fast tier's twin (`precision: 'fast'`): with `fused`, the dense and pointwise
 * convolutions take acc = fmaF32(x, w, acc) (one rounding, src/reference/fma.ts) in the same
 * order, as the fast kernels' f32x4.relaxed_madd does on a CPU with FMA. The depthwise
 * convolution and the pooling stay as above in both tiers (see assembly/f32/common.ts `madd`).
 */
import type { Activation } from '../model/architecture.js';
import { fmaF32 } from './fma.js';

const fround = Math.fround;

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kernelH: number;
  kernelW: number;
  stride: number;
  dilation: number;
  padTop: number;
  padLeft: number;
  activation: Activation;
  /** Dense convolution: one rounding per multiply-add (the fast tier's twin). Default false. */
  fused?: boolean;
}

export function activate(v: number, activation: Activation): number {
  if (activation === 'none') return v;
  // NaN stays NaN: a poisoned input must not turn into a plausible number.
  if (v !== v) return v;
  const r = v > 0 ? v : 0;
  return activation === 'relu6' && r > 6 ? 6 : r;
}

/** Dense convolution; filter `[kh, kw, inC, outC]` (TF HWIO), bias `[outC]`. */
export function conv2dRef(input: Float32Array, filter: Float32Array, bias: Float32Array, g: ConvGeometry): Float32Array {
  const out = new Float32Array(g.batch * g.outH * g.outW * g.outC);
  const fused = g.fused === true;
  let o = 0;
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        for (let co = 0; co < g.outC; co++) {
          let acc = bias[co]!;
          for (let ky = 0; ky < g.kernelH; ky++) {
            const iy = oy * g.stride + ky * g.dilation - g.padTop;
            if (iy < 0 || iy >= g.inH) continue;
            for (let kx = 0; kx < g.kernelW; kx++) {
              const ix = ox * g.stride + kx * g.dilation - g.padLeft;
              if (ix < 0 || ix >= g.inW) continue;
              const xBase = ((n * g.inH + iy) * g.inW + ix) * g.inC;
              const wBase = (ky * g.kernelW + kx) * g.inC * g.outC + co;
              for (let ci = 0; ci < g.inC; ci++) {
                const x = input[xBase + ci]!;
                const w = filter[wBase + ci * g.outC]!;
                acc = fused ? fmaF32(x, w, acc) : fround(acc + fround(x * w));
              }
            }
          }
          out[o++] = activate(acc, g.activation);
        }
      }
    }
  }
  return out;
}

/** Depthwise convolution, channel multiplier 1; filter `[kh, kw, C]` (TF's `[kh, kw, C, 1]`). */
export function depthwiseConv2dRef(input: Float32Array, filter: Float32Array, bias: Float32Array, g: ConvGeometry): Float32Array {
  const C = g.inC;
  const out = new Float32Array(g.batch * g.outH * g.outW * C);
  let o = 0;
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        for (let c = 0; c < C; c++) {
          let acc = bias[c]!;
          for (let ky = 0; ky < g.kernelH; ky++) {
            const iy = oy * g.stride + ky * g.dilation - g.padTop;
            if (iy < 0 || iy >= g.inH) continue;
            for (let kx = 0; kx < g.kernelW; kx++) {
              const ix = ox * g.stride + kx * g.dilation - g.padLeft;
              if (ix < 0 || ix >= g.inW) continue;
              const x = input[((n * g.inH + iy) * g.inW + ix) * C + c]!;
              acc = fround(acc + fround(x * filter[(ky * g.kernelW + kx) * C + c]!));
            }
          }
          out[o++] = activate(acc, g.activation);
        }
      }
    }
  }
  return out;
}

/**
 * 1x1 convolution over `pixels` rows (N*H*W); filter `[inC, outC]` (TF's `[1, 1, inC, outC]`).
 * `fused`: one rounding per multiply-add (the fast tier's twin).
 */
export function pointwiseConv2dRef(
  input: Float32Array,
  filter: Float32Array,
  bias: Float32Array,
  pixels: number,
  inC: number,
  outC: number,
  activation: Activation,
  fused = false,
): Float32Array {
  const out = new Float32Array(pixels * outC);
  for (let p = 0; p < pixels; p++) {
    for (let co = 0; co < outC; co++) {
      let acc = bias[co]!;
      if (fused) {
        for (let ci = 0; ci < inC; ci++) acc = fmaF32(input[p * inC + ci]!, filter[ci * outC + co]!, acc);
      } else {
        for (let ci = 0; ci < inC; ci++) {
          acc = fround(acc + fround(input[p * inC + ci]! * filter[ci * outC + co]!));
        }
      }
      out[p * outC + co] = activate(acc, activation);
    }
  }
  return out;
}

export interface PoolGeometry {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  outH: number;
  outW: number;
  kernelH: number;
  kernelW: number;
  stride: number;
}

/** Average pool with VALID windows (global pooling is the window that covers the whole map). */
export function avgPoolRef(input: Float32Array, g: PoolGeometry): Float32Array {
  const C = g.channels;
  const out = new Float32Array(g.batch * g.outH * g.outW * C);
  const count = g.kernelH * g.kernelW;
  let o = 0;
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        for (let c = 0; c < C; c++) {
          let acc = 0;
          for (let ky = 0; ky < g.kernelH; ky++) {
            for (let kx = 0; kx < g.kernelW; kx++) {
              const iy = oy * g.stride + ky;
              const ix = ox * g.stride + kx;
              acc = fround(acc + input[((n * g.inH + iy) * g.inW + ix) * C + c]!);
            }
          }
          out[o++] = fround(acc / count);
        }
      }
    }
  }
  return out;
}

/**
 * Softmax over the last axis. Computed in float64 with the deterministic `expDeterministic`,
 * summed in index order, rounded to float32 at the end.
 */
export function softmaxRef(logits: Float32Array, rows: number, classes: number): Float32Array {
  const out = new Float32Array(rows * classes);
  const e = new Float64Array(classes);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[base + k]!);
    let sum = 0;
    for (let k = 0; k < classes; k++) {
      e[k] = expDeterministic(logits[base + k]! - max);
      sum += e[k]!;
    }
    for (let k = 0; k < classes; k++) out[base + k] = e[k]! / sum;
  }
  return out;
}

const LN2_HI = 6.93147180369123816490e-1; // fdlibm's split of ln 2: k * LN2_HI is exact
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700;

/**
 * exp(x) from +, -, * and / alone, so every engine gives the same bits (Math.exp is only
 * "implementation-approximated" by the spec). Relative error about 1e-16.
 */
export function expDeterministic(x: number): number {
  if (x !== x) return x;
  if (x > 709) return Infinity;
  if (x < -745) return 0;
  const k = Math.round(x * INV_LN2);
  const r = x - k * LN2_HI - k * LN2_LO; // |r| <= ln2 / 2
  // Taylor series to r^13: the next term is below 2^-60 for |r| <= 0.35.
  let term = 1;
  let sum = 1;
  for (let i = 1; i <= 13; i++) {
    term = (term * r) / i;
    sum += term;
  }
  return scaleByPowerOfTwo(sum, k);
}

const bits = new DataView(new ArrayBuffer(8));
function powerOfTwo(k: number): number {
  // Bits of the double 2^k for a normal exponent.
  bits.setUint32(0, (k + 1023) << 20);
  bits.setUint32(4, 0);
  return bits.getFloat64(0);
}

function scaleByPowerOfTwo(v: number, k: number): number {
  // Split the scaling so that neither factor leaves the normal range.
  while (k > 1000) {
    v *= powerOfTwo(1000);
    k -= 1000;
  }
  while (k < -1000) {
    v *= powerOfTwo(-1000);
    k += 1000;
  }
  return v * powerOfTwo(k);
}
