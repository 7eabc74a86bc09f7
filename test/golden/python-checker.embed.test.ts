/**
 * The Python checker written into every bundle: src/golden/verify_golden.py is the source,
 * src/golden/python-checker.ts holds its text (UPDATE_EMBEDDED=1 regenerates it).
 */
import { describe, expect, it } from 'vitest';
import { PYTHON_CHECKER } from '../../src/golden/python-checker.js';
import { embedded } from './embed.js';

describe('the Python checker module', () => {
  it('src/golden/python-checker.ts holds src/golden/verify_golden.py exactly', () => {
    const { expected, actual, text } = embedded({
      source: 'src/golden/verify_golden.py',
      module: 'src/golden/python-checker.ts',
      name: 'PYTHON_CHECKER',
      about: ['The checker every golden bundle carries as verify_golden.py (python3 and numpy only).'],
    });
    expect(actual, 'regenerate: UPDATE_EMBEDDED=1 npx vitest run test/golden/python-checker.embed.test.ts').toBe(expected);
    expect(PYTHON_CHECKER).toBe(text);
  });
});
