/**
 * Class labels: one per line, line k is class k. The TF-Slim / TF-Hub 1001-class heads put
 * `background` at 0 and the ImageNet-1k synsets at 1..1000 (shared/models/PROVENANCE.md §3).
 */
import { ErrorCodes, MobilenetError, badOption, fail } from '../errors.js';
import type { URLLike } from '../dom-types.js';
import { checkFetchOptions, readBytes, type FetchOptions } from '../fetch.js';

/** A labels file is text, one short line per class: anything larger is not one. */
export const MAX_LABELS_BYTES = 16 << 20;

/** Splits on LF or CRLF; one final newline is allowed, empty or blank lines anywhere else are refused. */
export function parseLabels(text: string): string[] {
  if (typeof text !== 'string') fail(ErrorCodes.HEADER_FORMAT, 'labels: expected text');
  const body = text.replace(/^\uFEFF/, '').replace(/\r?\n$/, '');
  if (body.trimStart().startsWith('<')) fail(ErrorCodes.HEADER_FORMAT, 'labels: looks like an HTML page, not a list of labels');
  const labels = body.split(/\r?\n/).map((l) => l.trimEnd());
  const blank = labels.findIndex((l) => l === '');
  if (blank >= 0) fail(ErrorCodes.HEADER_FORMAT, `labels: line ${blank + 1} is empty (${labels.length} lines)`);
  return labels;
}

/**
 * Reads a labels file from a path or URL (one label per line; see parseLabels): a regular file or
 * a response of at most MAX_LABELS_BYTES; `options` as for any load (fetch, signal, timeouts, redirects).
 */
export async function loadLabels(path: string | URLLike, options: FetchOptions = {}): Promise<string[]> {
  if (!(path instanceof URL) && (typeof path !== 'string' || path === '')) badOption('labels', path, 'the path or URL of a labels file');
  if (options === null || typeof options !== 'object') badOption('loadLabels options', options, 'an object');
  checkFetchOptions(options);
  const bytes = await readBytes(path, MAX_LABELS_BYTES, options);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    return fail(ErrorCodes.HEADER_FORMAT, `${path}: labels are not valid UTF-8`, e);
  }
  try {
    return parseLabels(text);
  } catch (e) {
    // Name the file in the message; the code stays the parser's.
    if (e instanceof MobilenetError) fail(e.code, `${path}: ${e.message}`, e);
    throw e;
  }
}
