import type { TestProject } from 'vitest/node';
import { startLocalPostgres } from './index.ts';

/**
 * vitest globalSetup: one real PostgreSQL for a project's test run (embedded, or `DATABASE_URL`),
 * provided to the tests as `inject('postgresUrl')`, and stopped afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startLocalPostgres();
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
