import { defineConfig } from 'vitest/config';

// Tests spawn real servers and gateways; two cores, so keep parallelism modest.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
