import { defineConfig } from 'vitest/config';

// Tests spawn real servers and gateways; two cores, so keep parallelism modest. The timeouts only
// say when a test that hangs is reported: tests assert behaviour, never time. They leave room for a
// test that starts a gateway, its servers and several CLI processes on a slow machine under the
// whole run's load (a machine where spawning costs three times as much as on a fast one).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
