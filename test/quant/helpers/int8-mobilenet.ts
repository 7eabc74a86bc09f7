/**
 * A whole int8 MobileNet v1 in TFLite's full-integer scheme, written by ./tflite-writer.ts with
 * random weights: symmetric int8 weights per output channel (or per tensor), int8 activations
 * per tensor (ReLU6 outputs at scale 6/255, zero point -128), int32 biases at input scale x
 * weight scale. Scales are calibrated on one image so the activations spread over the range
 * instead of saturating (an approximate float pass; the file only has to be a plausible int8
 * model, the witnesses then compare the integers exactly). The shapes and the SAME padding come
 * from the layer table.
 *
 * Options: the logits as CONV_2D + RESHAPE (TF-Slim) or RESHAPE + FULLY_CONNECTED (Keras);
 * float32 input and output through QUANTIZE / DEQUANTIZE (the converter's default I/O); per-tensor
 * int8 weights.
 */
import { buildArchitecture, convLayers, type ConvLayer } from '../../../src/model/architecture.js';
import { Act, Op, Opt, T, bytesOf, options, writeTflite, type WOperator, type WTensor } from './tflite-writer.js';

export interface Int8MobileNetSpec {
  alpha: number;
  size: number;
  classes: number;
  logits: 'conv' | 'fc';
  floatIO?: boolean;
  perTensor?: boolean;
  seed: number;
  /** size x size x 3 RGB bytes to calibrate the scales on. */
  calibration: Uint8Array;
}

const fround = Math.fround;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

