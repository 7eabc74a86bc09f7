/**
 * f32 depthwise convolution (channel multiplier 1) with bias and clamp, NHWC.
 *
 *   out[n, oy, ox, c] = clamp(bias[c] + sum_{ky, kx valid} in[n, iy, ix, c] * w[ky, kx, c], lo, hi)
 *   iy = oy * stride + ky * dilation - padTop,  ix = ox * stride + kx * dilation - padLeft
 *
 * Taps falling in the padding are skipped (never added as zeros), so every lane sums bias,
 * then ky, kx ascending, one rounded mul and one rounded add per tap: bit-identical to
 * `depthwiseConv2dRef` and to the scalar twins. Any padding (SAME asymmetric, explicit,
 * symmetric) is given by padTop / padLeft; bottom and right follow from outH / outW.
 *
 * Packed weights (src/wasm/pack.ts `packDepthwise`), per tile of 4 channels:
 *   bias[4], then for ky, for kx: w[ky, kx, c0..c0+3]   (channels past C are zero)
 *
 * Contract: all sizes >= 1; `input` holds n*inH*inW*C floats and must be followed by at least
 * 12 readable bytes (the channel tail over-reads, the extra lanes are never stored);
 * `output` receives exactly n*outH*outW*C floats.
 */
import { clampMode, clampv, clamps, endTap, firstTap, storePartial } from './common';

/**
 * One output pixel, any kernel, only the taps inside the input: the generic path and the
 * border path of the 3x3 kernel. `p` addresses input pixel (iy0, ix0) of the image.
 */
// @ts-ignore: decorator
@inline
function dwPixel(
  p: usize, o: usize, w: usize, C: i32,
  kw: i32, ky0: i32, ky1: i32, kx0: i32, kx1: i32,
  dyB: usize, dxB: usize, tileBytes: usize, vlo: v128, vhi: v128, mode: i32,
): void {
  let wt = w;
  let cOff: usize = 0;
  for (let c = 0; c < C; c += 4) {
    let acc = v128.load(wt);
    for (let ky = ky0; ky < ky1; ky++) {
      const rowP = p + <usize>ky * dyB + cOff;
      const rowW = wt + 16 + (<usize>(ky * kw) << 4);
      for (let kx = kx0; kx < kx1; kx++) {
        acc = f32x4.add(acc, f32x4.mul(v128.load(rowP + <usize>kx * dxB), v128.load(rowW + (<usize>kx << 4))));
      }
    }
    storePartial(o + cOff, clampv(acc, vlo, vhi, mode), C - c);
    wt += tileBytes;
    cOff += 16;
  }
}

/** Depthwise convolution, any kernel size, stride, dilation and padding. */
export function f32_dwconv_minmax(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const mode = clampMode(lo, hi);
  const pixB = <usize>C << 2;
  const dxB = <usize>dilation * pixB;
  const dyB = <usize>dilation * <usize>inW * pixB;
  const tileBytes = (<usize>(1 + kh * kw)) << 4;
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
        dwPixel(p, o, w, C, kw, ky0, ky1, kx0, kx1, dyB, dxB, tileBytes, vlo, vhi, mode);
        o += pixB;
      }
    }
  }
}

/** Bytes of the 3 input rows an output row reads, under which the row strategy wins (L1). */
const ROW_BAND_BYTES: usize = 48 * 1024;

/**
 * Depthwise 3x3, any stride, dilation and padding. Same packing as the generic kernel with
 * kh = kw = 3 (tiles of 40 floats). Border pixels take the generic per-tap path; interior
 * pixels one of two unrolled 9-tap strategies, both bit-exact:
 *  - per pixel, all channel tiles (weights re-read from L1): wide layers (C >= 128 at 56x56);
 *  - per output row, channel tile outer with its 10 weight vectors held in registers and the
 *    row's interior pixels inner: when the 3 input rows fit in L1 (3 * inW * C * 4 <= 48 KiB)
 *    and the row has at least 4 interior pixels. 1.3x to 2x faster on narrow layers
 *    (C <= 64: all of alpha 0.25, the first block of alpha 1.0).
 */
