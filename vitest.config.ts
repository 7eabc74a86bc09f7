import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // The package's own `imports` point at dist/; the tests run the sources (Node's platform).
    alias: {
      '#platform': src('platform/node.ts'),
      '#spawn-worker': src('platform/spawn-node.ts'),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: files run in two forks; heavy whole-model tests stay in few files.
    pool: 'forks',
  },
});
