/**
 * The `mobilenet` bin from the tarball, as a user runs it: `npx mobilenet …` in the project that
 * installed the package (npx finds node_modules/.bin/mobilenet, no download). `classify` with no
 * `--model` uses the default model shipped in the package.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { PHOTO, PHOTO_TOP1, run } from './helpers.js';
import { packedProject, type PackedProject } from './packed.js';

const HAVE = requireShared(PHOTO);

describe.skipIf(!HAVE)('npx mobilenet, from the tarball', () => {
  let project: PackedProject;
  beforeAll(async () => {
    project = await packedProject();
  }, 600_000);

  it('the bin is linked and executable, with a node shebang', () => {
    const pkg = JSON.parse(readFileSync(join(project.installed, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(Object.keys(pkg.bin)).toEqual(['mobilenet']);
    const main = readFileSync(join(project.installed, pkg.bin.mobilenet!), 'utf8');
    expect(main.startsWith('#!/usr/bin/env node\n')).toBe(true);
    const r = run('sh', ['-c', 'test -x node_modules/.bin/mobilenet && echo executable'], project.dir);
    expect(r.stdout.trim()).toBe('executable');
  });

  it('npx mobilenet classify <photo> (no --model) prints the default model\'s top 5', () => {
    const r = run('npx', ['mobilenet', 'classify', sharedPath(PHOTO)], project.dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toContain(sharedPath(PHOTO));
    const rows = lines.slice(1).map((l) => /^\s*(\d+\.\d+)%\s+(.+) \((\d+)\)$/.exec(l));
    expect(rows).toHaveLength(5);
    expect(rows.every((m) => m !== null)).toBe(true);
    expect(rows[0]![2]).toBe(PHOTO_TOP1);
    expect(rows[0]![3]).toBe('286');
    console.log(r.stdout.trimEnd());
  });

  it('npx mobilenet --help lists the commands; exit 0', () => {
    const r = run('npx', ['mobilenet', '--help'], project.dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: mobilenet /);
    expect(r.stdout).toMatch(/\bclassify\b/);
  });

  it('npx mobilenet classify --help documents the default model; exit 0', () => {
    const r = run('npx', ['mobilenet', 'classify', '--help'], project.dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: mobilenet classify /);
    expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/--model .*\(default: [^)]*package/);
  });
});
