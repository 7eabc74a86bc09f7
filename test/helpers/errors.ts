/** Shared assertion for refusals: `f` throws a MobilenetError with `code` (and a message matching `message`). */
import { expect } from 'vitest';
import { MobilenetError } from '../../src/errors.js';

export function expectCode(f: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(MobilenetError);
  expect((thrown as MobilenetError).code).toBe(code);
  if (message) expect((thrown as Error).message).toMatch(message);
}
