/**
 * The tarball from both module systems on Node 20: `import { load } from 'mobilenet-wasm'` and
 * `const { load } = require('mobilenet-wasm')` (Node's require(esm), which refuses any module
 * graph with a top-level await) load the default model and classify a shared photo, with the
 * same results. And no top-level await anywhere in the package's JavaScript: every entry point
 * of the exports map is require()d (under the node, browser and worker conditions), and every
 * .js file of the installed dist/ is parsed and searched for an `await` outside functions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { PHOTO, PHOTO_TOP1, listFiles, removeDir, run, scratch, topLevelAwaits } from './helpers.js';
import { packedProject, type PackedProject } from './packed.js';

const HAVE = requireShared(PHOTO);

interface Classified {
  backend: string;
  top: { index: number; label: string | null; probability: number; logit: number }[];
}

describe.skipIf(!HAVE)('ESM and CommonJS consumers of the tarball', () => {
  let project: PackedProject;
  let dir: string;
  beforeAll(async () => {
    project = await packedProject();
    dir = scratch(project, 'modules', 'modules');
  }, 600_000);
  afterAll(() => removeDir(dir));

  const classify = (script: string): Classified => {
    const r = run(process.execPath, [script, sharedPath(PHOTO)], dir);
    expect(r.stderr, `${script} wrote to stderr`).toBe('');
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim()) as Classified;
  };

  it('import and require load the default model and classify the photo the same', () => {
    const esm = classify('classify.mjs');
    const cjs = classify('classify.cjs');
    expect(esm.backend).toBe('wasm');
    expect(esm.top).toHaveLength(5);
    expect(esm.top[0]!.label).toBe(PHOTO_TOP1);
    expect(cjs).toEqual(esm);
  });

  // `#platform` is node.js under `node`, web.js under `browser` and `worker`: both graphs load with require().
  for (const condition of [null, 'browser', 'worker']) {
    it(`require() of every JavaScript entry of the exports map${condition ? ` (-C ${condition})` : ''}`, () => {
      const pkg = JSON.parse(readFileSync(join(project.installed, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
      const jsEntries = Object.entries(pkg.exports)
        .filter(([, target]) => typeof target === 'object' && target !== null && String((target as { default?: string }).default).endsWith('.js'))
        .map(([key]) => (key === '.' ? 'mobilenet-wasm' : `mobilenet-wasm/${key.slice(2)}`));
      expect(jsEntries).toEqual(['mobilenet-wasm', 'mobilenet-wasm/inline']);
      const r = run(process.execPath, [...(condition ? ['-C', condition] : []), 'require-entries.cjs', ...jsEntries], dir);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
      expect(out['mobilenet-wasm']).toContain('load');
      expect(out['mobilenet-wasm/inline']).toEqual(expect.arrayContaining(['load', 'createModel', 'inlineKernels']));
      expect(out.sameInstance).toBe(true);
      expect(out.packageJson).toEqual({ name: 'mobilenet-wasm', sideEffects: false });
    });
  }

  it('no JavaScript file of the installed dist/ has a top-level await', () => {
    // The detector itself, on what it must and must not find.
    expect(topLevelAwaits('const a = await f();\nfor await (const x of y) {}\nawait using r = g();')).toHaveLength(3);
    expect(topLevelAwaits('async function f() { await g(); }\nconst h = async () => { for await (const x of y) {} };\nclass C { async m() { await 1; } }')).toEqual([]);

    const files = listFiles(join(project.installed, 'dist')).filter((f) => /\.(m|c)?js$/.test(f));
    expect(files.length).toBeGreaterThan(40);
    const found = files.flatMap((f) =>
      topLevelAwaits(readFileSync(join(project.installed, 'dist', f), 'utf8'), f).map((a) => `dist/${f}:${a.line}: ${a.text}`),
    );
    expect(found).toEqual([]);
  });
});
