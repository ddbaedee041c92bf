import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Adapter } from '../../lib';
import type { MysqlAdapter } from '../../lib/mysql';
import type { PostgresAdapter } from '../../lib/postgres';

/** Where an example keeps its sessions: the adapter (none: the middleware's files) and, for the banner, the store's name. */
export interface ExampleStore {
  readonly adapter: Adapter | undefined;
  readonly name: 'file' | 'Redis' | 'PostgreSQL' | 'MySQL';
}

/**
 * The examples' store, chosen by the environment (locking on with each):
 * - nothing set: no adapter, the middleware's file adapter in its private temp directory;
 * - `REDIS_URL` (`redis://127.0.0.1:6379`): Redis;
 * - `DATABASE_URL`: PostgreSQL for `postgres://…` (or `postgresql://…`), MySQL or MariaDB for
 *   `mysql://…` (or `mariadb://…`). The session table is made first (`createTable()`, which
 *   does nothing when it exists).
 *
 * Both variables at once are refused. A backend's client library (ioredis, pg, mysql2) is
 * loaded only when its store is chosen.
 *
 * @example
 * const store = await adapterFromEnv();   // DATABASE_URL=postgres://app@127.0.0.1/app
 * serve('shop', createShop({ adapter: store.adapter }), store);
 */
export async function adapterFromEnv(): Promise<ExampleStore> {
  const redis = process.env.REDIS_URL;
  const database = process.env.DATABASE_URL;
  if (redis && database) throw new Error('REDIS_URL and DATABASE_URL are both set: set the one store to use');
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
 * serve('shop', createShop({ adapter: store.adapter }), store);
 */
export function serve(label: string, app: Koa, store: ExampleStore): void {
  const { adapter } = store;
  const server = app.listen(Number(process.env.PORT || 3000), process.env.HOST ?? '127.0.0.1', () => {
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    console.log(`koa-session-manager ${label} (${store.name} sessions) listening on http://${host}:${port}`);
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
