/**
 * `npx nx soak chaos [-- --minutes 30 --every 10 --record]`: the soak (not in CI: it runs for half an hour).
 * Runs `chaos schedule` on an `@every` schedule, reads the controller's and the agent's memory, interrupts it
 * and lists what was left; `--record` appends the findings to docs/soak.md. Exit 1 when anything was left
 * behind, a fault stayed active or an announced verdict was not recorded.
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commit } from '../campaign/campaign-command.ts';
import { ROOT } from '../cli/common.ts';
import { runSoak, soakMarkdown } from './soak.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    every: { type: 'string', default: '10' },
    record: { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
const every = Number(values.every);
if (!(minutes > 0) || !(every >= 1)) {
  process.stderr.write('soak: --minutes must be above 0 and --every a whole number of seconds ≥ 1\n');
  process.exit(2);
}
const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
process.stdout.write(`soak: chaos schedule @every ${every}s for ${minutes} min\n`);
const result = await runSoak({ cli, minutes, everySeconds: every, log: (l) => process.stdout.write(`${l}\n`) });
const text = soakMarkdown(result, {
  date: new Date().toISOString().slice(0, 10),
  commit: commit(),
  machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}`,
});
process.stdout.write(`\n${text}`);
if (values.record) {
  const file = join(ROOT, 'docs/soak.md');
  if (!existsSync(file))
    writeFileSync(
      file,
      '# Soak\n\n`npx nx soak chaos -- --minutes 30 --every 10 --record` appends each soak here: `chaos schedule` on\nan `@every` schedule for half an hour, the memory of the controller and the agent read every 10 s (least-squares\nslope), then Ctrl-C and a check that nothing was left (processes, data, shared memory, active faults).\n\n',
    );
  appendFileSync(file, `${text}\n`);
}
const failed = result.leaks.length > 0 || result.faultsLeft.length > 0 || result.recorded < result.verdicts.length;
process.exitCode = failed ? 1 : 0;
