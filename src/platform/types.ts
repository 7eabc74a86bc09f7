/**
 * What the engine needs from the runtime it runs in, and nothing more. One implementation per
 * kind of runtime, chosen by the package's `imports` conditions (package.json `#platform`):
 *
 *   node.ts     Node, Deno, Bun: files through node:fs, assets read from the package folder;
 *   web.ts      browsers, Web Workers and any other runtime: fetch, the browser's image decoders
 *               and canvas where they exist, assets by `new URL(..., import.meta.url)` (which
 *               Vite and webpack rewrite when they bundle);
 *   workerd.ts  Cloudflare Workers: the kernels as a compiled wasm module import.
 *
 * So no `node:` module is reachable from a browser or worker graph, and nothing here runs at
 * import time.
 */
import type { WasmSource } from '../backend.js';

/** 8-bit pixels, rows top to bottom, no padding; RGB or RGBA. */
export interface Pixels {
  readonly width: number;
  readonly height: number;
  readonly channels: 3 | 4;
  readonly data: Uint8Array | Uint8ClampedArray;
}

export interface FileInfo {
  readonly kind: 'file' | 'directory' | 'other';
  readonly size: number;
}

/** How an image is decoded: see `ImageOptions` in src/image/sources.ts. */
export interface DecodeRequest {
  readonly bytes: Uint8Array;
  /** `image/png`, `image/jpeg`, `image/webp`, `image/gif`, `image/bmp`, `image/avif`. */
  readonly mimeType: string;
  /** Apply the EXIF orientation (browsers do for `<img>`). */
  readonly orientation: boolean;
}

/** One end of a channel to or from a worker, as each runtime spells it. */
export interface Port {
  post(message: unknown, transfer: Transferable[]): void;
  onMessage(handler: (message: unknown) => void): void;
}

/** The host's end: a port to a worker that can also fail, idle and be ended (what `#spawn-worker` makes). */
export interface WorkerPort extends Port {
  /** Called once if the worker fails to start, throws outside a call, or exits. */
  onFailure(handler: (reason: string) => void): void;
  /** An idle worker does not keep a Node process alive (Node's unref). */
  setIdle(idle: boolean): void;
  terminate(): void;
}

/**
 * One thread worker of a model (src/wasm/threads/): started from the text of a classic script,
 * it shares the model's memory and is driven through it; messages only start and end it.
 */
export interface ThreadPort {
  post(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  /** Called once if the worker fails to start, throws, or exits (not after `terminate`). */
  onFailure(handler: (reason: string) => void): void;
  /** An idle worker does not keep a Node process alive (Node's unref). */
  setIdle(idle: boolean): void;
  terminate(): void;
}

export interface Platform {
  readonly name: 'node' | 'web' | 'workerd';

  /** True where `readFile` and friends work (Node, Deno, Bun). */
  readonly hasFiles: boolean;
  /** A regular file's bytes, at most `maxBytes` (anything else is refused with ERR_IO). */
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
  fileInfo(path: string): Promise<FileInfo>;
  listDir(path: string): Promise<string[]>;
  joinPath(dir: string, name: string): string;
  dirname(path: string): string;
  /** A `file:` URL's path. */
  pathOfFileUrl(url: URL): string;

  /** Where a relative URL string is resolved (a page's address); undefined outside browsers. */
  baseUrl(): string | undefined;

  /** The package's own kernels: a URL to read or fetch, or the compiled module itself. */
  defaultKernels(): Promise<WasmSource>;
  /** The package's threads build (kernels-threads.wasm); absent where threads cannot run. */
  readonly defaultThreadKernels?: () => Promise<WasmSource>;
  /** The package's fast builds (relaxed SIMD): kernels-relaxed.wasm, or with `threads` kernels-threads-relaxed.wasm; absent where none is carried. */
  readonly defaultFastKernels?: (threads: boolean) => Promise<WasmSource>;
  /** Logical cores available to this program (what `threads: 'auto'` uses); at least 1. */
  availableParallelism(): number;
  /**
   * Starts a thread worker running `body` (src/wasm/threads/worker-source.ts) after this
   * platform's prelude (`port`, `exitSelf`); absent where no worker can start.
   */
  readonly spawnThread?: (body: string) => Promise<ThreadPort>;
  /** The package's default model (MobileNet v1 0.5 @ 160, uint8 TFLite): a URL to read or fetch. */
  defaultModel(): Promise<URL | Uint8Array>;

  /** Decodes with the runtime's own image decoder; absent where there is none. */
  readonly decodeImage?: (request: DecodeRequest) => Promise<Pixels>;
  /**
   * The pixels of a runtime image object (HTMLImageElement, HTMLCanvasElement, OffscreenCanvas,
   * ImageBitmap, VideoFrame, HTMLVideoElement, ImageData-like); null when `source` is none of them.
   */
  readonly pixelsOf?: (source: unknown) => Promise<Pixels> | null;
}
