/**
 * Integer average pooling, NHWC, exactly src/quant/kernels.ts `averagePool2d` (TFLite's
 * reference/pooling.h and integer_ops/pooling.h): the window clamped to the input, count = the
 * taps inside; uint8 `(sum + count / 2) / count`; int8 the same for a positive sum,
 * `(sum - count / 2) / count` otherwise (int32 division truncating toward zero, as C's), then
 * clamp [actMin, actMax]. Input and output share scale and zero point: no requantization.
 *
 * Scalar: the one pooling layer of MobileNet (AvgPool_1a) is a few thousand additions; a SIMD
 * version would not show in a run. Every window must hold at least one input (the host checks).
 */
import { loadByte } from './common';

export function q8_avgpool(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, padTop: i32, padLeft: i32,
  input: usize, output: usize, actMin: i32, actMax: i32, signed: i32,
): void {
  let o = output;
  for (let b = 0; b < n; b++) {
    const img = input + <usize>b * <usize>inH * <usize>inW * <usize>C;
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * stride - padTop;
      const y0 = max(0, -iy0);
      const y1 = min(kh, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * stride - padLeft;
        const x0 = max(0, -ix0);
        const x1 = min(kw, inW - ix0);
        const count = max(0, y1 - y0) * max(0, x1 - x0);
        const half = count >> 1;
        for (let c = 0; c < C; c++) {
          let sum = 0;
          for (let fy = y0; fy < y1; fy++) {
            const row = img + (<usize>((iy0 + fy) * inW + ix0) * <usize>C) + <usize>c;
            for (let fx = x0; fx < x1; fx++) sum += loadByte(row + <usize>fx * <usize>C, signed);
          }
          const avg = !signed || sum > 0 ? (sum + half) / count : (sum - half) / count;
          store<u8>(o + <usize>c, <u8>(avg < actMin ? actMin : avg > actMax ? actMax : avg));
        }
        o += <usize>C;
      }
    }
  }
}
