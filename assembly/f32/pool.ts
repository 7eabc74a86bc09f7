/**
 * f32 average pooling, NHWC, VALID windows (global pooling is the window covering the map).
 *
 *   out[n, oy, ox, c] = (sum_{ky, kx} in[n, oy*stride + ky, ox*stride + kx, c]) / (kh * kw)
 *
 * Each lane is one channel: acc = 0, then ky, kx ascending, one rounded add per tap, then one
 * division: bit-identical to `avgPoolRef`.
 *
 * Contract: every window lies inside the input; `input` holds n*inH*inW*C floats and must be
 * followed by 12 readable bytes (channel tail over-read); `output` receives n*outH*outW*C floats.
 */
import { storePartial } from './common';

export function f32_avgpool(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, input: usize, output: usize,
): void {
  const pixB = <usize>C << 2;
  const rowB = <usize>inW * pixB;
  const count = f32x4.splat(<f32>(kh * kw));
  let o = output;
  for (let b = 0; b < n; b++) {
    const img = input + <usize>b * <usize>inH * rowB;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const p = img + <usize>(oy * stride) * rowB + <usize>(ox * stride) * pixB;
        let c = 0;
        // 16 channels per pass: four independent add chains instead of one.
        for (; c + 16 <= C; c += 16) {
          const cOff = <usize>c << 2;
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          for (let ky = 0; ky < kh; ky++) {
            let q = p + <usize>ky * rowB + cOff;
            for (let kx = 0; kx < kw; kx++) {
              a0 = f32x4.add(a0, v128.load(q));
              a1 = f32x4.add(a1, v128.load(q, 16));
              a2 = f32x4.add(a2, v128.load(q, 32));
              a3 = f32x4.add(a3, v128.load(q, 48));
              q += pixB;
            }
          }
          const oc = o + cOff;
          v128.store(oc, f32x4.div(a0, count));
          v128.store(oc, f32x4.div(a1, count), 16);
          v128.store(oc, f32x4.div(a2, count), 32);
          v128.store(oc, f32x4.div(a3, count), 48);
        }
        for (; c < C; c += 4) {
          const cOff = <usize>c << 2;
          let acc = f32x4.splat(0);
          for (let ky = 0; ky < kh; ky++) {
            let q = p + <usize>ky * rowB + cOff;
            for (let kx = 0; kx < kw; kx++) {
              acc = f32x4.add(acc, v128.load(q));
              q += pixB;
            }
          }
          storePartial(o + cOff, f32x4.div(acc, count), C - c);
        }
        o += pixB;
      }
    }
  }
}

/** Scalar twin of `f32_avgpool`. */
export function f32_avgpool_scalar(
  n: i32, inH: i32, inW: i32, C: i32, outH: i32, outW: i32,
  kh: i32, kw: i32, stride: i32, input: usize, output: usize,
): void {
  const count = <f32>(kh * kw);
  let o = output;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let c = 0; c < C; c++) {
          let acc: f32 = 0;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const i = ((b * inH + oy * stride + ky) * inW + ox * stride + kx) * C + c;
              acc = acc + load<f32>(input + (<usize>i << 2));
            }
          }
          store<f32>(o, acc / count);
          o += 4;
        }
      }
    }
  }
}
