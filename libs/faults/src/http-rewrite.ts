import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/**
 * HTTPChaos `replace` and `patch`, as Chaos Mesh's HTTP proxy applies them (chaos-mesh
 * api/v1alpha1/httpchaos_types.go: PodHttpChaosReplaceActions / PodHttpChaosPatchActions):
 * replace sets (path, method, header and query values, the whole body, the status code), patch adds
 * (header and query values appended, the body JSON merge-patched, RFC 7396).
 */
export interface HttpRewrite {
  /** Which side is rewritten: the request before the handler sees it, or the response before it is sent. */
  target: 'request' | 'response';
  replace?: {
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    queries?: Record<string, string>;
    body?: Buffer;
    /** Response only. */
    code?: number;
  };
  patch?: {
    headers?: Array<[string, string]>;
    queries?: Array<[string, string]>;
    /** A JSON merge patch (RFC 7396) of the body. */
    body?: unknown;
  };
}

/** RFC 7396 JSON merge patch: objects merge key by key, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function appendHeader(existing: string | string[] | number | undefined, value: string): string | string[] {
  if (existing === undefined) return value;
  if (Array.isArray(existing)) return [...existing, value];
  return `${existing}, ${value}`;
}

/**
 * Rewrites a raw request's line and headers in place, before the server routes it (a new path or method
 * reaches another route, as it would behind Chaos Mesh's proxy). The body is rewritten later, by
 * {@link rewriteBody}, when the server reads it.
 */
export function rewriteRequestHead(req: IncomingMessage, rw: HttpRewrite): void {
  const { replace, patch } = rw;
  if (replace?.path !== undefined || replace?.queries || patch?.queries) {
    const url = new URL(req.url ?? '/', 'http://request.invalid');
    if (replace?.path !== undefined) url.pathname = replace.path;
    for (const [k, v] of Object.entries(replace?.queries ?? {})) url.searchParams.set(k, v);
    for (const [k, v] of patch?.queries ?? []) url.searchParams.append(k, v);
    req.url = url.pathname + url.search;
  }
  if (replace?.method) req.method = replace.method.toUpperCase();
  for (const [k, v] of Object.entries(replace?.headers ?? {})) req.headers[k.toLowerCase()] = v;
  for (const [k, v] of patch?.headers ?? []) {
    const name = k.toLowerCase();
    req.headers[name] = appendHeader(req.headers[name], v) as string;
  }
}

/** Does this rewrite change a body (request or response)? */
export const rewritesBody = (rw: HttpRewrite): boolean =>
  rw.replace?.body !== undefined || rw.patch?.body !== undefined;

/** The body after the rewrite: replaced whole, or merge-patched when it is JSON (left as is when it is not). */
export function rewriteBody(body: Buffer, rw: HttpRewrite): Buffer {
  if (rw.replace?.body !== undefined) return rw.replace.body;
  if (rw.patch?.body === undefined) return body;
  let parsed: unknown;
  try {
    parsed = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch {
    return body;
  }
  return Buffer.from(JSON.stringify(mergePatch(parsed, rw.patch.body)));
}

/** Reads a stream whole, then offers the rewritten bytes as a new stream (fastify's `preParsing` contract). */
export async function rewriteStream(
  payload: NodeJS.ReadableStream,
  rw: HttpRewrite,
): Promise<{ stream: Readable; length: number }> {
  const chunks: Buffer[] = [];
  for await (const c of payload as AsyncIterable<Buffer | string>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  const body = rewriteBody(Buffer.concat(chunks), rw);
  const stream = Readable.from([body]);
  // fastify compares this with content-length.
  (stream as Readable & { receivedEncodedLength?: number }).receivedEncodedLength = body.length;
  return { stream, length: body.length };
}

/** The response's new status and headers (set on the reply by the caller), and whether the body changes. */
export function responseHeaders(
  rw: HttpRewrite,
  current: (name: string) => string | string[] | number | undefined,
): Array<[string, string | string[]]> {
  const out: Array<[string, string | string[]]> = [];
  for (const [k, v] of Object.entries(rw.replace?.headers ?? {})) out.push([k.toLowerCase(), v]);
  for (const [k, v] of rw.patch?.headers ?? []) out.push([k.toLowerCase(), appendHeader(current(k.toLowerCase()), v)]);
  return out;
}
