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
  /**
   * Network timeouts in milliseconds (a positive number, or `Infinity` for none); a timeout is
   * ERR_IO naming the URL and the timeout.
   *  - `connect`: from the request until the response's status and headers arrive (each
   *    redirect hop has its own). Default 30 000.
   *  - `idle`: the longest wait for the next bytes of the body, once it has started. Default 30 000.
   * File reads do not wait (pipes and devices are refused), so these apply to URLs only.
   */
  timeouts?: FetchTimeouts;
  /**
   * Where an HTTP redirect may lead. `'same-origin'` (the default): only to the origin of the URL
   * asked for; a redirect to another origin is ERR_IO naming both, and no request is sent there.
   * `'any'`: anywhere the fetch follows. Redirects are followed here (`redirect: 'manual'`), at
   * most 10 hops; where the runtime hides a manual redirect's target (browsers give an
   * `opaqueredirect`), the request is made again with `redirect: 'follow'` and the final
   * `response.url` is checked instead.
   */
  redirects?: RedirectPolicy;
}

export interface FetchTimeouts {
  /** Milliseconds from the request to the response headers. Default 30 000. */
  connect?: number;
  /** Milliseconds without a byte of the body. Default 30 000. */
  idle?: number;
}

export type RedirectPolicy = 'same-origin' | 'any';

/** Defaults of `FetchOptions.timeouts`, in milliseconds. */
export const DEFAULT_TIMEOUTS: Readonly<Required<FetchTimeouts>> = { connect: 30_000, idle: 30_000 };
/** The most redirect hops followed for one request. */
export const MAX_REDIRECTS = 10;

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
  const t = options.timeouts as unknown;
  if (t !== undefined) {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) badOption('timeouts', t, 'an object {connect?, idle?} of milliseconds');
    for (const key of Object.keys(t)) {
      const v = (t as Record<string, unknown>)[key];
      if (key !== 'connect' && key !== 'idle') badOption(`timeouts.${key}`, v, 'no such timeout: connect or idle');
      if (v !== undefined && !(typeof v === 'number' && v > 0)) badOption(`timeouts.${key}`, v, 'a number of milliseconds above 0, or Infinity');
    }
  }
  if (options.redirects !== undefined && options.redirects !== 'same-origin' && options.redirects !== 'any') {
    badOption('redirects', options.redirects, '"same-origin" or "any"');
  }
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
  checkAborted(options.signal, url.href);
  const link = linkSignal(options.signal);
  try {
    const res = await request(url, fetchFn, options, link.controller);
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      fail(ErrorCodes.IO, `${url.href}: HTTP ${res.status} ${res.statusText}`.trimEnd());
    }
    return await readResponse(res, cap, url.href, { ...options, signal: link.controller.signal });
  } finally {
    link.unlink();
  }
}

/** An AbortController that follows the caller's signal, so a timeout can abort the request without touching the caller's. */
function linkSignal(signal: AbortSignalLike | undefined): { controller: AbortController; unlink(): void } {
  const controller = new AbortController();
  if (!signal) return { controller, unlink: () => {} };
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return { controller, unlink: () => signal.removeEventListener('abort', onAbort) };
}

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/**
 * The response to a GET of `url`, its redirects followed under `options.redirects` (see
 * FetchOptions), each hop within the connect timeout.
 */
