import { spawn } from 'node:child_process';

/** What a `docker` (or other) command printed, and how it ended. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; `input` is piped to stdin (a Buffer, or a readable stream's source). */
export function run(
  cmd: string,
  args: readonly string[],
  options: { input?: NodeJS.ReadableStream; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (options.input) options.input.pipe(child.stdin!);
  });
}

/** Runs a command and returns its stdout; a non-zero exit is an error carrying stderr. */
export async function check(
  cmd: string,
  args: readonly string[],
  options: Parameters<typeof run>[2] = {},
): Promise<string> {
  const r = await run(cmd, args, options);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code}: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  return r.stdout;
}

/** How to get a Docker engine on this kind of machine, printed when none answers. */
export const DOCKER_HELP = `The containers environment needs a running Docker engine (none answered on /var/run/docker.sock).
On Debian 12, as root:
  apt-get install -y docker.io iptables nftables
  dockerd --storage-driver=vfs >/var/log/dockerd.log 2>&1 &
(.ci/run does exactly this.) Images are built locally (npx nx images containers); nothing is pulled.`;

/** Throws {@link DOCKER_HELP} unless a Docker engine answers. */
export async function requireDocker(): Promise<void> {
  let r: RunResult;
  try {
    r = await run('docker', ['version', '--format', '{{.Server.Version}}']);
  } catch {
    throw new Error(`docker: command not found.\n${DOCKER_HELP}`);
  }
  if (r.code !== 0 || !r.stdout.trim()) throw new Error(DOCKER_HELP);
}

/** Does this image exist locally? */
export async function imageExists(name: string): Promise<boolean> {
  return (await run('docker', ['image', 'inspect', '--format', '{{.Id}}', name])).code === 0;
}

/** The id (`sha256:…`) of a local image; rejects when there is none. */
export async function imageId(name: string): Promise<string> {
  return (await check('docker', ['image', 'inspect', '--format', '{{.Id}}', name])).trim();
}

/** The value of a label of a local image, or undefined. */
export async function imageLabel(name: string, label: string): Promise<string | undefined> {
  const r = await run('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${label}"}}`, name]);
  const v = r.stdout.trim();
  return r.code === 0 && v && v !== '<no value>' ? v : undefined;
}

/** The chaos rules in a container's network namespace (tagged by the agent's kernel driver) and their hits. */
export interface KernelState {
  /** One line per tagged nft table, iptables rule and tc qdisc. */
  tagged: string[];
  /** Packets the tagged rules matched so far (nft and iptables counters). */
  packets: number;
}

/** Reads {@link KernelState} of a running container, from the host (root: nsenter into its network namespace). */
export async function kernelState(container: string): Promise<KernelState> {
  const pid = (await check('docker', ['inspect', '-f', '{{.State.Pid}}', container])).trim();
  const ns = (cmd: string[]): Promise<string> => check('nsenter', ['-t', pid, '-n', ...cmd]);
  const tagged: string[] = [];
  let packets = 0;
  const ruleset = await ns(['nft', 'list', 'ruleset']);
  // Our tables hold `counter packets N bytes M` on each rule; iptables-nft tables are listed too (their names differ).
  for (const block of ruleset.split(/^table /m).slice(1)) {
    const name = /^\S+ (\S+)/.exec(block)?.[1] ?? '';
    if (!name.startsWith('nova_chaos_')) continue;
    tagged.push(`nft table ${name}`);
    for (const m of block.matchAll(/counter packets (\d+)/g)) packets += Number(m[1]);
  }
  for (const table of ['filter', 'mangle']) {
    const out = await ns(['iptables', '-w', '-t', table, '-L', '-v', '-n', '-x']);
    for (const line of out.split('\n')) {
      if (!line.includes('nova-chaos:')) continue;
      tagged.push(`iptables ${table}: ${line.trim().replace(/\s+/g, ' ')}`);
      packets += Number(line.trim().split(/\s+/)[0]);
    }
  }
  const qdiscs = await ns(['tc', 'qdisc', 'show']);
  for (const line of qdiscs.split('\n')) if (/ 4e43: /.test(line)) tagged.push(`tc ${line.trim()}`);
  return { tagged, packets };
}
