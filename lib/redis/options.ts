import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { InvalidOption } from '../errors';
import { positive } from '../closedOptions';
import type { PhpStoreOptions } from '../php/store';

/** Options of {@link RedisAdapter}: Phalcon's names and defaults, times in seconds unless named. */
export interface RedisAdapterOptions {
  /** A ready ioredis `Redis` or `Cluster` the app owns; the adapter never closes it. */
  client?: Redis | Cluster;
  /**
   * A connection URL instead of host/port/index/auth: `redis://[user:pass@]host[:port][/db]`, or
   * `rediss://…` for TLS (ioredis' URL rules).
   */
  url?: string | undefined;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 6379 */
  port?: number;
  /** A Unix socket path instead of host and port. */
  socket?: string;
  /** Database number (SELECT). @default 0 */
  index?: number;
  /** A password, `[user, password]` or `{ user, pass }` (ACL). */
  auth?: string | [string, string] | { user?: string; pass: string };
  /**
   * TLS for the adapter's own client, certificate verification always on: a private CA, a client
   * certificate (`tls-auth-clients yes`), the name the server's certificate holds. With `url`, the
   * URL must be `rediss://`; with `host`/`port`, this turns TLS on (`{}`: Node's bundled CAs).
   * With `sentinels`, it turns TLS on for the master (and replicas after a failover) and for the
   * sentinels alike; the sentinels report the master by IP address, so the data nodes'
   * certificates must hold their IPs, or all one name given as `servername`.
   * `rejectUnauthorized` is refused: pass your own `client` to do that.
   */
  tls?: RedisTlsOptions;
  /**
   * Sentinel: the sentinels to ask for the master named `name`; the adapter's client follows a
   * failover. Instead of url/host/port/socket; `index` and `auth` apply to the master.
   */
  sentinels?: Array<{ host: string; port?: number }>;
  /** The master name the sentinels monitor (`sentinel monitor <name> …`); with `sentinels`. */
  name?: string;
  /** A password, `[user, password]` or `{ user, pass }` for the sentinels themselves (their `requirepass`). */
  sentinelAuth?: string | [string, string] | { user?: string; pass: string };
  /**
   * TLS for the connections to the sentinels when they need other settings than the master (another
   * CA, client certificate or `servername`): the same keys as `tls`, used instead of it, whole (not
   * merged). Needs `sentinels` and `tls`: the sentinels are reached over TLS only with the master.
   */
  sentinelTls?: RedisTlsOptions;
  /** Accepted for Phalcon compatibility: a Node process always keeps its connection open. */
  persistent?: boolean;
  /** @default 'sess-reds-' */
  prefix?: string;
  /** Store TTL in seconds when the middleware sets no `lifetime`. @default 3600 */
  lifetime?: number;
  /** Connect timeout in seconds (Phalcon `timeout`). @default 1 */
  timeout?: number;
  /**
   * Reply timeout in seconds for every command (Phalcon `readTimeout`): a command Redis has not
   * answered within it is given up (after 1 to 1.25 × `readTimeout`: the adapter's own client
   * keeps it with one timer, not one per command; a `client` of the app's keeps its own
   * `commandTimeout`). @default 1
   */
  readTimeout?: number;
  /**
   * Per-session locking: the requests of one session take turns, so none loses another's
   * writes. Phalcon's default is off; ours is on (docs/decisions.md). `false` for an app whose
   * every route only reads. @default true
   */
  lockingEnabled?: boolean;
  /** Seconds after which the lock of a holder that stopped renewing it expires. @default 30 */
  lockExpiry?: number;
  /** With `lockWaitTime`, the longest wait for a lock: `lockRetries × lockWaitTime`. @default 100 */
  lockRetries?: number;
  /** Microseconds; also the longest pause between tries when no release is heard. @default 50000 */
  lockWaitTime?: number;
  /**
   * ioredis `enableAutoPipelining` for the adapter's own client. Off by default: the adapter
   * sends the commands of one tick in one write itself (it corks the socket for the tick), for
   * less CPU than ioredis' pipeline per tick (locked `/inc` 74 µs with it; 62 µs without, about
   * 55 µs with the cork; docs/benchmarks.md). A client the app passes in is corked the same way
   * unless it pipelines by itself or is a Cluster. @default false
   */
  autoPipelining?: boolean;
  /**
   * Share the sessions with a PHP app (docs/php.md): PHP's keys (`PHPREDIS_SESSION:<id>`, or
   * Phalcon's `sess-reds-<id>`), its lock key and protocol, its session format (`handler`), its
   * TTL (1440 s, Phalcon 3600 s) and cookie name (`PHPSESSID`), which `session()` takes from the
   * adapter. What Node does not change is written back as PHP wrote it. `prefix`, `index` and
   * `lifetime` override PHP's defaults as its `save_path` / `gc_maxlifetime` do. Not with a Cluster.
   */
  php?: PhpStoreOptions;
}

/** The `tls` and `sentinelTls` options: PEM text or Buffers, as Node's `tls.connect()` takes them. */
export interface RedisTlsOptions {
  /** The certificate authorities to trust instead of Node's bundled ones (a private CA). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** A client certificate (chain), with `key`, for a server that asks for one. */
  cert?: string | Buffer;
  /** The client certificate's private key. */
  key?: string | Buffer;
  /** The passphrase of an encrypted `key`. */
  passphrase?: string;
  /** The name the server's certificate must hold (and SNI), when it is not the host connected to. */
  servername?: string;
}

