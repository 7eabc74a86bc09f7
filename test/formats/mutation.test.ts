/**
 * Mutation sweep (bad-inputs.md, "How to test it"): a small valid file of each format is
 * flipped, truncated and extended many times by fast-check; every outcome must be a correct
 * load (the weights pass the layer table's checks) or a MobilenetError with a code, never any
 * other exception, never a hang (each load is timed). JSON edits include deeply nested values
 * (case 22). Seeds are fixed so failures replay; MUTATION_RUNS scales the sweep.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes, MobilenetError } from '../../src/errors.js';
import { buildArchitecture } from '../../src/model/architecture.js';
import { randomWeights } from '../../src/model/random.js';
import { checkWeights } from '../../src/model/weights.js';
import { loadModelFile, type LoadedModel } from '../../src/formats/index.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { Flatbuffer, type Table } from '../../src/formats/tflite.js';
import { kerasMobileNet } from '../fixtures-gen/keras-mobilenet.js';
import { requireShared, sharedPath } from '../helpers/shared.js';

const RUNS = Number(process.env.MUTATION_RUNS ?? 1);
const CODES = new Set<string>(Object.values(ErrorCodes));
/** A load slower than this counts as a hang. */
const HANG_MS = 10_000;

type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'flips'; edits: { at: number; value: number }[] }
  | { kind: 'truncate'; length: number }
  | { kind: 'extend'; tail: Uint8Array };

/** Mutations biased toward `hot` (the structure: headers, tables), and anywhere in the file. */
function mutation(size: number, hot: [number, number][]): fc.Arbitrary<Mutation> {
  const position = fc.oneof(
    ...hot.map(([a, b]) => fc.integer({ min: a, max: Math.max(a, Math.min(b, size) - 1) })),
    fc.integer({ min: 0, max: size - 1 }),
  );
  const edit = fc.record({ at: position, value: fc.integer({ min: 0, max: 255 }) });
  return fc.oneof(
    { weight: 4, arbitrary: edit.map((e) => ({ kind: 'flip' as const, ...e })) },
    { weight: 2, arbitrary: fc.array(edit, { minLength: 2, maxLength: 8 }).map((edits) => ({ kind: 'flips' as const, edits })) },
    { weight: 2, arbitrary: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: size - 1 })).map((length) => ({ kind: 'truncate' as const, length })) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => ({ kind: 'extend' as const, tail })) },
  );
}

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case 'flip': {
      const b = bytes.slice();
      b[m.at] = m.value === b[m.at] ? b[m.at]! ^ 0xff : m.value;
      return b;
    }
    case 'flips': {
      const b = bytes.slice();
      for (const e of m.edits) b[e.at] = e.value;
      return b;
    }
    case 'truncate':
      return bytes.slice(0, m.length);
    case 'extend': {
      const b = new Uint8Array(bytes.length + m.tail.length);
      b.set(bytes);
      b.set(m.tail, bytes.length);
      return b;
    }
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path into a JSON value (objects and arrays), the root excluded. */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = [...prefix, Array.isArray(value) ? Number(k) : k];
      out.push(p);
      paths(v as Json, p, out);
    }
  }
  return out;
}

/**
 * Deeply nested JSON (bad-inputs.md case 22): ~10 KB of `[[[...]]]` or `{"a":{"a":...}}`. Edits put
 * a marker string in the document; `toJson` writes the nesting in its place (JSON.stringify
 * itself overflows the stack on such depths).
 */
const DEEP: Record<string, string> = {
  '@@DEEP_ARRAY@@': `${'['.repeat(5000)}1${']'.repeat(5000)}`,
  '@@DEEP_OBJECT@@': `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`,
};
const toJson = (doc: Json): string => JSON.stringify(doc).replace(/"@@DEEP_(ARRAY|OBJECT)@@"/g, (m) => DEEP[m.slice(1, -1)]!);

/** A structural edit that keeps the text valid JSON: replace or delete the value at a path. */
function jsonEdit(doc: Json): fc.Arbitrary<(d: Json) => Json> {
  const all = paths(doc);
  const odd = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(-1, 0, 1, 1.5, 2 ** 31, 2 ** 53, 1e300, -0, '', 'F16', 'I64', 'same', 'valid', [], {}, [0, 1], [[0, 1], [0, 1]], null),
    fc.constantFrom(...Object.keys(DEEP), [Object.keys(DEEP)[0]!, 4]),
  );
  return fc.record({ i: fc.nat({ max: all.length - 1 }), value: odd, remove: fc.boolean() }).map(({ i, value, remove }) => (d: Json) => {
    const copy = structuredClone(d) as any;
    const path = all[i]!;
    let parent = copy;
    for (const k of path.slice(0, -1)) parent = parent[k];
    const last = path[path.length - 1]!;
    if (remove && !Array.isArray(parent)) delete parent[last];
    else parent[last] = value;
    return copy;
  });
}

interface Tally {
  loaded: number;
  refused: Map<string, number>;
}

/** Correct load, or a coded MobilenetError; anything else fails the property. */
async function outcome(load: () => Promise<LoadedModel>, tally: Tally): Promise<void> {
  const t0 = performance.now();
  try {
    const model = await load();
    // A correct load: the weights satisfy the layer table of the options it reports.
    checkWeights(buildArchitecture(model.options), model.weights, { strict: true });
    tally.loaded++;
  } catch (e) {
    if (!(e instanceof MobilenetError) || !CODES.has(e.code)) {
      throw new Error(`not a MobilenetError: ${(e as Error)?.stack ?? String(e)}`);
    }
    tally.refused.set(e.code, (tally.refused.get(e.code) ?? 0) + 1);
  }
  const ms = performance.now() - t0;
  if (ms > HANG_MS) throw new Error(`load took ${ms.toFixed(0)} ms`);
}

