/**
 * Text files the package carries as TypeScript modules (so they load in every runtime, with no
 * file read next to the compiled code): the vendored ONNX schema (src/onnx/onnx.proto) and the
 * Python checker (src/golden/verify_golden.py). The tests keep each module identical to its
 * source file and rewrite it when run with UPDATE_EMBEDDED=1.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface Embedded {
  /** The source file, edited by hand. */
  source: string;
  /** The generated module. */
  module: string;
  /** The exported constant. */
  name: string;
  /** Lines of comment above the constant (after the generated-file notice). */
  about: string[];
}

export function renderEmbedded(e: Embedded, text: string): string {
  const lines = text.split('\n').map((l) => `  ${JSON.stringify(l)},`);
  return [
    `// Generated from ${e.source} by test/golden/embed.ts (UPDATE_EMBEDDED=1 npx vitest run`,
    `// test/onnx/schema.test.ts test/golden/python-checker.embed.test.ts); do not edit.`,
    ...e.about.map((l) => `// ${l}`),
    '',
    `/** The text of ${e.source}, line by line. */`,
    `export const ${e.name}: string = [`,
    ...lines,
    "].join('\\n');",
    '',
  ].join('\n');
}

/** The module as it should be; rewritten first when UPDATE_EMBEDDED=1. Returns [expected module text, source text]. */
export function embedded(e: Embedded): { expected: string; actual: string; text: string } {
  const text = readFileSync(e.source, 'utf8');
  const expected = renderEmbedded(e, text);
  if (process.env.UPDATE_EMBEDDED === '1') writeFileSync(e.module, expected);
  return { expected, actual: readFileSync(e.module, 'utf8'), text };
}