function percentileAbs(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = values.map(Math.abs).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export function makeInt8MobileNet(spec: Int8MobileNetSpec): Uint8Array {
  const rand = rng(spec.seed);
  const arch = buildArchitecture({ depthMultiplier: spec.alpha, inputSize: spec.size, numClasses: spec.classes });
  const tensors: WTensor[] = [];
  const ops: WOperator[] = [];
  const add = (t: WTensor) => tensors.push(t) - 1;

  let cur: number;
  const graphInputs: number[] = [];
  if (spec.floatIO) {
    const f = add({ name: 'input_f32', shape: [1, spec.size, spec.size, 3], type: T.FLOAT32 });
    graphInputs.push(f);
    cur = add({ name: 'input_int8', shape: [1, spec.size, spec.size, 3], type: T.INT8, scale: [1 / 128], zeroPoint: [0] });
    ops.push({ code: Op.QUANTIZE, version: 2, inputs: [f], outputs: [cur] });
  } else {
    cur = add({ name: 'input', shape: [1, spec.size, spec.size, 3], type: T.INT8, scale: [1 / 128], zeroPoint: [0] });
    graphInputs.push(cur);
  }
  // Calibration activations (approximate: a float pass rounded at each layer).
  let x = Array.from(spec.calibration, (u) => u - 128);
  let sIn = 1 / 128;
  let zIn = 0;
  let [h, w, c] = [spec.size, spec.size, 3];

  const layers = convLayers(arch);
  const convLayer = (layer: ConvLayer, i: number) => {
    const [kh, kw] = layer.kernel;
    const [oh, ow, oc] = layer.outShape;
    const depthwise = layer.kind === 'depthwise';
    const k = depthwise ? kh * kw : kh * kw * c;
    const weights = Array.from({ length: depthwise ? kh * kw * oc : oc * kh * kw * c }, () => Math.round((rand() + rand() + rand() - 1.5) * 84));
    // Raw accumulators over the calibration image (no bias), per output channel.
    const acc: number[][] = Array.from({ length: oc }, () => []);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let o = 0; o < oc; o++) {
          let a = 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * layer.stride - layer.padding.top + ky;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * layer.stride - layer.padding.left + kx;
              if (ix < 0 || ix >= w) continue;
              if (depthwise) a += (x[(iy * w + ix) * c + o]! - zIn) * weights[(ky * kw + kx) * oc + o]!;
              else for (let ic = 0; ic < c; ic++) a += (x[(iy * w + ix) * c + ic]! - zIn) * weights[((o * kh + ky) * kw + kx) * c + ic]!;
            }
          }
          acc[o]!.push(a);
        }
      }
    }
    const logits = layer.kind === 'logits';
    const target = logits ? 8 : 3; // the real value the 97th percentile maps to
    let scales = acc.map((a) => fround(target / (sIn * Math.max(percentileAbs(a, 0.97), k))));
    if (spec.perTensor) {
      const s = scales.reduce((m, v) => Math.min(m, v), Infinity);
      scales = scales.map(() => s);
    }
    const bias = scales.map((s) => Math.round((rand() - 0.5) / (sIn * s)));
    const real = acc.map((a, o) => a.map((v) => sIn * scales[o]! * (v + bias[o]!)));
    let sOut: number;
    let zOut: number;
    if (logits) {
      const all = real.flat();
      const [lo, hi] = [Math.min(...all, 0), Math.max(...all, 0)];
      sOut = fround((hi - lo) / 255 || 1);
      zOut = Math.max(-128, Math.min(127, Math.round(-128 - lo / sOut)));
    } else {
      sOut = fround(6 / 255);
      zOut = -128;
    }
    const name = layer.name;
    const filterShape = spec.logits === 'fc' && logits ? [oc, c] : depthwise ? [1, kh, kw, oc] : [oc, kh, kw, c];
    const f = add({
      name: `${name}/weights`, shape: filterShape, type: T.INT8, data: bytesOf.i8(weights),
      scale: spec.perTensor ? [scales[0]!] : scales, zeroPoint: spec.perTensor ? [0] : scales.map(() => 0), quantizedDimension: depthwise && !spec.perTensor ? 3 : 0,
    });
    const b = add({ name: `${name}/bias`, shape: [oc], type: T.INT32, data: bytesOf.i32(bias), scale: scales.map((s) => fround(sIn * s)), zeroPoint: scales.map(() => 0) });
    const outShape = spec.logits === 'fc' && logits ? [1, oc] : [1, oh, ow, oc];
    const out = add({ name: `${name}/out`, shape: outShape, type: T.INT8, scale: [sOut], zeroPoint: [zOut] });
    const act = logits ? Act.NONE : Act.RELU6;
    if (spec.logits === 'fc' && logits) ops.push({ code: Op.FULLY_CONNECTED, version: 4, inputs: [cur, f, b], outputs: [out], optionsType: Opt.FullyConnectedOptions, options: options.fullyConnected(act) });
    else if (depthwise) ops.push({ code: Op.DEPTHWISE_CONV_2D, version: 3, inputs: [cur, f, b], outputs: [out], optionsType: Opt.DepthwiseConv2DOptions, options: options.depthwise(layer.stride, act) });
    else ops.push({ code: Op.CONV_2D, version: 3, inputs: [cur, f, b], outputs: [out], optionsType: Opt.Conv2DOptions, options: options.conv(layer.stride, act) });
    cur = out;
    // Next calibration activations, in [oh, ow, oc] order.
    const next = new Array<number>(oh * ow * oc);
    for (let p = 0; p < oh * ow; p++) {
      for (let o = 0; o < oc; o++) {
        const q = Math.round(real[o]![p]! / sOut) + zOut;
        next[p * oc + o] = Math.max(logits ? -128 : zOut, Math.min(127, q));
      }
    }
    x = next;
    [h, w, c, sIn, zIn] = [oh, ow, oc, sOut, zOut];
    void i;
  };

  layers.slice(0, -1).forEach(convLayer);
  // AvgPool_1a: the table's window and stride, VALID, same quantization in and out.
  const pool = arch.layers.find((l) => l.kind === 'avgpool')!;
  if (pool.kind !== 'avgpool') throw new Error('no pool');
  const [ph, pw, pc] = pool.outShape;
  const pooled = add({ name: 'AvgPool_1a/out', shape: [1, ph, pw, pc], type: T.INT8, scale: [sIn], zeroPoint: [zIn] });
  ops.push({ code: Op.AVERAGE_POOL_2D, version: 2, inputs: [cur], outputs: [pooled], optionsType: Opt.Pool2DOptions, options: options.pool(pool.kernel[0], pool.kernel[1], pool.stride) });
  cur = pooled;
  const sums = new Array<number>(pc).fill(0);
  for (let p = 0; p < h * w; p++) for (let o = 0; o < pc; o++) sums[o]! += x[p * pc + o]!;
  x = sums.map((s) => Math.round(s / (h * w)));
  [h, w] = [1, 1];
  if (spec.logits === 'fc') {
    const flat = add({ name: 'flatten', shape: [1, pc], type: T.INT8, scale: [sIn], zeroPoint: [zIn] });
    ops.push({ code: Op.RESHAPE, inputs: [cur], outputs: [flat], optionsType: Opt.ReshapeOptions, options: options.reshape([1, pc]) });
    cur = flat;
  }
  convLayer(layers[layers.length - 1]!, layers.length - 1);
  if (spec.logits === 'conv') {
    const squeezed = add({ name: 'Logits/squeezed', shape: [1, spec.classes], type: T.INT8, scale: [sIn], zeroPoint: [zIn] });
    ops.push({ code: Op.RESHAPE, inputs: [cur], outputs: [squeezed], optionsType: Opt.ReshapeOptions, options: options.reshape([1, spec.classes]) });
    cur = squeezed;
  }
  const probs = add({ name: 'Predictions', shape: [1, spec.classes], type: T.INT8, scale: [1 / 256], zeroPoint: [-128] });
  ops.push({ code: Op.SOFTMAX, version: 2, inputs: [cur], outputs: [probs], optionsType: Opt.SoftmaxOptions, options: options.softmax(1) });
  cur = probs;
  if (spec.floatIO) {
    const f = add({ name: 'Predictions_f32', shape: [1, spec.classes], type: T.FLOAT32 });
    ops.push({ code: Op.DEQUANTIZE, version: 2, inputs: [cur], outputs: [f] });
    cur = f;
  }
  return writeTflite({ tensors, operators: ops, inputs: graphInputs, outputs: [cur] });
}
