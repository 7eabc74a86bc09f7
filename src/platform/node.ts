/**
 * The platform for Node, Deno and Bun (the package's `node`, `deno` and `bun` conditions).
 * node:path and node:url are always there in these runtimes; node:fs/promises is loaded by the
 * async functions that read, so importing the package touches no file system.
 */
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WasmSource } from '../backend.js';
import { ErrorCodes, MobilenetError, fail } from '../errors.js';
import type { FileInfo, Platform, ThreadPort } from './types.js';

const fs = () => import('node:fs/promises');

/** Turns a file system error into ERR_IO naming the path; our own errors pass through. */
async function io<T>(path: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof MobilenetError) throw e;
    const code = (e as { code?: string })?.code;
    return fail(ErrorCodes.IO, `${path}: cannot read (${code ?? (e as Error)?.message ?? String(e)})`, e);
  }
}

async function fileInfo(path: string): Promise<FileInfo> {
  const { stat } = await fs();
  const s = await io(path, () => stat(path));
  return { kind: s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other', size: s.size };
}

/**
 * Reads a regular file of at most `maxBytes`. Devices, pipes and sockets are refused before they
 * are opened (a named pipe would block the open, /dev/zero never ends); the file is opened
 * non-blocking and checked again, so a file swapped for a pipe in between is refused too.
 */
async function readFile(path: string, maxBytes: number): Promise<Uint8Array> {
  const info = await fileInfo(path);
  if (info.kind !== 'file') fail(ErrorCodes.IO, `${path}: not a regular file (${info.kind === 'directory' ? 'a directory' : 'a device, pipe or socket'})`);
  if (info.size > maxBytes) fail(ErrorCodes.BYTE_LENGTH, `${path}: ${info.size} bytes, above the ${maxBytes}-byte cap for this kind of file`);
  const { promises, constants } = await import('node:fs');
  return io(path, async () => {
    const handle = await promises.open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    try {
      const s = await handle.stat();
      if (!s.isFile()) fail(ErrorCodes.IO, `${path}: not a regular file`);
      if (s.size > maxBytes) fail(ErrorCodes.BYTE_LENGTH, `${path}: ${s.size} bytes, above the ${maxBytes}-byte cap for this kind of file`);
      const out = new Uint8Array(s.size);
      let at = 0;
      while (at < out.length) {
        const { bytesRead } = await handle.read(out, at, out.length - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return at === out.length ? out : out.subarray(0, at);
    } finally {
      await handle.close();
    }
  });
}

/** What a thread worker's script finds before its body (see src/wasm/threads/worker-source.ts). */
const THREAD_PRELUDE = `'use strict';
const { parentPort } = require('node:worker_threads');
const port = { post: (m) => parentPort.postMessage(m), once: (h) => parentPort.once('message', h) };
const exitSelf = (code) => process.exit(code);
`;

/** A worker_threads Worker from the text of a script (`eval`: no file to find, from the sources or dist/). */
async function spawnThread(body: string): Promise<ThreadPort> {
  const { Worker } = await import('node:worker_threads');
  // As for the model's worker: --input-type (a script given by -e or stdin) would apply to the worker's text.
  // V8's wasm flags (Node 20's --experimental-wasm-relaxed-simd) are process-wide: a Worker refuses them, and has them anyway.
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type') && !arg.startsWith('--experimental-wasm-'));
  const worker = new Worker(THREAD_PRELUDE + body, { eval: true, execArgv });
  let failed = false;
  let ended = false;
  const failures: ((reason: string) => void)[] = [];
  const fail = (reason: string) => {
    if (failed || ended) return;
    failed = true;
    failures.forEach((f) => f(reason));
  };
  worker.on('error', (e) => fail(`threw: ${e?.message ?? String(e)}`));
  worker.on('exit', (code) => fail(`exited with code ${code}`));
  return {
    post: (message) => worker.postMessage(message),
    onMessage: (handler) => worker.on('message', handler),
    onFailure: (handler) => failures.push(handler),
    setIdle: (idle) => (idle ? worker.unref() : worker.ref()),
    terminate: () => {
      ended = true;
      void worker.terminate();
    },
  };
}

/** The package's own files, two folders above this one (dist/platform/ -> the package root). */
const packageFile = (relative: string) => new URL(`../../${relative}`, import.meta.url);

export const platform: Platform = {
  name: 'node',
  hasFiles: true,
  readFile,
  fileInfo,
  async listDir(path) {
    const { readdir } = await fs();
    return io(path, () => readdir(path));
  },
  joinPath: (dir, name) => join(dir, name),
  dirname: (path) => dirname(path),
  pathOfFileUrl: (url) => fileURLToPath(url),
  baseUrl: () => undefined,
  async defaultKernels(): Promise<WasmSource> {
    return packageFile('build/kernels.wasm');
  },
  async defaultThreadKernels(): Promise<WasmSource> {
    return packageFile('build/kernels-threads.wasm');
  },
  async defaultFastKernels(threads: boolean): Promise<WasmSource> {
    return packageFile(threads ? 'build/kernels-threads-relaxed.wasm' : 'build/kernels-relaxed.wasm');
  },
  availableParallelism: () => Math.max(1, os.availableParallelism?.() ?? os.cpus().length),
  spawnThread,
  async defaultModel() {
    return packageFile('assets/mobilenet_v1_0.5_160_quant.tflite');
  },
};
