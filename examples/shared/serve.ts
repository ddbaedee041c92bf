import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Adapter } from '../../lib';
import type { MysqlAdapter } from '../../lib/mysql';
import type { PostgresAdapter } from '../../lib/postgres';
import type { TokenStore } from '../../lib/token';

/** What an example's sessions are kept in, as the banner and the pages name it. */
export type StoreName = 'file' | 'Redis' | 'PostgreSQL' | 'MySQL' | 'signed tokens' | 'encrypted tokens';

/**
 * Where an example keeps its sessions: the adapter (none: the middleware's files), or the
 * TokenStore that keeps them in the client, and its name.
 */
export interface ExampleStore {
  readonly adapter: Adapter | TokenStore | undefined;
  readonly name: StoreName;
}

/**
 * True for sessions carried in a token (`SESSION_TOKEN_KEY`): nothing is kept on the server, so
 * there is no lock, and of two overlapping writes of one visitor the last one wins.
 */
export function isTokenStore(name: StoreName | undefined): name is 'signed tokens' | 'encrypted tokens' {
  return name === 'signed tokens' || name === 'encrypted tokens';
}

/** The variables that choose a store; at most one may be set. */
const STORE_VARIABLES = ['REDIS_URL', 'DATABASE_URL', 'SESSION_TOKEN_KEY'] as const;

/**
 * The examples' store, chosen by the environment (`env`, the process's by default):
 * - nothing set: no adapter, the middleware's file adapter in its private temp directory;
 * - `REDIS_URL` (`redis://127.0.0.1:6379`): Redis;
 * - `DATABASE_URL`: PostgreSQL for `postgres://…` (or `postgresql://…`), MySQL or MariaDB for
 *   `mysql://…` (or `mariadb://…`). The session table is made first (`createTable()`, which
 *   does nothing when it exists);
 * - `SESSION_TOKEN_KEY` (32 random bytes, base64url): no store at all, the whole session in a
 *   token in the cookie (a TokenStore), signed (HS256) with that key, or encrypted with it
 *   (`dir` + A256GCM) when `SESSION_TOKEN_MODE=encrypted` (`signed` is the default).
 *
 * The stores lock each session (its writing requests take turns); tokens have no lock (the last
 * writer wins). More than one of the variables at once is refused, and so is
 * `SESSION_TOKEN_MODE` without `SESSION_TOKEN_KEY`. A backend's library (ioredis, pg, mysql2,
 * jose) is loaded only when its store is chosen.
 *
 * @example
 * const store = await adapterFromEnv();   // DATABASE_URL=postgres://app@127.0.0.1/app
 * serve('shop', createShop({ adapter: store.adapter, store: store.name }), store);
 */
export async function adapterFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<ExampleStore> {
  const set = STORE_VARIABLES.filter((name) => env[name]);
  if (set.length > 1) throw new Error(`${set.join(' and ')} are ${set.length === 2 ? 'both' : 'all'} set: set the one store to use`);
  const { REDIS_URL: redis, DATABASE_URL: database, SESSION_TOKEN_KEY: tokenKey, SESSION_TOKEN_MODE: tokenMode } = env;
  if (tokenMode && !tokenKey) throw new Error('SESSION_TOKEN_MODE is set without SESSION_TOKEN_KEY: set the key too (32 random bytes, base64url)');
  if (tokenKey) return tokenStore(tokenKey, tokenMode || 'signed');
  if (redis) {
    const { RedisAdapter } = await import('../../lib/redis/index.js');
    return { adapter: new RedisAdapter({ url: redis }), name: 'Redis' };
  }
  if (!database) return { adapter: undefined, name: 'file' };
  const store = await databaseStore(database);
  try {
    await store.adapter.createTable();
  } catch (err) {
    await store.adapter.close();
    throw err;
  }
  return store;
}

/** A TokenStore (cookie transport) for SESSION_TOKEN_KEY and SESSION_TOKEN_MODE. */
async function tokenStore(key: string, mode: string): Promise<ExampleStore & { adapter: TokenStore }> {
  if (mode !== 'signed' && mode !== 'encrypted') throw new Error(`SESSION_TOKEN_MODE must be signed or encrypted, not ${JSON.stringify(mode)}`);
  const { TokenStore } = await import('../../lib/token/index.js');
  try {
    return { adapter: new TokenStore({ mode, keys: [{ kid: 'example', secret: key }] }), name: `${mode} tokens` };
  } catch (err) {
    // The key's problem without the option path (keys[0].secret) of a store the user never configured.
    const reason = err instanceof Error ? err.message.replace(/^Invalid session option "[^"]*": /, '') : String(err);
    throw new Error(`SESSION_TOKEN_KEY ${reason}`);
  }
}

/** The PostgreSQL or MySQL adapter for DATABASE_URL, by its scheme (not connected yet). */
async function databaseStore(url: string): Promise<ExampleStore & { adapter: PostgresAdapter | MysqlAdapter }> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { PostgresAdapter } = await import('../../lib/postgres/index.js');
    return { adapter: new PostgresAdapter({ url }), name: 'PostgreSQL' };
  }
  if (/^(mysql|mariadb):\/\//i.test(url)) {
    const { MysqlAdapter } = await import('../../lib/mysql/index.js');
    return { adapter: new MysqlAdapter({ url }), name: 'MySQL' };
  }
  throw new Error('DATABASE_URL must start with postgres://, postgresql://, mysql:// or mariadb://');
}

/**
 * Listen on PORT (3000) and HOST (127.0.0.1), say where and on which store, and on
 * SIGINT/SIGTERM stop accepting, let in-flight requests commit their sessions, close the store
 * and let the process end.
 *
 * @example
 * const store = await adapterFromEnv();
 * serve('shop', createShop({ adapter: store.adapter, store: store.name }), store);
 */
export function serve(label: string, app: Koa, store: ExampleStore): void {
  const { adapter } = store;
  const server = app.listen(Number(process.env.PORT || 3000), process.env.HOST ?? '127.0.0.1', () => {
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    const sessions = isTokenStore(store.name) ? `sessions in ${store.name}, no store` : `${store.name} sessions`;
    console.log(`koa-session-manager ${label} (${sessions}) listening on http://${host}:${port}`);
  });
  const shutdown = (signal: NodeJS.Signals): void => {
    console.log(`${signal}: shutting down`);
    server.close(() => void adapter?.close?.());
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 5000).unref();
  };
  process.once('SIGINT', shutdown).once('SIGTERM', shutdown);
}

/** An example that could not start (its store unreachable, a bad URL): the reason, and exit code 1. */
export function failedToStart(label: string, err: unknown): void {
  console.error(`koa-session-manager ${label} did not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
