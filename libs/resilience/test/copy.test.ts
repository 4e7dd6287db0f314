import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * What a team does with this library, done for real: the README's copy steps run as written in a fresh
 * temporary project (npm installs from the registry, as the README says), then its strict tsconfig, the
 * library's own tests there, and the README's example program.
 */
const LIB = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(LIB, 'README.md'), 'utf8');

/** The first fenced block of `lang` after `heading` in the README. */
function block(heading: string, lang: string): string {
  const from = README.indexOf(heading);
  if (from < 0) throw new Error(`README has no "${heading}"`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(README.slice(from));
  if (!m) throw new Error(`README has no \`\`\`${lang} block after "${heading}"`);
  return m[1]!;
}

const root = mkdtempSync(join(tmpdir(), 'resilience-copy-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sh = (script: string, cwd: string): string =>
  execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd,
    encoding: 'utf8',
    // The packages are in npm's cache after `npm ci`; the registry is asked only for what is missing.
    env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

describe('copying libs/resilience into a fresh project, as its README says', () => {
  const project = join(root, 'your-service');

  it('installs with the README steps alone', () => {
    // The README's commands run from a workspace root: give them one holding only this library's sources.
    mkdirSync(join(root, 'libs', 'resilience'), { recursive: true });
    cpSync(join(LIB, 'src'), join(root, 'libs', 'resilience', 'src'), { recursive: true });
    sh(block('## Copy it into your service', 'bash'), root);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies).toEqual({ opossum: '9.0.0', undici: '7.30.2' });
  }, 300_000);

  it('type-checks under the strict tsconfig of the README, tests included', () => {
    writeFileSync(join(project, 'tsconfig.json'), block('## Copy it into your service', 'json'));
    const r = spawnSync('npx', ['tsc', '-p', '.'], { cwd: project, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it("passes the library's own tests there", () => {
    const r = spawnSync('npx', ['vitest', 'run', 'src/resilience'], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Tests\s+\S*\d+ passed/);
  }, 180_000);

  it("runs the README's example", () => {
    writeFileSync(join(project, 'src', 'example.ts'), block('## Use', 'ts'));
    const r = spawnSync('npx', ['tsx', 'src/example.ts'], { cwd: project, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('Ada after 3 calls');
    expect(r.status).toBe(0);
  }, 60_000);
});
