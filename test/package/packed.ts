/**
 * The package as a user gets it: `npm pack`, then the tarball installed into a fresh project in
 * a temporary folder, shared by the test files of one run (a lock folder makes the first caller
 * pack and the others wait). Tests here run what a new user runs, from that project, never
 * from the work tree.
 *
 * Needs `npm run build` first (the tarball packs dist/ and build/), and the npm registry for the
 * package's dependencies.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/shared.js';

export interface PackedProject {
  /** The fresh project with the tarball installed (node_modules/mobilenet-wasm). */
  readonly dir: string;
  /** The .tgz that `npm pack` wrote. */
  readonly tarball: string;
  /** node_modules/mobilenet-wasm inside `dir`. */
  readonly installed: string;
}

/** A fingerprint of what goes into the tarball, so a rebuilt package is packed again. */
function fingerprint(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else hash.update(`${p}:${s.size}:${s.mtimeMs}\n`);
    }
  };
  for (const d of ['dist', 'build', 'assets']) if (existsSync(join(repoRoot, d))) walk(join(repoRoot, d));
  hash.update(readFileSync(join(repoRoot, 'package.json')));
  return hash.digest('hex').slice(0, 16);
}

const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, env: { ...process.env, npm_config_update_notifier: 'false' } });

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Packs and installs once per build; later callers (other test files, other forks) reuse it. */
export async function packedProject(): Promise<PackedProject> {
  if (!existsSync(join(repoRoot, 'dist', 'index.js')) || !existsSync(join(repoRoot, 'build', 'kernels.wasm'))) {
    throw new Error('dist/ or build/ is missing: run `npm run build` before the package tests');
  }
  const root = join(tmpdir(), `mobilenet-wasm-packed-${fingerprint()}`);
  const done = join(root, 'READY');
  const lock = join(`${root}.lock`);
  for (let waited = 0; !existsSync(done); waited += 500) {
    try {
      mkdirSync(lock);
    } catch {
      if (waited > 600_000) throw new Error(`waited 10 minutes for ${lock}; remove it if no test run holds it`);
      await sleep(500);
      continue;
    }
    try {
      if (!existsSync(done)) {
        rmSync(root, { recursive: true, force: true });
        mkdirSync(join(root, 'app'), { recursive: true });
        const name = run('npm', ['pack', '--silent', '--pack-destination', root], repoRoot).trim().split('\n').pop()!;
        writeFileSync(join(root, 'app', 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true, type: 'module' }, null, 2));
        run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(root, name)], join(root, 'app'));
        writeFileSync(done, name);
      }
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  const tarball = join(root, readFileSync(done, 'utf8'));
  const dir = join(root, 'app');
  return { dir, tarball, installed: join(dir, 'node_modules', 'mobilenet-wasm') };
}
