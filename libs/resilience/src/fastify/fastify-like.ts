/**
 * The few parts of fastify the plugins in this folder use, described structurally so the library needs no
 * fastify types to compile: a fastify 4 or 5 instance, request and reply fit them.
 */

/** An incoming request, as the plugins read it. */
export interface RequestLike {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly raw: { readonly destroyed?: boolean };
}

/** A reply, as the plugins write it. */
export interface ReplyLike {
  readonly sent: boolean;
  readonly statusCode: number;
  code(statusCode: number): ReplyLike;
  header(name: string, value: string): ReplyLike;
  send(payload?: unknown): ReplyLike;
}

/** A hook in callback style. */
export type HookLike = (request: never, reply: never, done: (error?: Error) => void) => void;

/** The instance a plugin is registered on. */
export interface FastifyLike {
  addHook(name: string, hook: HookLike): unknown;
}

/** A plugin registered with `app.register(plugin, options)`. */
export type PluginLike<O> = ((instance: FastifyLike, options: O, done: (error?: Error) => void) => void) & {
  [key: symbol]: unknown;
};

/**
 * Marks a plugin as fastify-plugin does: its hooks apply to the instance it is registered on (and its
 * routes), not to a child context of its own.
 */
export function sharedPlugin<O>(
  name: string,
  register: (instance: FastifyLike, options: O, done: (error?: Error) => void) => void,
): PluginLike<O> {
  const plugin = register as PluginLike<O>;
  plugin[Symbol.for('skip-override')] = true;
  plugin[Symbol.for('fastify.display-name')] = name;
  return plugin;
}