function report(name: string, tally: Tally): void {
  const codes = [...tally.refused].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  console.log(`${name}: ${tally.loaded} loaded, refused: ${codes}`);
}

const dir = mkdtempSync(join(tmpdir(), 'mobilenet-mutation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mutation sweep', () => {
  it('safetensors, alpha 0.25 @ 32', async () => {
    const options = { depthMultiplier: 0.25, inputSize: 32 };
    const good = writeSafetensors({ options, weights: randomWeights(buildArchitecture(options), 9), pixelNormalization: 'unit-signed' });
    const headerEnd = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));
    const tally: Tally = { loaded: 0, refused: new Map() };
    await fc.assert(
      fc.asyncProperty(mutation(good.length, [[0, 8], [8, headerEnd], [headerEnd - 64, headerEnd + 64]]), async (m) => {
        await outcome(() => loadModelFile(apply(good, m)), tally);
      }),
      { numRuns: 400 * RUNS, seed: 20261127 },
    );
    // Header edits that keep valid JSON, re-framed with the right length: the validation past the parser.
    const header = JSON.parse(new TextDecoder().decode(good.subarray(8, headerEnd))) as Json;
    const body = good.subarray(headerEnd);
    await fc.assert(
      fc.asyncProperty(jsonEdit(header), async (edit) => {
        const text = new TextEncoder().encode(toJson(edit(header)));
        const file = new Uint8Array(8 + text.length + body.length);
        new DataView(file.buffer).setUint32(0, text.length, true);
        file.set(text, 8);
        file.set(body, 8 + text.length);
        await outcome(() => loadModelFile(file), tally);
      }),
      { numRuns: 400 * RUNS, seed: 20261130 },
    );
    report('safetensors', tally);
    expect(tally.refused.size).toBeGreaterThan(4);
  });

  const TFLITE = 'models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite';
  it.skipIf(!requireShared(TFLITE))('TFLite, the real mobilenet_v1_0.25_128_quant', async () => {
    const good = new Uint8Array(readFileSync(sharedPath(TFLITE)));
    const tally: Tally = { loaded: 0, refused: new Map() };
    // The flatbuffer's tables (objects and vtables) and vector headers, found with the reader itself.
    const structure: [number, number][] = [[0, 64], [good.length - 40_000, good.length]];
    const mark = (t: Table) => structure.push([t.pos, t.pos + t.objSize], [t.vt, t.vt + t.vtSize]);
    const model = new Flatbuffer(good, 'tflite').root('Model');
    mark(model);
    for (const sg of model.tables(2, 'subgraphs')) {
      mark(sg);
      for (const t of sg.tables(0, 'tensors')) {
        mark(t);
        const q = t.table(4, 'quantization');
        if (q) mark(q);
        const shape = t.vector(0, 'shape', 4);
        if (shape) structure.push([shape.start - 4, shape.start + 4 * shape.length]);
      }
      for (const op of sg.tables(3, 'operators')) {
        mark(op);
        const o = op.table(4, 'builtin_options');
        if (o) mark(o);
        const ins = op.vector(1, 'inputs', 4)!;
        structure.push([ins.start - 4, ins.start + 4 * ins.length]);
      }
    }
    for (const oc of model.tables(1, 'operator_codes')) mark(oc);
    for (const b of model.tables(4, 'buffers')) {
      mark(b);
      const v = b.vector(0, 'data', 1);
      if (v) structure.push([v.start - 4, v.start]);
    }
    await fc.assert(
      fc.asyncProperty(mutation(good.length, structure), async (m) => {
        await outcome(() => loadModelFile(apply(good, m)), tally);
      }),
      { numRuns: 500 * RUNS, seed: 20261128 },
    );
    report('tflite', tally);
    expect(tally.refused.get(ErrorCodes.TFLITE) ?? 0).toBeGreaterThan(10);
  });

  it('TF.js layers fixture: model.json text and shard bytes', async () => {
    const fixture = kerasMobileNet({ alpha: 0.25, size: 32, classes: 10, seed: 4 });
    const json = new TextEncoder().encode(JSON.stringify(fixture.modelJson));
    const shard = fixture.shards.get('group1-shard1of1.bin')!;
    const tally: Tally = { loaded: 0, refused: new Map() };
    let n = 0;
    const doc = fixture.modelJson as unknown as Json;
    const target = fc.oneof(
      { weight: 2, arbitrary: mutation(json.length, [[0, 400]]).map((m) => ({ file: 'model.json' as const, m })) },
      { weight: 1, arbitrary: mutation(shard.length, []).map((m) => ({ file: 'shard' as const, m })) },
      { weight: 3, arbitrary: jsonEdit(doc).map((edit) => ({ file: 'edit' as const, m: edit })) },
    );
    await fc.assert(
      fc.asyncProperty(target, async ({ file, m }) => {
        const d = join(dir, `l${n++}`);
        mkdirSync(d);
        const text = file === 'model.json' ? apply(json, m as Mutation) : file === 'edit' ? toJson((m as (d: Json) => Json)(doc)) : json;
        writeFileSync(join(d, 'model.json'), text);
        writeFileSync(join(d, 'group1-shard1of1.bin'), file === 'shard' ? apply(shard, m as Mutation) : shard);
        await outcome(() => loadModelFile(d), tally);
        rmSync(d, { recursive: true });
      }),
      { numRuns: 600 * RUNS, seed: 20261129 },
    );
    report('tfjs-layers', tally);
    expect(tally.refused.size).toBeGreaterThan(2);
  });
});
