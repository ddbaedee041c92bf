import { shuffled } from './stats';

/** One server the bench measures: its name on the command line and in the tables. */
export interface Contender {
  readonly name: string;
  readonly label: string;
  /** Uses the private Redis (its commands per request are counted). */
  readonly redis: boolean;
  /** Uses the private PostgreSQL (its statements per request are counted). */
  readonly postgres?: boolean;
  /** Ours: the targets of issue #6 apply to `ours-redis-lock`, those of issue #13 to `ours-postgres-lock`. */
  readonly ours: boolean;
  /** Not in the default set: run it with `--contenders`. */
  readonly optional?: boolean;
  /**
   * The whole session travels in the cookie (no store): its pool is made anew before each
   * window, its cookie size is reported, and its one-session contention runs through a shared
   * cookie jar (a client that takes every Set-Cookie) instead of wrk's fixed cookie.
   */
  readonly carried?: boolean;
}

export const BARE = 'bare-koa';
export const OURS_LOCKED = 'ours-redis-lock';
/** Issue #17: the Redis limit (a Koa route with a plain ioredis client, no session layer), the files and their rival. */
export const RAW_LIMIT = 'raw-ioredis-nopipe';
/** Issue #17: our Redis scripts from a hand-written route, no session layer (what bounds the Redis targets). */
export const RAW_FLOOR = 'raw-session';
/** Issue #17: our file protocol's system calls from a hand-written route, no session layer (what bounds the file targets). */
export const RAW_FILE_FLOOR = 'raw-file';
/** Issue #17: our signed-token protocol from a hand-written route, no session layer (what bounds the token targets). */
export const RAW_TOKEN_FLOOR = 'raw-token';
export const OURS_FILE = 'ours-file';
export const FILE_RIVAL = 'express-file-store';
export const STRONGEST_RIVAL = 'koa-session-ioredis-ap';
/** Issue #13: ours on PostgreSQL with locking, against express-session + connect-pg-simple. */
export const OURS_PG_LOCKED = 'ours-postgres-lock';
export const PG_RIVAL = 'express-pg-simple';
/** Issue #14: ours stateless (TokenStore), against koa-session's cookie store. */
export const COOKIE_RIVAL = 'koa-session-cookie';
export const OURS_SIGNED = 'ours-token-signed';
export const OURS_ENCRYPTED = 'ours-token-encrypted';
export const OURS_SIGNED_NOCACHE = 'ours-token-signed-nocache';
/** The same on jose 5 (its Node build: node:crypto instead of WebCrypto; both majors are supported). */
export const OURS_SIGNED_JOSE5 = 'ours-token-signed-jose5';
export const OURS_ENCRYPTED_JOSE5 = 'ours-token-encrypted-jose5';

