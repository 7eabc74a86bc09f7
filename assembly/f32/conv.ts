/**
 * f32 dense convolution with bias and clamp, NHWC, any kernel, stride, dilation and padding:
 * the first layer (3x3, Cin = 3, stride 2), the `conv` preset and custom conv_defs.
 *
 *   out[n, oy, ox, co] = clamp(bias[co] + sum_{ky, kx valid} sum_ci in[n, iy, ix, ci] * w[ky, kx, ci, co], lo, hi)
 *
 * Packed weights (src/wasm/pack.ts `packConv`), per tile of 8 output channels:
 *   bias[8], then for ky, for kx, for ci: w[ky, kx, ci, co0..co0+7]   (channels past Cout are zero)
 *
 * Vectorised across output channels (lanes = output channels), taps in the padding skipped,
 * so every lane sums bias, then ky, kx, ci ascending: bit-identical to `conv2dRef`.
 * Runs of 4 interior output pixels take a 4x8 register tile; border pixels a 1x8 tile.
 *
 * Contract: all sizes >= 1; `input` holds n*inH*inW*Cin floats, `output` receives exactly
 * n*outH*outW*Cout floats.
 */
import { clampMode, clampv, clamps, madd, madds, endTap, firstTap, storeRow8 } from './common';

export function f32_conv_minmax(
  n: i32, inH: i32, inW: i32, Cin: i32, outH: i32, outW: i32, Cout: i32,
  kh: i32, kw: i32, stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const mode = clampMode(lo, hi);
  const pixB = <usize>Cin << 2;
  const outPixB = <usize>Cout << 2;
  const dxB = <usize>dilation * pixB;
  const dyB = <usize>dilation * <usize>inW * pixB;
  const sxB = <usize>stride * pixB;
  const tileBytes = (<usize>(1 + kh * kw * Cin)) << 5;
  const tapBytes = <usize>Cin << 5;
  const spanY = (kh - 1) * dilation;
  const spanX = (kw - 1) * dilation;
  // With dilation 1 the taps kx = 0..kw-1 of a row are kw * Cin contiguous floats, in the
  // packed weights' (kx, ci) order: one run per ky instead of kw runs of Cin.
  const kxRuns = dilation == 1 ? 1 : kw;
  const runB = dilation == 1 ? <usize>kw * pixB : pixB;
  let o = output;
  for (let b = 0; b < n; b++) {
    const img = input + <usize>b * <usize>inH * <usize>inW * pixB;
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * stride - padTop;
      const ky0 = firstTap(iy0, dilation, kh);
      const ky1 = endTap(iy0, dilation, kh, inH, ky0);
      const rowInside = iy0 >= 0 && iy0 + spanY < inH;
      let ox = 0;
      while (ox < outW) {
        const ix0 = ox * stride - padLeft;
        const p = img + <usize>(iy0 * inW + ix0) * pixB;
        if (rowInside && ox + 4 <= outW && ix0 >= 0 && ix0 + 3 * stride + spanX < inW) {
          // 4 interior pixels x 8 output channels.
          for (let n0 = 0; n0 < Cout; n0 += 8) {
            const wt = w + <usize>(n0 >> 3) * tileBytes;
            let acc00 = v128.load(wt), acc01 = v128.load(wt, 16);
            let acc10 = acc00, acc11 = acc01, acc20 = acc00, acc21 = acc01, acc30 = acc00, acc31 = acc01;
            let wp = wt + 32;
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kxRuns; kx++) {
                const x0 = p + <usize>ky * dyB + <usize>kx * dxB;
                const x1 = x0 + sxB, x2 = x1 + sxB, x3 = x2 + sxB;
                const end = x0 + runB;
                let d: usize = 0;
                for (; x0 + d < end; d += 4) {
                  const b0 = v128.load(wp);
                  const b1 = v128.load(wp, 16);
                  const v0 = v128.load32_splat(x0 + d);
                  const v1 = v128.load32_splat(x1 + d);
                  const v2 = v128.load32_splat(x2 + d);
                  const v3 = v128.load32_splat(x3 + d);
                  acc00 = madd(v0, b0, acc00); acc01 = madd(v0, b1, acc01);
                  acc10 = madd(v1, b0, acc10); acc11 = madd(v1, b1, acc11);
                  acc20 = madd(v2, b0, acc20); acc21 = madd(v2, b1, acc21);
                  acc30 = madd(v3, b0, acc30); acc31 = madd(v3, b1, acc31);
                  wp += 32;
                }
              }
            }
            const nr = min(8, Cout - n0);
            const c0 = o + (<usize>n0 << 2);
            storeRow8(c0, clampv(acc00, vlo, vhi, mode), clampv(acc01, vlo, vhi, mode), nr);
            storeRow8(c0 + outPixB, clampv(acc10, vlo, vhi, mode), clampv(acc11, vlo, vhi, mode), nr);
            storeRow8(c0 + 2 * outPixB, clampv(acc20, vlo, vhi, mode), clampv(acc21, vlo, vhi, mode), nr);
            storeRow8(c0 + 3 * outPixB, clampv(acc30, vlo, vhi, mode), clampv(acc31, vlo, vhi, mode), nr);
          }
          o += 4 * outPixB;
          ox += 4;
        } else {
          const kx0 = firstTap(ix0, dilation, kw);
          const kx1 = endTap(ix0, dilation, kw, inW, kx0);
          for (let n0 = 0; n0 < Cout; n0 += 8) {
            const wt = w + <usize>(n0 >> 3) * tileBytes;
            let acc0 = v128.load(wt), acc1 = v128.load(wt, 16);
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                const x0 = p + <usize>ky * dyB + <usize>kx * dxB;
                let wp = wt + 32 + <usize>(ky * kw + kx) * tapBytes;
                const end = x0 + pixB;
                for (let xp = x0; xp < end; xp += 4) {
                  const v = v128.load32_splat(xp);
                  acc0 = madd(v, v128.load(wp), acc0);
                  acc1 = madd(v, v128.load(wp, 16), acc1);
                  wp += 32;
                }
              }
            }
            storeRow8(o + (<usize>n0 << 2), clampv(acc0, vlo, vhi, mode), clampv(acc1, vlo, vhi, mode), min(8, Cout - n0));
          }
          o += outPixB;
          ox += 1;
        }
      }
    }
  }
}

/** Scalar twin of `f32_conv_minmax`: same packing and per-channel order, no SIMD. */
export function f32_conv_minmax_scalar(
  n: i32, inH: i32, inW: i32, Cin: i32, outH: i32, outW: i32, Cout: i32,
  kh: i32, kw: i32, stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize, lo: f32, hi: f32,
): void {
  const tileBytes = (<usize>(1 + kh * kw * Cin)) << 5;
  let o = output;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let co = 0; co < Cout; co++) {
          const wt = w + <usize>(co >> 3) * tileBytes + (<usize>(co & 7) << 2);
          let acc = load<f32>(wt);
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride + ky * dilation - padTop;
            if (iy < 0 || iy >= inH) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride + kx * dilation - padLeft;
              if (ix < 0 || ix >= inW) continue;
              const xp = input + (<usize>((b * inH + iy) * inW + ix) * <usize>Cin << 2);
              let wp = wt + 32 + (<usize>((ky * kw + kx) * Cin) << 5);
              for (let ci = 0; ci < Cin; ci++) {
                acc = madds(load<f32>(xp + (<usize>ci << 2)), load<f32>(wp), acc);
                wp += 32;
              }
            }
          }
          store<f32>(o, clamps(acc, lo, hi));
          o += 4;
        }
      }
    }
  }
}
