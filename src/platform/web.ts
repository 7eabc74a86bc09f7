/**
 * The platform for browsers, Web Workers and any runtime without Node's modules (the package's
 * `browser`, `worker` and `default` conditions). No file system: paths are refused, relative
 * strings are URLs relative to the page. The package's kernels and default model are found by
 * `new URL('…', import.meta.url)`, which Vite and webpack rewrite to the emitted files.
 * Images decode with the browser's own decoder (`createImageBitmap` and a 2D canvas) where it
 * exists.
 */
import type { WasmSource } from '../backend.js';
import { ErrorCodes, fail } from '../errors.js';
import type { DecodeRequest, Pixels, Platform, ThreadPort } from './types.js';

const noFiles = (what: string): never =>
  fail(ErrorCodes.IO, `${what}: reading files needs Node, Deno or Bun; in this runtime pass a URL, bytes, a Blob or a Response`);

/** A package file's URL; fails clearly where the bundle has no `import.meta.url` (IIFE or CommonJS output). */
function packageUrl(what: string, make: () => URL): URL {
  try {
    return make();
  } catch (e) {
    return fail(ErrorCodes.IO, `${what}: cannot locate it beside the package (this bundle has no usable import.meta.url); pass it yourself, or import from "mobilenet-wasm/inline"`, e);
  }
}

type Canvas2D = {
  drawImage(image: unknown, x: number, y: number, w?: number, h?: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray; width: number; height: number };
};

/** A 2D context of the given size: an OffscreenCanvas (also in workers), else a <canvas>. */
function context2d(width: number, height: number): Canvas2D {
  const options = { willReadFrequently: true, colorSpace: 'srgb' } as const;
  if (typeof OffscreenCanvas === 'function') {
    const ctx = new OffscreenCanvas(width, height).getContext('2d', options);
    if (ctx) return ctx as unknown as Canvas2D;
  }
  if (typeof document === 'object' && document?.createElement) {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d', options);
    if (ctx) return ctx as unknown as Canvas2D;
  }
  return fail(ErrorCodes.IMAGE_DECODE, 'this runtime has no 2D canvas to read pixels with');
}

/** Draws any canvas image source at its natural size and reads its RGBA pixels. */
function readPixels(source: unknown, width: number, height: number, what: string): Pixels {
  if (!(width >= 1 && height >= 1)) fail(ErrorCodes.INPUT, `${what}: has no pixels yet (${width}x${height}); wait until it has loaded`);
  const ctx = context2d(width, height);
  ctx.drawImage(source, 0, 0, width, height);
  const { data } = ctx.getImageData(0, 0, width, height);
  return { width, height, channels: 4, data };
}

const has = (name: string): boolean => typeof (globalThis as Record<string, unknown>)[name] === 'function';
const isA = (value: unknown, name: string): boolean => has(name) && value instanceof ((globalThis as Record<string, unknown>)[name] as abstract new (...a: never[]) => unknown);

async function pixelsOfElement(source: unknown): Promise<Pixels> {
  if (isA(source, 'HTMLImageElement')) {
    const img = source as HTMLImageElement;
    if (!img.complete || img.naturalWidth === 0) {
      await img.decode().catch((e: unknown) => fail(ErrorCodes.IMAGE_DECODE, `HTMLImageElement ${img.currentSrc || img.src}: cannot be decoded (${(e as Error)?.message ?? e})`, e));
    }
    return readPixels(img, img.naturalWidth, img.naturalHeight, 'HTMLImageElement');
  }
  if (isA(source, 'HTMLVideoElement')) {
    const video = source as HTMLVideoElement;
    // HAVE_CURRENT_DATA: a frame is there to read.
    if (video.readyState < 2) fail(ErrorCodes.INPUT, 'HTMLVideoElement: no current frame yet (readyState < HAVE_CURRENT_DATA); wait for "loadeddata"');
    return readPixels(video, video.videoWidth, video.videoHeight, 'HTMLVideoElement');
  }
  if (isA(source, 'VideoFrame')) {
    const frame = source as VideoFrame;
    return readPixels(frame, frame.displayWidth, frame.displayHeight, 'VideoFrame');
  }
  const sized = source as { width: number; height: number };
  return readPixels(source, sized.width, sized.height, (source as object).constructor?.name ?? 'image');
}

