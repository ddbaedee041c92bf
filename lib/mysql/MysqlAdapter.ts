import type * as mysql from 'mysql2/promise';
import { InvalidOption } from '../errors';
import { checkOptionKeys, positive } from '../closedOptions';
import { requirePeer } from '../peer';
import { SqlAdapter, SQL_OPTION_KEYS, tableParts, type SqlAdapterOptions, type SqlStore } from '../sql/SqlAdapter';
import { CONNECTION_KEYS, checkAppPool, connection, type SqlConnectionOptions } from '../sql/connection';
import { createTableSql, quote, statements, type Statements } from './statements';

// Loaded when this entry point is imported, never by the main one.
const { createPool } = requirePeer<typeof mysql>('mysql2/promise', 'koa-session-manager/mysql');

/** The part of a mysql2 promise `Pool` the adapter uses (declared here: no driver types needed). */
export interface MysqlPool {
  query(options: { sql: string; values?: unknown[]; timeout?: number }): Promise<[unknown, unknown]>;
  getConnection(): Promise<MysqlConnection>;
  end(): Promise<void>;
}

/** The part of a mysql2 promise pool connection the adapter uses (for destroy's transaction). */
export interface MysqlConnection {
  query(options: { sql: string; values?: unknown[]; timeout?: number }): Promise<[unknown, unknown]>;
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  release(): void;
}

/** Options of {@link MysqlAdapter}; times in seconds. */
export interface MysqlAdapterOptions extends SqlAdapterOptions, SqlConnectionOptions {
  /** A mysql2 promise `Pool` the app owns (the adapter never ends it), instead of the connection options. */
  pool?: MysqlPool;
}

const OPTION_KEYS = ['pool', ...CONNECTION_KEYS, ...SQL_OPTION_KEYS] as const;
const OPTION_HINTS: Readonly<Record<string, string>> = {
  connectionLimit: 'use max',
  tableName: 'use table',
  schema: "use table: express-mysql-session's schema.tableName; its column names are fixed here",
  checkExpirationInterval: 'the session() gc option sweeps expired rows',
  endConnectionOnClose: 'close() ends the pool the adapter made, never the pool you pass',
  charset: 'not needed: data is stored as bytes',
  createDatabaseTable: 'call await adapter.createTable() once (at deploy), or run adapter.tableSql() in a migration',
  expiration: 'use lifetime (seconds)',
  clearExpired: 'the session() gc option sweeps expired rows',
};

/**
 * Sessions in a MySQL 8 or MariaDB table (InnoDB) over mysql2: the design of the PostgreSQL
 * adapter (lib/sql/SqlAdapter.ts) in MySQL's dialect. A request that waits for or holds a lock
 * holds no pool connection; waiters poll (MySQL has no LISTEN), and requests of one session in
 * one process hand the lock over in memory. Round trips: a read-only request 1 statement; a
 * locked request 3 (lock, read, write+unlock: MySQL cannot return rows from an upsert).
 *
 * @example
 * const adapter = new MysqlAdapter({ url: process.env.MYSQL_URL ?? 'mysql://app@localhost/app' });
 * await adapter.createTable();
 * app.use(session({ adapter }));
 */
export class MysqlAdapter extends SqlAdapter {
  /** The pool statements go through: the app's `pool`, or the adapter's own. */
  readonly pool: MysqlPool;

  constructor(options: MysqlAdapterOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('MysqlAdapter', "takes an options object: new MysqlAdapter({ url: 'mysql://…' })");
    checkOptionKeys('MysqlAdapter', options, OPTION_KEYS, OPTION_HINTS);
    const parts = tableParts(options.table);
    const table = parts.map(quote).join('.');
    const timeoutMs = 1000 * positive('timeout', options.timeout, 1);
    let pool: MysqlPool;
    let owned = false;
    if (options.pool !== undefined) {
      checkAppPool(options, 'mysql2 promise', ['timeout']);
      pool = options.pool;
    } else {
      pool = createPool(poolConfig(options, timeoutMs)) as unknown as MysqlPool;
      owned = true;
    }
    // Every statement carries the timeout (mysql2 has no pool-wide one), also on an app's pool.
    super('MySQL', options, new MysqlStore(pool, statements(table), createTableSql(table, parts[parts.length - 1]!), timeoutMs, owned));
    this.pool = pool;
  }
}

