// The harness's load as a k6 script (`npx nx chaos --load k6`): the user journeys at RATE per second until
// the harness stops k6, as accounts the harness prepared (ACCOUNTS, JSON). The harness reads `--out json`.
import { journeyStep, replicas, type Account } from './lib/journey.ts';

const env = (name: string): string => {
  const v = __ENV[name];
  if (v === undefined) throw new Error(`set ${name}`);
  return v;
};
const accounts = JSON.parse(env('ACCOUNTS')) as Account[];
const urls = {
  user: replicas(env('USER_URL')),
  auth: replicas(env('AUTH_URL')),
  messaging: replicas(env('MESSAGING_URL')),
};

export const options = {
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      rate: Number(env('RATE')),
      timeUnit: '1s',
      duration: '12h',
      preAllocatedVUs: 20,
      maxVUs: 80,
    },
  },
};

let n = 0;
export default function (): void {
  journeyStep(urls, accounts, n++);
}
