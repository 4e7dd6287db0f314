import { createLogUpdate } from 'log-update';
import type { Sample } from '../verdict/load.ts';
import type { PhaseEvent } from '../run/runner.ts';

/** How a run shows its progress: a live display (a terminal), plain lines (logs, CI), or JSON events (tools). */
export type OutputMode = 'live' | 'plain' | 'json';

export const OUTPUT_MODES = ['live', 'plain', 'json'] as const;

/** `--output`, or by default live on a terminal and plain elsewhere (CI, pipes, files). */
export function outputMode(flag: string | undefined, stdoutIsTTY: boolean, env = process.env): OutputMode {
  if (flag !== undefined) {
    if (!(OUTPUT_MODES as readonly string[]).includes(flag)) {
      throw new RangeError(`--output ${flag}: expected ${OUTPUT_MODES.join(', ')}`);
    }
    return flag as OutputMode;
  }
  return stdoutIsTTY && !env['CI'] && env['TERM'] !== 'dumb' ? 'live' : 'plain';
}

/** The load as it is now: p99 and error rate of the requests started in the last `spanMs`. */
export interface LiveFigures {
  count: number;
  p99Ms: number;
  errorRate: number;
  spanMs: number;
}

/**
 * Figures of the requests started in [now − spanMs, now − 250 ms): the newest quarter second is left out
 * because its requests have not all finished. Scans from the end (samples are appended as they finish).
 */
export function recentFigures(samples: readonly Sample[], now: number, spanMs = 2_000): LiveFigures {
  const from = now - spanMs - 250;
  const to = now - 250;
  const latencies: number[] = [];
  let failed = 0;
  // Samples finish out of order by at most the load's timeout; 10 s of slack covers it.
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    if (s.at < from - 10_000) break;
    if (s.at < from || s.at >= to) continue;
    latencies.push(s.latencyMs);
    if (!s.ok) failed++;
  }
  latencies.sort((a, b) => a - b);
  const p99 = latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(0.99 * latencies.length) - 1)]! : 0;
  return { count: latencies.length, p99Ms: p99, errorRate: latencies.length ? failed / latencies.length : 0, spanMs };
}

/** What the live display shows: the experiment running now, and how many are done of how many. */
export interface LiveState {
  current: PhaseEvent | undefined;
  done: number;
  total: number;
}

const SYMBOL: Record<string, string> = { pass: '✔', fail: '✖', error: '✖', inconclusive: '?', skipped: '-' };

/** The live line of the experiment running now: its phase, the time left, and the load as it is. */
export function renderLive(state: LiveState, now: number, figures: LiveFigures | undefined): string {
  const e = state.current;
  if (e === undefined || e.phase === 'done') return `  ${state.done}${state.total > 0 ? `/${state.total}` : ''} done`;
  const left = e.endsAt !== undefined ? ` ${Math.max(0, (e.endsAt - now) / 1000).toFixed(1)} s left` : '';
  const what = e.phase === 'inject' && e.detail ? ` ${e.detail}` : '';
  const load =
    figures && figures.count > 0
      ? ` · load ${Math.round(figures.p99Ms)} ms p99, ${(figures.errorRate * 100).toFixed(1)} % errors (last ${figures.spanMs / 1000} s, ${figures.count} req)`
      : '';
  const position = state.total > 0 ? `${state.done + 1}/${state.total}` : `${state.done + 1}`;
  return `▶ [${position}] ${e.experiment} · ${e.phase}${what}${left}${load}`;
}

/** The line left behind when an experiment is done. */
export function doneLine(e: PhaseEvent): string {
  const verdict = e.verdict ?? 'error';
  return `  ${SYMBOL[verdict] ?? '✖'} ${verdict.toUpperCase()} ${e.experiment}${e.detail ? `: ${e.detail}` : ''}`;
}

/** Where a run's output goes, by mode. */
export interface Progress {
  /** A line for people; `detail` lines (each injected fault) are left out of the live display. */
  log(line: string, level?: 'detail'): void;
  /** An experiment entered a phase. */
  phase(e: PhaseEvent): void;
  /** Text for people after the run (the verdict table): stdout, or stderr in JSON mode. */
  summary(text: string): void;
  /** The run's last JSON event (JSON mode only). */
  finish(event: Record<string, unknown>): void;
  /** Ends the live display. */
  stop(): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  total: number;
  /** The load's clock, ms. */
  now: () => number;
  /** The load right now, for the live display. */
  figures?: () => LiveFigures | undefined;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WritableStream;
  /** Live display refresh, in ms. Default 250. */
  refreshMs?: number;
}

/** A progress output for the mode: live (log-update on the terminal), plain lines, or JSON lines on stdout. */
export function createProgress(mode: OutputMode, options: ProgressOptions): Progress {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const line = (stream: NodeJS.WritableStream, text: string): void => void stream.write(`${text}\n`);
  if (mode === 'json') {
    const event = (o: Record<string, unknown>): void => line(stdout, JSON.stringify(o));
    return {
      log: (text, level) => level !== 'detail' && line(stderr, text.trim()),
      phase: (e) => event({ type: 'phase', ...e }),
      summary: (text) => line(stderr, text),
      finish: (o) => event({ type: 'run', ...o }),
      stop: () => undefined,
    };
  }
  if (mode === 'plain') {
    return {
      log: (text) => line(stdout, text),
      phase: (e) => {
        if (e.phase === 'baseline')
          line(stdout, `  ${e.experiment}: baseline ${(((e.endsAt ?? e.at) - e.at) / 1000).toFixed(0)} s`);
        else if (e.phase === 'inject') line(stdout, `  ${e.experiment}: inject ${e.detail ?? ''}`.trimEnd());
        else if (e.phase === 'verify') line(stdout, `  ${e.experiment}: recovered; verifying`);
        else if (e.phase === 'done')
          line(stdout, `  → ${(e.verdict ?? 'error').toUpperCase()} ${e.experiment}${e.detail ? `: ${e.detail}` : ''}`);
      },
      summary: (text) => line(stdout, text),
      finish: () => undefined,
      stop: () => undefined,
    };
  }
  const live = createLogUpdate(stdout, { showCursor: true });
  const state: LiveState = { current: undefined, done: 0, total: options.total };
  const render = (): void => live(renderLive(state, options.now(), options.figures?.()));
  const above = (text: string): void => {
    live.clear();
    line(stdout, text);
    render();
  };
  const timer = setInterval(render, options.refreshMs ?? 250);
  timer.unref();
  let stopped = false;
  return {
    log: (text, level) => level !== 'detail' && above(text),
    phase: (e) => {
      if (e.phase === 'done') {
        state.done++;
        state.current = undefined;
        above(doneLine(e));
      } else {
        state.current = e;
        render();
      }
    },
    summary: (text) => line(stdout, text),
    finish: () => undefined,
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      live.clear();
      live.done();
    },
  };
}
