/**
 * One error class for everything the engine refuses. `code` is stable (tests and callers
 * match on it); the message names what was expected and what was found.
 * The numbers in comments refer to the cases of shared/docs/bad-inputs.md.
 */
export const ErrorCodes = {
  FILE_TOO_SHORT: 'ERR_FILE_TOO_SHORT', // 1
  HEADER_LENGTH: 'ERR_HEADER_LENGTH', // 2
  HEADER_FORMAT: 'ERR_HEADER_FORMAT', // 3
  DUPLICATE_TENSOR: 'ERR_DUPLICATE_TENSOR', // 3
  DTYPE: 'ERR_DTYPE', // 4
  SHAPE: 'ERR_SHAPE', // 5
  OFFSETS: 'ERR_OFFSETS', // 6
  BYTE_LENGTH: 'ERR_BYTE_LENGTH', // 7
  OVERLAP: 'ERR_OVERLAP', // 8
  MANIFEST: 'ERR_MANIFEST', // 9
  TFLITE: 'ERR_TFLITE', // 10
  WEIGHT_MISSING: 'ERR_WEIGHT_MISSING', // 11
  WEIGHT_UNEXPECTED: 'ERR_WEIGHT_UNEXPECTED', // 11
  WEIGHT_SHAPE: 'ERR_WEIGHT_SHAPE', // 12
  WEIGHT_NONFINITE: 'ERR_WEIGHT_NONFINITE', // 13
  OPTION: 'ERR_OPTION', // 14
  INPUT: 'ERR_INPUT', // 15
  IMAGE_DECODE: 'ERR_IMAGE_DECODE', // 16
  INPUT_NONFINITE: 'ERR_INPUT_NONFINITE', // 17
  NO_SIMD: 'ERR_NO_SIMD', // 18
  WASM_BYTES: 'ERR_WASM_BYTES', // 19
  MEMORY_LIMIT: 'ERR_MEMORY_LIMIT', // 20
  DISPOSED: 'ERR_DISPOSED', // 21
  IO: 'ERR_IO',
  /** An image in a format this runtime cannot decode (WebP, GIF, BMP outside browsers). */
  IMAGE_FORMAT: 'ERR_IMAGE_FORMAT',
  /** The model's worker failed or ended while a call was pending. */
  WORKER: 'ERR_WORKER',
  /** A load or a call stopped by the caller's AbortSignal. */
  ABORTED: 'ERR_ABORTED',
  /** The wasm kernels trapped while running (custom or broken kernels). */
  KERNEL: 'ERR_KERNEL',
  /** Finite inputs and weights gave non-finite outputs (an overflow). */
  OUTPUT_NONFINITE: 'ERR_OUTPUT_NONFINITE',
  /** A classification head's training examples cannot make a head (none, one class only, a class with no examples, a bad label). */
  HEAD_DATA: 'ERR_HEAD_DATA',
  /** An embedding of the wrong length, or with a NaN or infinite value (training examples or a prediction's input). */
  EMBEDDING: 'ERR_EMBEDDING',
  /** A head file that is not a head of ours, or whose contents disagree with its own metadata. */
  HEAD_FORMAT: 'ERR_HEAD_FORMAT',
  /** A head saved for another base model (alpha, resolution, end point, pixel normalisation or weights differ). */
  HEAD_MODEL: 'ERR_HEAD_MODEL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class MobilenetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MobilenetError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string, cause?: unknown): never {
  throw new MobilenetError(code, message, cause === undefined ? undefined : { cause });
}

/** A refused option: names the option, the value given and what is allowed. */
export function badOption(option: string, value: unknown, allowed: string): never {
  fail(ErrorCodes.OPTION, `option ${option}: expected ${allowed}, got ${describe(value)}`);
}

/** Longest description of a value in a message; deeper or longer values are cut with `…`. */
const DESCRIBE_MAX_CHARS = 200;
const DESCRIBE_MAX_DEPTH = 4;
const DESCRIBE_MAX_ITEMS = 16;

/**
 * A short, bounded rendering of any value for an error message: strings quoted, arrays and
 * plain objects to a few levels and items, class instances by their class name. Never recurses
 * without a bound and never throws, whatever the caller passed (deep JSON, cycles, getters).
 */
export function describe(value: unknown): string {
  const text = render(value, 0);
  return text.length > DESCRIBE_MAX_CHARS ? `${text.slice(0, DESCRIBE_MAX_CHARS - 1)}…` : text;
}

function render(value: unknown, depth: number): string {
  if (typeof value === 'string') return JSON.stringify(value.length > DESCRIBE_MAX_CHARS ? `${value.slice(0, DESCRIBE_MAX_CHARS)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value == null) return String(value);
  if (typeof value === 'function') return `a function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol') return value.toString();
  try {
    if (Array.isArray(value)) {
      if (depth >= DESCRIBE_MAX_DEPTH) return '[…]';
      const items = value.slice(0, DESCRIBE_MAX_ITEMS).map((v) => render(v, depth + 1));
      return `[${items.join(', ')}${value.length > DESCRIBE_MAX_ITEMS ? `, … (${value.length} items)` : ''}]`;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return `a ${typeNameOf(value)}`;
    if (depth >= DESCRIBE_MAX_DEPTH) return '{…}';
    const keys = Object.keys(value as object);
    const items = keys.slice(0, DESCRIBE_MAX_ITEMS).map((k) => `${JSON.stringify(k)}: ${render((value as Record<string, unknown>)[k], depth + 1)}`);
    return `{${items.join(', ')}${keys.length > DESCRIBE_MAX_ITEMS ? ', …' : ''}}`;
  } catch {
    return 'an object';
  }
}

/** The class name of a value (`Uint8Array`, `HTMLImageElement`), or its typeof. */
export function typeNameOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object' && typeof value !== 'function') return typeof value;
  try {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? name : 'object';
  } catch {
    return 'object';
  }
}
