// Output faults (shared/docs/bad-inputs.md case 25): a closed pipe ends the run quietly (exit 0); a full
// disk, a file size limit or an unwritable file is one ERR_IO line and exit 2, with the complete results
// written before it kept and never a partial line. Child processes where real streams matter.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { OutputClosed } from '../../src/cli/io.js';
import { MobilenetError } from '../../src/errors.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { cli, haveBin, jsonLines, sh, start } from './helpers.js';

const HAVE = requireShared('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite', 'images/chelsea.png', 'images/parrot.jpg');
/** Words of a crash, never of a handled fault. */
const CRASH = /Unhandled|EPIPE|node:events|\n\s+at |internal error/;

describe.skipIf(!HAVE)('classify: output faults', () => {
  // A folder holding one .tflite: --model DIR finds it.
  const model = sharedPath('models/mobilenet_v1_0.25_128_quant');
  let dir: string;
  let images: string;
  const N = 12;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'classify-faults-'));
    // Readable by the unprivileged user of the read-only test.
    chmodSync(dir, 0o755);
    images = join(dir, 'images');
    mkdirSync(images);
    for (let i = 0; i < N; i++) copyFileSync(sharedPath('images/chelsea.png'), join(images, `img${String(i).padStart(2, '0')}.png`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('in-process', () => {
    it('a stdout that throws OutputClosed (the reader went away) ends the run: exit 0, nothing on stderr', async () => {
      let stderr = '';
      let writes = 0;
      const code = await run(['classify', images, '--model', model, '--json', '--batch', '2'], {
        stdout: () => {
          if (++writes > 1) throw new OutputClosed('stdout');
        },
        stderr: (t) => void (stderr += t),
      });
      expect(code).toBe(0);
      expect(stderr).toBe('');
      // It stopped at the failed write: the rest was never run.
      expect(writes).toBe(2);
    });

    it('a stdout that throws ERR_IO: one line, exit 2, no summary', async () => {
      let stderr = '';
      const code = await run(['classify', images, '--model', model, '--json'], {
        stdout: () => {
          throw new MobilenetError('ERR_IO', 'stdout: cannot write (no space left on the device, ENOSPC)');
        },
        stderr: (t) => void (stderr += t),
      });
      expect(code).toBe(2);
      expect(stderr).toBe('mobilenet: ERR_IO: stdout: cannot write (no space left on the device, ENOSPC)\n');
    });

    it('--out in a folder that does not exist, or under a file: ERR_IO naming it, exit 2', async () => {
      const missing = await cli('classify', images, '--model', model, '--out', join(dir, 'nope', 'r.jsonl'));
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe(`mobilenet: ERR_IO: --out ${join(dir, 'nope', 'r.jsonl')}: cannot create it: the folder ${join(dir, 'nope')} does not exist\n`);
      const file = join(dir, 'plain-file');
      writeFileSync(file, 'x');
      const under = await cli('classify', images, '--model', model, '--out', join(file, 'r.jsonl'));
      expect(under.code).toBe(2);
      expect(under.stderr).toMatch(/^mobilenet: ERR_IO: --out .*plain-file\/r\.jsonl: cannot create it: .*plain-file is not a folder\n$/);
    });

    it('table format in an --out file: each failure is one FAILED line beside the results', async () => {
      const mixed = join(dir, 'mixed');
      mkdirSync(mixed);
      copyFileSync(sharedPath('images/chelsea.png'), join(mixed, 'a.png'));
      writeFileSync(join(mixed, 'b.png'), readFileSync(sharedPath('images/chelsea.png')).subarray(0, 500));
      const out = join(dir, 'table.txt');
      const r = await cli('classify', mixed, '--model', model, '--out', out, '--top', '2');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = readFileSync(out, 'utf8').split('\n');
      expect(lines[0]).toMatch(/a\.png {2}\(\d+\.\d ms per image: read, decode and inference, averaged over a batch of 2\)$/);
      expect(lines[1]).toMatch(/^ {2,}\d+\.\d\d% {2}Egyptian cat \(286\)$/);
      expect(lines[3]).toBe(`${join(mixed, 'b.png')}  FAILED ERR_IMAGE_DECODE: cannot decode PNG: the file is truncated (it ends before the image does)`);
      expect(lines[4]).toBe('');
    });
  });

  describe.skipIf(!haveBin())('child process', () => {
    it('stdout closed early (| head -1): exit 0, no stack trace, no message', async () => {
      // --top 1001: each JSON line is ~90 kB, more than a pipe holds, so the writes after head exits fail (EPIPE).
      const out = join(dir, 'head.txt');
      const json = await sh('set -o pipefail; "$NODE" "$BIN" classify "$IMAGES" --model "$MODEL" --json --top 1001 | head -1 > "$OUT"', { IMAGES: images, MODEL: model, OUT: out });
      expect(json.stderr).toBe('');
      expect(json.code).toBe(0);
      expect(jsonLines(readFileSync(out, 'utf8'))).toHaveLength(1);
      // The table and CSV, and `head -2` as in the issue.
      for (const flag of ['--csv', '--no-progress']) {
        const r = await sh(`set -o pipefail; "$NODE" "$BIN" classify "$IMAGES" --model "$MODEL" ${flag} --top 1001 | head -2 > /dev/null`, { IMAGES: images, MODEL: model });
        expect(r.stderr).not.toMatch(CRASH);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
    });

    it('stdout and stderr both closed early (2>&1 | head -1): exit 0', async () => {
      const r = await sh('set -o pipefail; "$NODE" "$BIN" classify "$IMAGES" /no/such.png --model "$MODEL" --json --top 1001 2>&1 | head -1 > /dev/null', { IMAGES: images, MODEL: model });
      expect(r.code).toBe(0);
    });

    it('no command: help on stdout, exit 0, also into a closed pipe', async () => {
      const r = await sh('set -o pipefail; "$NODE" "$BIN" | head -1');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: mobilenet/);
      expect(r.stderr).toBe('');
    });

    it('stdout on a full disk (> /dev/full): one ERR_IO line, exit 2', async () => {
      const r = await sh('"$NODE" "$BIN" classify "$IMAGES" --model "$MODEL" --json > /dev/full', { IMAGES: images, MODEL: model });
      expect(r.stderr).toBe('mobilenet: ERR_IO: stdout: cannot write (no space left on the device, ENOSPC)\n');
      expect(r.code).toBe(2);
    });

    it('--out on a full disk (--out /dev/full): one ERR_IO line, exit 2', async () => {
      const r = await start(['classify', images, '--model', model, '--json', '--out', '/dev/full']).done;
      expect(r.stderr).toBe('mobilenet: ERR_IO: --out /dev/full: cannot write (no space left on the device, ENOSPC)\n');
      expect(r.code).toBe(2);
    });

    // `ulimit -f` caps the file size: the write that crosses it is cut short by the system (a partial
    // line, as on a disk that fills up), the next fails with EFBIG. What is kept must be whole lines.
    for (const [name, flags, parse] of [
      ['JSON lines', ['--json'], (t: string) => jsonLines(t).length],
      ['CSV', ['--csv'], (t: string) => csvResults(t)],
    ] as const) {
      it(`a file that stops taking data mid-run (--out, ${name}): the results before it are kept whole, no partial line, ERR_IO`, async () => {
        const out = join(dir, `limited-${flags[0]!.slice(2)}.out`);
        // 8 KiB: a few results of ~2 kB (--top 20) fit, the next one crosses the limit.
        const r = await sh(`ulimit -f 8; "$NODE" "$BIN" classify "$IMAGES" --model "$MODEL" ${flags.join(' ')} --top 20 --batch 1 --out "$OUT"`, { IMAGES: images, MODEL: model, OUT: out });
        expect(r.code).toBe(2);
        const text = readFileSync(out, 'utf8');
        expect(text.endsWith('\n')).toBe(true);
        const kept = parse(text);
        expect(kept).toBeGreaterThan(0);
        expect(kept).toBeLessThan(N);
        expect(r.stderr).toBe(
          `mobilenet: ERR_IO: --out ${out}: cannot write (file too large for this file system or for the process file size limit, EFBIG); the ${kept} results written before are kept, whole\n`,
        );
        expect(existsSync(`${out}.lock`)).toBe(false);
      });
    }

    it('stdout redirected to a file that stops taking data: whole lines kept, ERR_IO, exit 2', async () => {
      const out = join(dir, 'limited-stdout.jsonl');
      const r = await sh('ulimit -f 8; "$NODE" "$BIN" classify "$IMAGES" --model "$MODEL" --json --top 20 --batch 1 > "$OUT"', { IMAGES: images, MODEL: model, OUT: out });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^mobilenet: ERR_IO: stdout: cannot write \(file too large[^\n]*EFBIG\)\n$/);
      const lines = jsonLines(readFileSync(out, 'utf8'));
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.every((l) => l.top![0]!.label === 'Egyptian cat')).toBe(true);
    });

    it('--out in a read-only folder, or a read-only file with --force: ERR_IO, exit 2, the file untouched', async () => {
      const readOnly = join(dir, 'read-only');
      mkdirSync(readOnly, { mode: 0o555 });
      chmodSync(readOnly, 0o555);
      const writable = join(dir, 'writable');
      mkdirSync(writable);
      chmodSync(writable, 0o777);
      const locked = join(writable, 'locked.jsonl');
      writeFileSync(locked, 'earlier\n');
      chmodSync(locked, 0o444);
      // root may write anywhere: run as nobody then.
      const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      const inFolder = await start(['classify', images, '--model', model, '--out', join(readOnly, 'r.jsonl')], as).done;
      expect(inFolder.stderr).toBe(`mobilenet: ERR_IO: --out ${join(readOnly, 'r.jsonl')}: cannot write in the folder ${readOnly} (permission denied, EACCES)\n`);
      expect(inFolder.code).toBe(2);
      const file = await start(['classify', images, '--model', model, '--out', locked, '--force'], as).done;
      expect(file.stderr).toBe(`mobilenet: ERR_IO: --out ${locked}: cannot write (permission denied, EACCES)\n`);
      expect(file.code).toBe(2);
      expect(readFileSync(locked, 'utf8')).toBe('earlier\n');
      expect(existsSync(`${locked}.lock`)).toBe(false);
    });
  });
});

/** Results in CSV text: rows with rank 1, after checking every line has its 7 fields. */
function csvResults(text: string): number {
  const rows = text.slice(0, -1).split('\n');
  expect(rows[0]).toBe('file,rank,index,label,probability,logit,error');
  for (const row of rows.slice(1)) expect(row.replace(/"[^"]*"/g, 'q').split(',')).toHaveLength(7);
  const results = rows.slice(1).filter((r) => /,1,\d+,/.test(r)).length;
  // Whole results only: K = 20 rows each.
  expect(rows.length - 1).toBe(results * 20);
  return results;
}
