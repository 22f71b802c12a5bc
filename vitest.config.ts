import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: e2e files start daemons; more workers only contend.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
