/**
 * The three forms `classify` writes its results in, and reading them back for `--resume`.
 *
 * - `json`: JSON lines, one object per image: `{"file","top":[...],"ms"}` or `{"file","error":{"code","message"}}`.
 * - `csv`: a header, then K rows per image (`file,rank,index,label,probability,logit,`) or one
 *   row per failure (`file,,,,,,CODE: message`).
 * - `table`: for people. Per image a line `FILE  (12.3 ms per image: ...)` and K indented lines;
 *   in an --out file, a failure is one line `FILE  FAILED CODE: message` (never indented, never
 *   ending in a parenthesis), so a reader tells the two apart.
 *
 * Each result is one string written at once, so output is always whole results. Text from files
 * (labels, file names) is passed through `printable` in CSV and tables (JSON escapes by itself).
 */
import { extname, resolve } from 'node:path';
import { ErrorCodes, badOption, fail } from '../errors.js';
import type { Classification } from '../engine/mobilenet.js';
import { printable } from './io.js';

export type Format = 'json' | 'csv' | 'table';

export interface Result {
  file: string;
  top?: Classification[];
  /** Milliseconds per image (read, decode, resize and inference), averaged over its batch. */
  ms?: number;
  /** Images in the batch `ms` is an average of. */
  batch?: number;
  /** The message does not repeat the file's path. */
  error?: { code: string; message: string };
}

export const CSV_HEADER = 'file,rank,index,label,probability,logit,error';

/** The format: `--json` / `--csv` when given, else from the --out file's extension, else the table. */
export function formatFor(flags: { json?: boolean; csv?: boolean; out?: string }): Format {
  if (flags.json) return 'json';
  if (flags.csv) return 'csv';
  if (flags.out === undefined) return 'table';
  const ext = extname(flags.out).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'json';
  if (ext === '.json') {
    badOption(
      '--out',
      flags.out,
      'a .jsonl or .ndjson file for JSON lines (one result per line); a .json file would be one JSON document, which a run cannot keep valid ' +
        'while it writes or when it is stopped (pass --json to write JSON lines to a .json name anyway)',
    );
  }
  return 'table';
}

/** The text of one result in `format`. `toFile`: table failures are written too (on stdout they go to stderr only). */
export function formatResult(r: Result, format: Format, toFile: boolean): string {
  if (format === 'json') {
    return JSON.stringify(r.error ? { file: r.file, error: r.error } : { file: r.file, top: r.top, ms: r.ms }) + '\n';
  }
  if (format === 'csv') return csvRows(r);
  if (r.error) return toFile ? `${printable(r.file)}  FAILED ${r.error.code}: ${printable(r.error.message)}\n` : '';
  return formatTop(r);
}

function csvCell(v: unknown): string {
  const s = v === undefined || v === null ? '' : printable(String(v));
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRows(r: Result): string {
  if (r.error) return [r.file, '', '', '', '', '', `${r.error.code}: ${r.error.message}`].map(csvCell).join(',') + '\n';
  return r.top!.map((t, i) => [r.file, i + 1, t.index, t.label, t.probability, t.logit, ''].map(csvCell).join(',') + '\n').join('');
}

function formatTop(r: Result): string {
  const lines = r.top!.map((t) => `  ${(t.probability * 100).toFixed(2).padStart(6)}%  ${t.label === null ? `class ${t.index}` : printable(t.label)} (${t.index})`);
  const time = r.batch === undefined || r.batch <= 1 ? `${r.ms!.toFixed(1)} ms: read, decode and inference` : `${r.ms!.toFixed(1)} ms per image: read, decode and inference, averaged over a batch of ${r.batch}`;
  return `${printable(r.file)}  (${time})\n${lines.join('\n')}\n`;
}

/** The key a file is matched by when resuming: its absolute path, as the output writes it. */
export const resumeKey = (file: string): string => resolve(printable(file));

/** What an earlier run left in the file `--resume` continues. */
export interface Previous {
  /** Keys of the files with a result: skipped by this run. */
  readonly done: Set<string>;
  /** Failures in the file: retried, and their lines dropped. */
  readonly failures: number;
  /** The file's text without its failures, when it has any (null: keep the file as it is). */
  readonly kept: string | null;
  /** The numbers of classes per result found (one, when the file came from one --top). */
  readonly topLengths: Set<number>;
}

/** Reads JSON lines or CSV written by `classify`; anything else is refused with the line it stopped at. */
export function parsePrevious(text: string, format: Exclude<Format, 'table'>, where: string): Previous {
  const refuse = (line: number, why: string): never =>
    fail(ErrorCodes.OPTION, `option --resume: ${where}: line ${line} ${why}; this is not a file classify ${format === 'json' ? '--json' : '--csv'} wrote (fix it, or start over with --force instead of --resume)`);
  if (text !== '' && !text.endsWith('\n')) refuse(text.split('\n').length, 'is incomplete (the file does not end with a newline)');
  return format === 'json' ? parseJsonLines(text, refuse) : parseCsv(text, refuse);
}

type Refuse = (line: number, why: string) => never;

function parseJsonLines(text: string, refuse: Refuse): Previous {
  const lines = text.split('\n').slice(0, -1);
  const success = new Map<string, string[]>();
  const failed = new Set<string>();
  const topLengths = new Set<number>();
  lines.forEach((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      refuse(i + 1, 'is not JSON');
    }
    const r = value as Partial<Result> | null;
    if (r === null || typeof r !== 'object' || Array.isArray(r) || typeof r.file !== 'string' || r.file === '') refuse(i + 1, 'has no "file"');
    const key = resumeKey(r!.file!);
    if (Array.isArray(r!.top) && r!.top.every((t) => t !== null && typeof t === 'object' && Number.isInteger(t.index) && typeof t.probability === 'number')) {
      topLengths.add(r!.top.length);
      success.set(key, [line]);
    } else if (r!.error !== null && typeof r!.error === 'object' && typeof r!.error.code === 'string') {
      failed.add(key);
    } else {
      refuse(i + 1, 'is neither a result ("top") nor a failure ("error")');
    }
  });
  return previousOf(success, failed, topLengths, lines.length, '');
}

