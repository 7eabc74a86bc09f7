/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core,
 * with the flags this machine needs (no network beyond loopback). playwright-core's launch()
 * gives every browser a fresh temporary profile (it refuses a --user-data-dir argument).
 *
 * When the browser is missing: under CI the tests fail; elsewhere they skip and say why.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** True when Chromium is there; under CI a missing one throws (a failure, not a skip). */
export function requireChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const reason = `${CHROMIUM} is missing (apt-get install -y chromium)`;
  if (process.env.CI) throw new Error(`${reason}; CI is set: this is a failure, not a skip`);
  console.warn(`SKIPPED browser tests: ${reason}`);
  return false;
}

/** The build the pages import; CI builds before testing. */
export function requireBuild(repoRoot: string): void {
  for (const f of ['dist/engine/create.js', 'dist/wasm/backend.js', 'build/kernels.wasm']) {
    if (!existsSync(`${repoRoot}/${f}`)) throw new Error(`${f} is missing: run \`npm run build\` before the browser tests`);
  }
}
