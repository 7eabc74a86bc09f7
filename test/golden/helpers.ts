/**
 * Shared by the golden tests: the CLI in-process (golden, verify, export), the bundle's Python
 * checker run by a real python3 with numpy, writing another engine's outputs the ways verify
 * reads them, and the comparison of both checkers' verdicts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { expect } from 'vitest';
import { registerExport } from '../../src/cli/export.js';
import { registerGolden } from '../../src/cli/golden.js';
import { reportError, type CommandStatus } from '../../src/cli/main.js';
import { encodeSafetensors } from '../../src/formats/safetensors.js';
import type { GoldenManifest } from '../../src/golden/bundle.js';
import { encodeNpy } from '../../src/golden/npy.js';
import type { VerifyReport } from '../../src/golden/verify.js';
import type { NamedTensor } from '../../src/model/weights.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI's golden, verify and export commands, in-process, as main.ts runs them. */
export async function cli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (t: string) => void (stdout += t), stderr: (t: string) => void (stderr += t) };
  const status: CommandStatus = { exitCode: 0 };
  const program = new Command('mobilenet').exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });
  registerGolden(program, io, status);
  registerExport(program, io);
  let code: number;
  try {
    await program.parseAsync(args, { from: 'user' });
    code = status.exitCode;
  } catch (err) {
    code = reportError(err, io);
  }
  return { code, stdout, stderr };
}

export function manifestOf(dir: string): GoldenManifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as GoldenManifest;
}

/** Outputs as one safetensors file (F32). */
export function writeOutputsSafetensors(path: string, outputs: ReadonlyMap<string, NamedTensor>): string {
  writeFileSync(path, encodeSafetensors(outputs));
  return path;
}

/** Outputs as a folder of `<end point>.npy`. */
export function writeOutputsNpy(dir: string, outputs: ReadonlyMap<string, NamedTensor>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, t] of outputs) writeFileSync(join(dir, `${name}.npy`), encodeNpy(t.shape, t.data));
  return dir;
}

// --- the Python checker ------------------------------------------------------------------------

/** The interpreter: GOLDEN_PYTHON, else Debian's /usr/bin/python3, else python3 on the PATH. */
const PYTHON = process.env.GOLDEN_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

function probePython(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ['-c', 'import sys, numpy; print(sys.version.split()[0], numpy.__version__)'], { encoding: 'utf8' });
  if (r.error) return { ok: false, reason: `${PYTHON} not found (${(r.error as NodeJS.ErrnoException).code})` };
  if (r.status !== 0) return { ok: false, reason: `${PYTHON} has no numpy (${r.stderr.trim().split('\n').pop()})` };
  return { ok: true, version: r.stdout.trim() };
}

export const python = probePython();
/** Why the Python checks are skipped ('' when they run). Under CI they never are: the tests fail instead. */
export const PYTHON_SKIP_REASON = python.ok ? '' : `python3 with numpy is missing: ${python.reason} (apt-get install -y python3-numpy)`;
export const RUN_PYTHON = python.ok || Boolean(process.env.CI);

export interface PythonResult extends CliResult {
  report: VerifyReport | null;
}

/** `python3 SCRIPT ARGS... [--json]`: SCRIPT is a bundle's verify_golden.py. */
export function runPythonScript(script: string, args: readonly string[], json = true): PythonResult {
  if (!python.ok) throw new Error(PYTHON_SKIP_REASON);
  const r = spawnSync(PYTHON, [script, ...args, ...(json ? ['--json'] : [])], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  let report: VerifyReport | null = null;
  if (json && (r.status === 0 || r.status === 1)) report = JSON.parse(r.stdout) as VerifyReport;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, report };
}

/** `python3 BUNDLE/verify_golden.py BUNDLE OUTPUTS --json` (or the text report, json false). */
export function runPython(bundle: string, outputs: string, json = true): PythonResult {
  return runPythonScript(join(bundle, 'verify_golden.py'), [bundle, outputs], json);
}

/** `mobilenet verify BUNDLE --outputs OUTPUTS --json`. */
export async function runVerify(bundle: string, outputs: string): Promise<PythonResult> {
  const r = await cli('verify', bundle, '--outputs', outputs, '--json');
  return { ...r, report: r.code === 0 || r.code === 1 ? (JSON.parse(r.stdout) as VerifyReport) : null };
}

/** The verdict fields both checkers must give alike: every number bit for bit. */
export function verdict(report: VerifyReport) {
  return {
    passed: report.passed,
    firstDivergence: report.firstDivergence,
    compared: report.compared,
    failed: report.failed,
    missing: report.missing,
    kind: report.other.kind,
    endpoints: report.endpoints.map((e) => ({
      name: e.name,
      status: e.status,
      // JSON writes an infinite error as null in both.
      maxAbsError: e.maxAbsError ?? null,
      maxRelError: e.maxRelError ?? null,
      allowed: e.allowed ?? null,
      rtol: e.rtol ?? null,
      atol: e.atol ?? null,
      worstIndex: e.worstIndex ?? null,
    })),
  };
}

/**
 * Runs both checkers on the same OUTPUTS and expects the same exit code and, when they compare,
 * the same verdicts; returns mobilenet verify's result. When Python is unavailable (outside CI)
 * only mobilenet verify runs.
 */
export async function checkBoth(bundle: string, outputs: string): Promise<PythonResult & { python: PythonResult | null }> {
  const ts = await runVerify(bundle, outputs);
  if (!python.ok) {
    if (process.env.CI) throw new Error(PYTHON_SKIP_REASON);
    return { ...ts, python: null };
  }
  const py = runPython(bundle, outputs);
  expect(py.code, `python3 verify_golden.py ${outputs}: exit ${py.code}, mobilenet verify exit ${ts.code}\n${py.stderr}${ts.stderr}`).toBe(ts.code);
  if (ts.report) expect(verdict(py.report!)).toEqual(verdict(ts.report));
  else expect(py.stderr).toMatch(/^verify_golden\.py: ERR_[A-Z_]+: /);
  return { ...ts, python: py };
}