const ELEMENT_TYPES = ['HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'OffscreenCanvas', 'ImageBitmap', 'VideoFrame', 'SVGImageElement'];

async function decodeImage(request: DecodeRequest): Promise<Pixels> {
  const blob = new Blob([request.bytes as Uint8Array<ArrayBuffer>], { type: request.mimeType });
  // The stored colours (no colour management), straight alpha; EXIF orientation as <img> shows it.
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
    imageOrientation: request.orientation ? 'from-image' : 'none',
  } as ImageBitmapOptions);
  try {
    return readPixels(bitmap, bitmap.width, bitmap.height, 'image');
  } finally {
    bitmap.close();
  }
}

/** What a thread worker's script finds before its body (see src/wasm/threads/worker-source.ts). */
const THREAD_PRELUDE = `'use strict';
const port = {
  post: (m) => self.postMessage(m),
  once: (h) => { self.onmessage = (e) => { self.onmessage = null; h(e.data); }; },
};
const exitSelf = () => self.close();
`;

/**
 * A classic Web Worker from the text of a script, through a Blob URL: no file to find, whatever
 * the bundler did with the package (a page whose Content-Security-Policy forbids blob: workers
 * cannot start it; the model then runs on one thread and says so).
 */
async function spawnThread(body: string): Promise<ThreadPort> {
  const url = URL.createObjectURL(new Blob([THREAD_PRELUDE + body], { type: 'text/javascript' }));
  let worker: Worker;
  try {
    worker = new Worker(url, { name: 'mobilenet-wasm thread' });
  } finally {
    URL.revokeObjectURL(url);
  }
  let failed = false;
  let ended = false;
  const failures: ((reason: string) => void)[] = [];
  const onFail = (reason: string) => {
    if (failed || ended) return;
    failed = true;
    failures.forEach((f) => f(reason));
  };
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    onFail(`threw or could not start: ${e.message || '(see the console)'}`);
  });
  worker.addEventListener('messageerror', () => onFail('sent a message that could not be read'));
  return {
    post: (message) => worker.postMessage(message),
    onMessage: (handler) => worker.addEventListener('message', (e) => handler(e.data)),
    onFailure: (handler) => failures.push(handler),
    setIdle: () => {},
    terminate: () => {
      ended = true;
      worker.terminate();
    },
  };
}

const canDecode = has('createImageBitmap') && has('Blob') && (has('OffscreenCanvas') || typeof document === 'object');

export const platform: Platform = {
  name: 'web',
  hasFiles: false,
  readFile: async (path) => noFiles(path),
  fileInfo: async (path) => noFiles(path),
  listDir: async (path) => noFiles(path),
  joinPath: (dir, name) => `${dir.replace(/\/+$/, '')}/${name}`,
  dirname: (path) => path.replace(/\/[^/]*$/, '') || '/',
  pathOfFileUrl: (url) => noFiles(url.href),
  baseUrl: () => (globalThis as { location?: { href?: string } }).location?.href,
  async defaultKernels(): Promise<WasmSource> {
    return packageUrl('kernels.wasm', () => new URL('../../build/kernels.wasm', import.meta.url));
  },
  async defaultThreadKernels(): Promise<WasmSource> {
    return packageUrl('kernels-threads.wasm', () => new URL('../../build/kernels-threads.wasm', import.meta.url));
  },
  async defaultFastKernels(threads: boolean): Promise<WasmSource> {
    // One literal URL per file, so that bundlers (Vite, webpack) emit both.
    return threads
      ? packageUrl('kernels-threads-relaxed.wasm', () => new URL('../../build/kernels-threads-relaxed.wasm', import.meta.url))
      : packageUrl('kernels-relaxed.wasm', () => new URL('../../build/kernels-relaxed.wasm', import.meta.url));
  },
  availableParallelism: () => Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency || 1),
  ...(has('Worker') && has('Blob') ? { spawnThread } : {}),
  async defaultModel() {
    return packageUrl('the default model', () => new URL('../../assets/mobilenet_v1_0.5_160_quant.tflite', import.meta.url));
  },
  ...(canDecode ? { decodeImage } : {}),
  pixelsOf: (source) => (ELEMENT_TYPES.some((t) => isA(source, t)) ? pixelsOfElement(source) : null),
};
