import type autocannon from 'autocannon';
import { request } from 'undici';
import type { Stack } from '@nova/stack';

async function json(
  method: string,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Record<string, string>> {
  const res = await request(url, {
    method: method as 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${text}`);
  return JSON.parse(text);
}

/** The two benchmarked routes of one stack, as autocannon options. */
export interface Routes {
  /** `GET /users/:id` on user-service. */
  getUser: autocannon.Options;
  /** `POST /messages` on messaging-service (auth verify + user check + insert). */
  postMessage: autocannon.Options;
}

/** Creates two users (their e-mails tagged with `tag`), logs one in, and returns the routes to load. */
export async function prepareRoutes(stack: Stack, tag: string): Promise<Routes> {
  const [user] = stack.urls('user');
  const [auth] = stack.urls('auth');
  const [messaging] = stack.urls('messaging');
  const ada = await json('POST', `${user}/users`, {
    email: `ada-${tag}@example.com`,
    name: 'Ada',
    password: 'correct horse',
  });
  const bob = await json('POST', `${user}/users`, {
    email: `bob-${tag}@example.com`,
    name: 'Bob',
    password: 'correct horse',
  });
  const { token } = await json('POST', `${auth}/auth/login`, {
    email: `ada-${tag}@example.com`,
    password: 'correct horse',
  });
  return {
    getUser: { url: `${user}/users/${ada['id']}` },
    postMessage: {
      url: `${messaging}/messages`,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ to: bob['id'], text: 'benchmark message' }),
    },
  };
}
