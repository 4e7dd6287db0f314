import { spawnSync } from 'node:child_process';

/** The k6 binary: `K6_BIN`, or `k6` on the PATH; a clear error with the install command when absent. */
export function k6Binary(): string {
  const bin = process.env['K6_BIN'] ?? 'k6';
  const found = spawnSync(bin, ['version'], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(
      `k6 is required (the real binary): install it with \`GOBIN=/usr/local/bin go install go.k6.io/k6@v1.4.2\` (what .ci/run does), or set K6_BIN`,
    );
  }
  return bin;
}
