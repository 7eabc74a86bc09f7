/**
 * `mobilenet train` end to end, in-process, on a dataset folder made of the shared photos (symbolic
 * links in a temporary folder): the split, the report, the file, --force, and the refusals.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { load } from '../../src/engine/load.js';
import { loadHead } from '../../src/head/index.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { PHOTOS } from './dataset.js';

const HAVE = requireShared(...PHOTOS.map(([, f]) => `images/${f}`));

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe.skipIf(!HAVE)('mobilenet train', () => {
  let dir: string;
  let dataset: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'train-cli-'));
    dataset = join(dir, 'photos');
    for (const [label, file] of PHOTOS) {
      mkdirSync(join(dataset, label), { recursive: true });
      symlinkSync(sharedPath(`images/${file}`), join(dataset, label, file));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds out whole photos, prints per-class accuracy and the confusion table, writes a head that loads', async () => {
    const out = join(dir, 'head.safetensors');
    const { code, stdout, stderr } = await cli('train', dataset, '--out', out, '--method', 'linear', '--validation', '0.5', '--augment', '3', '--seed', '3');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // cat and bird have two photos: one of each is held out; the others have one, kept for training.
    expect(stdout).toMatch(/^validation: \d\/2 correct/);
    expect(stdout).toMatch(/class\s+images\s+correct\s+accuracy/);
    expect(stdout).toMatch(/^bird\s+1\s+[01]\s+/m);
    expect(stdout).toMatch(/^coffee\s+0\s+0\s+-/m);
    expect(stdout).toContain('confusion (rows: true class, columns: predicted)');
    expect(stdout).toMatch(/head\.safetensors: linear head, 6 classes, 24 examples from 6 images \(3 augmented copies each\)/);
    console.log(stdout);
    const bytes = new Uint8Array(readFileSync(out));
    const model = await load();
    const head = await loadHead(bytes, model);
    expect(head.method).toBe('linear');
    expect(head.labels).toEqual(['bird', 'cat', 'coffee', 'dog', 'person', 'rocket']);
    expect((await head.predict(sharedPath('images/dog.png')))[0]!.label).toBe('dog');
    model.dispose();
  });

  it('refuses to replace the file without --force; --json gives one object; the same seed gives the same bytes', async () => {
    const out = join(dir, 'knn.safetensors');
    const first = await cli('train', dataset, '--out', out, '--validation', '0', '--json');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report).toMatchObject({ method: 'knn', classes: ['bird', 'cat', 'coffee', 'dog', 'person', 'rocket'], images: { train: 8, validation: 0, failed: 0 }, validation: null });
    const bytes = readFileSync(out);
    const again = await cli('train', dataset, '--out', out, '--validation', '0');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^mobilenet: ERR_IO: --out .*knn\.safetensors: the file exists \(\d+ bytes\); pass --force to replace it\n$/);
    const forced = await cli('train', dataset, '--out', out, '--validation', '0', '--force');
    expect(forced.code).toBe(0);
    expect(readFileSync(out).equals(bytes)).toBe(true);
  });

  it('--refit trains again on every image; --k, --unknown and --l2 reach the head', async () => {
    const out = join(dir, 'refit.safetensors');
    const r = await cli('train', dataset, '--out', out, '--validation', '0.5', '--k', '2', '--unknown', '--refit', '--augment', '1', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ method: 'knn', refit: true, examples: 16, images: { train: 6, validation: 2 } });
    expect(report.validation.images).toBe(2);
    expect(report.validation.confusion[0]).toHaveLength(7); // the six classes and <unknown>
    expect(typeof report.threshold).toBe('number');
    const model = await load();
    const head = await loadHead(new Uint8Array(readFileSync(out)), model);
    expect(head.method === 'knn' && head.k).toBe(2);
    expect(head.threshold).toBe(report.threshold);
    model.dispose();
    const linear = await cli('train', dataset, '--out', join(dir, 'l2.safetensors'), '--method', 'linear', '--l2', '0.01', '--validation', '0', '--json');
    expect(JSON.parse(linear.stdout).method).toBe('linear');
    // One image per class and no copies: nothing to choose a threshold on, said so.
    const none = await cli('train', dataset, '--out', join(dir, 'none.safetensors'), '--validation', '0.5', '--unknown');
    expect(none.code).toBe(0);
    expect(none.stderr).toMatch(/^mobilenet: --unknown: no threshold could be chosen/);
    const wrong = await cli('train', dataset, '--out', join(dir, 'l2.safetensors'), '--method', 'linear', '--k', '3');
    expect(wrong.stderr).toMatch(/ERR_OPTION: option --k: expected only with --method knn/);
  });

  it('an empty class folder, a single class, a broken image, bad flags', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(join(bad, 'cat'), { recursive: true });
    mkdirSync(join(bad, 'dog'), { recursive: true });
    symlinkSync(sharedPath('images/cat.png'), join(bad, 'cat', 'cat.png'));
    let r = await cli('train', bad, '--out', join(dir, 'x.safetensors'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mobilenet: ERR_HEAD_DATA: class "dog": no PNG or JPEG files found in .*dog \(it holds no files\); every class needs at least one image\n$/);
    rmSync(join(bad, 'dog'), { recursive: true });
    r = await cli('train', bad, '--out', join(dir, 'x.safetensors'));
    expect(r.stderr).toMatch(/ERR_HEAD_DATA: .*only one class folder \("cat"\); expected at least 2/);
    mkdirSync(join(bad, 'dog'));
    symlinkSync(sharedPath('images/dog.png'), join(bad, 'dog', 'dog.png'));
    writeFileSync(join(bad, 'dog', 'broken.png'), 'not a png');
    r = await cli('train', bad, '--out', join(dir, 'x.safetensors'), '--validation', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mobilenet: ERR_IMAGE_DECODE: .*broken\.png/);
    expect(r.stdout).toContain('1 file could not be read');
    expect(statSync(join(dir, 'x.safetensors')).size).toBeGreaterThan(0);
    r = await cli('train', bad, '--out', join(dir, 'y.bin'));
    expect(r.stderr).toMatch(/ERR_OPTION: option --out: expected a file name ending in \.safetensors/);
    r = await cli('train', bad, '--out', join(dir, 'y.safetensors'), '--method', 'svm');
    expect(r.stderr).toMatch(/ERR_OPTION: option --method: expected "knn" or "linear", got "svm"/);
    r = await cli('train', join(dir, 'missing'), '--out', join(dir, 'y.safetensors'));
    expect(r.stderr).toMatch(/ERR_IO: .*missing: does not exist/);
  });
});
