import { logger } from '../log';
import { InvalidOption } from '../errors';
import { positive } from '../closedOptions';
import type { RingNode } from './HashRing';
import type { MemjsClient } from './Shard';
import type { PhpStoreOptions } from '../php/store';

const debug = logger('koa-session-manager:memcached');

/**
 * memjs client and server options (its `timeout` and `conntimeout` are in seconds). Declared here
 * rather than taken from `@types/memjs`, so that the typings of `koa-session-manager/memcached`
 * compile in an app that has memjs but not its community types.
 */
export interface MemjsOptions {
  /** Seconds a command may take. */
  timeout?: number | undefined;
  /** Seconds a connection may take. */
  conntimeout?: number | undefined;
  retries?: number | undefined;
  /** Seconds between retries. */
  retry_delay?: number | undefined;
  /** Default expiration of memjs' own `set` (the adapter always passes its own). */
  expires?: number | undefined;
  failover?: boolean | undefined;
  failoverTime?: number | undefined;
  keepAlive?: boolean | undefined;
  keepAliveDelay?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
  logger?: { log(...args: unknown[]): void } | undefined;
}

/** One entry of Phalcon's `servers` option. */
export interface MemcachedServerOption {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 11211 */
  port?: number;
  /** Share of the sessions relative to the other servers. @default 1 */
  weight?: number;
}

/** SASL credentials (Phalcon `saslAuthData`). */
export interface SaslAuthData {
  user: string;
  pass: string;
}

/** Options of {@link MemcachedAdapter}: Phalcon's names and defaults, times in seconds unless named. */
export interface MemcachedAdapterOptions {
  /** Phalcon's server list; sessions are spread by a consistent hash honouring `weight`. @default [{ host: '127.0.0.1', port: 11211, weight: 1 }] */
  servers?: MemcachedServerOption[];
  /** memjs options, merged over bounded defaults. @default { timeout: 1, conntimeout: 1, retries: 0, failover: false, keepAlive: true } */
  client?: MemjsOptions;
  /** SASL credentials sent to every server. */
  saslAuthData?: SaslAuthData;
  /** Accepted for Phalcon compatibility: a Node process keeps its connections open anyway. */
  persistentId?: string;
  /** A ready memjs client the app owns, instead of `servers`: the adapter never closes it and hashes nothing itself. */
  memjsClient?: MemjsClient;
  /** @default 'sess-memc-' */
  prefix?: string;
  /** Store TTL in seconds when the middleware sets no `lifetime`. @default 3600 */
  lifetime?: number;
  /**
   * Per-session locking: the requests of one session take turns, so none loses another's writes
   * (Phalcon has none for memcached; docs/decisions.md). `false` for an app whose every route
   * only reads. @default true
   */
  lockingEnabled?: boolean;
  /** Seconds after which the lock of a holder that stopped renewing it expires. @default 30 */
  lockExpiry?: number;
  /** With `lockWaitTime`, the longest wait for a lock: `lockRetries × lockWaitTime`. @default 100 */
  lockRetries?: number;
  /** Microseconds; the longest pause between two tries for a lock held in another process. @default 50000 */
  lockWaitTime?: number;
  /**
   * Share the sessions with a PHP app using php-memcached's session handler (docs/php.md): its
   * keys (`memc.sess.key.<id>`, lock `memc.sess.key.lock.<id>` taken with `add` as PHP does), its
   * session format (`handler`), its TTL (1440 s) and cookie name (`PHPSESSID`), which `session()`
   * takes from the adapter. What Node does not change is written back as PHP wrote it. `prefix`
   * and `lifetime` override PHP's defaults as `memcached.sess_prefix` / `gc_maxlifetime` do. One
   * server only.
   */
  php?: Omit<PhpStoreOptions, 'flavor' | 'envelope'>;
}

/**
 * The keys {@link MemcachedAdapterOptions} knows: any other is refused by name.
 *
 * @example
 * checkOptionKeys('MemcachedAdapter', options, OPTION_KEYS, OPTION_HINTS);
 */
export const OPTION_KEYS: readonly (keyof MemcachedAdapterOptions)[] = [
  'servers', 'client', 'saslAuthData', 'persistentId', 'memjsClient', 'prefix', 'lifetime', 'lockingEnabled', 'lockExpiry',
  'lockRetries', 'lockWaitTime', 'php',
];

/**
 * What to use instead of an option of another memcached client or session store.
 *
 * @example
 * OPTION_HINTS.host; // 'use `servers: [{ host, port, weight }]`'
 */
export const OPTION_HINTS: Readonly<Record<string, string>> = {
  host: 'use `servers: [{ host, port, weight }]`',
  port: 'use `servers: [{ host, port, weight }]`',
  locking: 'use `lockingEnabled` (and `lockExpiry`, `lockRetries`, `lockWaitTime`)',
  ttl: 'use `lifetime` (seconds), or the middleware\'s `lifetime`',
};

/** memjs defaults that keep a session store bounded: a dead server fails in about a second. */
export const CLIENT_DEFAULTS: Readonly<MemjsOptions> = Object.freeze({
  timeout: 1,
  conntimeout: 1,
  retries: 0,
  failover: false,
  keepAlive: true,
  logger: { log: (...args: unknown[]) => debug('memjs: %s', args.join(' ')) },
});

