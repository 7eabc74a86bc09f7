/**
 * Shared by the package tests (test/package/*.test.ts): running commands in the packed project,
 * scratch folders inside it (so `mobilenet-wasm` resolves to the installed tarball), missing
 * binaries (skip, or fail under CI), the fixtures, and a real top-level-await detector.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../helpers/shared.js';
import type { PackedProject } from './packed.js';

export const fixturesDir = join(repoRoot, 'test', 'package', 'fixtures');
export const TSC = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

/** The shared photo every test classifies, and what the default model says it is. */
export const PHOTO = 'images/chelsea.png';
export const PHOTO_TOP1 = 'Egyptian cat';

/**
 * True when `path` exists. When it does not: under CI a failure (throws), elsewhere a warning
 * and false, for `describe.skipIf(!…)`.
 */
export function requireFile(path: string, what: string): boolean {
  if (existsSync(path)) return true;
  const reason = `${what} is missing (${path})`;
  if (process.env.CI) throw new Error(`${reason}; CI is set: this is a failure, not a skip`);
  console.warn(`SKIPPED: ${reason}`);
  return false;
}

export interface Ran {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const quietNpm = { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', NO_COLOR: '1' };

/** Runs a command to the end; never throws on a non-zero exit (the test looks at `status`). */
export function run(cmd: string, args: readonly string[], cwd: string, env: Record<string, string> = {}, timeout = 120_000): Ran {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, ...quietNpm, ...env }, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, asynchronously (two at a time keeps both cores busy). */
export function runAsync(cmd: string, args: readonly string[], cwd: string, timeout = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, ...quietNpm }, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs `jobs` with at most `limit` at a time, results in order. */
export async function pool<T>(jobs: (() => Promise<T>)[], limit = 2): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

/**
 * A fresh folder inside the packed project (its node_modules holds the tarball's install), with
 * the named fixture folder copied in. Removed by the caller (`rmSync(dir, …)` in afterAll).
 */
export function scratch(project: PackedProject, name: string, fixture?: string): string {
  const dir = mkdtempSync(join(project.dir, `.${name}-`));
  if (fixture) cpSync(join(fixturesDir, fixture), dir, { recursive: true });
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Every file under `dir` (paths relative to it, `/`-separated). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  walk(dir);
  return out;
}

/** Where `await` (or `for await`) appears outside every function in a module: [line, text]. */
export function topLevelAwaits(code: string, fileName = 'module.js'): { line: number; text: string }[] {
  const sf = ts.createSourceFile(fileName, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const found: { line: number; text: string }[] = [];
  const at = (node: ts.Node) => ({ line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, text: node.getText(sf).slice(0, 80) });
  const visit = (node: ts.Node): void => {
    // A function's (or class member's) body is not the module's top level.
    if (ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node)) return;
    if (ts.isAwaitExpression(node)) found.push(at(node));
    else if (ts.isForOfStatement(node) && node.awaitModifier) found.push(at(node));
    else if (ts.isVariableDeclarationList(node) && (node.flags & ts.NodeFlags.AwaitUsing) === ts.NodeFlags.AwaitUsing) found.push(at(node));
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Every module specifier a JS file names: static imports and re-exports, import(), require(). */
export function moduleSpecifiers(code: string, fileName = 'module.js'): string[] {
  const sf = ts.createSourceFile(fileName, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node)) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      const arg = node.arguments[0];
      if ((isImport || isRequire) && arg) out.push(ts.isStringLiteralLike(arg) ? arg.text : `<computed: ${arg.getText(sf)}>`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}
