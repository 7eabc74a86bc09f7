/**
 * The real TFLite interpreter as an independent witness for the integer reference path:
 * `@tensorflow/tfjs-tflite` 0.0.1-alpha.10's Emscripten build in Node (./helpers/tflite-interpreter.ts).
 * Skipped with the reason when the package is not installed; a failure under CI.
 *
 * 1. The three Coral models on the eight shared photos, the same uint8 pixels for both engines
 *    (`preprocessImage`): Predictions and the logits (the SOFTMAX input, read by making it the
 *    subgraph output) against the interpreter as it runs by default (XNNPACK delegate on) and
 *    with XNNPACK kept off (weights fed as inputs: builtin kernels). A table is printed.
 * 2. Every difference explained op by op: each layer of ours fed the interpreter's own input to
 *    that layer, compared with the interpreter's output of that layer, under the reference
 *    arithmetic and under the emulation of what the interpreter runs there.
 * 3. SOFTMAX alone, in a one-operator model written by ./helpers/tflite-writer.ts.
 * 4. int8 MobileNets (per-channel and per-tensor weights, FULLY_CONNECTED logits, float I/O).
 * 5. Today's float path (dequantized weights, float32) against the interpreter, for the record.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readTfliteModel } from '../../src/formats/tflite.js';
import { createModel } from '../../src/engine/create.js';
import { normalizePixels } from '../../src/image/normalize.js';
import { preprocessImage } from '../../src/image/pipeline.js';
import { Tensor } from '../../src/tensor.js';
import {
  pixelsToQuantizedInput,
  readTfliteQuantized,
  runQuantizedReference,
  softmax,
  softmaxLut,
  softmaxParams,
  type QuantLayer,
  type QuantRunOptions,
  type QuantizedEndpoint,
  type QuantizedModel,
} from '../../src/quant/index.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { makeInt8MobileNet } from './helpers/int8-mobilenet.js';
import { TFLITE_PACKAGE, interpreterDir, interpreterVersion, loadInterpreter, withOutput, withoutDelegate, type Interpreter } from './helpers/tflite-interpreter.js';
import { Op, Opt, T, options, writeTflite } from './helpers/tflite-writer.js';

const MODELS = [
  { name: '0.25_128', size: 128 },
  { name: '0.5_160', size: 160 },
  { name: '0.75_192', size: 192 },
] as const;
const PHOTOS = ['chelsea.png', 'coffee.png', 'rocket.jpg', 'grace_hopper.png', 'cat.png', 'dog.png', 'bird.png', 'parrot.jpg'];
const modelPath = (m: string) => `models/mobilenet_v1_${m}_quant/mobilenet_v1_${m}_quant.tflite`;
const HAVE = requireShared(...MODELS.map((m) => modelPath(m.name)), ...PHOTOS.map((p) => `images/${p}`));
const read = (rel: string) => new Uint8Array(readFileSync(sharedPath(rel)));

const DIR = interpreterDir();
if (DIR === null) {
  const reason = `${TFLITE_PACKAGE} is not installed (npm install --no-save --legacy-peer-deps ${TFLITE_PACKAGE}@0.0.1-alpha.10): the TFLite interpreter witness cannot run`;
  if (process.env.CI) throw new Error(`${reason} (CI is set: this is a failure, not a skip)`);
  console.warn(`SKIPPED: ${reason}`);
}

/** Our emulations of what the interpreter runs (see QuantRunOptions in src/quant/reference.ts). */
const EMULATE_DEFAULT_UINT8: QuantRunOptions = { requantization: 'xnnpack-fp32', softmax: 'lut' };
const EMULATE_BUILTIN_UINT8: QuantRunOptions = { softmax: 'lut' };
const EMULATE_BUILTIN_INT8: QuantRunOptions = { requantization: { CONV_2D: 'single-rounding', FULLY_CONNECTED: 'single-rounding' }, softmax: 'lut' };
const EMULATE_DEFAULT_INT8_PER_CHANNEL: QuantRunOptions = { requantization: { CONV_2D: 'xnnpack-fp32', DEPTHWISE_CONV_2D: 'xnnpack-fp32', FULLY_CONNECTED: 'single-rounding' }, softmax: 'lut' };

function compare(a: ArrayLike<number>, b: ArrayLike<number>): { equal: number; total: number; max: number } {
  expect(a.length).toBe(b.length);
  let equal = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d === 0) equal++;
    max = Math.max(max, d);
  }
  return { equal, total: a.length, max };
}
const add = (s: { equal: number; total: number; max: number }, t: { equal: number; total: number; max: number }) => ({ equal: s.equal + t.equal, total: s.total + t.total, max: Math.max(s.max, t.max) });
const ZERO = { equal: 0, total: 0, max: 0 };
const pct = (s: { equal: number; total: number }) => `${s.equal}/${s.total} (${((100 * s.equal) / s.total).toFixed(2)}%)`;