export const CONTENDERS: readonly Contender[] = [
  { name: BARE, label: 'bare Koa, no session (the ceiling)', redis: false, ours: false },
  { name: 'raw-ioredis', label: 'Koa + ioredis GET (+SET), no session library (the Redis limit)', redis: true, ours: false },
  { name: 'raw-ioredis-nopipe', label: 'Koa + ioredis GET (+SET), no session library (the Redis limit)', redis: true, ours: false },
  { name: RAW_FLOOR, label: 'Koa + our Redis protocol (GETEX; LOCK_READ + WRITE_UNLOCK) from a hand-written route, client corked per tick as ours, no session layer', redis: true, ours: false },
  { name: 'raw-session-setnx', label: 'raw-session with the lock taken by SET NX + MGET instead of the LOCK_READ script (a measurement: claims answer 503, no hand-over)', redis: true, ours: false, optional: true },
  { name: COOKIE_RIVAL, label: 'koa-session 7, cookie store (data in a signed cookie)', redis: false, ours: false, carried: true },
  { name: 'koa-session-ioredis', label: 'koa-session 7 + ioredis store', redis: true, ours: false },
  { name: STRONGEST_RIVAL, label: 'koa-session 7 + ioredis store, enableAutoPipelining', redis: true, ours: false },
  { name: 'express-session', label: 'express 5 + express-session 1.19 + connect-redis 9 (node-redis 5)', redis: true, ours: false },
  { name: 'fastify-session', label: 'fastify 5 + @fastify/session 11 + connect-redis 9 store (node-redis 5)', redis: true, ours: false },
  { name: RAW_FILE_FLOOR, label: 'Koa + our file protocol (StreamAdapter\'s system calls, in order) from a hand-written route, no session layer', redis: false, ours: false },
  { name: RAW_TOKEN_FLOOR, label: 'Koa + our HS256 token (signHs256; a cache of the tokens it made, jose for others) in a cookie read by hand, no session layer', redis: false, ours: false, carried: true },
  { name: 'ours-file', label: 'ours, StreamAdapter (files), locking on', redis: false, ours: true },
  { name: 'express-file-store', label: 'express 5 + express-session 1.19 + session-file-store 1.5 (files), no lock', redis: false, ours: false },
  { name: 'ours-redis', label: 'ours, RedisAdapter, locking off', redis: true, ours: true },
  { name: OURS_LOCKED, label: 'ours, RedisAdapter, locking on', redis: true, ours: true },
  { name: PG_RIVAL, label: 'express 5 + express-session 1.19 + connect-pg-simple 10 (pg 8, pool of 10)', redis: false, postgres: true, ours: false },
  { name: OURS_PG_LOCKED, label: 'ours, PostgresAdapter (pg 8.23, statements pipelined over 2 connections), locking on', redis: false, postgres: true, ours: true },
  { name: OURS_SIGNED, label: 'ours, TokenStore signed (HS256 JWS: node:crypto makes, jose verifies) in the cookie, verified-token cache on (the default)', redis: false, ours: true, carried: true },
  { name: OURS_ENCRYPTED, label: 'ours, TokenStore encrypted (JWE dir + A256GCM: node:crypto makes, jose decrypts) in the cookie, verified-token cache on (the default)', redis: false, ours: true, carried: true },
  { name: OURS_SIGNED_JOSE5, label: 'ours, TokenStore signed (HS256 JWS) in the cookie on jose 5.10 (node:crypto), cache on', redis: false, ours: true, carried: true },
  { name: OURS_ENCRYPTED_JOSE5, label: 'ours, TokenStore encrypted (JWE dir + A256GCM) in the cookie on jose 5.10 (node:crypto), cache on', redis: false, ours: true, carried: true },
  { name: OURS_SIGNED_NOCACHE, label: 'ours, TokenStore signed (HS256 JWS) in the cookie, cache OFF (cacheSize: 0): every request verifies', redis: false, ours: true, carried: true },
  { name: 'fastify-secure-session', label: 'fastify 5 + @fastify/secure-session 8 (libsodium secretbox in the cookie, sodium-native)', redis: false, ours: false, carried: true },
  { name: 'iron-session', label: 'Koa + iron-session 8 (iron seal: AES-256-CBC + HMAC-SHA256, WebCrypto) in the cookie', redis: false, ours: false, carried: true },
  { name: 'bare-express', label: 'bare express 5, no session', redis: false, ours: false, optional: true },
  { name: 'bare-fastify', label: 'bare fastify 5, no session', redis: false, ours: false, optional: true },
];

/**
 * The contenders each target compares, run next to each other in every round (bench/run.ts): a
 * ratio is taken between two windows seconds apart instead of minutes apart. On this shared VM
 * two identical Koa servers measured in adjacent 2 s windows differed by a log-standard deviation
 * of 0.18, and in windows at least three pairs apart by 0.22 (14 pairs, one run: the machine
 * drifts a little, and bursts much more). A contender named in no block is a block of its own.
 */
export const BLOCKS: readonly (readonly string[])[] = [
  [BARE, RAW_FILE_FLOOR, OURS_FILE, FILE_RIVAL],
  [RAW_LIMIT, RAW_FLOOR, 'raw-session-setnx', OURS_LOCKED, STRONGEST_RIVAL],
  ['raw-ioredis', 'ours-redis', 'koa-session-ioredis', 'express-session', 'fastify-session'],
  [PG_RIVAL, OURS_PG_LOCKED],
  [COOKIE_RIVAL, RAW_TOKEN_FLOOR, OURS_SIGNED, OURS_ENCRYPTED, OURS_SIGNED_JOSE5, OURS_ENCRYPTED_JOSE5, OURS_SIGNED_NOCACHE, 'fastify-secure-session', 'iron-session'],
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

/**
 * One round's windows: the blocks (BLOCKS above) in a shuffled order; within a block, its
 * routes in a shuffled order, and on each route its contenders in a shuffled order, so that the
 * windows a target's ratio compares are seconds apart, and no contender has a fixed place (the
 * shuffles are seeded by the round, so a run can be repeated).
 */
export function roundOrder<T extends { contender: { name: string } }>(prepared: readonly T[], round: number): Array<{ p: T; route: Route }> {
  const blocks = BLOCKS.map((names) => prepared.filter((p) => names.includes(p.contender.name)))
    .concat(prepared.filter((p) => !BLOCKS.some((names) => names.includes(p.contender.name))).map((p) => [p]))
    .filter((block) => block.length > 0);
  let seed = round * 7919;
  return shuffled(blocks, seed).flatMap((block) => shuffled(ROUTES, ++seed)
    .flatMap((route) => shuffled(block, ++seed).map((p) => ({ p, route }))));
}
