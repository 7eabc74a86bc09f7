/**
 * What the tarball holds and how its files resolve: LICENSE, README.md and CHANGELOG.md; no
 * source maps without their sources, no tests, no TypeScript sources; every path package.json
 * names is in it; `mobilenet-wasm/package.json` is importable and says `sideEffects: false`; the
 * subpaths `mobilenet-wasm/kernels.wasm` and `mobilenet-wasm/default-model.tflite` resolve, for
 * import and require, to the wasm and the TFLite model; jpeg-js's encoder (and its main entry,
 * which loads the encoder) is reachable from nowhere; `npm install` and `npm ci` of the tarball
 * print no warning, and npm would not rewrite its package.json when publishing.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, listFiles, moduleSpecifiers, run, scratch } from './helpers.js';
import { packedProject, type PackedProject } from './packed.js';

const MODEL_SHA256 = '3cc6d2ca460abd2e0f699a6d0d2550c6b61c6e3b0e27a3616e384ea74cb86f43';

/** The entries of a .tgz: path and size (ustar, with pax `path` records). */
function tarEntries(tgz: Buffer): { path: string; size: number; type: string }[] {
  const tar = gunzipSync(tgz);
  const out: { path: string; size: number; type: string }[] = [];
  const str = (from: number, to: number, at: number) => tar.subarray(at + from, at + to).toString('utf8').replace(/\0.*$/s, '');
  let paxPath: string | null = null;
  for (let at = 0; at + 512 <= tar.length; ) {
    if (tar.subarray(at, at + 512).every((b) => b === 0)) break;
    const size = parseInt(str(124, 136, at).trim() || '0', 8);
    const type = str(156, 157, at) || '0';
    const prefix = str(345, 500, at);
    const name = prefix ? `${prefix}/${str(0, 100, at)}` : str(0, 100, at);
    const body = tar.subarray(at + 512, at + 512 + size);
    if (type === 'x') {
      paxPath = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1] ?? null;
    } else {
      out.push({ path: paxPath ?? name, size, type });
      paxPath = null;
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

interface Pkg {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  imports: Record<string, Record<string, string>>;
  files: string[];
  sideEffects: unknown;
}

describe('the published tarball', () => {
  let project: PackedProject;
  let files: string[];
  let pkg: Pkg;
  let dir: string;
  beforeAll(async () => {
    project = await packedProject();
    files = tarEntries(readFileSync(project.tarball)).filter((e) => e.type === '0').map((e) => e.path);
    pkg = JSON.parse(readFileSync(join(project.installed, 'package.json'), 'utf8')) as Pkg;
    dir = scratch(project, 'published', 'published');
  }, 600_000);
  afterAll(() => removeDir(dir));

  it('has LICENSE, README.md, CHANGELOG.md and package.json at its root', () => {
    expect(files.every((f) => f.startsWith('package/'))).toBe(true);
    for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) expect(files).toContain(`package/${f}`);
    // The model's own licence travels with the model.
    expect(files).toContain('package/assets/LICENSE-model.txt');
  });

  it('has no tests, no TypeScript sources, no build leftovers, and no source map without its sources', () => {
    const paths = files.map((f) => f.slice('package/'.length));
    expect(paths.filter((p) => /^(test|src|bench|assembly|scripts|web|\.ci|node_modules)\//.test(p))).toEqual([]);
    expect(paths.filter((p) => /\.(ts|mts|cts)$/.test(p) && !/\.d\.(m|c)?ts$/.test(p))).toEqual([]);
    expect(paths.filter((p) => /\.(tsbuildinfo|wat|tgz|log)$|(^|\/)\.|tsconfig|vitest/.test(p))).toEqual([]);
    const maps = paths.filter((p) => p.endsWith('.map'));
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(join(project.installed, map), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(sourcesContent?.length, `${map} points at sources the tarball does not have`).toBe(sources.length);
      expect(sourcesContent!.every((s) => typeof s === 'string')).toBe(true);
    }
    // Nothing under dist/ refers to a map that is not there.
    const mapRefs = listFiles(join(project.installed, 'dist'))
      .filter((f) => f.endsWith('.js'))
      .filter((f) => /\/\/# sourceMappingURL=/.test(readFileSync(join(project.installed, 'dist', f), 'utf8')))
      .filter((f) => !paths.includes(`dist/${f}.map`));
    expect(mapRefs).toEqual([]);
  });

  it('holds every file package.json points at (main, types, bin, exports, imports)', () => {
    const targets = new Set<string>([pkg.main, pkg.types, ...Object.values(pkg.bin)]);
    for (const target of Object.values(pkg.exports)) for (const t of typeof target === 'string' ? [target] : Object.values(target)) targets.add(t);
    for (const conditions of Object.values(pkg.imports)) for (const t of Object.values(conditions)) targets.add(t);
    const missing = [...targets].map((t) => t.replace(/^\.\//, '')).filter((t) => !files.includes(`package/${t}`));
    expect(missing).toEqual([]);
    // Every .js of an exports entry has its .d.ts beside it.
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'object') expect(target.types, key).toBe(target.default!.replace(/\.js$/, '.d.ts'));
    }
  });

  it('package.json is importable and says sideEffects: false; the asset subpaths resolve to the wasm and the model', () => {
    const r = run(process.execPath, ['resolve.mjs'], dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { esm: string; cjs: string; size: number; head: number[]; sha256: string }> & {
      packageJson: { name: string; sideEffects: unknown };
    };
    expect(out.packageJson).toMatchObject({ name: 'mobilenet-wasm', sideEffects: false });
    const wasm = out['mobilenet-wasm/kernels.wasm']!;
    expect(wasm.esm).toBe(join(project.installed, 'build', 'kernels.wasm'));
    expect(wasm.cjs).toBe(wasm.esm);
    expect(wasm.head).toEqual([0x00, 0x61, 0x73, 0x6d]);
    const model = out['mobilenet-wasm/default-model.tflite']!;
    expect(model.cjs).toBe(model.esm);
    expect(model.sha256).toBe(MODEL_SHA256);
    // The bytes at the subpath are what the engine loads by default (src/platform/node.ts).
    expect(model.esm).toBe(join(project.installed, 'assets', 'mobilenet_v1_0.5_160_quant.tflite'));
    expect(out['mobilenet-wasm/package.json']!.esm).toBe(join(project.installed, 'package.json'));
  });

  it('jpeg-js is imported by its decoder alone: no import of its main entry or its encoder anywhere in dist/', async () => {
    const jsFiles = listFiles(join(project.installed, 'dist')).filter((f) => f.endsWith('.js'));
    const specifiers = jsFiles.flatMap((f) => moduleSpecifiers(readFileSync(join(project.installed, 'dist', f), 'utf8'), f).map((s) => ({ f, s })));
    expect(specifiers.filter(({ s }) => s.startsWith('<computed')).map(({ f, s }) => `${f}: ${s}`)).toEqual([]);
    const jpeg = specifiers.filter(({ s }) => s === 'jpeg-js' || s.startsWith('jpeg-js/'));
    expect(jpeg.map(({ s }) => s)).toEqual(['jpeg-js/lib/decoder.js']);

    // And what a bundler reaches from every entry (the API, the inline API, the CLI), for Node and for browsers.
    const entries = [join(project.installed, 'dist/index.js'), join(project.installed, 'dist/inline.js'), join(project.installed, pkg.bin.mobilenet!)];
    for (const platform of ['node', 'browser'] as const) {
      const result = await build({
        entryPoints: platform === 'node' ? entries : entries.slice(0, 2),
        bundle: true,
        write: false,
        outdir: join(dir, 'out'),
        platform,
        format: 'esm',
        splitting: true,
        metafile: true,
        logLevel: 'silent',
        // A .wasm import exists only under `workerd`; the CLI's shebang is fine.
        loader: { '.wasm': 'file' },
      });
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.some((i) => i.endsWith('jpeg-js/lib/decoder.js')), platform).toBe(true);
      expect(inputs.filter((i) => /jpeg-js\/(index|lib\/encoder)\.js$/.test(i)), platform).toEqual([]);
    }
  });

  it('npm install and npm ci of the tarball print no warning', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'mobilenet-wasm-install-'));
    try {
      writeFileSync(join(fresh, 'package.json'), JSON.stringify({ name: 'install-check', version: '1.0.0', private: true }));
      const warnings = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /\b(warn|warning|err!?)\b/i.test(l));
      const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', project.tarball], fresh, {}, 300_000);
      expect(install.status, install.stderr).toBe(0);
      expect(warnings(install)).toEqual([]);
      const ci = run('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], fresh, {}, 300_000);
      expect(ci.status, ci.stderr).toBe(0);
      expect(warnings(ci)).toEqual([]);
    } finally {
      removeDir(fresh);
    }
  });

  it('npm publish would take package.json as it is (no "npm auto-corrected some errors" warning)', async () => {
    // `npm publish` runs @npmcli/package-json's fix() and warns "npm auto-corrected some errors in your package.json" on any change.
    const npmRoot = run('npm', ['root', '-g'], project.dir).stdout.trim();
    let packageJsonLib: { fix: (dir: string, opts: { changes: string[] }) => Promise<unknown> } | null = null;
    try {
      packageJsonLib = createRequire(join(npmRoot, 'npm', 'package.json'))('@npmcli/package-json');
    } catch {
      console.warn(`@npmcli/package-json not found under ${npmRoot}/npm: the publish-time check is skipped`);
    }
    if (packageJsonLib) {
      const changes: string[] = [];
      await packageJsonLib.fix(project.installed, { changes });
      // e.g. a bin path written "./dist/cli/main.js" is rewritten to "dist/cli/main.js", and npm publish warns.
      expect(changes, 'npm publish would print "npm auto-corrected some errors in your package.json"').toEqual([]);
    }
  });
});
