/**
 * The platform for Node, Deno and Bun (the package's `node`, `deno` and `bun` conditions).
 * node:path and node:url are always there in these runtimes; node:fs/promises is loaded by the
 * async functions that read, so importing the package touches no file system.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WasmSource } from '../backend.js';
import { ErrorCodes, MobilenetError, fail } from '../errors.js';
import type { FileInfo, Platform } from './types.js';

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
  async defaultModel() {
    return packageFile('assets/mobilenet_v1_0.5_160_quant.tflite');
  },
};
