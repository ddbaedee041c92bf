import type * as pg from 'pg';
import { InvalidOption } from '../errors';
import { checkOptionKeys, positive } from '../closedOptions';
import { logger } from '../log';
import { requirePeer } from '../peer';
import { SqlAdapter, tableParts, type SqlStore } from '../sql/SqlAdapter';
import { checkAppPool } from '../sql/connection';
import { Pipeline, pipelineSupported, type PipeClient } from './Pipeline';
import { Listener, type ListenClient } from './Listener';
import { OPTION_HINTS, OPTION_KEYS, poolConfig, type PgPool, type PostgresAdapterOptions } from './options';
import { createTableSql, quote, statements, type Statements } from './statements';

// Loaded when this entry point is imported, never by the main one.
const { Pool, Client } = requirePeer<typeof pg>('pg', 'koa-session-manager/postgres');

const debug = logger('koa-session-manager:postgres');

export type { PgPool, PostgresAdapterOptions };

/**
 * Sessions in a PostgreSQL table over node-postgres (`pg`). A request that waits for or holds a
 * session's lock holds no pool connection (the lock is a token and an expiry in the session's
 * row); waiters are woken by `LISTEN/NOTIFY` on one connection per adapter, and poll as the
 * fallback. Round trips: a read-only request 1 statement, a locked write 2 (lock+read,
 * write+unlock). The statements of concurrent requests share two pipelined connections (the
 * `pipeline` option). Behind PgBouncer in transaction pooling, set
 * `listen: false`, `prepared: false` and `pipeline: false`: nothing else keeps state between
 * statements (no advisory locks).
 *
 * @example
 * const adapter = new PostgresAdapter({ url: process.env.DATABASE_URL ?? 'postgres://localhost/app' });
 * await adapter.createTable();   // once, or run adapter.tableSql() in a migration of your own
 * app.use(session({ adapter }));
 */
export class PostgresAdapter extends SqlAdapter {
  /** The app's `pool`, or the adapter's own: the statements that are not pipelined go through it (all of them with `pipeline: false`). */
  readonly pool: PgPool;

  constructor(options: PostgresAdapterOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('PostgresAdapter', "takes an options object: new PostgresAdapter({ url: 'postgres://…' })");
    checkOptionKeys('PostgresAdapter', options, OPTION_KEYS, OPTION_HINTS);
    for (const flag of ['listen', 'prepared'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new InvalidOption(flag, 'must be true or false');
    }
    if (typeof options.pipeline !== 'boolean') positive('pipeline', options.pipeline, 2, true);
    const parts = tableParts(options.table);
    const table = parts.map(quote).join('.');
    const channel = `ksm_${parts[parts.length - 1]}`.slice(0, 63);
    let pool: PgPool;
    let config: Record<string, unknown> | undefined;
    if (options.pool !== undefined) {
      checkAppPool(options, 'pg');
      pool = options.pool;
    } else {
      config = poolConfig(options);
      pool = new Pool(config) as unknown as PgPool;
      pool.on?.('error', (err) => debug('idle pool client: %s', err.message));
    }
    // The listening connection is made like the pool's connections, without their timeouts.
    const listenConfig: Record<string, unknown> = { ...(config ?? options.pool?.options ?? {}), query_timeout: undefined };
    const listener = options.listen === false ? undefined
      : new Listener(() => new Client(listenConfig) as unknown as ListenClient, channel);
    const store = new PgStore(pool, pipelineOf(options, config), statements(table), createTableSql(table, parts[parts.length - 1]!), channel,
      config !== undefined, options.prepared === false ? undefined : `ksm_${hash(table)}_`);
    super('PostgreSQL', options, store, listener);
    this.pool = pool;
  }
}

/**
 * The adapter's pipelined connections (the `pipeline` option), or undefined when its statements
 * go through the pool: `pipeline: false`, an app's pool, or a pg without pipeline mode.
 */
function pipelineOf(options: PostgresAdapterOptions, config: Record<string, unknown> | undefined): Pipeline | undefined {
  if (options.pipeline === false) return undefined;
  if (config === undefined) {
    if (options.pipeline !== undefined) throw new InvalidOption('pipeline', 'cannot be combined with pool: the adapter pipelines only connections of its own');
    return undefined;
  }
  const pipedConfig = { ...config, pipeline: true };
  const makeClient = () => new Client(pipedConfig) as unknown as PipeClient;
  if (!pipelineSupported(makeClient)) {
    if (options.pipeline !== undefined) throw new InvalidOption('pipeline', 'needs pg 8.23 or later (pipeline mode): upgrade pg, or leave pipeline out');
    return undefined;
  }
  return new Pipeline(makeClient, typeof options.pipeline === 'number' ? options.pipeline : 2);
}

/** The statements of lib/postgres/statements.ts, pipelined or through a pg pool. */
class PgStore implements SqlStore {
  constructor(
    private readonly pool: PgPool,
    /** The session statements' connections; undefined: the pool. */
    private readonly pipeline: Pipeline | undefined,
    private readonly sql: Statements,
    readonly tableSql: string,
    private readonly channel: string,
    private readonly owned: boolean,
    /** Statement names' prefix when statements are prepared (once per connection); undefined: unnamed. */
    private readonly prepared: string | undefined,
  ) {}

