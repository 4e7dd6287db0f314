import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { reportCommand } from './cli/report-command.ts';
import { validateCommand } from './cli/validate-command.ts';

import { HELP, ROOT, usage } from './cli/common.ts';
import { plan } from './cli/plan.ts';
import { run, schedule } from './cli/run.ts';
import { runK8s } from './cli/run-k8s.ts';
import { envCommand } from './cli/env-command.ts';
import { kindsCommand } from './cli/kinds-command.ts';
import { campaignCommand } from './campaign/campaign-command.ts';
import { down, status, up } from './cli/up.ts';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        seed: { type: 'string' },
        env: { type: 'string' },
        load: { type: 'string' },
        'live-load': { type: 'string' },
        rate: { type: 'string' },
        baseline: { type: 'string' },
        'report-dir': { type: 'string' },
        help: { type: 'boolean', default: false },
        strict: { type: 'boolean' },
        output: { type: 'string' },
        compare: { type: 'string' },
        'fail-on-regression': { type: 'boolean' },
        threshold: { type: 'string' },
        against: { type: 'string' },
        reports: { type: 'string' },
        all: { type: 'boolean' },
        kubeconfig: { type: 'string' },
        prometheus: { type: 'string' },
        'load-targets': { type: 'string' },
        verify: { type: 'string' },
        'scrape-delay': { type: 'string' },
        'condition-timeout': { type: 'string' },
        'delete-timeout': { type: 'string' },
        trials: { type: 'string' },
        signal: { type: 'string' },
        record: { type: 'boolean' },
      },
    });
  } catch (error) {
    usage((error as Error).message);
  }
  const [command = 'run', ...rest] = parsed.positionals;
  if (parsed.values.help) {
    console.log(HELP);
    return 0;
  }
  switch (command) {
    case 'run':
      if ((parsed.values.env ?? process.env['CHAOS_ENV']) === 'k8s') return runK8s(rest, parsed.values);
      return run(rest, parsed.values);
    case 'validate':
      if (rest.length === 0) usage('validate needs files or directories');
      return validateCommand(rest, { strict: parsed.values.strict ?? false, output: parsed.values.output ?? 'text' });
    case 'plan':
      return plan(rest, parsed.values.env);
    case 'env':
      return envCommand(parsed.values.env);
    case 'kinds':
      return kindsCommand(parsed.values.output);
    case 'campaign':
      return campaignCommand(parsed.values);
    case 'schedule':
      return schedule(rest, parsed.values);
    case 'up':
      return up(parsed.values);
    case 'dashboard':
      return up({
        'live-load': parsed.values['live-load'] ?? '10',
        ...(parsed.values.env ? { env: parsed.values.env } : {}),
        ...(parsed.values.reports ? { reports: parsed.values.reports } : {}),
      });
    case 'down':
      return down();
    case 'status':
      return status();
    case 'report':
      return reportCommand(rest, {
        reports: resolve(parsed.values.reports ?? join(ROOT, 'reports')),
        ...(parsed.values.against !== undefined ? { against: parsed.values.against } : {}),
        ...(parsed.values.threshold !== undefined ? { threshold: parsed.values.threshold } : {}),
        all: parsed.values.all ?? false,
      });
    default:
      usage(`unknown command "${command}"`);
  }
}

// Until main finishes, an emptied event loop is a bug (a promise nobody will settle): never report success then.
process.exitCode = 1;
process.on('beforeExit', () => {
  if (!finished) process.stderr.write('chaos: internal error: the run stopped before it finished\n');
});
let finished = false;
process.exitCode = await main(process.argv.slice(2));
finished = true;
// Timers of finished work (gRPC channels, undici pools) must not hold the process open.
setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
