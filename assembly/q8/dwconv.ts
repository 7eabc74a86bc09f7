/**
 * Integer depthwise convolution (depth multiplier 1), NHWC, with TFLite's requantization:
 *
 *   acc[c] = bias[c] + sum_{ky, kx inside the input} (x[iy, ix, c] + input_offset) * (w[ky, kx, c] + filter_offset)
 *   out    = clamp(MultiplyByQuantizedMultiplier(acc, M[c], shift[c]) + output_offset, actMin, actMax)
 *
 * exactly src/quant/kernels.ts `depthwiseConv2d`: taps in the padding are skipped, as the
 * reference skips them. Any kernel size, stride, dilation and padding (padTop / padLeft; the
 * bottom and right follow from outH / outW).
 *
 * Weights (src/quant/wasm.ts `packDepthwiseQ8`), per tile of 8 channels: the 192-byte
 * requantization header (./common.ts), then per tap (ky, kx): w + filter_offset as i16[8]
 * (channels past C are 0). Per tap and 8 channels: one 8-byte load widened to i16 plus the input
 * offset, two i32x4.extmul_*_i16x8_s (both factors in [-255, 255]).
 *
 * Contract: all sizes >= 1; `input` holds n*inH*inW*C bytes and is followed by at least 8
 * readable bytes (the channel tail over-reads; its extra lanes are never stored); `output`
 * receives exactly n*outH*outW*C bytes. `shifts`, `signed`: as q8_gemm_4x8c2_minmax.
 */
import { HDR, clampOut, endTap, firstTap, load8x8, loadByte, pack8, requant1, requant4, storeBytes } from './common';

export function q8_dwconv_minmax(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize,
  inputOffset: i32, outOffset: i32, actMin: i32, actMax: i32, shifts: i32, signed: i32,
): void {
  if (signed) dw<i8>(n, inH, inW, C, outH, outW, kh, kw, stride, dilation, padTop, padLeft, input, w, output, inputOffset, outOffset, actMin, actMax, shifts);
  else dw<u8>(n, inH, inW, C, outH, outW, kh, kw, stride, dilation, padTop, padLeft, input, w, output, inputOffset, outOffset, actMin, actMax, shifts);
}

function dw<T>(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize,
  inputOffset: i32, outOffset: i32, actMin: i32, actMax: i32, shifts: i32,
): void {
  const vio = i16x8.splat(<i16>inputOffset);
  const voff = i16x8.splat(<i16>outOffset);
  const vmin = i16x8.splat(<i16>actMin);
  const vmax = i16x8.splat(<i16>actMax);
  const signed = isSigned<T>() ? 1 : 0;
  const pixB = <usize>C;
  const dxB = <usize>dilation * pixB;
  const dyB = <usize>dilation * <usize>inW * pixB;
  const tileBytes = HDR + ((<usize>(kh * kw)) << 4);
  let o = output;
  for (let b = 0; b < n; b++) {
    const img = input + <usize>b * <usize>inH * <usize>inW * pixB;
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * stride - padTop;
      const ky0 = firstTap(iy0, dilation, kh);
      const ky1 = endTap(iy0, dilation, kh, inH, ky0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * stride - padLeft;
        const kx0 = firstTap(ix0, dilation, kw);
        const kx1 = endTap(ix0, dilation, kw, inW, kx0);
        const p = img + <usize>(iy0 * inW + ix0) * pixB;
        let h = w;
        if (kh == 3 && kw == 3 && ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {
          // Every tap inside (the interior of a 3x3 layer): the 9 taps unrolled.
          for (let c = 0; c < C; c += 8) {
            const r0 = p + <usize>c, r1 = r0 + dyB, r2 = r1 + dyB;
            const wt = h + HDR;
            let x = i16x8.add(load8x8<T>(r0), vio);
            let wv = v128.load(wt);
            let acc0 = i32x4.add(v128.load(h), i32x4.extmul_low_i16x8_s(x, wv));
            let acc1 = i32x4.add(v128.load(h, 16), i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r0 + dxB), vio); wv = v128.load(wt, 16);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r0 + 2 * dxB), vio); wv = v128.load(wt, 32);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r1), vio); wv = v128.load(wt, 48);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r1 + dxB), vio); wv = v128.load(wt, 64);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r1 + 2 * dxB), vio); wv = v128.load(wt, 80);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r2), vio); wv = v128.load(wt, 96);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r2 + dxB), vio); wv = v128.load(wt, 112);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            x = i16x8.add(load8x8<T>(r2 + 2 * dxB), vio); wv = v128.load(wt, 128);
            acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(x, wv)); acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(x, wv));
            storeBytes(o + <usize>c, pack8(requant4(acc0, h, 0, shifts), requant4(acc1, h, 4, shifts), voff, vmin, vmax, signed), C - c);
            h += tileBytes;
          }
          o += pixB;
          continue;
        }
        for (let c = 0; c < C; c += 8) {
          let acc0 = v128.load(h);
          let acc1 = v128.load(h, 16);
          for (let ky = ky0; ky < ky1; ky++) {
            const rowP = p + <usize>ky * dyB + <usize>c;
            const rowW = h + HDR + (<usize>(ky * kw) << 4);
            for (let kx = kx0; kx < kx1; kx++) {
              const xv = i16x8.add(load8x8<T>(rowP + <usize>kx * dxB), vio);
              const wv = v128.load(rowW + (<usize>kx << 4));
              acc0 = i32x4.add(acc0, i32x4.extmul_low_i16x8_s(xv, wv));
              acc1 = i32x4.add(acc1, i32x4.extmul_high_i16x8_s(xv, wv));
            }
          }
          storeBytes(o + <usize>c, pack8(requant4(acc0, h, 0, shifts), requant4(acc1, h, 4, shifts), voff, vmin, vmax, signed), C - c);
          h += tileBytes;
        }
        o += pixB;
      }
    }
  }
}

/** Scalar twin of `q8_dwconv_minmax`: the same packing and contract, one channel at a time. */
export function q8_dwconv_minmax_scalar(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize,
  inputOffset: i32, outOffset: i32, actMin: i32, actMax: i32, shifts: i32, signed: i32,
): void {
  const tileBytes = HDR + ((<usize>(kh * kw)) << 4);
  let o = output;
  for (let b = 0; b < n; b++) {
    const img = input + <usize>b * <usize>inH * <usize>inW * <usize>C;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let c = 0; c < C; c++) {
          const h = w + <usize>(c >> 3) * tileBytes;
          const j = <usize>(c & 7);
          let acc = load<i32>(h + (j << 2));
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride - padTop + ky * dilation;
            if (iy < 0 || iy >= inH) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride - padLeft + kx * dilation;
              if (ix < 0 || ix >= inW) continue;
              const x = loadByte(img + <usize>(iy * inW + ix) * <usize>C + <usize>c, signed) + inputOffset;
              acc += x * <i32>load<i16>(h + HDR + (<usize>(ky * kw + kx) << 4) + (j << 1));
            }
          }
          store<u8>(o + <usize>c, <u8>clampOut(requant1(acc, h, j), outOffset, actMin, actMax));
        }
        o += <usize>C;
      }
    }
  }
}
