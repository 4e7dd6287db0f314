import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { k6Binary, LOAD_SCRIPT } from '@nova/k6';
import { LoadGenerator, targetsOf, type LoadSource, type Sample, type TargetsSource } from './load.ts';

/**
 * The load as the real k6 (`chaos run --load k6`): the same journeys at the same rate, run by k6, whose
 * `--out json` points become the harness's samples, so the hypotheses and reports are the same. k6 is given
 * the replicas' URLs when it starts and keeps them: a replica that moves mid-run is not followed (the built-in
 * generator follows it).
 */
export class K6Load implements LoadSource {
  readonly samples: Sample[] = [];
  private readonly started = Date.now();
  private readonly inner: LoadGenerator;
  private proc: ChildProcess | undefined;
  /** k6's points file, in a temporary directory of its own made at start and removed at stop. */
  private out: string | undefined;
  private offset = 0;
  private pending = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly targets: TargetsSource,
    private readonly options: { ratePerSecond: number },
  ) {
    k6Binary();
    // Account set-up is the built-in generator's: the same users, created and logged in before any fault.
    this.inner = new LoadGenerator(targets, options);
  }

  now(): number {
    return Date.now() - this.started;
  }

  prepare(): Promise<void> {
    return this.inner.prepare();
  }

  start(): void {
    const targets = targetsOf(this.targets);
    this.out = join(mkdtempSync(join(tmpdir(), 'nova-k6-load-')), 'points.jsonl');
    this.proc = spawn(
      k6Binary(),
      ['run', '--quiet', '--no-usage-report', '--no-summary', '--out', `json=${this.out}`, LOAD_SCRIPT],
      {
        env: {
          ...process.env,
          ACCOUNTS: JSON.stringify(this.inner.accounts),
          RATE: String(this.options.ratePerSecond),
          USER_URL: targets.user.join(','),
          AUTH_URL: targets.auth.join(','),
          MESSAGING_URL: targets.messaging.join(','),
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    this.timer = setInterval(() => this.read(), 200);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    this.read();
    // Every point k6 wrote is read: its file (as large as the run is long) goes.
    if (this.out) rmSync(dirname(this.out), { recursive: true, force: true });
    this.out = undefined;
    await this.inner.stop();
  }

  /** Reads the points k6 appended since the last call. */
  private read(): void {
    if (this.out === undefined) return;
    let fd: number;
    try {
      fd = openSync(this.out, 'r');
    } catch {
      return; // k6 has not created it yet
    }
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.pending += buf.subarray(0, n).toString();
      }
    } finally {
      closeSync(fd);
    }
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('"metric":"journey_duration"') || !line.includes('"type":"Point"')) continue;
      const p = JSON.parse(line) as { data: { time: string; value: number; tags: Record<string, string> } };
      const status = Number(p.data.tags['status']);
      // The point is stamped when the journey step ends: it started `duration` earlier.
      this.samples.push({
        at: Date.parse(p.data.time) - p.data.value - this.started,
        journey: p.data.tags['journey'] ?? 'unknown',
        latencyMs: p.data.value,
        ok: p.data.tags['ok'] === 'true',
        status: status || 'connection-error',
      });
    }
  }
}
