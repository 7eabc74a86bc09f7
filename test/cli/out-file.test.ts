// `classify --out FILE`: the format from the extension, --force, --resume, devices and FIFOs written in
// place, and one writer per file (FILE.lock), tested with real concurrent processes.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { cli, haveBin, jsonLines, sh, start, until } from './helpers.js';

const HAVE = requireShared('models/mobilenet_v1_0.25_128_quant/mobilenet_v1_0.25_128_quant.tflite', 'images/chelsea.png', 'images/parrot.jpg');

describe.skipIf(!HAVE)('classify --out', () => {
  const model = sharedPath('models/mobilenet_v1_0.25_128_quant');
  let dir: string;
  /** Two good images. */
  let two: string;
  /** Many images, for runs that last a few seconds on the reference backend. */
  let many: string;
  const MANY = 48;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'classify-out-'));
    two = join(dir, 'two');
    mkdirSync(two);
    copyFileSync(sharedPath('images/chelsea.png'), join(two, 'a.png'));
    copyFileSync(sharedPath('images/parrot.jpg'), join(two, 'b.jpg'));
    many = join(dir, 'many');
    mkdirSync(many);
    for (let i = 0; i < MANY; i++) copyFileSync(sharedPath('images/chelsea.png'), join(many, `img${String(i).padStart(2, '0')}.png`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const path = (name: string) => join(dir, name);

  describe('the format', () => {
    it('.csv is CSV, .jsonl and .ndjson are JSON lines, anything else the table; --json and --csv win', async () => {
      const cases: [string, string[], RegExp][] = [
        ['r.csv', [], /^file,rank,index,label,probability,logit,error\n/],
        ['r.jsonl', [], /^\{"file":/],
        ['r.NDJSON', [], /^\{"file":/],
        ['r.txt', [], /^\S+a\.png {2}\(/],
        ['r-noext', [], /^\S+a\.png {2}\(/],
        ['r2.jsonl', ['--csv'], /^file,rank,/],
        ['r2.csv', ['--json'], /^\{"file":/],
      ];
      for (const [name, flags, expected] of cases) {
        const r = await cli('classify', two, '--model', model, '--out', path(name), ...flags);
        expect(r.code, name).toBe(0);
        expect(readFileSync(path(name), 'utf8'), name).toMatch(expected);
      }
    });

    it('.json is refused (one JSON document cannot stay valid while written): ERR_OPTION saying use .jsonl; --json writes JSON lines to it', async () => {
      const refused = await cli('classify', two, '--model', model, '--out', path('r.json'));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/^mobilenet: ERR_OPTION: option --out: expected a \.jsonl or \.ndjson file .*got ".*r\.json"\n$/);
      expect(existsSync(path('r.json'))).toBe(false);
      const forced = await cli('classify', two, '--model', model, '--out', path('r.json'), '--json');
      expect(forced.code).toBe(0);
      expect(jsonLines(readFileSync(path('r.json'), 'utf8'))).toHaveLength(2);
    });
  });

  describe('an existing file', () => {
    it('is not replaced without --force (ERR_IO naming the file and --force), and is with it', async () => {
      const out = path('exists.jsonl');
      writeFileSync(out, 'precious\n');
      const refused = await cli('classify', two, '--model', model, '--out', out);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(`mobilenet: ERR_IO: --out ${out}: the file exists (9 bytes); pass --force to replace it, or --resume to continue it\n`);
      expect(readFileSync(out, 'utf8')).toBe('precious\n');
      expect(existsSync(`${out}.lock`)).toBe(false);
      const forced = await cli('classify', two, '--model', model, '--out', out, '--force');
      expect(forced.code).toBe(0);
      expect(jsonLines(readFileSync(out, 'utf8'))).toHaveLength(2);
    });

    it('an empty file (mktemp) holds nothing to lose: written without --force', async () => {
      const out = path('empty.jsonl');
      writeFileSync(out, '');
      expect((await cli('classify', two, '--model', model, '--out', out)).code).toBe(0);
      expect(jsonLines(readFileSync(out, 'utf8'))).toHaveLength(2);
    });

    it('is left as it was when the model cannot be loaded (the file is opened only once the model is)', async () => {
      const out = path('kept.jsonl');
      writeFileSync(out, 'precious\n');
      const r = await cli('classify', two, '--model', path('no-such-model.tflite'), '--out', out, '--force');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^mobilenet: ERR_IO: \S+no-such-model\.tflite: cannot read \(no such file or folder, ENOENT\)\n$/);
      expect(readFileSync(out, 'utf8')).toBe('precious\n');
      expect(existsSync(`${out}.lock`)).toBe(false);
    });

    it('a folder is refused', async () => {
      const r = await cli('classify', two, '--model', model, '--out', dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`mobilenet: ERR_IO: --out ${dir}: is a folder; name a file to write\n`);
    });
  });

  describe('--resume', () => {
    /** A folder with a good image, a broken one and (after the first run) two more. */
    function resumeFolder(name: string) {
      const folder = path(name);
      mkdirSync(folder);
      copyFileSync(sharedPath('images/chelsea.png'), join(folder, 'a.png'));
      writeFileSync(join(folder, 'b.png'), readFileSync(sharedPath('images/chelsea.png')).subarray(0, 300));
      return {
        folder,
        mend() {
          copyFileSync(sharedPath('images/parrot.jpg'), join(folder, 'b.png'));
          copyFileSync(sharedPath('images/chelsea.png'), join(folder, 'c.png'));
        },
      };
    }

    it('JSON lines: skips the files with a result, retries the failures (their lines dropped), appends the rest', async () => {
      const { folder, mend } = resumeFolder('resume-json');
      const out = path('resume.jsonl');
      const first = await cli('classify', folder, '--model', model, '--out', out, '--top', '3');
      expect(first.code).toBe(2);
      const before = readFileSync(out, 'utf8');
      expect(jsonLines(before).map((l) => [l.file.slice(folder.length + 1), l.error?.code])).toEqual([['a.png', undefined], ['b.png', 'ERR_IMAGE_DECODE']]);
      mend();
      const second = await cli('classify', folder, '--model', model, '--out', out, '--top', '3', '--resume');
      expect(second.stderr).toBe(`mobilenet: classified 2, failed 0, 1 already in ${out}\n`);
      expect(second.code).toBe(0);
      const after = readFileSync(out, 'utf8');
      // a.png's line is kept as it was; b.png's failure is gone, its result and c.png's appended.
      expect(after.startsWith(before.split('\n')[0]! + '\n')).toBe(true);
      const lines = jsonLines(after);
      expect(lines.map((l) => l.file.slice(folder.length + 1))).toEqual(['a.png', 'b.png', 'c.png']);
      expect(lines.every((l) => l.top?.length === 3)).toBe(true);
      // Nothing left to do: nothing run, exit 0.
      const third = await cli('classify', folder, '--model', model, '--out', out, '--top', '3', '--resume');
      expect(third.stderr).toBe(`mobilenet: classified 0, failed 0, 3 already in ${out}\n`);
      expect(third.code).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe(after);
    });

    it('CSV: the same, one header', async () => {
      const { folder, mend } = resumeFolder('resume-csv');
      const out = path('resume.csv');
      expect((await cli('classify', folder, '--model', model, '--out', out, '--top', '2')).code).toBe(2);
      mend();
      const second = await cli('classify', folder, '--model', model, '--out', out, '--top', '2', '--resume');
      expect(second.code).toBe(0);
      const rows = readFileSync(out, 'utf8').trim().split('\n');
      expect(rows.filter((r) => r.startsWith('file,'))).toHaveLength(1);
      expect(rows.filter((r) => r.includes('ERR_'))).toHaveLength(0);
      expect(rows.slice(1).map((r) => `${r.split(',')[0]!.slice(folder.length + 1)} ${r.split(',')[1]}`)).toEqual(['a.png 1', 'a.png 2', 'b.png 1', 'b.png 2', 'c.png 1', 'c.png 2']);
    });

    it('a file that does not exist yet is started', async () => {
      const out = path('resume-new.jsonl');
      expect((await cli('classify', two, '--model', model, '--out', out, '--resume')).code).toBe(0);
      expect(jsonLines(readFileSync(out, 'utf8'))).toHaveLength(2);
    });

    it('refuses a file it cannot parse (naming the line), and leaves it as it was', async () => {
      const good = JSON.stringify({ file: join(two, 'a.png'), top: [{ index: 1, label: 'x', probability: 0.5, logit: 1 }], ms: 1 });
      const cases: [string, string, RegExp][] = [
        ['garbage.jsonl', `${good}\nnot json\n`, /line 2 is not JSON/],
        ['partial.jsonl', `${good}\n{"file":"x","to`, /line 2 is incomplete \(the file does not end with a newline\)/],
        ['shape.jsonl', `{"file":"x","answer":42}\n`, /line 1 is neither a result \("top"\) nor a failure \("error"\)/],
        ['header.csv', 'name,score\nx,1\n', /line 1 is not the header file,rank,index,label,probability,logit,error/],
        ['fields.csv', 'file,rank,index,label,probability,logit,error\nx,1,2\n', /line 2 has 3 fields, not 7/],
        ['table.csv', `${join(two, 'a.png')}  (1.0 ms)\n`, /line 1 is not the header/],
      ];
      for (const [name, text, why] of cases) {
        const out = path(name);
        writeFileSync(out, text);
        const r = await cli('classify', two, '--model', model, '--out', out, '--resume');
        expect(r.code, name).toBe(2);
        expect(r.stderr, name).toMatch(/^mobilenet: ERR_OPTION: option --resume: --out \S+: line \d+ [^\n]*; this is not a file classify --(json|csv) wrote \(fix it, or start over with --force instead of --resume\)\n$/);
        expect(r.stderr, name).toMatch(why);
        expect(readFileSync(out, 'utf8'), name).toBe(text);
        expect(existsSync(`${out}.lock`), name).toBe(false);
      }
    });

    it('refuses another --top than the file was written with, and nonsense combinations', async () => {
      const out = path('top.jsonl');
      expect((await cli('classify', join(two, 'a.png'), '--model', model, '--out', out, '--top', '2')).code).toBe(0);
      const top = await cli('classify', two, '--model', model, '--out', out, '--resume', '--top', '5');
      expect(top.code).toBe(2);
      expect(top.stderr).toBe(`mobilenet: ERR_OPTION: option --resume: --out ${out} holds top-2 results; this run would write top-5 (pass the --top the file was written with)\n`);
      expect(jsonLines(readFileSync(out, 'utf8'))).toHaveLength(1);
      const combos: [string[], RegExp][] = [
        [['--resume'], /option --resume: expected together with --out FILE/],
        [['--resume', '--force', '--out', out], /option --resume: expected not together with --force/],
        [['--resume', '--out', path('t.txt')], /option --resume: expected a JSON lines or CSV --out file/],
        [['--resume', '--out', '/dev/null', '--json'], /option --resume: expected a regular file to continue/],
      ];
      for (const [flags, message] of combos) {
        const r = await cli('classify', two, '--model', model, ...flags);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`^mobilenet: ERR_OPTION: ${message.source}[^\\n]*\\n$`));
      }
    });
  });

  describe.skipIf(!haveBin())('one writer per file (child processes)', () => {
    const longRun = (out: string, ...more: string[]) => start(['classify', many, '--model', model, '--json', '--out', out, '--backend', 'reference', '--batch', '1', ...more]);

    it('a second run on the same --out is refused while the first writes; the file holds the first run only, whole', async () => {
      const out = path('shared.jsonl');
      const first = longRun(out);
      await until(() => existsSync(out) && readFileSync(out, 'utf8').includes('\n'));
      expect(readFileSync(`${out}.lock`, 'utf8')).toBe(`${first.child.pid} ${hostname()}\n`);
      // --force or --resume do not matter: the lock is checked first.
      for (const flag of ['--force', '--resume']) {
        const second = await longRun(out, flag).done;
        expect(second.code).toBe(2);
        expect(second.stderr).toBe(`mobilenet: ERR_IO: --out ${out}: another run (pid ${first.child.pid}) is writing it; wait for it to end, or remove ${out}.lock if no such run exists\n`);
      }
      const done = await first.done;
      expect(done.code).toBe(0);
      const lines = jsonLines(readFileSync(out, 'utf8'));
      expect(lines).toHaveLength(MANY);
      expect(new Set(lines.map((l) => l.file)).size).toBe(MANY);
      expect(existsSync(`${out}.lock`)).toBe(false);
    });

    it('two runs started at the same moment: exactly one writes, the other is refused', async () => {
      const out = path('race.jsonl');
      const runs = [longRun(out, '--force'), longRun(out, '--force')];
      const [a, b] = await Promise.all(runs.map((r) => r.done));
      const codes = [a!.code, b!.code];
      expect(codes.sort()).toEqual([0, 2]);
      const winner = runs[a!.code === 0 ? 0 : 1]!;
      const loser = a!.code === 0 ? b! : a!;
      expect(loser.stderr).toMatch(new RegExp(`another run \\(pid ${winner.child.pid}\\) is writing it`));
      const lines = jsonLines(readFileSync(out, 'utf8'));
      expect(lines).toHaveLength(MANY);
      expect(existsSync(`${out}.lock`)).toBe(false);
    });

    it('a stale lock (its pid is gone) is taken over, and removed at the end', async () => {
      const out = path('stale.jsonl');
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      writeFileSync(`${out}.lock`, `${dead.stdout} ${hostname()}\n`);
      const r = await start(['classify', two, '--model', model, '--out', out]).done;
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(`mobilenet: ${out}.lock was left by pid ${dead.stdout}, which is no longer running; taking it over\nmobilenet: classified 2, failed 0\n`);
      expect(existsSync(`${out}.lock`)).toBe(false);
      // An empty lock is a run that is creating it: held while fresh, stale when old.
      writeFileSync(`${out}.lock`, '');
      const fresh = await cli('classify', two, '--model', model, '--out', out, '--force');
      expect(fresh.code).toBe(2);
      expect(fresh.stderr).toMatch(/another run is writing it/);
      utimesSync(`${out}.lock`, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      expect((await cli('classify', two, '--model', model, '--out', out, '--force')).code).toBe(0);
      // A lock of another host cannot be checked: held.
      writeFileSync(`${out}.lock`, '1 some-other-host\n');
      const other = await cli('classify', two, '--model', model, '--out', out, '--force');
      expect(other.stderr).toMatch(/another run \(pid 1 on some-other-host\) is writing it/);
      rmSync(`${out}.lock`);
    });

    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`${signal} stops the run between batches: whole lines, the lock removed, exit ${signal === 'SIGINT' ? 130 : 143}`, async () => {
        const out = path(`signal-${signal}.jsonl`);
        const run = longRun(out);
        await until(() => existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 3);
        run.child.kill(signal);
        const done = await run.done;
        expect(done.code).toBe(signal === 'SIGINT' ? 130 : 143);
        const lines = jsonLines(readFileSync(out, 'utf8'));
        expect(lines.length).toBeLessThan(MANY);
        expect(done.stderr).toBe(`mobilenet: classified ${lines.length}, failed 0, interrupted with ${MANY - lines.length} not run\n`);
        expect(existsSync(`${out}.lock`)).toBe(false);
        // --resume finishes it.
        const rest = await cli('classify', many, '--model', model, '--json', '--out', out, '--resume');
        expect(rest.code).toBe(0);
        expect(jsonLines(readFileSync(out, 'utf8'))).toHaveLength(MANY);
      });
    }
  });

  describe.skipIf(!haveBin())('devices and pipes are written in place (child processes)', () => {
    it('--out /dev/stdout: into the pipe, or appended to the file stdout is', async () => {
      const piped = await start(['classify', two, '--model', model, '--out', '/dev/stdout', '--json']).done;
      expect(piped.code).toBe(0);
      expect(jsonLines(piped.stdout)).toHaveLength(2);
      const file = path('stdout-file.jsonl');
      writeFileSync(file, '');
      const appended = await sh('echo "# before" > "$F"; "$NODE" "$BIN" classify "$TWO" --model "$MODEL" --out /dev/stdout --json >> "$F"', { F: file, TWO: two, MODEL: model });
      expect(appended.code).toBe(0);
      const text = readFileSync(file, 'utf8');
      expect(text.startsWith('# before\n')).toBe(true);
      expect(jsonLines(text.slice('# before\n'.length))).toHaveLength(2);
    });

    it('a FIFO: written as its reader reads, no lock beside it', async () => {
      const fifo = path('results.fifo');
      execFileSync('mkfifo', [fifo]);
      const run = start(['classify', two, '--model', model, '--out', fifo, '--json']);
      const text = await readFile(fifo, 'utf8');
      const done = await run.done;
      expect(done.code).toBe(0);
      expect(jsonLines(text).map((l) => l.top![0]!.label)).toEqual(['Egyptian cat', 'macaw']);
      expect(existsSync(`${fifo}.lock`)).toBe(false);
    });

    it('a FIFO nobody reads: says it waits, and Ctrl-C ends the wait (exit 130)', async () => {
      const fifo = path('unread.fifo');
      execFileSync('mkfifo', [fifo]);
      const run = start(['classify', two, '--model', model, '--out', fifo, '--json']);
      await until(() => run.stderr().includes('waiting'));
      expect(run.stderr()).toBe(`mobilenet: waiting for a process to read ${fifo}\n`);
      run.child.kill('SIGINT');
      const done = await run.done;
      expect(done.code).toBe(130);
      expect(done.stderr).toBe(`mobilenet: waiting for a process to read ${fifo}\nmobilenet: classified 0, failed 0, interrupted with 2 not run\n`);
    });
  });
});
