import { buildImages } from './images.ts';

// `npx nx images containers`: builds every image of the containers environment (add --agent for the agent's).
const started = Date.now();
try {
  const names = await buildImages({
    agent: process.argv.includes('--agent'),
    log: (l) => process.stdout.write(`${l}\n`),
  });
  process.stdout.write(
    `images ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.values(names).join(', ')}\n`,
  );
} catch (error) {
  process.stderr.write(`images: ${(error as Error).message}\n`);
  process.exit(1);
}
