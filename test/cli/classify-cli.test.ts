// `mobilenet classify` end to end, in-process, on a temporary folder with good and broken files.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { requireShared, sharedPath } from '../helpers/shared.js';

const HAVE = requireShared('models/mobilenet_v1_0.25_224/model.json', 'models/imagenet_labels_1001.txt', 'images/chelsea.png', 'images/parrot.jpg');

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe.skipIf(!HAVE)('mobilenet classify', () => {
  const model = sharedPath('models/mobilenet_v1_0.25_224');
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'classify-'));
    mkdirSync(join(dir, 'sub'));
    copyFileSync(sharedPath('images/chelsea.png'), join(dir, 'a-chelsea.png'));
    copyFileSync(sharedPath('images/parrot.jpg'), join(dir, 'sub', 'parrot.jpg'));
    const jpeg = readFileSync(sharedPath('images/parrot.jpg'));
    writeFileSync(join(dir, 'b-truncated.jpg'), jpeg.subarray(0, 600));
    writeFileSync(join(dir, 'c-text.png'), 'this is not a picture\n');
    writeFileSync(join(dir, 'notes.txt'), 'ignored: not an image extension\n');
  });

  it('walks the folder, reports each broken file with its path, classifies the rest, exits non-zero', async () => {
    const { code, stdout, stderr } = await cli('classify', dir, '--model', model, '--json', '--top', '3');
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.file.slice(dir.length + 1))).toEqual(['a-chelsea.png', 'b-truncated.jpg', 'c-text.png', 'sub/parrot.jpg']);
    const [chelsea, truncated, text, parrot] = lines;
    expect(chelsea.top).toHaveLength(3);
    expect(chelsea.top[0].label).toBe('Egyptian cat');
    expect(chelsea.top[0].index).toBe(286);
    expect(chelsea.top[0].probability).toBeGreaterThan(0.3);
    expect(typeof chelsea.top[0].logit).toBe('number');
    expect(chelsea.ms).toBeGreaterThan(0);
    expect(parrot.top[0].label).toBe('macaw');
    expect(truncated.error.code).toBe('ERR_IMAGE_DECODE');
    expect(text.error.code).toBe('ERR_IMAGE_DECODE');
    expect(stderr).toContain('b-truncated.jpg');
    expect(stderr).toContain('c-text.png');
    expect(stderr).toContain('classified 2, failed 2');
    expect(code).not.toBe(0);
  });

  it('prints a readable table and exits 0 when every file is good; reference and wasm agree', async () => {
    const ref = await cli('classify', join(dir, 'a-chelsea.png'), '--model', model, '--backend', 'reference', '--top', '2');
    const wasm = await cli('classify', join(dir, 'a-chelsea.png'), '--model', model, '--backend', 'wasm', '--top', '2');
    expect(ref.code).toBe(0);
    expect(ref.stdout).toMatch(/Egyptian cat \(286\)/);
    const strip = (s: string) => s.replace(/\([\d.]+ ms\)/, '');
    expect(strip(wasm.stdout)).toBe(strip(ref.stdout));
  });

  it('refuses a missing model, a bad --top and a missing file with coded one-line errors', async () => {
    const missing = await cli('classify', dir, '--model', join(dir, 'nope'));
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^mobilenet: ERR_/);
    const top = await cli('classify', dir, '--model', model, '--top', '0');
    expect(top.stderr).toContain('ERR_OPTION');
    const file = await cli('classify', join(dir, 'missing.png'), '--model', model);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('missing.png');
  });
});
