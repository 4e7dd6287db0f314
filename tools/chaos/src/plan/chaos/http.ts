import { UnsupportedLocallyError, ms, type Obj, type PlanContext } from './context.ts';

/**
 * HTTPChaos: abort, delay, replace and patch become the in-process HTTP kinds on the requests a service
 * receives that match `path`, `method` and `request_headers`.
 */
export function planHttp({ spec, each }: PlanContext): void {
  if (spec['code'] !== undefined || spec['response_headers'] !== undefined) {
    throw new UnsupportedLocallyError(
      'HTTPChaos code and response_headers select responses by what the handler answered; in-process, faults select requests (path, method, request_headers)',
    );
  }
  const target = spec['target'] === 'Response' ? 'response' : 'request';
  const match: Obj = {};
  if (spec['path']) match['path'] = spec['path'];
  if (spec['method']) match['method'] = spec['method'];
  if (spec['request_headers']) match['headers'] = spec['request_headers'];
  if (spec['abort'] === true) each('http-abort', match);
  if (spec['delay'] !== undefined) each('http-delay', { ...match, latencyMs: ms(spec['delay']) });
  const { code, ...replace } = (spec['replace'] as Obj | undefined) ?? {};
  // A status "replaced" on a request means answering with it (the handler never runs); on a response,
  // the handler runs and its status is replaced.
  if (code !== undefined && target === 'request') each('http-error', { ...match, status: Number(code) });
  const rewrite: Obj = {};
  if (code !== undefined && target === 'response') replace['code'] = code;
  if (Object.keys(replace).length) rewrite['replace'] = replace;
  if (spec['patch'] !== undefined) rewrite['patch'] = spec['patch'];
  if (Object.keys(rewrite).length) each('http-rewrite', { ...match, target, ...rewrite });
}
