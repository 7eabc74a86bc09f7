/**
 * Strict TypeScript consumers of the tarball's declarations: the repository's TypeScript run in
 * the packed project (so `mobilenet-wasm` resolves to the installed package), `strict: true`,
 * `skipLibCheck: false` (every .d.ts of the package that a program reaches is checked), under
 * `module`/`moduleResolution` node16, nodenext and bundler (module esnext), each in three setups:
 *
 *   browser  lib ES2022 + DOM, `types: []`: no @types/node anywhere in the program (checked);
 *   node     lib ES2022, @types/node (the repository's, by typeRoots), no DOM lib (checked);
 *   bare     lib ES2022 alone: neither DOM nor @types/node, so not even URL or fetch exist.
 *
 * Each compiles fixtures/types/consumer.mts (no runtime globals named); browser and node add
 * consumer-web.mts (URL, AbortSignal, fetch, Blob, Response), browser adds consumer-dom.mts (the
 * page's image objects, WebAssembly.Module), node adds consumer-node.mts (Buffer, paths, file
 * URLs). They are .mts so that the repository's own `tsc -p tsconfig.check.json` (which takes
 * the .ts files under test/) does not compile them against the work tree's dist/.
 *
 * A CommonJS consumer (.cts) compiles under nodenext (TypeScript models Node's require(esm)
 * there; node16 models a Node without it and refuses the import, TS1479).
 */
import { copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared.js';
import { TSC, fixturesDir, pool, removeDir, requireFile, runAsync, scratch, type Ran } from './helpers.js';
import { packedProject } from './packed.js';

const HAVE_TSC = requireFile(TSC, "the repository's TypeScript (npm ci)");
const NODE_TYPES = join(repoRoot, 'node_modules', '@types');
const HAVE_NODE_TYPES = requireFile(join(NODE_TYPES, 'node', 'package.json'), '@types/node in the repository (npm ci)');

type Setup = 'browser' | 'node' | 'bare';
const SETUPS: Record<Setup, { compilerOptions: Record<string, unknown>; files: string[] }> = {
  browser: { compilerOptions: { lib: ['ES2022', 'DOM'], types: [] }, files: ['consumer.mts', 'consumer-web.mts', 'consumer-dom.mts'] },
  node: { compilerOptions: { lib: ['ES2022'], types: ['node'], typeRoots: [NODE_TYPES] }, files: ['consumer.mts', 'consumer-web.mts', 'consumer-node.mts'] },
  bare: { compilerOptions: { lib: ['ES2022'], types: [] }, files: ['consumer.mts'] },
};
const RESOLUTIONS = [
  { moduleResolution: 'node16', module: 'node16' },
  { moduleResolution: 'nodenext', module: 'nodenext' },
  { moduleResolution: 'bundler', module: 'esnext' },
] as const;

interface Case {
  name: string;
  setup: Setup;
  config: string;
}
const CASES: Case[] = RESOLUTIONS.flatMap((r) =>
  (Object.keys(SETUPS) as Setup[]).map((setup) => ({ name: `${r.moduleResolution} / ${setup}`, setup, config: `tsconfig.${r.moduleResolution}.${setup}.json` })),
);

describe.skipIf(!HAVE_TSC || !HAVE_NODE_TYPES)('strict TypeScript consumers of the published declarations', () => {
  let dir: string;
  const results = new Map<string, Ran>();
  beforeAll(async () => {
    const project = await packedProject();
    dir = scratch(project, 'types', 'types');
    for (const r of RESOLUTIONS) {
      for (const [setup, { compilerOptions, files }] of Object.entries(SETUPS)) {
        const config = {
          compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', module: r.module, moduleResolution: r.moduleResolution, ...compilerOptions },
          files,
        };
        writeFileSync(join(dir, `tsconfig.${r.moduleResolution}.${setup}.json`), JSON.stringify(config, null, 2));
      }
    }
    // A CommonJS consumer: the same import in a .cts file.
    copyFileSync(join(fixturesDir, 'types', 'consumer.mts'), join(dir, 'consumer-cjs.cts'));
    writeFileSync(
      join(dir, 'tsconfig.cts.json'),
      JSON.stringify({ compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'], types: [] }, files: ['consumer-cjs.cts'] }),
    );
    const configs = [...CASES.map((c) => c.config), 'tsconfig.cts.json'];
    const ran = await pool(configs.map((config) => () => runAsync(process.execPath, [TSC, '-p', config, '--listFiles', '--pretty', 'false'], dir)));
    configs.forEach((config, i) => results.set(config, ran[i]!));
  }, 600_000);
  afterAll(() => removeDir(dir));

  const filesOf = (r: Ran) => r.stdout.split('\n').filter((l) => l.startsWith('/'));
  const errorsOf = (r: Ran) => r.stdout.split('\n').filter((l) => l && !l.startsWith('/'));

  it('the fixtures are all there', () => {
    expect(readdirSync(join(fixturesDir, 'types')).sort()).toEqual(['consumer-dom.mts', 'consumer-node.mts', 'consumer-web.mts', 'consumer.mts']);
  });

  for (const c of CASES) {
    it(`${c.name}: zero errors`, () => {
      const r = results.get(c.config)!;
      expect(errorsOf(r)).toEqual([]);
      expect(r.status).toBe(0);
      const files = filesOf(r);
      // The package's own declarations were checked (skipLibCheck false), from the installed tarball.
      const own = files.filter((f) => f.includes('/node_modules/mobilenet-wasm/dist/') && f.endsWith('.d.ts'));
      expect(own.map((f) => f.split('/node_modules/mobilenet-wasm/')[1])).toEqual(expect.arrayContaining(['dist/index.d.ts', 'dist/inline.d.ts', 'dist/fetch.d.ts', 'dist/backend.d.ts']));
      expect(files.some((f) => f.startsWith(repoRoot) && f.includes('/dist/'))).toBe(false);
      const nodeTypes = files.filter((f) => f.includes('/@types/node/'));
      const dom = files.filter((f) => /\/lib\.dom\.d\.ts$/.test(f));
      if (c.setup === 'browser') {
        expect(nodeTypes, 'the browser setup must not see @types/node').toEqual([]);
        expect(dom).toHaveLength(1);
      } else if (c.setup === 'node') {
        expect(nodeTypes.length).toBeGreaterThan(10);
        expect(dom).toEqual([]);
      } else {
        expect(nodeTypes).toEqual([]);
        expect(dom).toEqual([]);
      }
    });
  }

  it('nodenext / a CommonJS (.cts) consumer: zero errors', () => {
    const r = results.get('tsconfig.cts.json')!;
    expect(errorsOf(r)).toEqual([]);
    expect(r.status).toBe(0);
  });
});
