import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: files run in two forks; heavy whole-model tests stay in few files.
    pool: 'forks',
  },
});
