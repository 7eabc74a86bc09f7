// `mobilenet classify` end to end, in-process, on a temporary folder with good and broken files.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { repoRoot, requireShared, sharedPath } from '../helpers/shared.js';
import { DEFAULT_TFLITE, oracle } from '../engine/helpers.js';

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
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
    const strip = (s: string) => s.replace(/\([\d.]+ ms[^)]*\)/, '');
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

  it('--csv --out writes a CSV file as it goes: a header, K rows per image, one row per failure', async () => {
    const out = join(dir, 'results.csv');
    const { code, stdout } = await cli('classify', dir, '--model', model, '--csv', '--out', out, '--top', '2', '--batch', '3');
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    const rows = readFileSync(out, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('file,rank,index,label,probability,logit,error');
    expect(rows).toHaveLength(1 + 2 + 1 + 1 + 2);
    const chelsea = rows.filter((r) => r.includes('a-chelsea.png'));
    expect(chelsea[0]).toMatch(/,1,286,Egyptian cat,0\.\d+,[\d.]+,$/);
    // A label with a comma is quoted (chelsea's second class is 'tabby, tabby cat').
    expect(chelsea[1]).toMatch(/,2,282,"tabby, tabby cat",/);
    expect(rows.find((r) => r.includes('c-text.png'))).toMatch(/ERR_IMAGE_DECODE/);
  });

  it('a symlink loop is walked once', async () => {
    const loop = join(dir, 'loop');
    mkdirSync(loop);
    copyFileSync(sharedPath('images/chelsea.png'), join(loop, 'cat.png'));
    symlinkSync(loop, join(loop, 'again'));
    const { code, stdout } = await cli('classify', loop, '--model', model, '--json');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
  });

  it('--json and --csv together are refused', async () => {
    const { code, stderr } = await cli('classify', dir, '--model', model, '--json', '--csv');
    expect(code).toBe(2);
    expect(stderr).toContain('--csv');
  });

  const bin = join(repoRoot, 'dist', 'cli', 'main.js');
  it('Ctrl-C leaves a valid --out file with what was done, and says how many were not run', async () => {
    if (!existsSync(bin)) {
      if (process.env.CI) throw new Error(`${bin} missing: CI builds before testing`);
      console.warn(`SKIPPED: ${bin} missing (run npm run build)`);
      return;
    }
    const many = join(dir, 'many');
    mkdirSync(many);
    for (let i = 0; i < 400; i++) copyFileSync(sharedPath('images/chelsea.png'), join(many, `img${String(i).padStart(3, '0')}.png`));
    const out = join(dir, 'partial.jsonl');
    const child = spawn(process.execPath, [bin, 'classify', many, '--model', model, '--json', '--out', out, '--batch', '4', '--backend', 'reference'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Interrupt once a few results are on disk.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 8) {
          clearInterval(poll);
          child.kill('SIGINT');
          resolve();
        }
      }, 50);
    });
    const exit = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(exit).toBe(130);
    const lines = readFileSync(out, 'utf8').split('\n');
    expect(lines.at(-1)).toBe(''); // ends on a complete line
    const done = lines.slice(0, -1).map((l) => JSON.parse(l));
    expect(done.length).toBeGreaterThan(7);
    expect(done.length).toBeLessThan(400);
    expect(done.every((d) => d.top[0].label === 'Egyptian cat')).toBe(true);
    expect(stderr).toMatch(new RegExp(`classified ${done.length}, failed 0, interrupted with ${400 - done.length} not run`));
    // The lock that kept other runs off the file goes with the run.
    expect(existsSync(`${out}.lock`)).toBe(false);
  });
});

describe.skipIf(!requireShared(DEFAULT_TFLITE, 'images/chelsea.png', 'images/parrot.jpg'))('mobilenet classify: the default model in integers, --dequantize for the float path', () => {
  it('probability = the softmax integer / 256 and the dequantized logit (the integer reference), every class; --dequantize: the float path (loadModelFile + createModel); --integer is gone', async () => {
    const integer = await oracle(DEFAULT_TFLITE, 'tflite-uint8');
    const float = await oracle(DEFAULT_TFLITE, 'tflite-uint8', { float: true });
    try {
      for (const photo of ['chelsea.png', 'parrot.jpg']) {
        const file = sharedPath(`images/${photo}`);
        const bytes = new Uint8Array(readFileSync(file));
        for (const [flags, ref] of [[[], integer], [['--dequantize'], float]] as const) {
          const r = await cli('classify', file, '--json', '--top', '1001', '--jobs', '1', ...flags);
          expect(r.code, r.stderr).toBe(0);
          const { top } = JSON.parse(r.stdout.trim());
          expect(top, `${photo} ${flags.join(' ')}`).toEqual(ref.classifyBytes(bytes, 1001, photo));
          if (flags.length === 0) for (const c of top) expect(Number.isInteger(c.probability * 256)).toBe(true);
        }
      }
      const gone = await cli('classify', sharedPath('images/chelsea.png'), '--integer');
      expect(gone.code).not.toBe(0);
      expect(gone.stderr).toMatch(/unknown option '--integer'/);
    } finally {
      integer.dispose();
      float.dispose();
    }
  });
});
