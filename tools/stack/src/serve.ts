// `npx nx serve-stack`: PostgreSQL and the three services on loopback until Ctrl-C.
import { startStack } from './stack.ts';

const replicas = Number(process.env['USER_REPLICAS'] ?? 1);
console.log('starting the local stack (embedded PostgreSQL unless DATABASE_URL is set)...');
const stack = await startStack({
  userReplicas: replicas,
  onLine: (name, line) => console.log(`[${name}] ${line}`),
});
console.log(
  `PostgreSQL         ${stack.postgres.embedded ? 'embedded' : 'external'}: ${stack.databaseUrl.replace(/\/\/[^@]*@/, '//***@')}`,
);
for (const i of stack.instances) console.log(`${`${i.service}-service`.padEnd(18)} ${i.url}   (pid ${i.process.pid})`);
console.log(
  'Ready. Try: curl -s -XPOST -H "content-type: application/json" -d \'{"email":"ada@example.com","name":"Ada","password":"correct horse"}\' ' +
    stack.urls('user')[0] +
    '/users',
);
console.log('Ctrl-C stops everything this command started.');

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the local stack...');
  stack.stop().then(
    () => {
      console.log('stopped.');
      process.exit(0);
    },
    (error: unknown) => {
      console.error('error while stopping:', error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
// Stay alive until a signal arrives.
setInterval(() => {}, 1 << 30);
