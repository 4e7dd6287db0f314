import { spawn } from 'node:child_process';

/** What a `docker` (or other) command printed, and how it ended. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; `input` is piped to stdin (a Buffer, or a readable stream's source). */
export function run(cmd: string, args: readonly string[], options: { input?: NodeJS.ReadableStream; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
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
export async function check(cmd: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code}: ${(r.stderr || r.stdout).trim().slice(-800)}`);
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

/** The value of a label of a local image, or undefined. */
export async function imageLabel(name: string, label: string): Promise<string | undefined> {
  const r = await run('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${label}"}}`, name]);
  const v = r.stdout.trim();
  return r.code === 0 && v && v !== '<no value>' ? v : undefined;
}
