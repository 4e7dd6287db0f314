import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

/** Points TMPDIR at a directory of the run's own, removed at its end (see the file). */
const TMPDIR_SETUP = fileURLToPath(new URL('./vitest.tmpdir.ts', import.meta.url));

/** Where every project's tests are: beside the code, and end-to-end ones under `test/`. */
export const TEST_FILES = ['src/**/*.test.ts', 'test/**/*.test.ts'];

/**
 * The vitest settings every project shares: workspace packages resolve to their TypeScript sources through
 * the `@nova/source` export condition, tests sit beside the code, coverage is v8's, and temporary files go in a
 * directory of the run's own, removed at its end (a project's own global setup runs after that one's).
 */
export function projectConfig(overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: { conditions: ['@nova/source', 'node', 'development|production'] },
    ssr: { resolve: { conditions: ['@nova/source', 'node', 'development|production'] } },
    test: {
      include: TEST_FILES,
      fileParallelism: !process.env.CI,
      environment: 'node',
      pool: 'forks',
      testTimeout: 20_000,
      reporters: process.env.CI ? ['default'] : ['default'],
      coverage: {
        provider: 'v8',
        include: ['src/**/*.ts'],
        exclude: ['src/**/*.test.ts', 'src/**/main.ts'],
        reporter: ['text-summary', 'text'],
      },
      ...overrides,
      globalSetup: [TMPDIR_SETUP, ...[overrides.globalSetup ?? []].flat()],
    },
  });
}