async function request(url: URLLike, fetchFn: FetchFunction, options: FetchOptions, controller: AbortController): Promise<ResponseObject> {
  const policy = options.redirects ?? 'same-origin';
  const connect = options.timeouts?.connect ?? DEFAULT_TIMEOUTS.connect;
  const { signal } = controller;
  const get = (target: URLLike, redirect: RequestRedirect) =>
    wrapNetwork(url.href, options.signal, () =>
      deadline(
        Promise.resolve(fetchFn(target, { signal, redirect })),
        connect,
        () => new MobilenetError(ErrorCodes.IO, `${target.href}: no response within ${connect} ms (the connect timeout, options.timeouts.connect)`),
        controller,
      ),
    );
  const checked = (res: unknown): ResponseObject => {
    if (!res || typeof (res as Response).ok !== 'boolean') fail(ErrorCodes.IO, `${url.href}: fetch returned ${res === null ? 'null' : typeof res}, not a Response`);
    return res as ResponseObject;
  };
  /** A fetch that followed a redirect itself (a browser, or a custom fetch): where it ended must be allowed too. */
  const checkFinal = (res: ResponseObject): ResponseObject => {
    if (policy === 'same-origin' && typeof res.url === 'string' && res.url !== '') {
      let final: URL | null = null;
      try {
        final = new URL(res.url);
      } catch {
        // Not a URL: nothing to compare.
      }
      if (final && final.origin !== url.origin) {
        // Its body is not read: cancelled, so the connection is not left holding it.
        void Promise.resolve(res.body?.cancel()).catch(() => {});
        offOrigin(url, final);
      }
    }
    return res;
  };
  if (policy === 'any') return checked(await get(url, 'follow'));
  let current = url;
  for (let hop = 0; ; hop++) {
    const res = checked(await get(current, 'manual'));
    if (res.type === 'opaqueredirect') {
      // The runtime hides where a manual redirect leads (browsers): follow it, then check where it ended.
      return checkFinal(checked(await get(url, 'follow')));
    }
    const location = REDIRECT_STATUS.has(res.status) ? res.headers?.get('location') : null;
    if (!location) return checkFinal(res);
    await res.body?.cancel().catch(() => {});
    let next: URL;
    try {
      next = new URL(location, current);
    } catch (e) {
      return fail(ErrorCodes.IO, `${url.href}: HTTP ${res.status} redirects to ${JSON.stringify(location.slice(0, 200))}, which is not a URL`, e);
    }
    if (next.origin !== url.origin) offOrigin(url, next);
    if (hop + 1 > MAX_REDIRECTS) fail(ErrorCodes.IO, `${url.href}: more than ${MAX_REDIRECTS} redirects (the last to ${next.href})`);
    current = next;
  }
}

function offOrigin(asked: URLLike, to: URLLike): never {
  return fail(
    ErrorCodes.IO,
    `${asked.href}: redirected to ${to.href}, on origin ${to.origin}; expected the origin asked for, ${asked.origin} (pass redirects: 'any' to allow other origins)`,
  );
}

/**
 * `p`, or the error `onTimeout` makes when `ms` pass first (the controller is then aborted with
 * it, which ends the request). `Infinity` (or more than setTimeout can count) waits for ever.
 */
function deadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error, controller?: AbortController): Promise<T> {
  if (!(ms <= 2 ** 31 - 1)) return p;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = onTimeout();
      controller?.abort(err);
      reject(err);
    }, ms);
  });
  // The losing promise may still settle later: its rejection is handled here, not left unhandled.
  p.catch(() => {});
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The body of a Response, at most `cap` bytes, with progress, abort and the idle timeout. */
export async function readResponse(res: ResponseObject, cap: number, where: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const { signal, onProgress } = options;
  const idle = options.timeouts?.idle ?? DEFAULT_TIMEOUTS.idle;
  const stalled = (loaded: number) => () =>
    new MobilenetError(ErrorCodes.IO, `${where}: no data for ${idle} ms after ${loaded} bytes of the body (the idle timeout, options.timeouts.idle)`);
  const guard = <T>(f: () => Promise<T>): Promise<T> => wrapNetwork(where, signal, f);
  const tooBig = (n: number | string) => fail(ErrorCodes.BYTE_LENGTH, `${where}: ${n} bytes, more than the ${cap} expected`);
  const declared = Number(res.headers?.get('content-length') ?? NaN);
  if (declared > cap) {
    await res.body?.cancel().catch(() => {});
    tooBig(declared);
  }
  const total = Number.isFinite(declared) ? declared : null;
  if (!res.body) {
    const bytes = new Uint8Array(await guard(() => deadline(res.arrayBuffer(), idle, stalled(0))));
    if (bytes.length > cap) tooBig(bytes.length);
    onProgress?.({ url: where, loaded: bytes.length, total: total ?? bytes.length });
    return bytes;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await guard(() => deadline(reader.read(), idle, stalled(loaded)));
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

async function wrapNetwork<T>(where: string, signal: AbortSignalLike | undefined, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof MobilenetError) throw e;
    if (signal?.aborted) fail(ErrorCodes.ABORTED, `${where}: aborted`, signal.reason);
    return fail(ErrorCodes.IO, `${where}: ${networkMessage(e)}`, e);
  }
}

/** "fetch failed" says nothing; undici keeps what failed (refused, reset, DNS) in `cause`. */
function networkMessage(e: unknown): string {
  const message = (e as Error)?.message ?? String(e);
  const cause = (e as { cause?: { message?: unknown; code?: unknown } })?.cause;
  const detail = typeof cause?.message === 'string' && cause.message ? cause.message : typeof cause?.code === 'string' ? cause.code : '';
  return detail && !message.includes(detail) ? `${message} (${detail})` : message;
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