/**
 * The keys {@link RedisAdapterOptions} knows: any other is refused by name.
 *
 * @example
 * checkOptionKeys('RedisAdapter', options, OPTION_KEYS, OPTION_HINTS);
 */
export const OPTION_KEYS: readonly (keyof RedisAdapterOptions)[] = [
  'client', 'url', 'host', 'port', 'socket', 'index', 'auth', 'persistent', 'prefix', 'lifetime', 'timeout', 'readTimeout',
  'lockingEnabled', 'lockExpiry', 'lockRetries', 'lockWaitTime', 'autoPipelining', 'tls', 'sentinels', 'name', 'sentinelAuth',
  'sentinelTls', 'php',
];

/**
 * What to use instead of an option of another Redis client or session store.
 *
 * @example
 * OPTION_HINTS.db; // 'use `index` (Phalcon\'s name for the database number)'
 */
export const OPTION_HINTS: Readonly<Record<string, string>> = {
  password: 'use `auth` (a password, [user, password] or { user, pass }), or credentials in `url`',
  username: 'use `auth: [user, password]`, or credentials in `url`',
  db: 'use `index` (Phalcon\'s name for the database number)',
  database: 'use `index` (Phalcon\'s name for the database number)',
  path: 'use `socket` for a Unix socket path',
  masterName: 'use `name` (with `sentinels`)',
  sentinelPassword: 'use `sentinelAuth` (a password, [user, password] or { user, pass })',
  sentinelUsername: 'use `sentinelAuth: [user, password]`',
  rejectUnauthorized: 'certificate verification cannot be turned off; see `tls`',
  sentinelTLS: 'use `sentinelTls` (the keys of `tls`), or `tls` alone when the sentinels take the same settings as the master',
  enableTLSForSentinelMode: '`tls` with `sentinels` turns TLS on for the master and the sentinels',
  locking: 'use `lockingEnabled` (and `lockExpiry`, `lockRetries`, `lockWaitTime`)',
  ttl: 'use `lifetime` (seconds), or the middleware\'s `lifetime`',
};

/**
 * Whole milliseconds from seconds, at least 1.
 *
 * @example
 * ms(0.0004); // 1
 */
export const ms = (seconds: number): number => Math.max(1, Math.round(seconds * 1000));

/**
 * The options `RedisAdapter.clientOptions()` sets: a Pick rather than all of `RedisOptions`, whose own
 * type cannot be spread into `new Redis()` under `exactOptionalPropertyTypes` (ioredis 6).
 */
export type BoundedClientOptions = Pick<RedisOptions, 'enableOfflineQueue' | 'connectTimeout' | 'commandTimeout' | 'maxRetriesPerRequest' | 'retryStrategy'>;

/**
 * ioredis options that keep a session store bounded when Redis is down, slow or restarted.
 *
 * @example
 * const client = new Redis({ ...clientOptions(), host: 'redis' });
 */
export function clientOptions(timeoutMs = 1000): BoundedClientOptions {
  return {
    enableOfflineQueue: false, // never replay a stale write after a reconnect
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 1000),
  };
}

/**
 * The `url` option, checked: a string with a redis:// or rediss:// scheme, alone.
 *
 * @example
 * checkUrl({ url: 'redis://cache:6379/2' }); // 'redis://cache:6379/2'
 */
export function checkUrl(options: RedisAdapterOptions): string {
  const url = options.url;
  if (typeof url !== 'string' || !/^rediss?:\/\//i.test(url)) throw new InvalidOption('url', "must be a redis:// or rediss:// URL");
  for (const other of ['host', 'port', 'socket', 'index', 'auth'] as const) {
    if (options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with url: put it in the URL');
  }
  return url;
}

/**
 * ioredis connection options from Phalcon's.
 *
 * @example
 * connection({ host: 'cache', index: 2, auth: ['app', 'secret'] });
 * // { host: 'cache', port: 6379, db: 2, username: 'app', password: 'secret' }
 */
export function connection(options: RedisAdapterOptions): RedisOptions {
  const result: RedisOptions = {};
  if (options.socket) result.path = options.socket;
  else {
    result.host = options.host ?? '127.0.0.1';
    result.port = positive('port', options.port, 6379, true);
  }
  if (options.index !== undefined) {
    if (!Number.isInteger(options.index) || options.index < 0) throw new InvalidOption('index', 'must be a database number');
    result.db = options.index;
  }
  return { ...result, ...credentials(options.auth) };
}

/**
 * ioredis `username`/`password` from Phalcon's `auth` forms.
 *
 * @example
 * credentials(['app', 'secret']); // { username: 'app', password: 'secret' }
 */
export function credentials(auth: RedisAdapterOptions['auth']): { username?: string; password?: string } {
  if (auth === undefined) return {};
  if (typeof auth === 'string') return { password: auth };
  if (Array.isArray(auth)) return { username: auth[0], password: auth[1] };
  return auth.user === undefined ? { password: auth.pass } : { username: auth.user, password: auth.pass };
}
