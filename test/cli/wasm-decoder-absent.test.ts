// Without @jsquash/jpeg and @jsquash/png installed (they are optional): `--decoder wasm` is refused
// with one ERR_OPTION line naming the packages, before any image is read, with and without
// workers; the default decoder works as before, workers and all. Simulated: node:module's
// createRequire gives a require that cannot resolve anything under @jsquash/.
import { describe, expect, it, vi } from 'vitest';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { cli, jsonLines } from './helpers.js';
import { untilNoWorkers } from './jobs-helpers.js';

vi.mock('node:module', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:module')>();
  const createRequire: typeof real.createRequire = (from) => {
    const require = real.createRequire(from);
    const resolve = ((id: string, options?: { paths?: string[] }) => {
      if (id.startsWith('@jsquash/')) throw Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- ${String(from)}`), { code: 'MODULE_NOT_FOUND' });
      return require.resolve(id, options);
    }) as NodeJS.RequireResolve;
    resolve.paths = require.resolve.paths;
    return Object.assign(((id: string) => require(id)) as NodeJS.Require, require, { resolve });
  };
  return { ...real, createRequire, default: { ...real, createRequire } };
});

const HAVE = requireShared('images/dog.png', 'images/parrot.jpg');

describe.skipIf(!HAVE)('--decoder wasm without @jsquash installed', () => {
  it('is refused with one ERR_OPTION line saying what to install; --decoder js runs as before', async () => {
    const images = [sharedPath('images/dog.png'), sharedPath('images/parrot.jpg')];
    for (const jobs of ['1', '2']) {
      const r = await cli('classify', ...images, '--decoder', 'wasm', '--jobs', jobs, '--json');
      expect(r.code, `--jobs ${jobs}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^mobilenet: ERR_OPTION: option --decoder: "wasm" needs the packages @jsquash\/jpeg and @jsquash\/png, which are not installed \(Cannot find module '@jsquash\/jpeg[^\n]*\); install them \(npm install @jsquash\/jpeg @jsquash\/png\) or use --decoder js\n$/);
    }
    const js = await cli('classify', ...images, '--jobs', '2', '--json', '--top', '1');
    expect(js.code).toBe(0);
    expect(jsonLines(js.stdout).map((l) => l.top?.length)).toEqual([1, 1]);
    await untilNoWorkers();
  });
});
