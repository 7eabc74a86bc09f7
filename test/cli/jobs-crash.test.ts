// Decode workers that die: one that ends while it reads a file fails that file only (ERR_WORKER,
// with the file's path), a fresh worker takes its place and the run goes on to the end with the
// other results unchanged; workers that cannot start end the run with one ERR_WORKER line instead
// of hanging. Simulated: node:worker_threads's Worker is replaced by one that terminates itself
// when given a file named `*crash*`, or whose script throws before it is ready.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { liveDecodeWorkers } from '../../src/pool/decode-pool.js';
import { requireShared, sharedPath } from '../helpers/shared.js';
import { cli, jsonLines } from './helpers.js';
import { stripMs, untilNoWorkers } from './jobs-helpers.js';

const sim = vi.hoisted(() => ({ mode: 'crash-on-file' as 'crash-on-file' | 'cannot-start', crashes: 0 }));

vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  const isCrasher = (file: string) => /crash[^/]*$/.test(file.slice(file.lastIndexOf('/')));
  class SimulatedWorker extends real.Worker {
    /** Files given and not answered, in order: the worker runs the first. */
    private readonly given: { id: number; file: string }[] = [];
    constructor(entry: URL | string, options?: import('node:worker_threads').WorkerOptions) {
      super(sim.mode === 'cannot-start' ? new URL('data:text/javascript,throw new Error("simulated: the worker script failed to load")') : entry, options);
      this.on('message', (m: { type: string; id?: number }) => {
        if (m.type !== 'done') return;
        const at = this.given.findIndex((g) => g.id === m.id);
        if (at >= 0) this.given.splice(at, 1);
        this.crashIfRunningCrasher();
      });
    }
    override postMessage(message: unknown, transfer?: readonly import('node:worker_threads').Transferable[]): void {
      super.postMessage(message, transfer);
      const task = message as { id?: number; file?: string } | null;
      if (typeof task?.file === 'string') this.given.push({ id: task.id!, file: task.file });
      this.crashIfRunningCrasher();
    }
    /** The thread dies while it runs a `*crash*` file, as a crash in a decoder would end it. */
    private crashIfRunningCrasher(): void {
      const running = this.given[0];
      if (running && isCrasher(running.file)) {
        this.given.length = 0;
        sim.crashes++;
        void this.terminate();
      }
    }
  }
  return { ...real, Worker: SimulatedWorker, default: { ...real, Worker: SimulatedWorker } };
});

const HAVE = requireShared('models/mobilenet_v1_0.25_224/model.json', 'images/chelsea.png', 'images/parrot.jpg', 'images/rocket.jpg');

describe.skipIf(!HAVE)('classify --jobs: decode workers that die', () => {
  const model = sharedPath('models/mobilenet_v1_0.25_224');
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'classify-dying-'));
    const names = ['chelsea.png', 'parrot.jpg', 'rocket.jpg'];
    for (let i = 0; i < 12; i++) copyFileSync(sharedPath(`images/${names[i % 3]}`), join(dir, `img${String(i).padStart(2, '0')}.${names[i % 3]!.split('.')[1]}`));
    copyFileSync(sharedPath('images/chelsea.png'), join(dir, 'img04-crash.png'));
    copyFileSync(sharedPath('images/parrot.jpg'), join(dir, 'img09-crash.jpg'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a worker that ends while it reads a file: that file is ERR_WORKER with its path, the rest as with --jobs 1, no worker left', async () => {
    sim.mode = 'crash-on-file';
    sim.crashes = 0;
    const one = await cli('classify', dir, '--model', model, '--json', '--jobs', '1', '--batch', '4');
    expect(one.code).toBe(0);
    const two = await cli('classify', dir, '--model', model, '--json', '--jobs', '2', '--batch', '4');
    expect(sim.crashes).toBe(2);
    expect(two.code).toBe(2);
    const crashed = jsonLines(two.stdout).filter((l) => l.error);
    expect(crashed.map((l) => [l.file.slice(dir.length + 1), l.error!.code])).toEqual([
      ['img04-crash.png', 'ERR_WORKER'],
      ['img09-crash.jpg', 'ERR_WORKER'],
    ]);
    expect(crashed[0]!.error!.message).toMatch(/^the decode worker reading it ended \(it exited with code 1\); the file was not classified$/);
    expect(two.stderr).toContain(`mobilenet: ERR_WORKER: ${join(dir, 'img04-crash.png')}: the decode worker reading it ended`);
    expect(two.stderr).toContain('classified 12, failed 2');
    // Every other line is --jobs 1's.
    const others = (text: string) => stripMs(text).split('\n').filter((l) => !/-crash\./.test(l)).join('\n');
    expect(others(two.stdout)).toBe(others(one.stdout));
    await untilNoWorkers();
    expect(liveDecodeWorkers()).toBe(0);
  });

  it('workers that cannot start: one ERR_WORKER line, exit 2, no hang, no worker left', async () => {
    sim.mode = 'cannot-start';
    try {
      const t0 = Date.now();
      const r = await cli('classify', dir, '--model', model, '--json', '--jobs', '3');
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^mobilenet: ERR_WORKER: --jobs: a decode worker could not start \(simulated: the worker script failed to load\)\n$/);
      await untilNoWorkers();
    } finally {
      sim.mode = 'crash-on-file';
    }
  });
});
