import { positive } from '../closedOptions';
import { SQL_OPTION_KEYS, type SqlAdapterOptions } from '../sql/SqlAdapter';
import { CONNECTION_KEYS, connection, type SqlConnectionOptions } from '../sql/connection';

/**
 * The part of a pg `Pool` the adapter uses: declared here, so that the typings of
 * `koa-session-manager/postgres` compile in an app without `@types/pg`.
 */
export interface PgPool {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  end(): Promise<void>;
  on?(event: 'error', listener: (error: Error) => void): unknown;
  readonly options?: object;
}

/** Options of {@link PostgresAdapter}; times in seconds. */
export interface PostgresAdapterOptions extends SqlAdapterOptions, SqlConnectionOptions {
  /** A pg `Pool` the app owns (the adapter never ends it), instead of the connection options. Give it `connectionTimeoutMillis` and `query_timeout`. */
  pool?: PgPool;
  /**
   * Wake lock waiters by `LISTEN/NOTIFY` on one connection of their own (not from the pool).
   * Set false behind PgBouncer in transaction pooling, where LISTEN does not hold: waiters poll.
   * @default true
   */
  listen?: boolean;
  /**
   * Send the adapter's statements as named prepared statements, parsed and planned once per
   * connection (measured: PostgreSQL's CPU per locked request less than half). Set false behind
   * PgBouncer before 1.21 in transaction pooling, which cannot keep them. @default true
   */
  prepared?: boolean;
  /**
   * Every statement but `createTable()`'s and gc's goes over this many shared connections of the
   * adapter's own in pg's pipeline mode: each request's statement is sent at once on an idle or
   * the least busy one, and a tick's statements leave in one write (measured: a locked write's
   * CPU about half in Node and about two fifths less in PostgreSQL than through the pool).
   * `true` is the default 2; with 1 there is no other connection to send around a statement that
   * waits for a row lock. `false`: each statement through the pool, one connection per statement
   * in flight. The pool (`max`) still serves `createTable()` and `gc()`. Needs pg 8.23 or later
   * (not pg-native): with an older pg the default falls back to the pool, and a `pipeline` given
   * (a number or true) is refused. Not with an app's `pool`, whose connections are the app's to
   * give. Behind PgBouncer in transaction pooling set it to false, with `prepared` and `listen`.
   * @default 2
   */
  pipeline?: number | boolean;
}

export const OPTION_KEYS = ['pool', 'listen', 'prepared', 'pipeline', ...CONNECTION_KEYS, ...SQL_OPTION_KEYS] as const;

export const OPTION_HINTS: Readonly<Record<string, string>> = {
  connectionString: 'use url',
  tableName: 'use table (connect-pg-simple\'s tableName)',
  schemaName: 'use table: \'schema.table\'',
  createTableIfMissing: 'call await adapter.createTable() once (at deploy), or run the SQL in docs/adapters.md',
  ttl: 'use lifetime (seconds)',
  pruneSessionInterval: 'the session() gc option sweeps expired rows',
  pruneSessionRandomizedInterval: 'the session() gc option sweeps expired rows',
  conString: 'use url',
  conObject: 'use host, port, user, password, database, or pass your own pool',
  disableTouch: 'a read touches only beyond touchSlack: see touchSlack',
  errorLog: "store errors are session:storeError events (mw.events.on('session:storeError', …))",
  pgPromise: 'pass a pg Pool as pool',
};

/** The pg pool configuration of the adapter's own pool, from the options. */
export function poolConfig(options: PostgresAdapterOptions): Record<string, unknown> {
  const timeoutMs = 1000 * positive('timeout', options.timeout, 1);
  const { url, fields, max } = connection(options, /^postgres(ql)?:\/\//i, 'postgres://');
  return { ...fields, ...(url === undefined ? {} : { connectionString: url }), max, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, keepAlive: true };
}
