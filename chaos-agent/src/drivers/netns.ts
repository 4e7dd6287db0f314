import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { FaultEffect } from '@nova/faults';
import { exec, inspectContainer, markedContainers, type ContainerInfo } from './container.ts';
import { lastingInjection, type ProcessInjection } from './process.ts';

/**
 * Kernel-level network faults inside a container's network namespace (`nsenter -t <pid> -n`), as Chaos
 * Mesh's daemon does on a node. Every rule carries a tag — nft tables named `nova_chaos_<id>`, iptables
 * rules commented `nova-chaos:<id>`, tc root qdiscs with handle `4e43:` — so recovery removes exactly what
 * was added, and {@link removeLeftovers} finds what a crashed run left behind.
 */

export const TABLE_PREFIX = 'nova_chaos_';
export const COMMENT_PREFIX = 'nova-chaos:';
export const QDISC_HANDLE = '4e43:';

/** A short tag of a fault id, usable in nft table names and iptables comments. */
export function tagOf(faultId: string): string {
  return createHash('sha256').update(faultId).digest('hex').slice(0, 12);
}

/** Runs `cmd` in the network namespace of the process `pid`; `input` goes to its stdin (`nft -f -`). */
export function inNetns(pid: number, cmd: string, args: readonly string[], input?: string): Promise<string> {
  if (input === undefined) return exec('nsenter', ['-t', String(pid), '-n', cmd, ...args]);
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', ['-t', String(pid), '-n', cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim()}`)),
    );
    child.stdin.end(input);
  });
}

/** The container's default gateway: the host side of its bridge, where the agent listens. Never faulted. */
export async function gatewayOf(pid: number): Promise<string | undefined> {
  const out = await inNetns(pid, 'ip', ['-4', 'route', 'show', 'default']);
  return /via (\S+)/.exec(out)?.[1];
}

/** The interface carrying the default route (eth0 in Docker). */
export async function deviceOf(pid: number): Promise<string> {
  const out = await inNetns(pid, 'ip', ['-4', 'route', 'show', 'default']);
  return /dev (\S+)/.exec(out)?.[1] ?? 'eth0';
}

/** Runs `undo` unless the container (its network namespace) is gone, in which case there is nothing left. */
async function whileAlive(c: ContainerInfo, undo: (pid: number) => Promise<unknown>): Promise<void> {
  const now = await inspectContainer(c.id).catch(() => undefined);
  if (!now || !now.running || now.pid !== c.pid) return;
  await undo(c.pid);
}

/** How often an active kernel fault's counters are read for its live effect, in ms. */
export const LIVE_SAMPLE_MS = 1_000;

/**
 * A kernel fault whose evidence is its rules' counters: read every {@link LIVE_SAMPLE_MS} while the fault
 * holds (so ListFaults, the API and the dashboard show it live), and a last time at recovery while the rules
 * still exist; then `remove` deletes the rules. A container gone first took its counters with it.
 */
export function counted(
  c: ContainerInfo,
  read: (pid: number) => Promise<FaultEffect>,
  remove: (pid: number) => Promise<unknown>,
): ProcessInjection {
  let effect: FaultEffect = { took: false, summary: `rule counters in ${c.name} not read yet`, figures: {} };
  let sampling: Promise<void> | undefined;
  let ended = false;
  const sample = (): Promise<void> =>
    (sampling ??= read(c.pid)
      .then((e) => {
        // A reading that finishes after recovery must not overwrite the final one.
        if (!ended) effect = e;
      })
      .catch(() => {
        // The namespace may be going away; the reading at recovery decides.
      })
      .finally(() => (sampling = undefined)));
  const timer = setInterval(() => void sample(), LIVE_SAMPLE_MS);
  timer.unref();
  return lastingInjection(
    async () => {
      clearInterval(timer);
      await sampling;
      ended = true;
      effect = {
        took: false,
        summary: `container ${c.name} was gone before its rule counters could be read`,
        figures: {},
      };
      await whileAlive(c, async (pid) => {
        effect = await read(pid).catch((error: Error) => ({
          took: false,
          summary: `reading the rule counters failed: ${error.message}`,
          figures: {},
        }));
        await remove(pid);
      });
    },
    () => effect,
  );
}

/**
 * Removes every tagged rule from every marked container: what a previous agent run (killed mid-fault)
 * left behind. Returns a line per container cleaned.
 */
export async function removeLeftovers(): Promise<string[]> {
  const cleaned: string[] = [];
  for (const id of await markedContainers()) {
    const c = await inspectContainer(id).catch(() => undefined);
    if (!c?.running) continue;
    const removed: string[] = [];
    const tables = await inNetns(c.pid, 'nft', ['list', 'tables']).catch(() => '');
    for (const m of tables.matchAll(/^table (\S+) (nova_chaos_\w+)$/gm)) {
      await inNetns(c.pid, 'nft', ['delete', 'table', m[1]!, m[2]!]);
      removed.push(`nft ${m[2]}`);
    }
    for (const table of ['filter', 'mangle']) {
      const rules = await inNetns(c.pid, 'iptables', ['-w', '-t', table, '-S']).catch(() => '');
      for (const line of rules.split('\n')) {
        if (!line.startsWith('-A ') || !line.includes(COMMENT_PREFIX)) continue;
        // iptables -S prints a rule as its own -A command line; -D takes the same words.
        await inNetns(c.pid, 'iptables', ['-w', '-t', table, '-D', ...splitRule(line.slice(3))]);
        removed.push(`iptables ${table}`);
      }
    }
    const dev = await deviceOf(c.pid).catch(() => 'eth0');
    const qdiscs = await inNetns(c.pid, 'tc', ['qdisc', 'show', 'dev', dev]).catch(() => '');
    if (new RegExp(`qdisc \\w+ ${QDISC_HANDLE} (dev \\S+ )?root`).test(qdiscs)) {
      await inNetns(c.pid, 'tc', ['qdisc', 'del', 'dev', dev, 'root', 'handle', QDISC_HANDLE]);
      removed.push('tc qdisc');
    }
    if (removed.length) cleaned.push(`${c.name}: ${removed.join(', ')}`);
  }
  return cleaned;
}

/** Splits an `iptables -S` rule into words, honouring the double quotes around comments. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}
