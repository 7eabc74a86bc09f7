/**
 * TensorFlow.js's wasm backend (4.22) on several threads in Node, from outside the package (see
 * /work/shared/docs/peers-threads.md). It never picks its threaded build in Node
 * (WASM_HAS_MULTITHREAD_SUPPORT is hard-wired false there, tfjs issue 3830); forced on, three
 * things stand in the way, each mended here while the backend initialises:
 *
 *  1. the pthread worker script and the main script reach the workers as Blob URLs, which
 *     worker_threads cannot load: `URL.createObjectURL` is answered with a temporary .cjs file
 *     holding the Blob's text, and the workers' `load` message gets a file path for its Blob;
 *  2. the stringified module factory refers to the bundle's `require$$0..4` and `commonjsGlobal`
 *     (fs, path, worker_threads, perf_hooks, os): the main script's file defines them first;
 *  3. it sizes its pool from `os.cpus().length / 2` (two hyperthreads per core assumed), one
 *     thread on a 2-vCPU machine: `os.cpus()` reports twice the CPUs during initialisation.
 *
 * Call once per process, before anything initialises the wasm backend; the process then runs
 * TF.js wasm on `threads` threads only (the choice is global to TF.js).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** What the stringified factory expects to find around it (the bundle's own bindings). */
const FACTORY_PRELUDE = `var require$$0 = require('fs'), require$$1 = require('path'), require$$2 = require('worker_threads'), require$$3 = require('perf_hooks'), require$$4 = require('os');
var commonjsGlobal = globalThis;
`;

/** Initialises TF.js's wasm backend with its threaded build on `threads` threads; resolves to the threads it reports. */
export async function initTfjsWasmThreads(threads: number): Promise<number> {
  const tf = await import('@tensorflow/tfjs-core');
  const wasmBackend = require('@tensorflow/tfjs-backend-wasm') as { setThreadsCount(n: number): void; getThreadsCount(): number; setWasmPaths(p: string): void };
  wasmBackend.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tfjs-threads-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const blobText = new WeakMap<Blob, string>();

  const RealBlob = globalThis.Blob;
  const realCreateObjectURL = URL.createObjectURL;
  const realPostMessage = Worker.prototype.postMessage;
  const realCpus = os.cpus;
  // (1) and (2): a Blob made of strings keeps its text; its "URL" is a file with that text.
  const toFile = (text: string) => {
    const file = path.join(dir, `script-${files++}.cjs`);
    writeFileSync(file, text.startsWith('var WasmBackendModuleThreadedSimd') ? FACTORY_PRELUDE + text : text);
    return file;
  };
  globalThis.Blob = class extends RealBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts?.every((p) => typeof p === 'string')) blobText.set(this, parts.join(''));
    }
  } as typeof Blob;
  URL.createObjectURL = (blob: Blob) => {
    const text = blobText.get(blob);
    return text === undefined ? realCreateObjectURL(blob) : toFile(text);
  };
  Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: readonly never[]) {
    const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
    if (m?.cmd === 'load' && m.urlOrBlob instanceof RealBlob && blobText.has(m.urlOrBlob)) {
      return realPostMessage.call(this, { ...m, urlOrBlob: toFile(blobText.get(m.urlOrBlob)!) }, transfer);
    }
    return realPostMessage.call(this, message, transfer);
  } as typeof Worker.prototype.postMessage;
  // (3)
  os.cpus = () => [...realCpus(), ...realCpus()];
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasmBackend.setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) throw new Error('TensorFlow.js wasm backend failed to initialise with threads');
    await tf.ready();
  } finally {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreateObjectURL;
    os.cpus = realCpus;
    // The pool's workers are made at initialisation; later `load` messages (new pthreads) still need a file.
  }
  return wasmBackend.getThreadsCount();
}
