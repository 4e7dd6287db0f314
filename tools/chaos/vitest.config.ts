import { defineConfig, mergeConfig } from 'vitest/config';
import { projectConfig, TEST_FILES } from '../../vitest.shared.ts';

/**
 * Files that assert latencies or rates (k6's login times before, during and after a fault; a run's p99 against the
 * one before; the load generator's requests per second; a verdict of PASS, which holds an error-rate hypothesis):
 * they run alone, after the others. With another end-to-end file beside them the CPU they share moves a bcrypt
 * login by tens of ms (k6-journeys read a recovery 29 ms over its baseline, against 25 allowed), and beside
 * kube-apiserver and etcd starting it moved logins into errors: the containers suite, paired with k8s-run, read
 * 9–13 % of logins answered 503 during a partition of messaging → user, twice in a row, in the project's CI of
 * 2026-12-05.
 */
const ALONE = [
  'test/k6-journeys.e2e.test.ts',
  'test/cli.e2e.test.ts',
  'test/containers.e2e.test.ts',
  'test/k8s-run.e2e.test.ts',
  'test/progress.e2e.test.ts',
  'src/verdict/load.test.ts',
];

// The other files two at a time, in CI too: they are end-to-end runs that spend most of their time in an
// experiment's phases (wall time: baseline, hold, recovery), not on the CPU, and they assert verdicts and evidence
// with tolerances, not CPU or timing accuracy (those tests live in the libraries, which keep one file at a time in
// CI). Measured on the 2-core CI machine: the project's files took 652 s one at a time, 473 s two at once.
// The projects extend this config, and an extending project's include adds to its parent's: the parent has none.
export default mergeConfig(
  projectConfig({ include: [] }),
  defineConfig({
    test: {
      projects: [
        {
          extends: true,
          test: {
            name: 'two at a time',
            include: TEST_FILES,
            exclude: ['**/node_modules/**', ...ALONE],
            fileParallelism: true,
            maxWorkers: 2,
            sequence: { groupOrder: 0 },
          },
        },
        {
          extends: true,
          test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } },
        },
      ],
    },
  }),
);
