/**
 * Crop and resize on 8-bit RGB. The resize is TF's bilinear with half-pixel centres
 * (`tf.image.resizeBilinear(x, size, alignCorners=false, halfPixelCenters=true)`), written
 * with the TF.js cpu backend's arithmetic (kernels/ResizeBilinear.js in
 * @tensorflow/tfjs-backend-cpu 4.x): source coordinates and the three lerps in float64, the
 * result stored to float32. So `resizeBilinearFloat` equals that kernel bit for bit.
 */
import { ErrorCodes, describe, fail } from '../errors.js';
import type { RgbImage } from './decode.js';

/** The largest centred square: side min(W, H), offset floor((W - side) / 2), floor((H - side) / 2). */
export function centerCropSquare(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  checkRgb(data, width, height);
  const side = Math.min(width, height);
  const x0 = Math.floor((width - side) / 2);
  const y0 = Math.floor((height - side) / 2);
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    const from = ((y0 + y) * width + x0) * 3;
    out.set(data.subarray(from, from + side * 3), y * side * 3);
  }
  return { width: side, height: side, data: out };
}

/** Bilinear resize, half-pixel centres, as float32 values (not rounded). */
export function resizeBilinearFloat(rgb: Uint8Array, w: number, h: number, outW: number, outH: number): Float32Array {
  checkRgb(rgb, w, h);
  if (!isSize(outW) || !isSize(outH)) fail(ErrorCodes.INPUT, `resize: output size must be positive integers, got ${describe([outW, outH])}`);
  const out = new Float32Array(outW * outH * 3);
  const rowScale = h / outH;
  const colScale = w / outW;
  let o = 0;
  for (let r = 0; r < outH; r++) {
    const srcRow = rowScale * (r + 0.5) - 0.5;
    const r0 = Math.max(0, Math.floor(srcRow));
    const fy = srcRow - r0; // negative near the top edge, where r0 = r1 and it has no effect
    const r1 = Math.min(h - 1, Math.ceil(srcRow));
    for (let c = 0; c < outW; c++) {
      const srcCol = colScale * (c + 0.5) - 0.5;
      const c0 = Math.max(0, Math.floor(srcCol));
      const fx = srcCol - c0;
      const c1 = Math.min(w - 1, Math.ceil(srcCol));
      const tl = (r0 * w + c0) * 3;
      const tr = (r0 * w + c1) * 3;
      const bl = (r1 * w + c0) * 3;
      const br = (r1 * w + c1) * 3;
      for (let d = 0; d < 3; d++) {
        const top = rgb[tl + d]! + (rgb[tr + d]! - rgb[tl + d]!) * fx;
        const bottom = rgb[bl + d]! + (rgb[br + d]! - rgb[bl + d]!) * fx;
        out[o++] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

/** `resizeBilinearFloat` rounded to uint8: Math.round (halves go up), clamped to [0, 255]. */
export function resizeBilinear(rgb: Uint8Array, w: number, h: number, outW: number, outH: number): Uint8Array {
  return roundToUint8(resizeBilinearFloat(rgb, w, h, outW, outH));
}

export function roundToUint8(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(values[i]!)));
  return out;
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function checkRgb(data: Uint8Array, w: number, h: number): void {
  if (!isSize(w) || !isSize(h)) fail(ErrorCodes.INPUT, `image size must be positive integers, got ${describe([w, h])}`);
  if (!(data instanceof Uint8Array) || data.length !== w * h * 3) {
    fail(ErrorCodes.INPUT, `image data: expected ${w * h * 3} bytes of RGB for ${w}x${h}, got ${data instanceof Uint8Array ? data.length : typeof data}`);
  }
}
