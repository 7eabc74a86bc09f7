/**
 * What the tests of `load()` and the image API share: the independent path they are checked
 * against (`loadModelFile` + `createModel` + `preprocessImage` + `normalizePixels` + `run`, and
 * top-K by a plain sort of the logits; for a uint8 or int8 TFLite file, which `load()` computes in
 * integers, the integer reference instead of `createModel`: `readTfliteQuantized` + the
 * plain-TypeScript integer kernels), bit-for-bit comparisons, and a local HTTP server.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { expect } from 'vitest';
import { createModel } from '../../src/engine/create.js';
import type { Classification, MobileNet } from '../../src/engine/mobilenet.js';
import { loadModelFile, type LoadedModel } from '../../src/formats/index.js';
import { normalizePixels, preprocessImage, type PixelNormalization } from '../../src/image/index.js';
import { foldWeights } from '../../src/model/fold.js';
import { tfliteBytesOf } from '../../src/formats/index.js';
import { createQuantizedMobileNet } from '../../src/engine/integer.js';
import { isQuantizedTflite, readTfliteQuantized } from '../../src/quant/index.js';
import type { Tensor } from '../../src/tensor.js';
import { sharedPath } from '../helpers/shared.js';

/** The model the package ships in assets/ is this shared file, byte for byte. */
export const DEFAULT_TFLITE = 'models/mobilenet_v1_0.5_160_quant/mobilenet_v1_0.5_160_quant.tflite';
export const FLOAT_TFJS = 'models/mobilenet_v1_0.25_224';

/** The shared photos (PNG and JPEG), sorted. */
export function photoNames(): string[] {
  return readdirSync(sharedPath('images'))
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort();
}

export function photoBytes(name: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(sharedPath(`images/${name}`)));
}

/** A model built the long way, and the expected answers computed from its `run`. */
export interface Oracle {
  readonly loaded: LoadedModel;
  readonly model: MobileNet;
  readonly size: number;
  readonly normalization: PixelNormalization;
  /** The network's input for an image file: decode, crop, resize (preprocessImage), normalise. */
  input(bytes: Uint8Array, name?: string): Tensor;
  /** Top-K of one input batch, by sorting the logits (ties: lower index first). */
  top(x: Tensor, k: number, labels?: readonly string[] | null): Classification[][];
  /** Top-K of an image file. */
  classifyBytes(bytes: Uint8Array, k: number, name?: string): Classification[];
  dispose(): void;
}

/**
 * The long way for `modelRel`. A uint8 or int8 TFLite file is computed as `load()` computes it by
 * default, in integers, here on the integer reference backend (TFLite's reference arithmetic in
 * plain TypeScript; `Predictions` = the softmax integer / 256, `Logits` dequantized); `{ float:
 * true }` (what `dequantize: true` gives) or any other file: the float path on the wasm backend.
 */
export async function oracle(modelRel: string, normalization: PixelNormalization, o: { float?: boolean } = {}): Promise<Oracle> {
  const loaded = await loadModelFile(sharedPath(modelRel));
  const bytes = loaded.format === 'tflite' ? tfliteBytesOf(loaded) : null;
  const model =
    !o.float && bytes && isQuantizedTflite(bytes)
      ? await createQuantizedMobileNet(readTfliteQuantized(bytes), { backend: 'reference', folded: foldWeights(readTfliteQuantized(bytes).architecture, loaded.weights), normalization })
      : await createModel({ ...loaded.options, weights: loaded.weights, backend: 'wasm' });
  const size = model.inputShape[0];
  const self: Oracle = {
    loaded,
    model,
    size,
    normalization,
    input: (bytes, name = 'image') => normalizePixels([preprocessImage(bytes, size, name)], size, normalization),
    top(x, k, labels = loaded.labels ?? null) {
      const out = model.run(x, { outputs: ['Logits', 'Predictions'] });
      const logits = out.Logits!.data;
      const probs = out.Predictions!.data;
      const classes = loaded.options.numClasses!;
      const rows: Classification[][] = [];
      for (let r = 0; r < logits.length / classes; r++) {
        const l = logits.subarray(r * classes, (r + 1) * classes);
        const p = probs.subarray(r * classes, (r + 1) * classes);
        const order = [...l.keys()].sort((a, b) => l[b]! - l[a]! || a - b).slice(0, k);
        rows.push(order.map((index) => ({ index, label: labels?.[index] ?? null, probability: p[index]!, logit: l[index]! })));
      }
      return rows;
    },
    classifyBytes: (bytes, k, name) => self.top(self.input(bytes, name), k)[0]!,
    dispose: () => model.dispose(),
  };
  return self;
}

/** The first difference between two lists of classifications (numbers compared with Object.is), or null. */
export function classificationDiff(actual: readonly Classification[], expected: readonly Classification[]): string | null {
  if (!Array.isArray(actual)) return `expected a list, got ${typeof actual}`;
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    for (const key of ['index', 'label', 'probability', 'logit'] as const) {
      if (!Object.is(a[key], e[key])) return `[${i}].${key}: ${String(a[key])}, expected ${String(e[key])}`;
    }
    const extra = Object.keys(a).filter((k) => !['index', 'label', 'probability', 'logit'].includes(k));
    if (extra.length > 0) return `[${i}] has extra keys ${extra.join(', ')}`;
  }
  return null;
}

export function expectSameClassifications(actual: readonly Classification[], expected: readonly Classification[], what: string): void {
  expect(classificationDiff(actual, expected), what).toBeNull();
}

/** Two float32 arrays with the same bits everywhere. */
export function expectSameFloats(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual, what).toBeInstanceOf(Float32Array);
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const i = a.findIndex((v, k) => v !== e[k]);
  expect(i === -1 ? null : `element ${i}: ${actual[i]}, expected ${expected[i]}`, what).toBeNull();
}

/** Awaits a promise that must reject with a coded error; returns the error. Works across module copies (no instanceof). */
export async function rejection(promise: Promise<unknown>, code: string, message?: RegExp): Promise<Error & { code: string }> {
  let error: unknown = null;
  let value: unknown;
  try {
    value = await promise;
  } catch (e) {
    error = e;
  }
  expect(error, `expected a rejection with ${code}, resolved with ${String(value)}`).not.toBeNull();
  const e = error as Error & { code: string };
  expect(e.name, `${e.name}: ${e.message}`).toBe('MobilenetError');
  expect(e.code, e.message).toBe(code);
  if (message) expect(e.message).toMatch(message);
  return e;
}

export interface TestServer {
  /** `http://127.0.0.1:<port>/` */
  readonly base: string;
  readonly requests: string[];
  close(): Promise<void>;
}

/** A server on loopback, port 0; `handle` answers each request (a thrown error is a 500). */
export async function startServer(handle: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<TestServer> {
  const requests: string[] = [];
  const server: Server = createServer(async (req, res) => {
    requests.push(req.url!);
    try {
      await handle(req, res);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500).end(String(e));
      else res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    base: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves files under `root` (the URL path, decoded), 404 otherwise; with Content-Length, in `chunk`-byte writes. */
export function fileHandler(root: string, chunk = 1 << 30) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname).replace(/^\/+/, '');
    let body: Buffer;
    try {
      if (path.split('/').includes('..')) throw new Error('no');
      body = readFileSync(`${root}/${path}`);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    for (let at = 0; at < body.length; at += chunk) {
      const more = res.write(body.subarray(at, at + chunk));
      if (!more) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  };
}