/** Longest key memcached accepts, and what an id and `.claim` take of it. */
const KEY_LIMIT = 250;
const PREFIX_LIMIT = KEY_LIMIT - 128 - '.claim'.length;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A prefix memcached can carry in a key: no spaces or control characters, room left for the id. */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new InvalidOption('prefix', 'must be a string');
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(prefix)) throw new InvalidOption('prefix', 'must not contain spaces or control characters (memcached keys cannot)');
  if (Buffer.byteLength(prefix) > PREFIX_LIMIT) throw new InvalidOption('prefix', `must be at most ${PREFIX_LIMIT} bytes (memcached keys are at most ${KEY_LIMIT})`);
  return prefix;
}

/** Phalcon's `servers`, checked, with host, port and weight filled in. */
export function resolveServers(servers: unknown): RingNode[] {
  if (servers === undefined) return [{ host: '127.0.0.1', port: 11211, weight: 1 }];
  if (!Array.isArray(servers) || servers.length === 0) throw new InvalidOption('servers', 'must be a non-empty array of { host, port, weight }');
  const seen = new Set<string>();
  return servers.map((server: unknown, i) => {
    const name = `servers[${i}]`;
    if (!isObject(server)) throw new InvalidOption(name, 'must be an object { host, port, weight }');
    const host = server.host ?? '127.0.0.1';
    if (typeof host !== 'string' || host === '') throw new InvalidOption(`${name}.host`, 'must be a non-empty string');
    const port = positive(`${name}.port`, server.port, 11211, true);
    if (port > 65535) throw new InvalidOption(`${name}.port`, 'must be at most 65535');
    const weight = positive(`${name}.weight`, server.weight, 1);
    if (seen.has(`${host}:${port}`)) throw new InvalidOption(name, `lists ${host}:${port} a second time`);
    seen.add(`${host}:${port}`);
    return { host, port, weight };
  });
}

/** Phalcon's `client` options for memjs, merged over {@link CLIENT_DEFAULTS}. */
export function resolveClientOptions(client: unknown): MemjsOptions & { timeout: number; conntimeout: number; retries: number } {
  if (client === undefined) client = {};
  if (!isObject(client)) throw new InvalidOption('client', 'must be an object of memjs options');
  if (client.serializer !== undefined) throw new InvalidOption('client.serializer', 'is not supported: the adapter stores the text the Manager serialized');
  const timeout = positive('client.timeout', client.timeout, CLIENT_DEFAULTS.timeout!);
  const conntimeout = positive('client.conntimeout', client.conntimeout, CLIENT_DEFAULTS.conntimeout!);
  const retries = client.retries ?? 0;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0) throw new InvalidOption('client.retries', 'must be an integer >= 0');
  const retryDelay = client.retry_delay ?? 0;
  if (typeof retryDelay !== 'number' || !(retryDelay >= 0) || !Number.isFinite(retryDelay)) throw new InvalidOption('client.retry_delay', 'must be a number of seconds >= 0');
  for (const flag of ['failover', 'keepAlive'] as const) {
    if (client[flag] !== undefined && typeof client[flag] !== 'boolean') throw new InvalidOption(`client.${flag}`, 'must be a boolean');
  }
  return { ...CLIENT_DEFAULTS, ...(client as MemjsOptions), timeout, conntimeout, retries };
}

/**
 * Milliseconds after which the adapter gives up on one command, whatever memjs does: the longer
 * of `timeout` and `conntimeout` for each try memjs makes (its `retries` counts tries), plus the
 * pauses between them. With the defaults, 1.05 s.
 */
export function commandTimeoutMs(options: MemjsOptions & { timeout: number; conntimeout: number; retries: number }): number {
  const tries = Math.max(1, options.retries);
  const pauses = (options.retry_delay ?? 0.2) * (tries - 1);
  return Math.ceil((Math.max(options.timeout, options.conntimeout) * tries + pauses) * 1000) + 50;
}

/**
 * The command bound for an app's own memjs client, from its own options (memjs defaults: 0.5 s
 * timeout, connect timeout twice that, 2 tries); the adapter's defaults for a client that
 * exposes none (a double).
 */
export function appClientTimeoutMs(client: object): number {
  const { options, servers } = client as { options?: MemjsOptions; servers?: ReadonlyArray<{ options?: MemjsOptions }> };
  const server = servers?.[0]?.options;
  if (!options || !server) return commandTimeoutMs(resolveClientOptions(undefined));
  const timeout = server.timeout ?? 0.5;
  return commandTimeoutMs({ timeout, conntimeout: server.conntimeout ?? 2 * timeout, retries: options.retries ?? 2, retry_delay: options.retry_delay });
}

/** Phalcon's `saslAuthData`, checked. */
export function resolveSasl(sasl: unknown): SaslAuthData | undefined {
  if (sasl === undefined) return undefined;
  if (!isObject(sasl) || typeof sasl.user !== 'string' || sasl.user === '' || typeof sasl.pass !== 'string') {
    throw new InvalidOption('saslAuthData', 'must be { user, pass } with a non-empty user');
  }
  return { user: sasl.user, pass: sasl.pass };
}
