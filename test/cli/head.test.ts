// `classify --head FILE`: a head trained by `mobilenet train` (in a temporary folder, on a few
// shared photos) answers instead of the model's classifier. Each image's answer is what the API
// gives for it (`loadHead(bytes, model)`, then `head.predict(path)`), with --jobs 1 and 2 and in
// every format; a broken file in the batch fails alone; a head that is missing, broken or made
// for another model is refused with its code before any image is classified; --head with
// --labels is refused.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load } from '../../src/engine/load.js';
import { loadHead, type Head } from '../../src/head/index.js';
import { UNKNOWN_LABEL } from '../../src/head/heads.js';
import { decodeHeadFile } from '../../src/head/format.js';
import { MobilenetError } from '../../src/errors.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { cli, jsonLines } from './helpers.js';
import { stripMs, untilNoWorkers } from './jobs-helpers.js';

const TRAIN: [label: string, file: string][] = [
  ['cat', 'cat.png'],
  ['cat', 'chelsea.png'],
  ['bird', 'bird.png'],
  ['bird', 'parrot.jpg'],
  ['coffee', 'coffee.png'],
  ['dog', 'dog.png'],
];
const PHOTOS = ['bird.png', 'cat.png', 'chelsea.png', 'coffee.png', 'dog.png', 'grace_hopper.png', 'parrot.jpg', 'rocket.jpg'];

const HAVE = requireShared('models/mobilenet_v1_0.25_224/model.json', ...PHOTOS.map((p) => `images/${p}`));

type Line = { file: string; top?: { index: number; label: string | null; probability: number; logit: number }[]; error?: { code: string; message: string } };

/** What the CLI should write for `file`: the API's prediction, as a result's `top`. */
async function expected(head: Head, file: string, top: number): Promise<Line['top']> {
  const predictions = await head.predict(file, { topK: top });
  return predictions.map((p) => ({
    index: p.label === UNKNOWN_LABEL ? head.labels.length : head.labels.indexOf(p.label),
    label: p.label,
    probability: p.probability,
    logit: p.score,
  }));
}