function parseCsv(text: string, refuse: Refuse): Previous {
  const records = csvRecords(text, refuse);
  if (records.length === 0) return { done: new Set(), failures: 0, kept: null, topLengths: new Set() };
  if (records[0]!.fields.join(',') !== CSV_HEADER) refuse(1, `is not the header ${CSV_HEADER}`);
  const success = new Map<string, string[]>();
  const ranks = new Map<string, number>();
  const failed = new Set<string>();
  for (const { fields, raw, line } of records.slice(1)) {
    if (fields.length !== 7) refuse(line, `has ${fields.length} fields, not 7`);
    const [file, rank, index, , probability, , error] = fields as [string, string, string, string, string, string, string];
    if (file === '') refuse(line, 'has no file');
    const key = resumeKey(file);
    if (error !== '') {
      if (rank !== '') refuse(line, 'has both a rank and an error');
      failed.add(key);
      continue;
    }
    if (!/^\d+$/.test(rank) || !/^\d+$/.test(index) || probability === '' || !Number.isFinite(Number(probability))) refuse(line, 'is not a result row (rank, index, probability)');
    // A result's rows are 1..K in a row; rank 1 starts the file's result again.
    const expected = Number(rank) === 1 ? 1 : (ranks.get(key) ?? 0) + 1;
    if (Number(rank) !== expected) refuse(line, `has rank ${rank} where ${expected} was expected`);
    ranks.set(key, Number(rank));
    if (Number(rank) === 1) success.set(key, []);
    success.get(key)!.push(raw);
  }
  const topLengths = new Set([...success.values()].map((rows) => rows.length));
  return previousOf(success, failed, topLengths, records.length - 1, `${records[0]!.raw}\n`);
}

function previousOf(success: Map<string, string[]>, failed: Set<string>, topLengths: Set<number>, lines: number, header: string): Previous {
  const successLines = [...success.values()].reduce((n, rows) => n + rows.length, 0);
  // Failures (and a result repeated for the same file) are dropped from the file; each result is kept once.
  const kept = successLines === lines ? null : header + [...success.values()].flat().map((l) => `${l}\n`).join('');
  return { done: new Set(success.keys()), failures: [...failed].filter((k) => !success.has(k)).length, kept, topLengths };
}

/** RFC 4180 records: quoted fields may hold commas, quotes ("") and newlines. `raw` is the record's text without its newline. */
function csvRecords(text: string, refuse: Refuse): { fields: string[]; raw: string; line: number }[] {
  const out: { fields: string[]; raw: string; line: number }[] = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const start = i;
    const startLine = line;
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) refuse(startLine, 'has a quoted field that never ends');
          if (text[i] === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (text[i] === '\n') line++;
          field += text[i++];
        }
        if (text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) refuse(startLine, 'has text after a quoted field');
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) field += text[i++];
      }
      fields.push(field);
      if (text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    const end = i;
    i += text[i] === '\r' ? 2 : 1;
    line++;
    out.push({ fields, raw: text.slice(start, end), line: startLine });
  }
  return out;
}

/** The message of an error without the file's path in front (the output names the file once). */
export function withoutPath(message: string, file: string): string {
  const bare = message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
  return bare.replace(/\s*\n\s*/g, ' ');
}
