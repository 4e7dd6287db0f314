import { fileURLToPath } from 'node:url';

export { k6Binary } from './k6-binary.ts';
/** The load script the harness runs with `--load k6`. */
export const LOAD_SCRIPT = fileURLToPath(new URL('./load.ts', import.meta.url));