function poolConfig(options: MysqlAdapterOptions, timeoutMs: number): Record<string, unknown> {
  const { url, fields, max } = connection(options, /^(mysql|mariadb):\/\//i, 'mysql://');
  return { ...fields, ...(url === undefined ? {} : { uri: url.replace(/^mariadb:/i, 'mysql:') }), connectionLimit: max, connectTimeout: timeoutMs, enableKeepAlive: true };
}

/** µs for `INTERVAL ? MICROSECOND`. */
const us = (ms: number): number => Math.round(ms * 1000);
type Row = Record<string, unknown>;
const rowsOf = (result: [unknown, unknown]): Row[] => result[0] as Row[];
const affected = (result: [unknown, unknown]): number => (result[0] as { affectedRows?: number }).affectedRows ?? 0;
const bytes = (value: unknown): Buffer | null => (Buffer.isBuffer(value) ? value : null);

/** The statements of lib/mysql/statements.ts through a mysql2 pool. */
class MysqlStore implements SqlStore {
  constructor(
    private readonly pool: MysqlPool,
    private readonly sql: Statements,
    readonly tableSql: string,
    private readonly timeout: number,
    private readonly owned: boolean,
  ) {}

  #q(sql: string, values: unknown[]): Promise<[unknown, unknown]> {
    return this.pool.query({ sql, values, timeout: this.timeout });
  }

  async createTable(): Promise<void> {
    await this.#q(this.tableSql, []);
  }

  async read(id: string, ttlMs: number, slackMs: number): Promise<Buffer | null> {
    const [row] = rowsOf(await this.#q(this.sql.read, [us(ttlMs - slackMs), id]));
    if (row === undefined) return null;
    if (ttlMs > 0 && Number(row.stale) === 1) await this.#q(this.sql.touch, [us(ttlMs), id]);
    return bytes(row.data);
  }

  async lockRead(id: string, token: string, expiryMs: number): Promise<{ data: Buffer | null } | undefined> {
    try {
      await this.#q(this.sql.lock, [id, us(expiryMs), token, us(expiryMs)]);
    } catch (err) {
      // Two upserts of one new key can deadlock in InnoDB: the loser simply did not get the lock.
      if (['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'].includes((err as { code?: string }).code ?? '')) return undefined;
      throw err;
    }
    const [row] = rowsOf(await this.#q(this.sql.lockedRead, [token, id]));
    return row !== undefined && Number(row.mine) === 1 ? { data: bytes(row.data) } : undefined;
  }

  async writeUnlock(id: string, data: Buffer, ttlMs: number, token: string, existing: boolean): Promise<boolean> {
    return affected(await this.#q(this.sql.writeUnlock, [data, us(ttlMs), id, token, existing ? 1 : 0])) === 1;
  }

  async holds(id: string, token: string): Promise<boolean> {
    return rowsOf(await this.#q(this.sql.holds, [id, token])).length === 1;
  }

  async unlock(id: string, token: string, touchMs: number, slackMs: number): Promise<void> {
    const kept = affected(await this.#q(this.sql.unlock, [touchMs, us(touchMs - slackMs), us(touchMs), id, token]));
    if (kept === 0) await this.#q(this.sql.unlockBare, [id, token]);
  }

  async renew(id: string, token: string, expiryMs: number): Promise<boolean> {
    return affected(await this.#q(this.sql.renew, [us(expiryMs), id, token])) === 1;
  }

  async upsert(id: string, data: Buffer, ttlMs: number): Promise<void> {
    await this.#q(this.sql.upsert, [id, data, us(ttlMs)]);
  }

  async update(id: string, data: Buffer, ttlMs: number): Promise<boolean> {
    return affected(await this.#q(this.sql.update, [data, us(ttlMs), id])) > 0;
  }

  async touch(id: string, ttlMs: number): Promise<boolean> {
    return affected(await this.#q(this.sql.touch, [us(ttlMs), id])) > 0;
  }

  /** One short transaction (row locked FOR UPDATE): read what was there, then delete or keep the lock. */
  async destroy(id: string): Promise<Buffer | null> {
    const connection = await this.pool.getConnection();
    try {
      await connection.beginTransaction();
      const [row] = rowsOf(await connection.query({ sql: this.sql.destroyRead, values: [id] }));
      if (row !== undefined) await connection.query({ sql: Number(row.locked) === 1 ? this.sql.destroyKeep : this.sql.destroyRow, values: [id] });
      await connection.commit();
      return row === undefined ? null : bytes(row.data);
    } catch (err) {
      await connection.rollback().catch(() => undefined);
      throw err;
    } finally {
      connection.release();
    }
  }

  async exists(id: string): Promise<boolean> {
    return rowsOf(await this.#q(this.sql.exists, [id])).length === 1;
  }

  async gcBatch(limit: number): Promise<number> {
    return affected(await this.#q(this.sql.gcBatch, [limit]));
  }

  async close(): Promise<void> {
    if (this.owned) await this.pool.end().catch(() => undefined);
  }
}
