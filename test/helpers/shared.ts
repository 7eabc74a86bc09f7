/**
 * Where the shared, read-only test data lives (weights, photos, docs): `../shared` beside the
 * repository root. Nothing from there is ever copied into the repository.
 *
 * Usage:
 *   const HAVE = requireShared('models/mobilenet_v1_0.25_224/model.json');
 *   describe.skipIf(!HAVE)('...', () => { ... readFileSync(sharedPath('models/...')) ... });
 * Read the files inside tests or hooks, not in the describe body, which runs even when skipped.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is `test/helpers/shared.ts`). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = resolve(repoRoot, '..', 'shared');

export function sharedPath(relPath: string): string {
  return resolve(sharedDir, relPath);
}

/**
 * True when every listed file exists under `sharedDir`. When one is missing and `CI` is set,
 * throws, so the test file fails instead of passing silently; elsewhere prints the reason and
 * returns false, for `describe.skipIf(!requireShared(...))`.
 */
export function requireShared(...relPaths: string[]): boolean {
  const missing = relPaths.map(sharedPath).filter((p) => !existsSync(p));
  if (missing.length === 0) return true;
  const reason = `shared test data missing: ${missing.join(', ')}`;
  if (process.env.CI) throw new Error(`${reason} (CI is set: this is a failure, not a skip)`);
  console.warn(`SKIPPED: ${reason}. Tests that need it are skipped; with CI set they fail.`);
  return false;
}