describe.skipIf(!HAVE)('classify --head', () => {
  let dir: string;
  let photos: string;
  let knn: string;
  let linear: string;
  let floatHead: string;
  const floatModel = sharedPath('models/mobilenet_v1_0.25_224');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'classify-head-'));
    const dataset = join(dir, 'dataset');
    for (const [label, file] of TRAIN) {
      mkdirSync(join(dataset, label), { recursive: true });
      symlinkSync(sharedPath(`images/${file}`), join(dataset, label, file));
    }
    knn = join(dir, 'knn.safetensors');
    linear = join(dir, 'linear.safetensors');
    floatHead = join(dir, 'float.safetensors');
    // The package's model (the train command's default), and the float model for a head of another base model.
    for (const args of [
      ['--out', knn, '--unknown'],
      ['--out', linear, '--method', 'linear'],
      ['--out', floatHead, '--model', floatModel],
    ]) {
      const r = await cli('train', dataset, '--validation', '0', ...args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    // The photos to classify, with a broken JPEG and a file that is no image among them.
    photos = join(dir, 'photos');
    mkdirSync(photos);
    for (const name of PHOTOS) copyFileSync(sharedPath(`images/${name}`), join(photos, name));
    writeFileSync(join(photos, 'broken.jpg'), readFileSync(sharedPath('images/parrot.jpg')).subarray(0, 700));
    writeFileSync(join(photos, 'text.png'), 'not a picture\n');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('kNN (with unknown) and linear heads: each image gets the API\'s answer (head.predict), with --jobs 1 and 2 alike; the broken files fail alone', async () => {
    const model = await load();
    try {
      for (const file of [knn, linear]) {
        const head = await loadHead(new Uint8Array(readFileSync(file)), model);
        const one = await cli('classify', photos, '--head', file, '--json', '--jobs', '1', '--top', '3', '--batch', '4');
        expect(one.code).toBe(2);
        const lines = jsonLines(one.stdout) as Line[];
        expect(lines.map((l) => l.file.slice(photos.length + 1)).sort()).toEqual([...PHOTOS, 'broken.jpg', 'text.png'].sort());
        for (const line of lines) {
          const name = line.file.slice(photos.length + 1);
          if (name === 'broken.jpg' || name === 'text.png') {
            expect(line.error!.code, name).toBe('ERR_IMAGE_DECODE');
            continue;
          }
          expect(line.top, `${file} ${name}`).toEqual(await expected(head, line.file, 3));
        }
        if (file === knn) {
          // The threshold is there: some photo of no trained class (the person, the rocket) is unknown.
          expect(head.threshold).not.toBeNull();
          expect(lines.some((l) => l.top?.[0]?.label === UNKNOWN_LABEL)).toBe(true);
        }
        const two = await cli('classify', photos, '--head', file, '--json', '--jobs', '2', '--top', '3', '--batch', '3');
        expect(two.code).toBe(2);
        expect(stripMs(two.stdout)).toBe(stripMs(one.stdout));
        expect(two.stderr).toBe(one.stderr);
        await untilNoWorkers();
      }
    } finally {
      model.dispose();
    }
  });

  it('CSV and the table name the head\'s classes; the prepared path (--jobs 2, --decoder wasm) gives the same CSV', async () => {
    const model = await load();
    const head = await loadHead(new Uint8Array(readFileSync(linear)), model);
    const dog = join(photos, 'dog.png');
    const csv = await cli('classify', dog, join(photos, 'coffee.png'), '--head', linear, '--csv', '--jobs', '1');
    expect(csv.code).toBe(0);
    const rows = csv.stdout.trim().split('\n');
    expect(rows[0]).toBe('file,rank,index,label,probability,logit,error');
    // Every class of the head, ranked (top 5 > 4 classes, no unknown entry in a head without threshold).
    expect(rows).toHaveLength(1 + 2 * head.labels.length);
    const first = (await expected(head, dog, 1))![0]!;
    model.dispose();
    expect(rows[1]).toBe(`${dog},1,${first.index},${first.label},${first.probability},${first.logit},`);
    const wasm = await cli('classify', dog, join(photos, 'coffee.png'), '--head', linear, '--csv', '--jobs', '2', '--decoder', 'wasm');
    expect(wasm.stdout).toBe(csv.stdout);
    const table = await cli('classify', dog, '--head', linear, '--top', '2');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^\\s+\\d+\\.\\d\\d%  ${first.label} \\(${first.index}\\)$`, 'm'));
    await untilNoWorkers();
  });

  it('a head of another base model: ERR_HEAD_MODEL naming what differs, before any image (no output, the --out file untouched)', async () => {
    const out = join(dir, 'other.jsonl');
    writeFileSync(out, '');
    for (const [headFile, modelArgs] of [
      [floatHead, []],
      [knn, ['--model', floatModel]],
    ] as const) {
      const r = await cli('classify', photos, '--head', headFile, ...modelArgs, '--json', '--out', out, '--force');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^mobilenet: ERR_HEAD_MODEL: --head ${headFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: saved for another base model .*differs in .*\n$`));
      expect(readFileSync(out, 'utf8')).toBe('');
    }
    // The float head with its own model: it works.
    const ok = await cli('classify', join(photos, 'dog.png'), '--head', floatHead, '--model', floatModel, '--json', '--top', '1');
    expect(ok.code).toBe(0);
    expect((jsonLines(ok.stdout)[0] as Line).top![0]!.label).toBe('dog');
  });

  it('a missing, empty, truncated or foreign head file: its coded error, one line, before the model loads', async () => {
    const bytes = readFileSync(knn);
    const cases: [name: string, contents: Uint8Array | null][] = [
      ['missing.safetensors', null],
      ['empty.safetensors', new Uint8Array(0)],
      ['truncated.safetensors', bytes.subarray(0, bytes.length - 100)],
      ['labels.safetensors', new TextEncoder().encode('cat\ndog\n')],
    ];
    for (const [name, contents] of cases) {
      const file = join(dir, name);
      if (contents) writeFileSync(file, contents);
      // A --model that does not exist: refused later than the head, so the head's error shows it came first.
      const r = await cli('classify', photos, '--head', file, '--model', join(dir, 'no-such-model.tflite'));
      expect(r.code, name).toBe(2);
      expect(r.stdout).toBe('');
      if (!contents) {
        expect(r.stderr).toMatch(/^mobilenet: ERR_IO: --head .*missing\.safetensors: .*\n$/);
        continue;
      }
      // The API's own reading of the bytes: the same code and message, one line.
      let error: MobilenetError | null = null;
      try {
        decodeHeadFile(contents, `--head ${file}`);
      } catch (e) {
        error = e as MobilenetError;
      }
      expect(error, name).toBeInstanceOf(MobilenetError);
      expect(r.stderr, name).toBe(`mobilenet: ${error!.code}: ${error!.message}\n`);
    }
    // A model file given as a head: not a head.
    const model = join(dir, 'model-as-head.safetensors');
    const convert = await cli('convert', sharedPath('models/mobilenet_v1_0.25_224/model.json'), model);
    expect(convert.code).toBe(0);
    {
      const r = await cli('classify', photos, '--head', model);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^mobilenet: ERR_HEAD_FORMAT: --head .*model-as-head\.safetensors: is a model file, not a head/);
    }
  });

  it('--head with --labels: ERR_OPTION, nothing read', async () => {
    const r = await cli('classify', photos, '--head', knn, '--labels', join(dir, 'nowhere.txt'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^mobilenet: ERR_OPTION: option --labels: .*--head.*\n$/);
  });

  it('--resume of a --head run counts the head\'s answers per image (classes and unknown) as its --top', async () => {
    const out = join(dir, 'resume.jsonl');
    const first = await cli('classify', join(photos, 'dog.png'), '--head', knn, '--out', out, '--force', '--top', '10');
    expect(first.code).toBe(0);
    const line = jsonLines(readFileSync(out, 'utf8'))[0] as Line;
    // 4 classes and the unknown answer.
    expect(line.top).toHaveLength(5);
    const resumed = await cli('classify', join(photos, 'dog.png'), join(photos, 'cat.png'), '--head', knn, '--out', out, '--resume', '--top', '10');
    expect(resumed.stderr).toMatch(/classified 1, failed 0, 1 already in/);
    expect(resumed.code).toBe(0);
    expect(jsonLines(readFileSync(out, 'utf8'))).toHaveLength(2);
  });
});
