/**
 * The real TFLite interpreter as a witness: `@tensorflow/tfjs-tflite`'s Emscripten build
 * (wasm/tflite_web_api_cc.js + .wasm, the plain non-SIMD, non-threaded one), run in Node by
 * handing its module factory the .wasm bytes (`wasmBinary`): no fetch, no browser.
 *
 * The runner (`TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, size, options)`) takes
 * three options only: numThreads, enableProfiling, maxProfilingBufferEntries. There is no
 * switch for XNNPACK: the build applies TFLite's default XNNPACK delegate (it logs "Created
 * TensorFlow Lite XNNPACK delegate for CPU"), which in this build takes the uint8 (QU8) and
 * int8 (QS8) convolutions. The profile (`GetProfilingResults`) names each executed node, so a
 * test can see which ops ran in the delegate and which as builtin kernels.
 *
 * To look inside the graph, `withOutput` rewrites the subgraph's single output index in place
 * (an int32 in the flatbuffer), so any intermediate tensor can be read; `withoutDelegate`
 * (./tflite-writer.ts) turns every convolution's weights into a graph input, which the XNNPACK
 * delegate cannot take (it needs static weights), so TFLite's builtin kernels run instead.
 *
 * The package is optional (a devDependency): `loadInterpreter()` returns null when it is not
 * installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Flatbuffer } from '../../../src/formats/tflite.js';

const require = createRequire(import.meta.url);

interface EmVector<T> {
  size(): number;
  get(i: number): T;
  delete(): void;
}
interface EmTensorInfo {
  id: number;
  name: string;
  dataType: string;
  shape: string;
  data(): Uint8Array | Int8Array | Float32Array | Int32Array;
}
interface EmRunner {
  GetInputs(): EmVector<EmTensorInfo>;
  GetOutputs(): EmVector<EmTensorInfo>;
  Infer(): boolean;
  GetProfilingResults(): EmVector<{ nodeType: string; nodeName: string }>;
  delete(): void;
}
interface EmModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(ptr: number, size: number, options: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number }): {
      ok(): boolean;
      errorMessage(): string;
      value(): EmRunner;
    };
  };
}

export const TFLITE_PACKAGE = '@tensorflow/tfjs-tflite';

/** The package's wasm directory, or null when the package is not installed. */
export function interpreterDir(): string | null {
  try {
    const dir = join(dirname(require.resolve(`${TFLITE_PACKAGE}/package.json`)), 'wasm');
    return existsSync(join(dir, 'tflite_web_api_cc.js')) && existsSync(join(dir, 'tflite_web_api_cc.wasm')) ? dir : null;
  } catch {
    return null;
  }
}

export function interpreterVersion(): string | null {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${TFLITE_PACKAGE}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

export interface InterpreterRun {
  /** Each graph input's contents to set, in order (integers or floats as the tensor's type). */
  outputs: { name: string; dataType: string; shape: number[]; data: Uint8Array | Int8Array | Float32Array | Int32Array }[];
  /** Executed nodes, "TYPE:[name]" (TfLiteXNNPackDelegate for a delegated partition). */
  nodes: string[];
}

export interface Interpreter {
  /** Runs `model` once on `inputs` (one array per graph input, in order). */
  run(model: Uint8Array, inputs: ArrayLike<number>[]): InterpreterRun;
}

let cached: Promise<Interpreter | null> | null = null;

/** The interpreter, or null when `@tensorflow/tfjs-tflite` is not installed. */
export function loadInterpreter(): Promise<Interpreter | null> {
  cached ??= (async () => {
    const dir = interpreterDir();
    if (dir === null) return null;
    const factory = require(join(dir, 'tflite_web_api_cc.js')) as (m: object) => Promise<EmModule>;
    const logs: string[] = [];
    const mod = await factory({ wasmBinary: readFileSync(join(dir, 'tflite_web_api_cc.wasm')), print: (s: string) => logs.push(s), printErr: (s: string) => logs.push(s) });
    return {
      run(model: Uint8Array, inputs: ArrayLike<number>[]): InterpreterRun {
        const ptr = mod._malloc(model.length);
        mod.HEAPU8.set(model, ptr);
        const created = mod.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, model.length, { numThreads: 1, enableProfiling: true, maxProfilingBufferEntries: 1024 });
        if (!created.ok()) {
          mod._free(ptr);
          throw new Error(`TFLite interpreter: ${created.errorMessage()} (${logs.slice(-3).join(' / ')})`);
        }
        const runner = created.value();
        try {
          const ins = runner.GetInputs();
          if (ins.size() !== inputs.length) throw new Error(`TFLite interpreter: the model has ${ins.size()} inputs, ${inputs.length} given`);
          for (let i = 0; i < inputs.length; i++) {
            const target = ins.get(i).data();
            if (target.length !== inputs[i]!.length) throw new Error(`TFLite interpreter: input ${i} (${ins.get(i).name}) holds ${target.length} values, ${inputs[i]!.length} given`);
            target.set(inputs[i]!);
          }
          ins.delete();
          if (!runner.Infer()) throw new Error(`TFLite interpreter: Infer failed (${logs.slice(-3).join(' / ')})`);
          const outs = runner.GetOutputs();
          const outputs: InterpreterRun['outputs'] = [];
          for (let i = 0; i < outs.size(); i++) {
            const t = outs.get(i);
            outputs.push({ name: t.name, dataType: t.dataType, shape: t.shape.split(',').map(Number), data: t.data().slice() });
          }
          outs.delete();
          const prof = runner.GetProfilingResults();
          const nodes: string[] = [];
          for (let i = 0; i < prof.size(); i++) {
            const e = prof.get(i);
            nodes.push(`${e.nodeType}:${e.nodeName}`);
          }
          prof.delete();
          return { outputs, nodes };
        } finally {
          runner.delete();
          mod._free(ptr);
        }
      },
    };
  })();
  return cached;
}