  /**
   * One statement: named (PostgreSQL parses and plans it once per connection) unless `prepared:
   * false`; pipelined unless `pipeline: false`, except gc's batches, which go through the pool so
   * that no statement is sent behind a thousand-row delete (one on a row the delete holds still
   * waits for it, as through the pool).
   */
  #q(key: keyof Statements, values: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }> {
    const text = this.sql[key];
    const name = this.prepared === undefined ? undefined : this.prepared + key;
    if (this.pipeline !== undefined && key !== 'gcBatch') return this.pipeline.query(name === undefined ? { text, values } : { name, text, values });
    return name === undefined ? this.pool.query(text, values) : this.pool.query({ name, text, values });
  }

  /**
   * One implicit transaction behind an advisory lock: concurrent `CREATE ... IF NOT EXISTS` of
   * the same table can fail in PostgreSQL (a duplicate in pg_type); adapters starting together may call it.
   */
  async createTable(): Promise<void> {
    await this.pool.query(`SELECT pg_advisory_xact_lock(hashtext('koa-session-manager:createTable')); ${this.tableSql}`);
  }

  async read(id: string, ttlMs: number, slackMs: number): Promise<Buffer | null> {
    return data((await this.#q('read', [id, ttlMs, slackMs])).rows);
  }

  async lockRead(id: string, token: string, expiryMs: number): Promise<{ data: Buffer | null } | undefined> {
    const { rows } = await this.#q('lockRead', [id, token, expiryMs]);
    return rows.length === 1 ? { data: data(rows) } : undefined;
  }

  async writeUnlock(id: string, bytes: Buffer, ttlMs: number, token: string, existing: boolean): Promise<boolean> {
    return (await this.#q('writeUnlock', [id, bytes, ttlMs, token, existing, this.channel])).rows[0]?.written === 1;
  }

  async holds(id: string, token: string): Promise<boolean> {
    return (await this.#q('holds', [id, token])).rows.length === 1;
  }

  async unlock(id: string, token: string, touchMs: number, slackMs: number): Promise<void> {
    await this.#q('unlock', [id, token, touchMs, slackMs, this.channel]);
  }

  async renew(id: string, token: string, expiryMs: number): Promise<boolean> {
    return (await this.#q('renew', [id, token, expiryMs])).rowCount === 1;
  }

  async upsert(id: string, bytes: Buffer, ttlMs: number): Promise<void> {
    await this.#q('upsert', [id, bytes, ttlMs]);
  }

  async update(id: string, bytes: Buffer, ttlMs: number): Promise<boolean> {
    return ((await this.#q('update', [id, bytes, ttlMs])).rowCount ?? 0) > 0;
  }

  async touch(id: string, ttlMs: number): Promise<boolean> {
    return ((await this.#q('touch', [id, ttlMs])).rowCount ?? 0) > 0;
  }

  async destroy(id: string): Promise<Buffer | null> {
    return data((await this.#q('destroy', [id])).rows);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.#q('exists', [id])).rows.length === 1;
  }

  async gcBatch(limit: number): Promise<number> {
    return (await this.#q('gcBatch', [limit])).rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pipeline?.close();
    if (this.owned) await this.pool.end().catch(() => undefined);
  }
}

/** A short stable tag of the table name, so two tables' prepared statements never share a name. */
function hash(text: string): string {
  let h = 5381;
  for (let i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
  return h.toString(36);
}

/** The `data` of the first row (a Buffer: the column is bytea), null when none. */
function data(rows: Record<string, unknown>[]): Buffer | null {
  const value = rows[0]?.data;
  return Buffer.isBuffer(value) ? value : null;
}
