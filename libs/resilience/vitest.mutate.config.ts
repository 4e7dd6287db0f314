import { defineConfig } from 'vitest/config';

/**
 * The tests StrykerJS runs against each mutant (`npx nx mutate resilience`): the unit and model tests beside
 * the code. Standalone (no import of the workspace's shared config) because Stryker runs it from a sandbox
 * copy; the copy test and the process-exit test spawn processes and add nothing per mutant.
 */
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 20_000,
  },
});
