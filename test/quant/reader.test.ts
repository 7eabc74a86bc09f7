/**
 * `readTfliteQuantized`: the Coral uint8 models as integers on the layer table (every tensor
 * spot-checked against the raw flatbuffer), int8 models written by the test writer (per-channel
 * and per-tensor weights, FULLY_CONNECTED logits, float I/O through QUANTIZE / DEQUANTIZE), and
 * every refusal with ERR_TFLITE naming the tensor and the parameter. The whole-model runs here
 * are the small 0.25_128 and 64x64 int8 ones; the big comparisons live in interpreter.test.ts.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, MobilenetError } from '../../src/errors.js';
import { Flatbuffer, parseTflite, readTfliteModel, type Table } from '../../src/formats/tflite.js';
import { preprocessImage } from '../../src/image/pipeline.js';
import { dequantizeEndpoint, pixelsToQuantizedInput, readTfliteQuantized, runQuantizedReference, type QuantConvLayer, type QuantizedModel } from '../../src/quant/index.js';
import { expectCode } from '../helpers/errors.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { makeInt8MobileNet } from './helpers/int8-mobilenet.js';
import { Act, fromParsed, writeTflite, type WTensor } from './helpers/tflite-writer.js';

const MODELS = ['0.25_128', '0.5_160', '0.75_192'] as const;
const modelPath = (m: string) => `models/mobilenet_v1_${m}_quant/mobilenet_v1_${m}_quant.tflite`;
const HAVE = requireShared(...MODELS.map(modelPath), 'images/chelsea.png', 'images/coffee.png');
const read = (rel: string) => new Uint8Array(readFileSync(sharedPath(rel)));

const ENDPOINTS = [
  'Conv2d_0',
  ...Array.from({ length: 13 }, (_, i) => [`Conv2d_${i + 1}_depthwise`, `Conv2d_${i + 1}_pointwise`]).flat(),
  'AvgPool_1a',
  'Logits',
  'Predictions',
];

const convs = (m: QuantizedModel) => m.layers.filter((l): l is QuantConvLayer => l.type === 'conv');

describe.skipIf(!HAVE)('the Coral uint8 models as integers', () => {
  for (const name of MODELS) {
    it(`${name}: the layer table's end points, the float reader's options and labels`, () => {
      const bytes = read(modelPath(name));
      const q = readTfliteQuantized(bytes);
      const f = readTfliteModel(bytes);
      expect(q.dtype).toBe('uint8');
      expect(q.endpoints).toEqual(ENDPOINTS);
      expect(q.options).toEqual(f.options);
      expect(q.labels).toEqual(f.labels);
      expect(q.pixelNormalization).toBe('tflite-uint8');
      expect(q.input).toMatchObject({ dtype: 'uint8', scale: 0.0078125, zeroPoint: 128, shape: [1, q.architecture.inputShape[0], q.architecture.inputShape[1], 3] });
      expect(q.output).toMatchObject({ name: 'MobilenetV1/Predictions/Reshape_1', scale: 1 / 256, zeroPoint: 0 });
      expect(q.floatInput).toBeUndefined();
      expect(q.floatOutput).toBeUndefined();
      expect(q.layers.map((l) => l.op)).toEqual([...Array(27).fill(null).map((_, i) => (i % 2 === 1 ? 'DEPTHWISE_CONV_2D' : 'CONV_2D')), 'AVERAGE_POOL_2D', 'CONV_2D', 'RESHAPE', 'SOFTMAX']);
    });
  }

  it('0.25_128: tensors and Prepare-time parameters against the raw flatbuffer', () => {
    const bytes = read(modelPath('0.25_128'));
    const raw = parseTflite(bytes);
    const q = readTfliteQuantized(bytes);
    for (const layer of convs(q)) {
      const op = raw.operators[layer.operatorIndex]!;
      const [input, filter, bias] = op.inputs.map((i) => raw.tensors[i]!);
      const output = raw.tensors[op.outputs[0]!]!;
      // The file's integers, unchanged (OHWI / [1, kh, kw, C]).
      expect(layer.filter.data).toEqual(raw.buffers[filter!.buffer]);
      expect(layer.filter.shape).toEqual(filter!.shape);
      expect(Array.from(layer.filterOffsetData)).toEqual(Array.from(raw.buffers[filter!.buffer]!, (w) => w - filter!.zeroPoint[0]!));
      const b = raw.buffers[bias!.buffer]!;
      expect(Array.from(layer.bias.data)).toEqual(Array.from({ length: b.length / 4 }, (_, i) => new DataView(b.buffer, b.byteOffset).getInt32(4 * i, true)));
      expect(layer.requant.inputOffset).toBe(-input!.zeroPoint[0]! || 0);
      expect(layer.requant.filterOffset).toBe(-filter!.zeroPoint[0]!);
      expect(layer.requant.outputOffset).toBe(output.zeroPoint[0]);
      // One multiplier for the tensor, repeated: significand in [2^30, 2^31), and
      // significand * 2^(shift - 31) = float32(s_in * s_w) / s_out to 2^-31.
      const real = Math.fround(input!.scale[0]! * filter!.scale[0]!) / output.scale[0]!;
      expect(new Set(layer.requant.multiplier).size).toBe(1);
      const [m, s] = [layer.requant.multiplier[0]!, layer.requant.shift[0]!];
      expect(m).toBeGreaterThanOrEqual(2 ** 30);
      expect(Math.abs(m * 2 ** (s - 31) - real)).toBeLessThanOrEqual(real * 2 ** -31);
      // ReLU6 at scale ~6/255, zero point 0: [0, 255]; the logits: the whole range.
      expect([layer.requant.actMin, layer.requant.actMax]).toEqual([0, 255]);
      expect(layer.activation).toBe(layer.name === 'Logits' ? 'none' : 'relu6');
    }
    const c0 = convs(q)[0]!;
    // Conv2d_0: input 0.0078125 x weights 0.0088824099 / output 0.023528477 = 0.0029497...,
    // 0.0029497 = 0.755 * 2^-8: shift -8, significand 0.755 * 2^31 = 1621424953 (read once
    // from this reader, then pinned: it must not drift).
    expect([c0.requant.multiplier[0], c0.requant.shift[0]]).toEqual([1621424953, -8]);
    expect([c0.padTop, c0.padLeft, c0.stride]).toEqual([0, 0, 2]); // 128 -> 64 with a 3x3 kernel: total padding 1, 0 before
    const pool = q.layers.find((l) => l.type === 'avgpool')!;
    expect(pool).toMatchObject({ filter: [4, 4], stride: 2, actMin: 0, actMax: 255 });
    const sm = q.layers.find((l) => l.type === 'softmax')!;
    expect(sm).toMatchObject({ beta: 1, params: { inputLeftShift: 24, diffMin: -124 } });
  });

  it('0.25_128 on two photos: sensible classes; Logits and Predictions dequantize as TFLite does', () => {
    const q = readTfliteQuantized(read(modelPath('0.25_128')));
    const imgs = ['chelsea.png', 'coffee.png'].map((p) => preprocessImage(read(`images/${p}`), 128, p));
    const x = pixelsToQuantizedInput(q, imgs);
    expect(x).toBeInstanceOf(Uint8Array);
    expect(x.subarray(0, 128 * 128 * 3)).toEqual(imgs[0]); // (u8 - 128) / 128 is the input quantization itself
    const out = runQuantizedReference(q, x, 2, new Set(['Logits', 'Predictions']));
    expect([...out.keys()]).toEqual(['Logits', 'Predictions']);
    const pred = out.get('Predictions')!;
    expect(pred.shape).toEqual([2, 1001]);
    const top = (n: number) => {
      const row = pred.data.subarray(n * 1001, (n + 1) * 1001);
      return q.labels![row.indexOf(Math.max(...row))];
    };
    expect(top(0)).toMatch(/cat/);
    expect(top(1)).toBe('espresso');
    const logits = out.get('Logits')!;
    expect(logits).toMatchObject({ shape: [2, 1001], dtype: 'uint8', zeroPoint: 96 });
    const real = dequantizeEndpoint(logits);
    expect(real[0]).toBe(Math.fround(Math.fround(logits.scale) * (logits.data[0]! - 96)));
  });

  it('end points on request, wrong inputs refused', () => {
    const q = readTfliteQuantized(read(modelPath('0.25_128')));
    const x = new Uint8Array(128 * 128 * 3).fill(128);
    const out = runQuantizedReference(q, x, 1, new Set(['Conv2d_0', 'AvgPool_1a']));
    expect(out.get('Conv2d_0')!.shape).toEqual([1, 64, 64, 8]);
    expect(out.get('AvgPool_1a')!.shape).toEqual([1, 1, 1, 256]);
    expectCode(() => runQuantizedReference(q, new Int8Array(x.length), 1), ErrorCodes.INPUT, /expected a Uint8Array \(the model's input is uint8\), got Int8Array/);
    expectCode(() => runQuantizedReference(q, x.subarray(1), 1), ErrorCodes.INPUT, /49151 values for batch 1; expected 1 x 128 x 128 x 3 = 49152/);
    expectCode(() => runQuantizedReference(q, x, 1, new Set(['Conv2d_14'])), ErrorCodes.OPTION, /end point "Conv2d_14": expected one of Conv2d_0/);
    expectCode(() => runQuantizedReference(q, x, 1, undefined, { requantization: 'fp16' as never }), ErrorCodes.OPTION, /option requantization/);
  });
});

// ---------------------------------------------------------------------------------------------
// int8 files from the test writer

const calibration = () => preprocessImage(read('images/chelsea.png'), 64, 'chelsea.png');

describe.skipIf(!HAVE)('int8 MobileNets (TFLite full-integer scheme, written by the test writer)', () => {
  it('per-channel weights, CONV_2D logits: read onto the layer table, run, deterministic', () => {
    const bytes = makeInt8MobileNet({ alpha: 0.25, size: 64, classes: 11, logits: 'conv', seed: 1, calibration: calibration() });
    const q = readTfliteQuantized(bytes);
    expect(q.dtype).toBe('int8');
    expect(q.options).toEqual({ depthMultiplier: 0.25, inputSize: 64, numClasses: 11 });
    expect(q.endpoints).toEqual(ENDPOINTS);
    expect(q.pixelNormalization).toBe('tflite-uint8');
    const c = convs(q);
    expect(c[0]!.filter.scales.length).toBe(8);
    expect(c[1]!.filter).toMatchObject({ quantizedDimension: 3, shape: [1, 3, 3, 8] }); // depthwise: per channel along dimension 3
    expect(c[0]!.requant.filterOffset).toBe(0);
    expect(new Set(c[0]!.requant.multiplier).size).toBeGreaterThan(1); // per-channel multipliers, in double
    // ReLU6 at scale 6/255, zero point -128: [-128, 127].
    expect([c[0]!.requant.actMin, c[0]!.requant.actMax]).toEqual([-128, 127]);
    const img = calibration();
    const x = pixelsToQuantizedInput(q, [img]);
    expect(x).toBeInstanceOf(Int8Array);
    expect(Array.from(x.subarray(0, 6))).toEqual(Array.from(img.subarray(0, 6), (u) => u - 128));
    const a = runQuantizedReference(q, x, 1);
    const b = runQuantizedReference(q, x, 1);
    expect(a.get('Predictions')!.data).toEqual(b.get('Predictions')!.data);
    expect(a.get('Predictions')!).toMatchObject({ dtype: 'int8', scale: 1 / 256, zeroPoint: -128, shape: [1, 11] });
    // A batch of two gives each image's own answer.
    const two = runQuantizedReference(q, Int8Array.from([...x, ...x]), 2, new Set(['Logits']));
    expect(two.get('Logits')!.data.subarray(11)).toEqual(a.get('Logits')!.data);
  });

  it('per-tensor weights, FULLY_CONNECTED logits after a RESHAPE', () => {
    const q = readTfliteQuantized(makeInt8MobileNet({ alpha: 0.25, size: 64, classes: 11, logits: 'fc', perTensor: true, seed: 2, calibration: calibration() }));
    const logits = convs(q).at(-1)!;
    expect(logits).toMatchObject({ op: 'FULLY_CONNECTED', name: 'Logits', kernel: [1, 1], padTop: 0 });
    expect(logits.filter.shape).toEqual([11, 256]);
    expect(convs(q)[0]!.filter.scales.length).toBe(1);
    expect(q.layers.map((l) => l.type).slice(-4)).toEqual(['avgpool', 'reshape', 'conv', 'softmax']);
    const out = runQuantizedReference(q, new Int8Array(64 * 64 * 3), 1);
    expect(out.get('Logits')!.shape).toEqual([1, 11]);
  });

  it('float32 I/O: QUANTIZE in front, DEQUANTIZE at the end', () => {
    const q = readTfliteQuantized(makeInt8MobileNet({ alpha: 0.25, size: 64, classes: 11, logits: 'conv', floatIO: true, seed: 3, calibration: calibration() }));
    expect(q.floatInput).toMatchObject({ name: 'input_f32' });
    expect(q.floatOutput).toMatchObject({ name: 'Predictions_f32' });
    expect(q.input).toMatchObject({ name: 'input_int8', dtype: 'int8', scale: 1 / 128, zeroPoint: 0 });
    expect(q.output).toMatchObject({ name: 'Predictions', dtype: 'int8' });
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals

/** The 0.25_128 file, parsed, edited, written again. */
function coralEdited(edit: (tensors: WTensor[], m: ReturnType<typeof fromParsed>) => void): Uint8Array {
  const m = fromParsed(parseTflite(read(modelPath('0.25_128'))));
  edit(m.tensors, m);
  return writeTflite(m);
}
/** The tensor whose (;-joined) name starts with MobilenetV1/MobilenetV1/<part>, or <part> when it starts with MobilenetV1/. */
const byName = (tensors: WTensor[], part: string) => tensors.find((t) => t.name.startsWith(part.startsWith('MobilenetV1/') ? part : `MobilenetV1/MobilenetV1/${part}`))!;

