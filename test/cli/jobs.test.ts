// `classify --jobs N` and `--decoder`: the decode pool gives the output of --jobs 1 (the model
// reading each file itself, in this thread) byte for byte, on a folder with PNG and JPEG photos,
// a broken file of each kind, a file that is no image and an EXIF-rotated JPEG; the pool ends with
// the run (in-process: no worker left; as a process: it exits by itself); bad --jobs and --decoder
// values are refused. The opt-in wasm decoder: the same files fail the same way, PNG gives the JS
// decoder's pixels, and it is the same with and without workers.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveDecodeWorkers } from '../../src/pool/decode-pool.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { cli, haveBin, jsonLines, start } from './helpers.js';
import { rotatedJpeg, stripMs, untilNoWorkers } from './jobs-helpers.js';

const HAVE = requireShared('models/mobilenet_v1_0.25_224/model.json', 'images/chelsea.png', 'images/parrot.jpg', 'images/rocket.jpg', 'images/coffee.png', 'images/dog.png');

describe.skipIf(!HAVE)('classify --jobs', () => {
  const model = sharedPath('models/mobilenet_v1_0.25_224');
  let dir: string;
  let photos: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'classify-jobs-'));
    photos = join(dir, 'photos');
    mkdirSync(join(photos, 'sub'), { recursive: true });
    for (const name of ['chelsea.png', 'parrot.jpg', 'rocket.jpg', 'coffee.png', 'dog.png']) copyFileSync(sharedPath(`images/${name}`), join(photos, name));
    copyFileSync(sharedPath('images/chelsea.png'), join(photos, 'sub', 'chelsea-again.png'));
    const jpeg = readFileSync(sharedPath('images/parrot.jpg'));
    writeFileSync(join(photos, 'b-truncated.jpg'), jpeg.subarray(0, 600));
    writeFileSync(join(photos, 'b-truncated.png'), readFileSync(sharedPath('images/coffee.png')).subarray(0, 3000));
    writeFileSync(join(photos, 'c-text.png'), 'this is not a picture\n');
    // The parrot (portrait) stored turned: orientation 6 says "turn 90 degrees clockwise to show".
    writeFileSync(join(photos, 'd-rotated.jpg'), rotatedJpeg(jpeg, 6));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--jobs 2 and 3 write what --jobs 1 writes, byte for byte (JSON lines without the timings, CSV as is), and end their workers', async () => {
    const one = await cli('classify', photos, '--model', model, '--json', '--jobs', '1', '--batch', '3');
    expect(one.code).toBe(2);
    const lines = jsonLines(one.stdout);
    expect(lines).toHaveLength(10);
    expect(lines.filter((l) => l.error).map((l) => [l.file.slice(photos.length + 1), l.error!.code])).toEqual([
      ['b-truncated.jpg', 'ERR_IMAGE_DECODE'],
      ['b-truncated.png', 'ERR_IMAGE_DECODE'],
      ['c-text.png', 'ERR_IMAGE_DECODE'],
    ]);
    for (const jobs of ['2', '3']) {
      const many = await cli('classify', photos, '--model', model, '--json', '--jobs', jobs, '--batch', '3');
      expect(many.code, `--jobs ${jobs}`).toBe(one.code);
      expect(stripMs(many.stdout), `--jobs ${jobs}`).toBe(stripMs(one.stdout));
      expect(many.stderr, `--jobs ${jobs}`).toBe(one.stderr);
      await untilNoWorkers();
    }
    // Other batch sizes, and CSV (no timings in it): the same bytes.
    const csvOne = await cli('classify', photos, '--model', model, '--csv', '--jobs', '1', '--top', '3');
    const csvTwo = await cli('classify', photos, '--model', model, '--csv', '--jobs', '2', '--top', '3', '--batch', '1');
    const csvThree = await cli('classify', photos, '--model', model, '--csv', '--jobs', '3', '--top', '3', '--batch', '16');
    expect(csvTwo.stdout).toBe(csvOne.stdout);
    expect(csvThree.stdout).toBe(csvOne.stdout);
    expect(csvTwo.stderr).toBe(csvOne.stderr);
    await untilNoWorkers();
    expect(liveDecodeWorkers()).toBe(0);
  });

  it('the rotated JPEG is shown turned, in the workers too: it is not classified as the stored layout is', async () => {
    const stored = join(dir, 'stored.jpg');
    writeFileSync(stored, rotatedJpeg(readFileSync(sharedPath('images/parrot.jpg')), 1));
    const r = await cli('classify', join(photos, 'd-rotated.jpg'), stored, join(photos, 'parrot.jpg'), '--model', model, '--json', '--jobs', '2', '--top', '5');
    const [rotated, plain, parrot] = jsonLines(r.stdout);
    // Orientation 1 is the photo as it is; orientation 6 turns it, and the model sees the turned photo.
    expect(plain!.top).toEqual(parrot!.top);
    expect(rotated!.top).not.toEqual(parrot!.top);
    const one = await cli('classify', join(photos, 'd-rotated.jpg'), '--model', model, '--json', '--jobs', '1', '--top', '5');
    expect(jsonLines(one.stdout)[0]!.top).toEqual(rotated!.top);
  });

  it('--jobs 0, x, -1, 1.5 and 257, and --decoder other than js or wasm: ERR_OPTION, before anything is read', async () => {
    for (const bad of ['0', 'x', '-1', '1.5', '257', '']) {
      const r = await cli('classify', photos, '--model', model, '--jobs', bad);
      expect(r.code, bad).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr, bad).toMatch(/^mobilenet: ERR_OPTION: .*--jobs/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const decoder = await cli('classify', photos, '--model', model, '--decoder', 'native');
    expect(decoder.code).toBe(2);
    expect(decoder.stderr).toMatch(/^mobilenet: ERR_OPTION: option --decoder: expected "js" or "wasm", got "native"\n$/);
  });

  it('a long run with a small window keeps its order (every file once, in the order of the folder)', async () => {
    const many = join(dir, 'many');
    mkdirSync(many);
    const names = ['chelsea.png', 'parrot.jpg', 'rocket.jpg', 'coffee.png', 'dog.png'];
    for (let i = 0; i < 40; i++) copyFileSync(sharedPath(`images/${names[i % names.length]}`), join(many, `img${String(i).padStart(2, '0')}.${names[i % names.length]!.split('.')[1]}`));
    const one = await cli('classify', many, '--model', model, '--csv', '--jobs', '1', '--top', '1', '--batch', '2');
    const three = await cli('classify', many, '--model', model, '--csv', '--jobs', '3', '--top', '1', '--batch', '2');
    expect(three.stdout).toBe(one.stdout);
    expect(three.stdout.trim().split('\n')).toHaveLength(41);
    await untilNoWorkers();
  });

  describe('--decoder wasm', () => {
    it('the same files fail with the same codes and messages; PNGs give the JS decoder\'s classes exactly; with and without workers alike', async () => {
      const js = await cli('classify', photos, '--model', model, '--json', '--jobs', '1');
      const wasmOne = await cli('classify', photos, '--model', model, '--json', '--jobs', '1', '--decoder', 'wasm');
      const wasmTwo = await cli('classify', photos, '--model', model, '--json', '--jobs', '2', '--decoder', 'wasm');
      expect(wasmOne.code).toBe(js.code);
      expect(wasmOne.stderr).toBe(js.stderr);
      expect(stripMs(wasmTwo.stdout)).toBe(stripMs(wasmOne.stdout));
      const a = jsonLines(js.stdout);
      const b = jsonLines(wasmOne.stdout);
      expect(b.map((l) => l.file)).toEqual(a.map((l) => l.file));
      a.forEach((l, i) => {
        if (l.error) expect(b[i]!.error).toEqual(l.error);
        else if (l.file.endsWith('.png')) expect(b[i]!.top).toEqual(l.top);
        // JPEG: mozjpeg's pixels are not jpeg-js's; on these photos the top class is the same.
        else expect(b[i]!.top![0]!.index, l.file).toBe(l.top![0]!.index);
      });
      await untilNoWorkers();
    });
  });

  it('as a process: --jobs 2 ends by itself when the run is done, and when its reader goes away', async () => {
    if (!haveBin()) return;
    const done = await start(['classify', photos, '--model', model, '--json', '--jobs', '2']).done;
    expect(done.code).toBe(2);
    expect(jsonLines(done.stdout)).toHaveLength(10);
    // A reader that stops after the first line, on a run far from done: it ends quietly (exit 0), workers and all.
    const long = join(dir, 'long');
    mkdirSync(long);
    for (let i = 0; i < 200; i++) copyFileSync(sharedPath('images/coffee.png'), join(long, `img${String(i).padStart(3, '0')}.png`));
    const head = start(['classify', long, '--model', model, '--json', '--jobs', '2', '--batch', '1']);
    head.child.stdout!.once('data', () => head.child.stdout!.destroy());
    const ended = await head.done;
    expect(ended.code).toBe(0);
    expect(ended.stderr).toBe('');
  });
});
