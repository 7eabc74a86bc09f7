/**
 * Running the CLI in tests: in-process through `run(args, io)`, or as a child process of the
 * built bin (dist/cli/main.js) where the behaviour depends on real streams, files and signals.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { repoRoot } from '../helpers/shared.js';

export const bin = join(repoRoot, 'dist', 'cli', 'main.js');

/** True when the bin is built; on CI a missing bin is a failure, elsewhere the test says it is skipped. */
export function haveBin(): boolean {
  if (existsSync(bin)) return true;
  if (process.env.CI) throw new Error(`${bin} missing: CI builds before testing`);
  console.warn(`SKIPPED: ${bin} missing (run npm run build:ts)`);
  return false;
}

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The CLI in-process, with collected output. */
export async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

export interface Running {
  child: ChildProcess;
  done: Promise<Outcome>;
  /** What it wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
}

function collect(child: ChildProcess): Running {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const done = new Promise<Outcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stderr: () => stderr, stdout: () => stdout };
}

/** The bin as a child process (stdin closed, stdout and stderr collected). */
export function start(args: string[], options: SpawnOptions = {}): Running {
  return collect(spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
}

/**
 * A bash script, for redirections and pipelines. `$NODE` and `$BIN` are set, and each `vars`
 * entry as an environment variable (no quoting problems with paths).
 */
export function sh(script: string, vars: Record<string, string> = {}): Promise<Outcome> {
  return collect(
    spawn('bash', ['-c', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE: process.execPath, BIN: bin, ...vars },
    }),
  ).done;
}

/** Polls `condition` every 20 ms until it holds (or fails the test after `ms`). */
export async function until(condition: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!condition()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** JSON lines of a file or string, each parsed; throws on a line that does not parse. */
export function jsonLines(text: string): { file: string; top?: { index: number; label: string | null }[]; error?: { code: string; message: string } }[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`output does not end on a complete line: ${JSON.stringify(text.slice(-80))}`);
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l));
}
