import { fileURLToPath } from 'node:url';

export { k6Binary } from './k6-binary.ts';
/** The load script the harness runs with `--load k6`. */
export const LOAD_SCRIPT = fileURLToPath(new URL('./load.ts', import.meta.url));
/** The journeys scenario `npx nx k6` runs against `chaos up` (tools/chaos/src/cli/k6-journeys.ts). */
export const JOURNEYS_SCRIPT = fileURLToPath(new URL('./journeys.ts', import.meta.url));
