import { InvalidOption } from '../errors';
import { positive } from '../closedOptions';

/** How a SQL adapter reaches its database when it makes its own pool. */
export interface SqlConnectionOptions {
  /** A connection URL (`postgres://user:pass@host:5432/db`, `mysql://…`); the adapter makes and ends its own pool. */
  url?: string | undefined;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** Connections of the adapter's own pool. Waiting for a lock holds none. @default 10 */
  max?: number;
}

export const CONNECTION_KEYS = ['url', 'host', 'port', 'user', 'password', 'database', 'max'] as const;

/**
 * The connection options, checked: `{ url }` (matching `scheme`) or the fields, never both; the
 * fields as the driver names them, the pool size apart.
 *
 * @example
 * connection({ host: 'db', port: 5432 }, /^postgres(ql)?:\/\//i, 'postgres://'); // { fields: { host: 'db', port: 5432 }, max: 10 }
 */
export function connection(options: SqlConnectionOptions, scheme: RegExp, example: string): { url?: string; fields: Record<string, unknown>; max: number } {
  const max = positive('max', options.max, 10, true);
  if (options.url !== undefined) {
    if (typeof options.url !== 'string' || !scheme.test(options.url)) throw new InvalidOption('url', `must be a ${example} URL`);
    for (const other of ['host', 'port', 'user', 'password', 'database'] as const) {
      if (options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with url');
    }
    return { url: options.url, fields: {}, max };
  }
  const fields: Record<string, unknown> = {};
  for (const key of ['host', 'user', 'password', 'database'] as const) {
    const value = options[key];
    if (value !== undefined && typeof value !== 'string') throw new InvalidOption(key, 'must be a string');
    if (value !== undefined) fields[key] = value;
  }
  if (options.port !== undefined) fields.port = positive('port', options.port, 1, true);
  return { fields, max };
}

/**
 * An app's pool, checked: it has `query`, and no option that configures a pool comes with it
 * (`allowed` names those that still apply, e.g. MySQL's per-statement `timeout`).
 */
export function checkAppPool(options: SqlConnectionOptions & { pool?: unknown; timeout?: number }, driver: string, allowed: readonly string[] = []): void {
  if (typeof (options.pool as { query?: unknown } | null)?.query !== 'function') throw new InvalidOption('pool', `must be a ${driver} Pool`);
  for (const other of [...CONNECTION_KEYS, 'timeout'] as const) {
    if (!allowed.includes(other) && options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with pool: configure the pool you pass');
  }
}