/** A copy of a TFLite file whose (single) subgraph output is tensor `tensorIndex` instead. */
export function withOutput(model: Uint8Array, tensorIndex: number): Uint8Array {
  const bytes = model.slice();
  const root = new Flatbuffer(bytes, 'tflite').root('Model');
  const sg = root.tables(2, 'subgraphs')[0]!;
  const outputs = sg.vector(2, 'outputs', 4)!;
  if (outputs.length !== 1) throw new Error(`withOutput: the subgraph has ${outputs.length} outputs, expected 1`);
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setInt32(outputs.start, tensorIndex, true);
  return bytes;
}

/**
 * A copy of a TFLite file in which every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weight
 * tensor is a graph input instead of a constant (its `buffer` set to 0, its index appended to the
 * subgraph's inputs through a new vector written after the file's end), and the weights to feed
 * for those inputs. The XNNPACK delegate takes only convolutions with static weights, so these
 * run as TFLite's builtin kernels (the optimized ones the default op resolver registers). The
 * flatbuffer is patched in place: offsets are unsigned and forward, so the new inputs vector
 * goes at the end, 4-byte aligned; nothing else moves.
 */
export function withoutDelegate(model: Uint8Array): { model: Uint8Array; weights: Uint8Array[] } {
  const fb0 = new Flatbuffer(model, 'tflite');
  const root0 = fb0.root('Model');
  const sg0 = root0.tables(2, 'subgraphs')[0]!;
  const tensors0 = sg0.tables(0, 'tensors');
  const buffers0 = root0.tables(4, 'buffers');
  const codes = root0.tables(1, 'operator_codes').map((oc) => Math.max(oc.i8(0, 'deprecated_builtin_code', 0), oc.i32(3, 'builtin_code', 0)));
  const weightTensors: number[] = [];
  for (const op of sg0.tables(3, 'operators')) {
    const code = codes[op.u32(0, 'opcode_index', 0)]!;
    if (code === 3 || code === 4 || code === 9) weightTensors.push(op.ints(1, 'inputs')[1]!);
  }
  const oldInputs = sg0.ints(1, 'inputs');
  const pad = (4 - (model.length % 4)) % 4;
  const vecAt = model.length + pad;
  const bytes = new Uint8Array(vecAt + 4 + 4 * (oldInputs.length + weightTensors.length));
  bytes.set(model);
  const view = new DataView(bytes.buffer);
  const fb = new Flatbuffer(bytes, 'tflite');
  const sg = fb.root('Model').tables(2, 'subgraphs')[0]!;
  const tensors = sg.tables(0, 'tensors');
  const weights: Uint8Array[] = [];
  for (const t of weightTensors) {
    const bufferIndex = tensors0[t]!.u32(2, 'buffer', 0);
    weights.push(buffers0[bufferIndex]!.bytes(0, 'data')!.slice());
    const field = tensors[t]!.field(2, 4, 'buffer');
    if (field === null) throw new Error(`withoutDelegate: tensor ${t} has no buffer field`);
    view.setUint32(field, 0, true);
  }
  // The new inputs vector, and the subgraph's inputs offset pointed at it.
  const all = [...oldInputs, ...weightTensors];
  view.setUint32(vecAt, all.length, true);
  all.forEach((v, i) => view.setInt32(vecAt + 4 + 4 * i, v, true));
  const inputsField = sg.field(1, 4, 'inputs')!;
  view.setUint32(inputsField, vecAt - inputsField, true);
  return { model: bytes, weights };
}
