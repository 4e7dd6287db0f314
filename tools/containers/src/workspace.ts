import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: what a service container mounts at `/app` in `mount` mode. */
export const WORKSPACE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * How the services' containers get their code:
 * - `mount` (default): the node base image with this workspace bind-mounted read-only at `/app`; a code
 *   change needs no image build, and each container is created from the ~100 MB base instead of a ~260 MB
 *   service image (with Docker's vfs storage, every container creation copies its whole image).
 * - `images`: the services' images, built from their Dockerfiles (`npx nx images containers`), as a cluster
 *   runs them; what the Kubernetes path uses.
 */
export type WorkspaceMode = 'mount' | 'images';

/** The mode `NOVA_CONTAINERS_WORKSPACE` names (default `mount`); anything else is an error naming the choices. */
export function workspaceMode(env: NodeJS.ProcessEnv = process.env): WorkspaceMode {
  const value = (env['NOVA_CONTAINERS_WORKSPACE'] ?? 'mount').trim();
  if (value === 'mount' || value === 'images') return value;
  throw new Error(
    `NOVA_CONTAINERS_WORKSPACE=${value} is not a workspace mode: use "mount" (the workspace bind-mounted read-only, no image build) or "images" (the services' built images)`,
  );
}

/** The uid the services run as, in their images and in `mount` mode. */
export const SERVICE_UID = 1000;

/** A service's command in the workspace, the same as its Dockerfile's `CMD`. */
export function serviceCommand(service: 'user' | 'auth' | 'messaging'): string[] {
  return ['node', '--conditions=@nova/source', '--import', 'tsx', `services/${service}/src/main.ts`];
}

/**
 * Checks that uid {@link SERVICE_UID} can read what a mounted service loads: a workspace cloned or
 * installed with a restrictive umask would otherwise end in containers that never start. Throws naming the
 * path and the fix.
 */
export async function checkWorkspaceReadable(root: string = WORKSPACE_ROOT): Promise<void> {
  const needed: Array<[string, 'dir' | 'file']> = [
    ['', 'dir'],
    ['node_modules', 'dir'],
    ['node_modules/tsx/package.json', 'file'],
    ['libs', 'dir'],
    ['services/user/src/main.ts', 'file'],
  ];
  for (const [path, kind] of needed) {
    const full = join(root, path);
    let st;
    try {
      st = await stat(full);
    } catch {
      throw new Error(`${full} is missing: run \`npm ci\` in ${root} first`);
    }
    // The permission bits that apply to uid 1000: owner's, group's (gid 1000) or others'.
    const bits = st.uid === SERVICE_UID ? st.mode >> 6 : st.gid === SERVICE_UID ? st.mode >> 3 : st.mode;
    const need = kind === 'dir' ? 0o5 : 0o4;
    if ((bits & need) !== need) {
      throw new Error(
        `${full} is not readable by uid ${SERVICE_UID}, which the services run as in their containers: make the workspace world-readable (chmod -R o+rX ${root}) or run from built images (NOVA_CONTAINERS_WORKSPACE=images)`,
      );
    }
  }
}