/** Indices of the k largest, ties to the lower index. */
function topK(row: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, k);
}

/** The model cut down to one layer, its input the layer's input: to run one op on the interpreter's own input. */
function oneLayer(model: QuantizedModel, layer: Exclude<QuantLayer, { type: 'reshape' }>): QuantizedModel {
  return { ...model, input: layer.input, layers: [layer], endpoints: [layer.name] };
}

const table: string[] = [];
const opTable: string[] = [];
afterAll(() => {
  if (table.length) console.log(`\nTFLite interpreter (${TFLITE_PACKAGE} ${interpreterVersion()}) vs the integer reference, 8 photos x 1001 classes per model\n${table.join('\n')}`);
  if (opTable.length) console.log(`\nOp by op (each layer of ours fed the interpreter's own input), chelsea.png; "ref" = the reference arithmetic, "emu" = the emulation of what the interpreter runs there\n${opTable.join('\n')}`);
});

describe.skipIf(DIR === null || !HAVE)('the TFLite interpreter as a witness', () => {
  let interp: Interpreter;
  const get = async () => (interp ??= (await loadInterpreter())!);

  it('runs in Node; the XNNPACK delegate is on by default and cannot be switched off by option; weights as inputs keep it off', async () => {
    const ip = await get();
    const bytes = read(modelPath('0.25_128'));
    const x = new Uint8Array(128 * 128 * 3).fill(128);
    const on = ip.run(bytes, [x]);
    expect(on.outputs[0]).toMatchObject({ name: 'MobilenetV1/Predictions/Reshape_1', dataType: 'uint8', shape: [1, 1001] });
    // XNNPACK takes the 27 body convolutions (one partition) and the logits, not the quantized
    // AVERAGE_POOL_2D, RESHAPE or SOFTMAX.
    expect(on.nodes.map((n) => n.split(':')[0])).toEqual(['TfLiteXNNPackDelegate', 'AVERAGE_POOL_2D', 'TfLiteXNNPackDelegate', 'RESHAPE', 'SOFTMAX']);
    const nd = withoutDelegate(bytes);
    const off = ip.run(nd.model, [x, ...nd.weights]);
    expect(off.nodes.map((n) => n.split(':')[0])).toEqual([...Array(27).fill(0).map((_, i) => (i % 2 ? 'DEPTHWISE_CONV_2D' : 'CONV_2D')), 'AVERAGE_POOL_2D', 'CONV_2D', 'RESHAPE', 'SOFTMAX']);
  });

  for (const m of MODELS) {
    it(`${m.name}: eight photos, Predictions and logits against the interpreter with and without XNNPACK; the float path`, async () => {
      const ip = await get();
      const bytes = read(modelPath(m.name));
      const model = readTfliteQuantized(bytes);
      const nd = withoutDelegate(bytes);
      const logitsIndex = model.layers.find((l) => l.type === 'conv' && l.name === 'Logits')!.output.index;
      const imgs = PHOTOS.map((p) => preprocessImage(read(`images/${p}`), m.size, p));
      const x = pixelsToQuantizedInput(model, imgs) as Uint8Array;
      const keep = new Set(['Logits', 'Predictions']);
      const t0 = performance.now();
      const ref = runQuantizedReference(model, x, PHOTOS.length, keep);
      const ms = performance.now() - t0;
      const emuDefault = runQuantizedReference(model, x, PHOTOS.length, keep, EMULATE_DEFAULT_UINT8);
      const emuBuiltin = runQuantizedReference(model, x, PHOTOS.length, keep, EMULATE_BUILTIN_UINT8);
      // Today's float path: dequantized weights in float32 (the engine's default backend).
      const loaded = readTfliteModel(bytes);
      const float = await createModel({ ...loaded.options, weights: loaded.weights, fallback: 'reference' });
      const floatLogits = float.predict(new Tensor(normalizePixels(imgs, m.size, loaded.pixelNormalization).data, [PHOTOS.length, m.size, m.size, 3])).data as Float32Array;
      float.dispose();

      let refDefP = ZERO, refDefL = ZERO, refOffP = ZERO, refOffL = ZERO, emuP = ZERO, emuL = ZERO, emuOffP = ZERO;
      let top1 = 0, floatTop1 = 0, floatTop5 = 0, floatDp = 0;
      const per = m.size * m.size * 3;
      PHOTOS.forEach((_, n) => {
        const xi = x.subarray(n * per, (n + 1) * per);
        const row = (e: Map<string, QuantizedEndpoint>, k: string) => e.get(k)!.data.subarray(n * 1001, (n + 1) * 1001);
        const defP = ip.run(bytes, [xi]).outputs[0]!.data;
        const defL = ip.run(withOutput(bytes, logitsIndex), [xi]).outputs[0]!.data;
        const offP = ip.run(nd.model, [xi, ...nd.weights]).outputs[0]!.data;
        const offL = ip.run(withOutput(nd.model, logitsIndex), [xi, ...nd.weights]).outputs[0]!.data;
        const ourP = row(ref, 'Predictions');
        refDefP = add(refDefP, compare(ourP, defP));
        refDefL = add(refDefL, compare(row(ref, 'Logits'), defL));
        refOffP = add(refOffP, compare(ourP, offP));
        refOffL = add(refOffL, compare(row(ref, 'Logits'), offL));
        emuP = add(emuP, compare(row(emuDefault, 'Predictions'), defP));
        emuL = add(emuL, compare(row(emuDefault, 'Logits'), defL));
        emuOffP = add(emuOffP, compare(row(emuBuiltin, 'Predictions'), offP));
        if (topK(ourP, 1)[0] === topK(defP, 1)[0]) top1++;
        const fl = floatLogits.subarray(n * 1001, (n + 1) * 1001);
        if (topK(fl, 1)[0] === topK(defP, 1)[0]) floatTop1++;
        const t5 = new Set(topK(defP, 5));
        floatTop5 += topK(fl, 5).filter((i) => t5.has(i)).length;
        const mx = Math.max(...fl);
        const e = Array.from(fl, (v) => Math.exp(v - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        e.forEach((v, i) => (floatDp = Math.max(floatDp, Math.abs(v / sum - defP[i]! / 256))));
      });
      table.push(
        `${m.name}: reference vs default interpreter (XNNPACK): Predictions equal ${pct(refDefP)}, max ${refDefP.max} levels; logits equal ${pct(refDefL)}, max ${refDefL.max}; top-1 ${top1}/8\n` +
          `          reference vs interpreter with XNNPACK off: logits ${pct(refOffL)}, Predictions ${pct(refOffP)}\n` +
          `          emulation {xnnpack-fp32, lut} vs default: logits ${pct(emuL)}, Predictions ${pct(emuP)}; {lut} vs XNNPACK off: Predictions ${pct(emuOffP)}\n` +
          `          float path (dequantized, float32) vs default: top-1 ${floatTop1}/8, top-5 overlap ${(floatTop5 / 8).toFixed(2)} of 5, max |p - p_tflite| ${floatDp.toFixed(3)}\n` +
          `          reference: ${(ms / PHOTOS.length).toFixed(0)} ms per image`,
      );
      // The targets, and what the op-by-op test explains.
      expect(top1).toBe(8);
      expect(refDefP.equal / refDefP.total).toBeGreaterThanOrEqual(0.99);
      expect(refOffL.equal).toBe(refOffL.total);
      expect(emuL.equal).toBe(emuL.total);
      expect(emuP.equal).toBe(emuP.total);
      expect(emuOffP.equal).toBe(emuOffP.total);
      // The reference softmax is not the interpreter's; on these 24 rows they agree.
      expect(refOffP.equal).toBe(refOffP.total);
    });
  }

  it('op by op: each layer on the interpreter\'s own input; every difference is XNNPACK\'s requantization', async () => {
    const ip = await get();
    for (const m of MODELS) {
      const bytes = read(modelPath(m.name));
      const model = readTfliteQuantized(bytes);
      const x = pixelsToQuantizedInput(model, [preprocessImage(read('images/chelsea.png'), m.size)]);
      let input: Uint8Array = x as Uint8Array;
      let refSum = ZERO;
      let emuSum = ZERO;
      const rows: string[] = [];
      for (const layer of model.layers) {
        if (layer.type === 'reshape') continue;
        const theirs = ip.run(withOutput(bytes, layer.output.index), [x]).outputs[0]!.data as Uint8Array;
        const single = oneLayer(model, layer);
        const ours = runQuantizedReference(single, input, 1).get(layer.name)!.data;
        const emu = runQuantizedReference(single, input, 1, undefined, EMULATE_DEFAULT_UINT8).get(layer.name)!.data;
        const r = compare(ours, theirs);
        const e = compare(emu, theirs);
        refSum = add(refSum, r);
        emuSum = add(emuSum, e);
        // Where the reference differs, it is one level above (double rounding up at a half).
        for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) expect(ours[i]! - theirs[i]!).toBe(1);
        if (m.name === '0.25_128') rows.push(`  ${layer.name.padEnd(20)} ${layer.op.padEnd(17)} ref ${String(r.total - r.equal).padStart(5)} of ${String(r.total).padStart(5)} differ (max ${r.max}), emu ${e.total - e.equal}`);
        input = theirs;
      }
      opTable.push(`${m.name}: reference differs on ${refSum.total - refSum.equal} of ${refSum.total} layer outputs (all +1, all in CONV_2D / DEPTHWISE_CONV_2D under XNNPACK); the XNNPACK emulation on ${emuSum.total - emuSum.equal}`);
      if (rows.length) opTable.push(...rows);
      expect(emuSum.equal).toBe(emuSum.total);
    }
  });

  it('SOFTMAX alone: the interpreter runs the optimized float-table kernel; the reference differs only where the two straddle a rounding boundary', async () => {
    const ip = await get();
    let seed = 4242;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed / 0x7fffffff);
    const lines: string[] = [];
    for (const [dtype, n, scale, zero] of [['uint8', 1001, 0.13083284, 96], ['uint8', 10, 0.13083284, 96], ['int8', 10, 0.1, -30]] as const) {
      const t = dtype === 'uint8' ? T.UINT8 : T.INT8;
      const bytes = writeTflite({
        tensors: [
          { name: 'logits', shape: [1, n], type: t, scale: [scale], zeroPoint: [zero] },
          { name: 'probs', shape: [1, n], type: t, scale: [1 / 256], zeroPoint: [dtype === 'uint8' ? 0 : -128] },
        ],
        operators: [{ code: Op.SOFTMAX, version: dtype === 'int8' ? 2 : 1, inputs: [0], outputs: [1], optionsType: Opt.SoftmaxOptions, options: options.softmax(1) }],
        inputs: [0],
        outputs: [1],
      });
      const p = softmaxParams(1, scale);
      let rows = 0, refRows = 0, lutRows = 0, straddle = 0, straddleRef = 0;
      for (let r = 0; r < (n > 100 ? 60 : 3000); r++) {
        const x = dtype === 'uint8' ? new Uint8Array(n) : new Int8Array(n);
        const spread = [8, 40, 120, 256][r % 4]!;
        for (let i = 0; i < n; i++) x[i] = (dtype === 'uint8' ? 100 : -30) + Math.floor(rnd() * spread) - (spread >> 1);
        const ref = dtype === 'uint8' ? new Uint8Array(n) : new Int8Array(n);
        const lut = dtype === 'uint8' ? new Uint8Array(n) : new Int8Array(n);
        softmax(1, n, dtype, x, p, ref);
        softmaxLut(1, n, dtype, x, scale, 1, lut);
        const theirs = ip.run(bytes, [x]).outputs[0]!.data;
        rows++;
        const refSame = ref.every((v, i) => v === theirs[i]);
        if (refSame) refRows++;
        if (lut.every((v, i) => v === theirs[i])) lutRows++;
        if (!ref.every((v, i) => v === lut[i])) {
          straddle++;
          if (refSame) straddleRef++;
        }
      }
      lines.push(`${dtype} x ${n}: interpreter = lut emulation on ${lutRows}/${rows} rows, = reference on ${refRows}/${rows}; rows where reference and lut differ: ${straddle} (interpreter sided with the reference on ${straddleRef})`);
      expect(lutRows).toBe(rows);
      expect(straddleRef).toBe(0);
    }
    console.log(`SOFTMAX as a one-operator model:\n  ${lines.join('\n  ')}`);
  });

  it('int8 MobileNets (per-channel, per-tensor, FULLY_CONNECTED logits, float I/O): every end point as the interpreter computes it', async () => {
    const ip = await get();
    const size = 64;
    const calibration = preprocessImage(read('images/chelsea.png'), size);
    const lines: string[] = [];
    for (const spec of [{ logits: 'conv' as const }, { logits: 'fc' as const }, { logits: 'fc' as const, perTensor: true }, { logits: 'conv' as const, floatIO: true }]) {
      const bytes = makeInt8MobileNet({ alpha: 0.25, size, classes: 101, seed: 5, calibration, ...spec });
      const model = readTfliteQuantized(bytes);
      const nd = withoutDelegate(bytes);
      // XNNPACK in this build takes int8 convolutions with per-channel weights only, and not the FULLY_CONNECTED.
      const emulateDefault = spec.perTensor ? EMULATE_BUILTIN_INT8 : EMULATE_DEFAULT_INT8_PER_CHANNEL;
      let builtin = ZERO, dflt = ZERO, refBuiltin = ZERO;
      const nodes = new Set<string>();
      for (const photo of ['coffee.png', 'dog.png']) {
        const img = preprocessImage(read(`images/${photo}`), size);
        const x = pixelsToQuantizedInput(model, [img]);
        const feed = model.floatInput ? Float32Array.from(img, (u) => (u - 128) / 128) : x;
        const ref = runQuantizedReference(model, x, 1);
        const emB = runQuantizedReference(model, x, 1, undefined, EMULATE_BUILTIN_INT8);
        const emD = runQuantizedReference(model, x, 1, undefined, emulateDefault);
        for (const layer of model.layers) {
          if (layer.type === 'reshape') continue;
          const off = ip.run(withOutput(nd.model, layer.output.index), [feed, ...nd.weights]).outputs[0]!.data;
          const on = ip.run(withOutput(bytes, layer.output.index), [feed]);
          on.nodes.forEach((n) => nodes.add(n.split(':')[0]!));
          builtin = add(builtin, compare(emB.get(layer.name)!.data, off));
          dflt = add(dflt, compare(emD.get(layer.name)!.data, on.outputs[0]!.data));
          refBuiltin = add(refBuiltin, compare(ref.get(layer.name)!.data, off));
        }
        if (model.floatOutput) {
          const out = ip.run(bytes, [feed]).outputs[0]!;
          expect(out.dataType).toBe('float32');
          expect(Array.from(out.data)).toEqual(Array.from(emD.get('Predictions')!.data, (q) => Math.fround((1 / 256) * (q + 128))));
        }
      }
      lines.push(`${JSON.stringify(spec)}: builtin emulation vs XNNPACK off ${pct(builtin)}; default emulation vs default ${pct(dflt)} [nodes run by default: ${[...nodes].join(', ')}]; reference vs XNNPACK off ${pct(refBuiltin)}`);
      expect(builtin.equal).toBe(builtin.total);
      expect(dflt.equal).toBe(dflt.total);
    }
    console.log(`int8 MobileNets (alpha 0.25, 64x64, 101 classes, random weights), all end points, 2 photos:\n  ${lines.join('\n  ')}`);
  });

  it('op by op on an int8 MobileNet with XNNPACK off: builtin CONV_2D rounds once (ruy), DEPTHWISE_CONV_2D twice (reference)', async () => {
    const ip = await get();
    const size = 64;
    const bytes = makeInt8MobileNet({ alpha: 0.25, size, classes: 101, logits: 'conv', seed: 5, calibration: preprocessImage(read('images/chelsea.png'), size) });
    const model = readTfliteQuantized(bytes);
    const nd = withoutDelegate(bytes);
    const x = pixelsToQuantizedInput(model, [preprocessImage(read('images/coffee.png'), size)]);
    let input: ArrayLike<number> = x;
    const byOp: Record<string, { ref: number; single: number; total: number }> = {};
    for (const layer of model.layers) {
      if (layer.type === 'reshape') continue;
      const theirs = ip.run(withOutput(nd.model, layer.output.index), [x, ...nd.weights]).outputs[0]!.data as Int8Array;
      if (layer.type === 'conv') {
        const one = oneLayer(model, layer);
        const ref = runQuantizedReference(one, input as Int8Array, 1).get(layer.name)!.data;
        const single = runQuantizedReference(one, input as Int8Array, 1, undefined, { requantization: 'single-rounding' }).get(layer.name)!.data;
        const s = (byOp[layer.op] ??= { ref: 0, single: 0, total: 0 });
        s.ref += compare(ref, theirs).equal;
        s.single += compare(single, theirs).equal;
        s.total += ref.length;
      }
      input = theirs;
    }
    console.log(`int8, XNNPACK off, op by op (entries equal): ${JSON.stringify(byOp)}`);
    expect(byOp.CONV_2D!.single).toBe(byOp.CONV_2D!.total);
    expect(byOp.CONV_2D!.ref).toBeLessThan(byOp.CONV_2D!.total);
    expect(byOp.DEPTHWISE_CONV_2D!.ref).toBe(byOp.DEPTHWISE_CONV_2D!.total);
    expect(byOp.DEPTHWISE_CONV_2D!.single).toBeLessThan(byOp.DEPTHWISE_CONV_2D!.total);
  });
});