export function f32_dwconv3x3_minmax(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const mode = clampMode(lo, hi);
  const pixB = <usize>C << 2;
  const dxB = <usize>dilation * pixB;
  const dyB = <usize>dilation * <usize>inW * pixB;
  const sxB = <usize>stride * pixB;
  const tileBytes: usize = 160;
  const span = 2 * dilation;
  // Interior columns [oxL, oxR): every tap inside the input.
  let oxL = 0;
  while (oxL < outW && oxL * stride - padLeft < 0) oxL++;
  let oxR = outW;
  while (oxR > oxL && (oxR - 1) * stride - padLeft + span >= inW) oxR--;
  const byRows = <usize>3 * <usize>inW * pixB <= ROW_BAND_BYTES && oxR - oxL >= 4;
  for (let b = 0; b < n; b++) {
    const img = input + <usize>b * <usize>inH * <usize>inW * pixB;
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * stride - padTop;
      const ky0 = firstTap(iy0, dilation, 3);
      const ky1 = endTap(iy0, dilation, 3, inH, ky0);
      const rowInside = iy0 >= 0 && iy0 + span < inH;
      const orow = output + (<usize>(b * outH + oy) * <usize>outW) * pixB;
      if (rowInside && byRows) {
        // Borders per pixel, then the interior run channel tile by channel tile.
        for (let ox = 0; ox < outW; ox++) {
          if (ox == oxL) {
            ox = oxR - 1;
            continue;
          }
          const ix0 = ox * stride - padLeft;
          const kx0 = firstTap(ix0, dilation, 3);
          const kx1 = endTap(ix0, dilation, 3, inW, kx0);
          dwPixel(img + <usize>(iy0 * inW + ix0) * pixB, orow + <usize>ox * pixB, w, C, 3, ky0, ky1, kx0, kx1, dyB, dxB, tileBytes, vlo, vhi, mode);
        }
        const p0 = img + <usize>(iy0 * inW + oxL * stride - padLeft) * pixB;
        const o0 = orow + <usize>oxL * pixB;
        let wt = w;
        for (let c = 0; c < C; c += 4) {
          const cOff = <usize>c << 2;
          const vb = v128.load(wt);
          const w0 = v128.load(wt, 16), w1 = v128.load(wt, 32), w2 = v128.load(wt, 48);
          const w3 = v128.load(wt, 64), w4 = v128.load(wt, 80), w5 = v128.load(wt, 96);
          const w6 = v128.load(wt, 112), w7 = v128.load(wt, 128), w8 = v128.load(wt, 144);
          let r0 = p0 + cOff;
          let o = o0 + cOff;
          const count = C - c;
          for (let ox = oxL; ox < oxR; ox++) {
            const r1 = r0 + dyB;
            const r2 = r1 + dyB;
            let acc = f32x4.add(vb, f32x4.mul(v128.load(r0), w0));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r0 + dxB), w1));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r0 + 2 * dxB), w2));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r1), w3));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r1 + dxB), w4));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r1 + 2 * dxB), w5));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r2), w6));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r2 + dxB), w7));
            acc = f32x4.add(acc, f32x4.mul(v128.load(r2 + 2 * dxB), w8));
            storePartial(o, clampv(acc, vlo, vhi, mode), count);
            r0 += sxB;
            o += pixB;
          }
          wt += tileBytes;
        }
        continue;
      }
      let o = orow;
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * stride - padLeft;
        const p = img + <usize>(iy0 * inW + ix0) * pixB;
        if (rowInside && ox >= oxL && ox < oxR) {
          const i0 = p, i1 = p + dxB, i2 = p + 2 * dxB;
          const i3 = i0 + dyB, i4 = i1 + dyB, i5 = i2 + dyB;
          const i6 = i3 + dyB, i7 = i4 + dyB, i8 = i5 + dyB;
          let wt = w;
          let cOff: usize = 0;
          for (let c = 0; c < C; c += 4) {
            let acc = v128.load(wt);
            acc = f32x4.add(acc, f32x4.mul(v128.load(i0 + cOff), v128.load(wt, 16)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i1 + cOff), v128.load(wt, 32)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i2 + cOff), v128.load(wt, 48)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i3 + cOff), v128.load(wt, 64)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i4 + cOff), v128.load(wt, 80)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i5 + cOff), v128.load(wt, 96)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i6 + cOff), v128.load(wt, 112)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i7 + cOff), v128.load(wt, 128)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(i8 + cOff), v128.load(wt, 144)));
            storePartial(o + cOff, clampv(acc, vlo, vhi, mode), C - c);
            wt += tileBytes;
            cOff += 16;
          }
        } else {
          const kx0 = firstTap(ix0, dilation, 3);
          const kx1 = endTap(ix0, dilation, 3, inW, kx0);
          dwPixel(p, o, w, C, 3, ky0, ky1, kx0, kx1, dyB, dxB, tileBytes, vlo, vhi, mode);
        }
        o += pixB;
      }
    }
  }
}

/** Scalar twin of both depthwise kernels (any kernel size; same packing and order). */
export function f32_dwconv_minmax_scalar(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize, lo: f32, hi: f32,
): void {
  const tileBytes = (<usize>(1 + kh * kw)) << 4;
  let o = output;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let c = 0; c < C; c++) {
          const wt = w + <usize>(c >> 2) * tileBytes + (<usize>(c & 3) << 2);
          let acc = load<f32>(wt);
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride + ky * dilation - padTop;
            if (iy < 0 || iy >= inH) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride + kx * dilation - padLeft;
              if (ix < 0 || ix >= inW) continue;
              const x = load<f32>(input + ((<usize>((b * inH + iy) * inW + ix) * <usize>C + <usize>c) << 2));
              acc = acc + x * load<f32>(wt + (<usize>(1 + ky * kw + kx) << 4));
            }
          }
          store<f32>(o, clamps(acc, lo, hi));
          o += 4;
        }
      }
    }
  }
}

/** Scalar twin of `f32_dwconv3x3_minmax`. */
export function f32_dwconv3x3_minmax_scalar(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  stride: i32, dilation: i32, padTop: i32, padLeft: i32,
  input: usize, w: usize, output: usize, lo: f32, hi: f32,
): void {
  f32_dwconv_minmax_scalar(n, inH, inW, C, outH, outW, 3, 3, stride, dilation, padTop, padLeft, input, w, output, lo, hi);
}
