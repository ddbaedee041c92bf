/** One server the bench measures: its name on the command line and in the tables. */
export interface Contender {
  readonly name: string;
  readonly label: string;
  /** Uses the private Redis (its commands per request are counted). */
  readonly redis: boolean;
  /** Ours: the targets of issue #6 apply to `ours-redis-lock`. */
  readonly ours: boolean;
  /** Not in the default set: run it with `--contenders`. */
  readonly optional?: boolean;
}

export const BARE = 'bare-koa';
export const OURS_LOCKED = 'ours-redis-lock';
export const STRONGEST_RIVAL = 'koa-session-ioredis-ap';

export const CONTENDERS: readonly Contender[] = [
  { name: BARE, label: 'bare Koa, no session (the ceiling)', redis: false, ours: false },
  { name: 'raw-ioredis', label: 'Koa + ioredis GET (+SET), no session library (the Redis limit)', redis: true, ours: false },
  { name: 'raw-ioredis-nopipe', label: 'Koa + ioredis GET (+SET), no session library (the Redis limit)', redis: true, ours: false },
  { name: 'koa-session-cookie', label: 'koa-session 7, cookie store (data in a signed cookie)', redis: false, ours: false },
  { name: 'koa-session-ioredis', label: 'koa-session 7 + ioredis store', redis: true, ours: false },
  { name: STRONGEST_RIVAL, label: 'koa-session 7 + ioredis store, enableAutoPipelining', redis: true, ours: false },
  { name: 'express-session', label: 'express 5 + express-session 1.19 + connect-redis 9 (node-redis 5)', redis: true, ours: false },
  { name: 'fastify-session', label: 'fastify 5 + @fastify/session 11 + connect-redis 9 store (node-redis 5)', redis: true, ours: false },
  { name: 'ours-file', label: 'ours, StreamAdapter (files), locking on', redis: false, ours: true },
  { name: 'ours-redis', label: 'ours, RedisAdapter, locking off', redis: true, ours: true },
  { name: OURS_LOCKED, label: 'ours, RedisAdapter, locking on', redis: true, ours: true },
  { name: 'bare-express', label: 'bare express 5, no session', redis: false, ours: false, optional: true },
  { name: 'bare-fastify', label: 'bare fastify 5, no session', redis: false, ours: false, optional: true },
];

/** The contenders to run: the named ones (bare Koa always first), or every default one. */
export function selectContenders(names?: string[]): Contender[] {
  if (!names) return CONTENDERS.filter((c) => !c.optional);
  const unknown = names.filter((n) => !CONTENDERS.some((c) => c.name === n));
  if (unknown.length > 0) throw new Error(`unknown contender(s) ${unknown.join(', ')}; known: ${CONTENDERS.map((c) => c.name).join(', ')}`);
  return CONTENDERS.filter((c) => c.name === BARE || names.includes(c.name));
}

export const ROUTES = ['/inc', '/read'] as const;
export type Route = (typeof ROUTES)[number];
