/**
 * The packed package imported by name in Node, Deno and Bun, as a new user of each would: the
 * default model with no argument, a PNG and a JPEG from their bytes, in the calling thread and
 * in a worker (worker_threads in all three). Every runtime must give Node's bits (the logits and
 * probabilities, compared through their JSON, which round-trips doubles exactly).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { packedProject, type PackedProject } from './packed.js';

const HAVE = requireShared('images/chelsea.png', 'images/parrot.jpg');

const SCRIPT = `import { load } from 'mobilenet-wasm';
import { readFileSync } from 'node:fs';
const results = {};
const model = await load();
const inWorker = await load(undefined, { worker: true });
for (const photo of process.argv.slice(2)) {
  const bytes = new Uint8Array(readFileSync(photo));
  results[photo] = { thread: await model.classify(bytes, 5), worker: await inWorker.classify(bytes, 5), features: Array.from((await model.embed(bytes)).slice(0, 8)) };
}
inWorker.dispose();
model.dispose();
console.log(JSON.stringify(results));
`;

/** A runtime without WebAssembly SIMD, as far as the package can tell: the SIMD probe fails to validate. */
const NO_SIMD_SCRIPT = `const validate = WebAssembly.validate;
WebAssembly.validate = () => false;
const { load } = await import('mobilenet-wasm');
const out = {};
try {
  await load(undefined, { backend: 'wasm' });
  out.explicit = 'loaded';
} catch (e) {
  out.explicit = e.code;
}
const warnings = [];
console.warn = (m) => warnings.push(String(m));
const model = await load();
out.fallback = model.backend;
out.warned = warnings.some((w) => w.includes('falling back to the reference backend'));
out.top1 = (await model.classify(new Uint8Array(await (await import('node:fs/promises')).readFile(process.argv[2])), 1))[0].label;
WebAssembly.validate = validate;
console.log(JSON.stringify(out));
`;

function binary(name: string): string | null {
  const fromEnv = process.env[`${name.toUpperCase()}_BIN`];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  for (const dir of ['/tmp/mobilenet-runtimes/node_modules/.bin', ...(process.env.PATH ?? '').split(delimiter)]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  if (process.env.CI) throw new Error(`no ${name} binary (${name.toUpperCase()}_BIN or PATH); CI is set: this is a failure, not a skip`);
  console.warn(`SKIPPED ${name}: no binary in ${name.toUpperCase()}_BIN, /tmp/mobilenet-runtimes or PATH`);
  return null;
}

const RUNTIMES: [string, string | null, string[]][] = [
  ['node', process.execPath, []],
  ['deno', binary('deno'), ['run', '-A']],
  ['bun', binary('bun'), []],
];

describe.skipIf(!HAVE)('the packed package by name in Node, Deno and Bun', () => {
  let project: PackedProject;
  const photos = () => [sharedPath('images/chelsea.png'), sharedPath('images/parrot.jpg')];
  const results = new Map<string, string>();
  beforeAll(async () => {
    project = await packedProject();
    writeFileSync(join(project.dir, 'runtimes.mjs'), SCRIPT);
    writeFileSync(join(project.dir, 'no-simd.mjs'), NO_SIMD_SCRIPT);
  });

  for (const [name, bin, args] of RUNTIMES) {
    it.skipIf(!bin)(`${name}: load() and classify, in the thread and in a worker, same bits as Node`, () => {
      const version = execFileSync(bin!, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
      const out = execFileSync(bin!, [...args, 'runtimes.mjs', ...photos()], { cwd: project.dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      const json = out.trim().split('\n').at(-1)!;
      const parsed = JSON.parse(json) as Record<string, { thread: { label: string }[]; worker: unknown }>;
      for (const photo of photos()) expect(parsed[photo]!.worker, `${name} worker ${photo}`).toEqual(parsed[photo]!.thread);
      console.log(`${name} ${version}: ${photos().map((p) => `${p.split('/').pop()} -> ${parsed[p]!.thread[0]!.label}`).join(', ')}`);
      results.set(name, json);
      if (name !== 'node') expect(json, `${name} gives Node's bits`).toBe(results.get('node'));
    }, 180_000);

    it.skipIf(!bin)(`${name} without WebAssembly SIMD: ERR_NO_SIMD when wasm is asked for, else the reference path with a warning`, () => {
      const out = execFileSync(bin!, [...args, 'no-simd.mjs', sharedPath('images/chelsea.png')], { cwd: project.dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ explicit: 'ERR_NO_SIMD', fallback: 'reference', warned: true, top1: 'Egyptian cat' });
    }, 180_000);
  }
});
