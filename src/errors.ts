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

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