describe.skipIf(!HAVE)('refusals: ERR_TFLITE naming the tensor and the parameter', () => {
  it('the edited-and-rewritten Coral file still reads (the writer round trip)', () => {
    const q = readTfliteQuantized(coralEdited(() => {}));
    expect(q.endpoints).toEqual(ENDPOINTS);
  });

  it('per-channel uint8 weights', () => {
    const bytes = coralEdited((t) => {
      const w = byName(t, 'Conv2d_0/Conv2D_Fold');
      w.scale = Array(8).fill(w.scale![0]);
      w.zeroPoint = Array(8).fill(w.zeroPoint![0]);
    });
    expectCode(() => readTfliteQuantized(bytes), ErrorCodes.TFLITE, /tensor MobilenetV1\/MobilenetV1\/Conv2d_0\/Conv2D_Fold\S* \(weights of Conv2d_0\) has 8 scales: per-channel quantization of UINT8 weights is not supported/);
  });

  it('int16 activations', () => {
    const bytes = coralEdited((t) => {
      byName(t, 'Conv2d_1_depthwise/Relu6').type = 7; // INT16
    });
    expectCode(() => readTfliteQuantized(bytes), ErrorCodes.TFLITE, /tensor MobilenetV1\/MobilenetV1\/Conv2d_1_depthwise\/Relu6\S* \(Conv2d_1_depthwise output\) is INT16: int16 activations \(the 16x8 scheme\) are not supported/);
  });

  it('asymmetric int8 weights', () => {
    const m = fromParsed(parseTflite(makeInt8MobileNet({ alpha: 0.25, size: 64, classes: 11, logits: 'conv', seed: 1, calibration: calibration() })));
    const w = m.tensors.find((t) => t.name === 'Conv2d_2_pointwise/weights')!;
    w.zeroPoint = w.zeroPoint!.map((z, i) => (i === 5 ? 3 : z));
    expectCode(() => readTfliteQuantized(writeTflite(m)), ErrorCodes.TFLITE, /tensor Conv2d_2_pointwise\/weights \(weights of Conv2d_2_pointwise\) has zero point 3 \(channel 5\): asymmetric INT8 weights are not supported/);
  });

  it('a missing scale, a missing zero point', () => {
    const noScale = coralEdited((t) => {
      delete byName(t, 'Conv2d_3_pointwise/Relu6').scale;
    });
    expectCode(() => readTfliteQuantized(noScale), ErrorCodes.TFLITE, /tensor MobilenetV1\/MobilenetV1\/Conv2d_3_pointwise\/Relu6\S* \(Conv2d_3_pointwise output\) has no quantization scale/);
    const noZero = coralEdited((t) => {
      delete byName(t, 'Conv2d_4_depthwise/depthwise_Fold').zeroPoint;
    });
    expectCode(() => readTfliteQuantized(noZero), ErrorCodes.TFLITE, /\(weights of Conv2d_4_depthwise\) has no quantization zero point/);
    const biasNoScale = coralEdited((t) => {
      delete byName(t, 'Conv2d_5_pointwise/BatchNorm_Fold/bias').scale;
    });
    expectCode(() => readTfliteQuantized(biasNoScale), ErrorCodes.TFLITE, /\(bias of Conv2d_5_pointwise\) has no quantization scale/);
  });

  it('a fused activation the integer path does not implement, or one the table does not have there', () => {
    const tanh = coralEdited((_, m) => {
      (m.operators[0]!.options as { fields: { v: number }[] }).fields[3]!.v = Act.TANH;
    });
    expectCode(() => readTfliteQuantized(tanh), ErrorCodes.TFLITE, /operator 0 \(Conv2d_0\) fuses TANH; the integer path implements NONE, RELU and RELU6/);
    const n1 = coralEdited((_, m) => {
      (m.operators[4]!.options as { fields: { v: number }[] }).fields[3]!.v = Act.RELU_N1_TO_1;
    });
    expectCode(() => readTfliteQuantized(n1), ErrorCodes.TFLITE, /operator 4 \(Conv2d_2_pointwise\) fuses RELU_N1_TO_1; the integer path implements NONE, RELU and RELU6/);
    const reluLogits = coralEdited((_, m) => {
      (m.operators[28]!.options as { fields: { v: number }[] }).fields[3]!.v = Act.RELU6;
    });
    expectCode(() => readTfliteQuantized(reluLogits), ErrorCodes.TFLITE, /operator 28 \(Logits\) fuses RELU6; the layer table has NONE there/);
  });

  it('weights of another type than the activations; a bias whose scale is not input x weight scale', () => {
    const int8Weights = coralEdited((t) => {
      byName(t, 'Conv2d_1_pointwise/Conv2D_Fold').type = 9;
    });
    expectCode(() => readTfliteQuantized(int8Weights), ErrorCodes.TFLITE, /\(weights of Conv2d_1_pointwise\) is INT8; a UINT8 model needs UINT8 weights/);
    const biasScale = coralEdited((t) => {
      const b = byName(t, 'Conv2d_6_depthwise/BatchNorm_Fold/bias');
      b.scale = [b.scale![0]! * 1.01];
    });
    expectCode(() => readTfliteQuantized(biasScale), ErrorCodes.TFLITE, /\(bias of Conv2d_6_depthwise\) has scale \S+; TFLite requires input scale x weight scale = \S+ \(within 1e-6\)/);
    const biasZero = coralEdited((t) => {
      byName(t, 'Conv2d_6_depthwise/BatchNorm_Fold/bias').zeroPoint = [2];
    });
    expectCode(() => readTfliteQuantized(biasZero), ErrorCodes.TFLITE, /\(bias of Conv2d_6_depthwise\) has zero point 2; int32 biases must have zero point 0/);
  });

  it('a pool or a reshape that changes the quantization; a softmax output off 1/256', () => {
    const pool = coralEdited((t) => {
      byName(t, 'MobilenetV1/Logits/AvgPool_1a/AvgPool').zeroPoint = [1];
    });
    expectCode(() => readTfliteQuantized(pool), ErrorCodes.TFLITE, /operator 27 \(AVERAGE_POOL_2D\) \(AvgPool_1a\) changes the quantization from scale \S+ zero point 0 to scale \S+ zero point 1/);
    const reshape = coralEdited((t) => {
      byName(t, 'MobilenetV1/Logits/SpatialSqueeze1').scale = [0.2];
    });
    expectCode(() => readTfliteQuantized(reshape), ErrorCodes.TFLITE, /operator 29 \(RESHAPE\) changes the quantization/);
    const sm = coralEdited((t) => {
      byName(t, 'MobilenetV1/Predictions/Reshape_1').scale = [1 / 255];
    });
    expectCode(() => readTfliteQuantized(sm), ErrorCodes.TFLITE, /operator 30 \(SOFTMAX\) output MobilenetV1\/Predictions\/Reshape_1 has scale \S+ and zero point 0; TFLite's uint8 softmax needs scale 1\/256/);
  });

  it('per-channel scales along the wrong dimension; activations quantized per channel', () => {
    const m = fromParsed(parseTflite(makeInt8MobileNet({ alpha: 0.25, size: 64, classes: 11, logits: 'conv', seed: 1, calibration: calibration() })));
    m.tensors.find((t) => t.name === 'Conv2d_1_depthwise/weights')!.quantizedDimension = 0;
    expectCode(() => readTfliteQuantized(writeTflite(m)), ErrorCodes.TFLITE, /tensor Conv2d_1_depthwise\/weights \(weights of Conv2d_1_depthwise\) has 8 scales along quantized_dimension 0; expected 8 along dimension 3/);
    const act = coralEdited((t) => {
      const o = byName(t, 'Conv2d_0/Relu6');
      o.scale = Array(8).fill(o.scale![0]);
      o.zeroPoint = Array(8).fill(0);
    });
    expectCode(() => readTfliteQuantized(act), ErrorCodes.TFLITE, /\(Conv2d_0 output\) has 8 scales and 8 zero points; activations must be quantized per tensor/);
  });

  it('the float reader is unchanged: it still dequantizes the uint8 file', () => {
    const f = readTfliteModel(read(modelPath('0.25_128')));
    expect(f.weights.get('MobilenetV1/Conv2d_0/weights')!.data).toBeInstanceOf(Float32Array);
  });
});

describe.skipIf(!HAVE)('corrupt files: refused with a MobilenetError, never another exception', () => {
  it('random byte changes in the flatbuffer\'s tables, vtables, vector headers and quantization parameters', () => {
    const good = read(modelPath('0.25_128'));
    const regions: [number, number][] = [[0, 64]];
    const mark = (t: Table) => regions.push([t.pos, t.pos + t.objSize], [t.vt, t.vt + t.vtSize]);
    const model = new Flatbuffer(good, 'tflite').root('Model');
    mark(model);
    for (const sg of model.tables(2, 'subgraphs')) {
      mark(sg);
      for (const t of sg.tables(0, 'tensors')) {
        mark(t);
        const q = t.table(4, 'quantization');
        if (!q) continue;
        mark(q);
        for (const [id, size] of [[2, 4], [3, 8]] as const) {
          const v = q.vector(id, 'q', size);
          if (v) regions.push([v.start - 4, v.start + size * v.length]);
        }
      }
      for (const op of sg.tables(3, 'operators')) {
        mark(op);
        const o = op.table(4, 'builtin_options');
        if (o) mark(o);
      }
    }
    const refused = new Map<string, number>();
    let loaded = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: regions.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (r, offset, value) => {
        const [from, to] = regions[r]!;
        const bytes = good.slice();
        bytes[from + (offset % (to - from))] = value;
        try {
          readTfliteQuantized(bytes);
          loaded++;
        } catch (e) {
          if (!(e instanceof MobilenetError)) throw e;
          refused.set(e.code, (refused.get(e.code) ?? 0) + 1);
        }
      }),
      { numRuns: 600, seed: 20261129 },
    );
    expect(refused.get(ErrorCodes.TFLITE) ?? 0).toBeGreaterThan(50);
    expect(loaded).toBeGreaterThan(0);
  });
});
