/**
 * Reading bytes from where the caller points: an http(s) (or blob:, data:) URL with fetch, a
 * file: URL or a path with the platform's file access. Every read has a byte cap, can be
 * aborted, and reports progress; every failure is a coded error naming the URL or path.
 */
import { platform } from '#platform';
import type { AbortSignalLike, FetchFunction, ResponseObject, URLLike } from './dom-types.js';
import { ErrorCodes, MobilenetError, badOption, fail } from './errors.js';

export interface LoadProgress {
  /** The URL or path being read. */
  readonly url: string;
  readonly loaded: number;
  /** From Content-Length or the file's size; null when the server does not say. */
  readonly total: number | null;
}

export interface FetchOptions {
  /** The fetch to use for URLs. Default: the global fetch. */
  fetch?: FetchFunction;
  /** Stops a load in progress (ERR_ABORTED). */
  signal?: AbortSignalLike;
  /** Called as bytes arrive (network reads) or once a file is read. */
  onProgress?: (progress: LoadProgress) => void;
}

/** The parts of a Blob / File read here (structural, so no DOM or Node types are needed). */
export interface BlobLike {
  readonly size: number;
  readonly type: string;
  arrayBuffer(): Promise<ArrayBuffer>;
  /** File names it. */
  readonly name?: string;
}

/** The parts of a fetch Response read here. */
export interface ResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly url: string;
  readonly body: unknown;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export const isBlobLike = (v: unknown): v is BlobLike =>
  typeof v === 'object' && v !== null && typeof (v as BlobLike).arrayBuffer === 'function' && typeof (v as BlobLike).size === 'number' && typeof (v as BlobLike).type === 'string';
export const isResponseLike = (v: unknown): v is ResponseLike =>
  typeof v === 'object' && v !== null && typeof (v as ResponseLike).ok === 'boolean' && typeof (v as ResponseLike).status === 'number' && typeof (v as ResponseLike).arrayBuffer === 'function';

/** Throws ERR_ABORTED when the signal has fired. */
export function checkAborted(signal: AbortSignalLike | undefined, what: string): void {
  if (signal?.aborted) fail(ErrorCodes.ABORTED, `${what}: aborted`, signal.reason);
}

/** Checks the fetch options the caller gave (they reach here from every API that reads). */
export function checkFetchOptions(options: FetchOptions): void {
  if (options.fetch !== undefined && typeof options.fetch !== 'function') badOption('fetch', options.fetch, 'a fetch function');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') badOption('onProgress', options.onProgress, 'a function');
  const s = options.signal as unknown;
  if (s !== undefined && (s === null || typeof s !== 'object' || typeof (s as AbortSignal).aborted !== 'boolean')) badOption('signal', s, 'an AbortSignal');
}

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/** A URL object, a string with a scheme (not a Windows drive letter), or null for a path. */
export function asUrl(source: string | URLLike): URLLike | null {
  if (source instanceof URL) return source;
  const scheme = SCHEME.exec(source)?.[1];
  if (scheme && !(scheme.length === 1 && platform.hasFiles)) {
    try {
      return new URL(source);
    } catch {
      return null;
    }
  }
  if (!platform.hasFiles) {
    // No file system: a relative string is a URL relative to the page.
    const base = platform.baseUrl();
    if (base) return new URL(source, base);
  }
  return null;
}

/**
 * The bytes at a path or URL, at most `cap`. A path needs file access (Node, Deno, Bun); a
 * file: URL reads the file where there is file access and is fetched elsewhere.
 */
export async function readBytes(source: string | URLLike, cap: number, options: FetchOptions = {}): Promise<Uint8Array> {
  const url = asUrl(source);
  const name = url?.href ?? String(source);
  checkAborted(options.signal, name);
  if (url === null || (url.protocol === 'file:' && platform.hasFiles)) {
    if (!platform.hasFiles) fail(ErrorCodes.IO, `${name}: reading a file path needs Node, Deno or Bun; in this runtime pass a URL, bytes or a Blob`);
    const path = url ? platform.pathOfFileUrl(url) : (source as string);
    const bytes = await platform.readFile(path, cap);
    options.onProgress?.({ url: path, loaded: bytes.length, total: bytes.length });
    return bytes;
  }
  return fetchBytes(url, cap, options);
}

/** GETs a URL and reads at most `cap` bytes, with or without a Content-Length; more is refused, not read. */
export async function fetchBytes(url: URLLike, cap: number, options: FetchOptions = {}): Promise<Uint8Array> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') fail(ErrorCodes.OPTION, `${url.href}: no fetch function is available to load a URL (pass options.fetch)`);
  const { signal, onProgress } = options;
  checkAborted(signal, url.href);
  const guard = <T>(f: () => Promise<T>): Promise<T> => wrapNetwork(url.href, signal, f);
  const res = await guard(() => fetchFn(url, signal ? { signal } : undefined));
  if (!res || typeof (res as Response).ok !== 'boolean') fail(ErrorCodes.IO, `${url.href}: fetch returned ${res === null ? 'null' : typeof res}, not a Response`);
  if (!res.ok) fail(ErrorCodes.IO, `${url.href}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  return readResponse(res, cap, url.href, options);
}

/** The body of a Response, at most `cap` bytes, with progress and abort. */
export async function readResponse(res: ResponseObject, cap: number, where: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const { signal, onProgress } = options;
  const guard = <T>(f: () => Promise<T>): Promise<T> => wrapNetwork(where, signal, f);
  const tooBig = (n: number | string) => fail(ErrorCodes.BYTE_LENGTH, `${where}: ${n} bytes, more than the ${cap} expected`);
  const declared = Number(res.headers?.get('content-length') ?? NaN);
  if (declared > cap) tooBig(declared);
  const total = Number.isFinite(declared) ? declared : null;
  if (!res.body) {
    const bytes = new Uint8Array(await guard(() => res.arrayBuffer()));
    if (bytes.length > cap) tooBig(bytes.length);
    onProgress?.({ url: where, loaded: bytes.length, total: total ?? bytes.length });
    return bytes;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await guard(() => reader.read());
      if (done) break;
      loaded += value.length;
      if (loaded > cap) tooBig(`at least ${loaded}`);
      parts.push(value);
      onProgress?.({ url: where, loaded, total });
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
  return concat(parts, loaded);
}

async function wrapNetwork<T>(where: string, signal: AbortSignal | undefined, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof MobilenetError) throw e;
    if (signal?.aborted) fail(ErrorCodes.ABORTED, `${where}: aborted`, signal.reason);
    return fail(ErrorCodes.IO, `${where}: ${(e as Error)?.message ?? String(e)}`, e);
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
