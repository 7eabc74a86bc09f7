// What `classify` says about its inputs: folders with nothing to classify, skipped files, missing paths,
// broken images in plain words with the path once, labels refused or escaped, --model DIR. In-process.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { cli, jsonLines } from './helpers.js';

const HAVE = requireShared('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite', 'models/imagenet_labels_1001.txt', 'images/chelsea.png', 'images/parrot.jpg');
/** How the decoders word their errors: none of it may reach the user. */
const LIBRARY_WORDING = /DataView|Offset|EOF|marker|decompress|huffman|Error while|RangeError|TypeError|undefined/i;
const count = (text: string, part: string) => text.split(part).length - 1;

describe.skipIf(!HAVE)('classify: inputs and messages', () => {
  const model = sharedPath('models/mobilenet_v1_0.25_128_quant');
  let dir: string;
  const path = (...parts: string[]) => join(dir, ...parts);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'classify-inputs-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('folders with nothing to classify', () => {
    it('an empty folder, or one with only subfolders: reported, exit 2, no output file made', async () => {
      mkdirSync(path('empty', 'sub', 'deeper'), { recursive: true });
      const out = path('never.jsonl');
      const r = await cli('classify', path('empty'), '--model', model, '--out', out);
      expect(r.stderr).toBe(`mobilenet: ERR_INPUT: no PNG or JPEG files found in ${path('empty')} (it holds no files)\n`);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(existsSync(out)).toBe(false);
    });

    it('a folder of other files: what was skipped and why', async () => {
      mkdirSync(path('others', 'sub'), { recursive: true });
      for (const name of ['a.txt', 'b.TXT', 'sub/c.webp', 'README']) writeFileSync(path('others', name), 'x');
      const r = await cli('classify', path('others'), '--model', model);
      expect(r.stderr).toBe(`mobilenet: ERR_INPUT: no PNG or JPEG files found in ${path('others')} (4 other files skipped: 2 .txt, 1 (no extension), 1 .webp)\n`);
      expect(r.code).toBe(2);
    });

    it('beside a folder with images: reported, the rest classified, skipped files counted in the summary, exit 2', async () => {
      mkdirSync(path('good'));
      copyFileSync(sharedPath('images/chelsea.png'), path('good', 'cat.png'));
      writeFileSync(path('good', 'notes.txt'), 'not an image');
      const r = await cli('classify', path('others'), path('good'), '--model', model, '--json');
      expect(jsonLines(r.stdout).map((l) => l.file)).toEqual([path('good', 'cat.png')]);
      expect(r.stderr).toBe(
        `mobilenet: ERR_INPUT: no PNG or JPEG files found in ${path('others')} (4 other files skipped: 2 .txt, 1 (no extension), 1 .webp)\n` +
          'mobilenet: classified 1, failed 0, skipped 5 files that are not PNG or JPEG\n',
      );
      expect(r.code).toBe(2);
    });

    it('skipped files alone do not fail a run: counted in the summary, exit 0', async () => {
      const r = await cli('classify', path('good'), '--model', model, '--json');
      expect(r.stderr).toBe('mobilenet: classified 1, failed 0, skipped 1 file that is not PNG or JPEG\n');
      expect(r.code).toBe(0);
    });
  });

  it('a path that does not exist is reported once, with its path', async () => {
    const missing = path('no', 'such.png');
    const r = await cli('classify', missing, path('good', 'cat.png'), '--model', model, '--json');
    expect(r.stderr).toBe(`mobilenet: ERR_IO: ${missing}: does not exist\nmobilenet: classified 1, failed 1\n`);
    expect(count(r.stderr + r.stdout, missing)).toBe(2); // once on stderr, once as the JSON record's file
    expect(jsonLines(r.stdout)[0]).toEqual({ file: missing, error: { code: 'ERR_IO', message: 'does not exist' } });
    expect(r.code).toBe(2);
  });

  describe('broken images: plain words, the path once', () => {
    const png = () => readFileSync(sharedPath('images/chelsea.png'));
    const jpeg = () => readFileSync(sharedPath('images/parrot.jpg'));
    function withIdatDamage(): Buffer {
      const bytes = Buffer.from(png());
      const idat = bytes.indexOf('IDAT');
      for (let i = idat + 6; i < idat + 40; i++) bytes[i] = 0xff;
      return bytes;
    }
    const cases: [string, () => Uint8Array, string][] = [
      ['truncated.png', () => png().subarray(0, 1000), 'cannot decode PNG: the file is truncated (it ends before the image does)'],
      ['header-only.png', () => png().subarray(0, 40), 'cannot decode PNG: the file is truncated (it ends before the image does)'],
      ['bad-zlib.png', withIdatDamage, 'cannot decode PNG: the compressed pixel data is corrupt'],
      ['truncated.jpg', () => jpeg().subarray(0, 5000), 'cannot decode JPEG: the file is truncated (it ends before the image does)'],
      ['no-end.jpg', () => jpeg().subarray(0, jpeg().length - 2), 'cannot decode JPEG: the file is truncated (it ends before the image does)'],
      ['zero.png', () => new Uint8Array(0), 'not a PNG or JPEG file (starts with nothing: the file is empty)'],
      ['text.jpg', () => new TextEncoder().encode('hello\n'), 'not a PNG or JPEG file (starts with 68 65 6c 6c 6f 0a)'],
    ];

    it.each(cases)('%s', async (name, bytes, message) => {
      mkdirSync(path('broken'), { recursive: true });
      const file = path('broken', name);
      writeFileSync(file, bytes());
      const table = await cli('classify', file, '--model', model);
      expect(table.stderr).toBe(`mobilenet: ERR_IMAGE_DECODE: ${file}: ${message}\nmobilenet: classified 0, failed 1\n`);
      expect(table.stderr).not.toMatch(LIBRARY_WORDING);
      expect(table.code).toBe(2);
      // In JSON lines the message does not repeat the path either.
      const json = await cli('classify', file, '--model', model, '--json');
      expect(jsonLines(json.stdout)).toEqual([{ file, error: { code: 'ERR_IMAGE_DECODE', message } }]);
    });

    it('a PNG whose chunk checksum is wrong is refused, as libpng and browsers refuse it', async () => {
      const bytes = Buffer.from(png());
      bytes[29] ^= 0xff; // IHDR's CRC
      writeFileSync(path('bad-crc.png'), bytes);
      const r = await cli('classify', path('bad-crc.png'), '--model', model, '--json', '--top', '1');
      expect(r.code).toBe(2);
      const [line] = jsonLines(r.stdout);
      expect(line!.error!.code).toBe('ERR_IMAGE_DECODE');
      expect(line!.error!.message).toMatch(/checksum/i);
    });

    it('a file name with control characters is escaped on stderr, in the table and in CSV', async () => {
      const evil = path('broken', 'evil\x1b[2J\x07.png');
      writeFileSync(evil, png().subarray(0, 100));
      const good = path('broken', 'fine\x1b]0;title\x07.png');
      copyFileSync(sharedPath('images/chelsea.png'), good);
      for (const flags of [[], ['--csv']]) {
        const r = await cli('classify', evil, good, '--model', model, ...flags);
        expect(r.stderr).toContain(`${path('broken', 'evil\\u001b[2J\\u0007.png')}: cannot decode PNG`);
        expect(r.stdout).toContain(path('broken', 'fine\\u001b]0;title\\u0007.png'));
        expect(r.stderr + r.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      }
    });
  });

  describe('--labels', () => {
    it('labels that are not valid UTF-8 are refused: ERR_HEADER_FORMAT naming the file, exit 2', async () => {
      const labels = path('latin1.txt');
      writeFileSync(labels, Buffer.from('background\ncaf\xe9\n', 'latin1'));
      const r = await cli('classify', path('good', 'cat.png'), '--model', model, '--labels', labels);
      expect(r.stderr).toBe(`mobilenet: ERR_HEADER_FORMAT: --labels ${labels}: labels are not valid UTF-8\n`);
      expect(r.code).toBe(2);
    });

    it('a missing labels file: ERR_IO naming it, in plain words', async () => {
      const r = await cli('classify', path('good', 'cat.png'), '--model', model, '--labels', path('none.txt'));
      expect(r.stderr).toMatch(new RegExp(`^mobilenet: ERR_IO: --labels ${path('none.txt')}: cannot read \\(no such file or folder, ENOENT\\)\\n$`));
      expect(r.code).toBe(2);
    });

    it('control characters in labels (ESC sequences, NUL, C1, bidi overrides) are escaped in the table and CSV, kept in JSON', async () => {
      const all = readFileSync(sharedPath('models/imagenet_labels_1001.txt'), 'utf8').split('\n');
      const hostile = 'Egyptian\x1b[31m cat\x00\u009b\u202e';
      all[286] = hostile;
      const labels = path('hostile.txt');
      writeFileSync(labels, all.join('\n'));
      const image = path('good', 'cat.png');
      const table = await cli('classify', image, '--model', model, '--labels', labels, '--top', '1');
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/ {2}Egyptian\\u001b\[31m cat\\u0000\\u009b\\u202e \(286\)\n$/);
      const csv = await cli('classify', image, '--model', model, '--labels', labels, '--top', '1', '--csv');
      expect(csv.stdout.split('\n')[1]).toMatch(/,1,286,Egyptian\\u001b\[31m cat\\u0000\\u009b\\u202e,/);
      for (const text of [table.stdout, csv.stdout]) expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
      const json = await cli('classify', image, '--model', model, '--labels', labels, '--top', '1', '--json');
      expect(json.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
      expect(jsonLines(json.stdout)[0]!.top![0]!.label).toBe(hostile);
    });
  });

  describe('--model DIR', () => {
    const tflite = sharedPath('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite');

    it('a folder with exactly one .tflite, .safetensors or model.json is that model', async () => {
      mkdirSync(path('one-model'));
      copyFileSync(tflite, path('one-model', 'net.TFLITE'));
      writeFileSync(path('one-model', 'notes.md'), 'x');
      const r = await cli('classify', path('good', 'cat.png'), '--model', path('one-model'), '--top', '1', '--json');
      expect(r.code).toBe(0);
      expect(jsonLines(r.stdout)[0]!.top![0]!.label).toBe('Egyptian cat');
    });

    it('several: ERR_OPTION listing them', async () => {
      mkdirSync(path('two-models'));
      copyFileSync(tflite, path('two-models', 'a.tflite'));
      copyFileSync(tflite, path('two-models', 'b.tflite'));
      writeFileSync(path('two-models', 'model.json'), '{}');
      const r = await cli('classify', path('good', 'cat.png'), '--model', path('two-models'));
      expect(r.stderr).toBe(`mobilenet: ERR_OPTION: --model ${path('two-models')}: the folder holds 3 models (a.tflite, b.tflite, model.json); name the one to use\n`);
      expect(r.code).toBe(2);
    });

    it('none: ERR_IO saying what was looked for (a model deeper down is not looked for)', async () => {
      mkdirSync(path('no-model', 'deeper'), { recursive: true });
      copyFileSync(tflite, path('no-model', 'deeper', 'a.tflite'));
      const r = await cli('classify', path('good', 'cat.png'), '--model', path('no-model'));
      expect(r.stderr).toBe(`mobilenet: ERR_IO: --model ${path('no-model')}: no model in the folder (looked for a .tflite file, a .safetensors file or a TF.js model.json directly in it)\n`);
      expect(r.code).toBe(2);
    });
  });

  it('--version prints the version; no command prints the help on stdout; both exit 0', async () => {
    const version = await cli('--version');
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    const help = await cli();
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mobilenet/);
    expect(help.stderr).toBe('');
  });
});
