import createDebug from 'debug';
import type * as ioredis from 'ioredis';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { AdapterRuntimeError, InvalidOption, SessionLockLost, SessionLockTimeout } from '../errors';
import { checkOptionKeys } from '../closedOptions';
import { redactId } from '../id';
import type { LockHandle, LockOptions, WriteOptions } from '../adapters/Adapter';
import { AbstractAdapter, lockOptions, ttlMs } from '../adapters/AbstractAdapter';
import { KeyedMutex } from '../adapters/KeyedMutex';
import { RedisLock, type LockOwner } from './RedisLock';
import { DESTROY, LOCK_READ, READ, RENEW, TOUCH, UNCLAIM, UNLOCK, WRITE, WRITE_UNLOCK, type Script } from './scripts';
import { Wakeups } from './Wakeups';
import { requirePeer } from '../peer';

// Loaded when this entry point is imported, never by the main one.
const { Redis: RedisClient } = requirePeer<typeof ioredis>('ioredis', 'koa-session-manager/redis');

const debug = createDebug('koa-session-manager:redis');

/** Options of {@link RedisAdapter}: Phalcon's names and defaults, times in seconds unless named. */
export interface RedisAdapterOptions {
  /** A ready ioredis `Redis` or `Cluster` the app owns; the adapter never closes it. */
  client?: Redis | Cluster;
  /**
   * A connection URL instead of host/port/index/auth: `redis://[user:pass@]host[:port][/db]`, or
   * `rediss://…` for TLS (ioredis' URL rules).
   */
  url?: string;
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
  /** Accepted for Phalcon compatibility: a Node process always keeps its connection open. */
  persistent?: boolean;
  /** @default 'sess-reds-' */
  prefix?: string;
  /** Store TTL in seconds when the middleware sets no `lifetime`. @default 3600 */
  lifetime?: number;
  /** Connect timeout in seconds (Phalcon `timeout`). @default 1 */
  timeout?: number;
  /** Reply timeout in seconds for every command (Phalcon `readTimeout`). @default 1 */
  readTimeout?: number;
  /**
   * Per-session locking: the requests of one session take turns, so none loses another's
   * writes. Phalcon's default is off; ours is on (README, Decisions). `false` for an app whose
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
   * 55 µs with the cork; README, Benchmarks). A client the app passes in is corked the same way
   * unless it pipelines by itself or is a Cluster. @default false
   */
  autoPipelining?: boolean;
}

type Client = Redis | Cluster;

const OPTION_KEYS: readonly (keyof RedisAdapterOptions)[] = [
  'client', 'url', 'host', 'port', 'socket', 'index', 'auth', 'persistent', 'prefix', 'lifetime', 'timeout', 'readTimeout',
  'lockingEnabled', 'lockExpiry', 'lockRetries', 'lockWaitTime', 'autoPipelining',
];

const OPTION_HINTS: Readonly<Record<string, string>> = {
  password: 'use `auth` (a password, [user, password] or { user, pass }), or credentials in `url`',
  username: 'use `auth: [user, password]`, or credentials in `url`',
  db: 'use `index` (Phalcon\'s name for the database number)',
  database: 'use `index` (Phalcon\'s name for the database number)',
  path: 'use `socket` for a Unix socket path',
  tls: 'use a `rediss://` url, or pass your own ioredis `client` with its tls options',
  locking: 'use `lockingEnabled` (and `lockExpiry`, `lockRetries`, `lockWaitTime`)',
  ttl: 'use `lifetime` (seconds), or the middleware\'s `lifetime`',
};

function positive(option: string, value: unknown, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new InvalidOption(option, `must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

const ms = (seconds: number): number => Math.max(1, Math.round(seconds * 1000));

/**
 * Sessions in Redis (Phalcon `Session\Adapter\Redis`) over ioredis: one round trip for a
 * read-only request, two for a writing one, with or without locking. Locks are per request
 * (token), fenced (a write after the lock was lost is refused), renewed while the request runs,
 * and handed over on release through pub/sub instead of sleeping `lockWaitTime`. A Redis that is
 * down or hung makes a request fail within about a second with `AdapterRuntimeError`.
 *
 * Keys: `<prefix>{<id>}` for data, `<prefix>{<id>}.lock` for the lock and `<prefix>{<id>}.claim`
 * for the waiter whose turn is next: they never collide (a data key always ends in `}`) and
 * share one Cluster slot (hash tag).
 *
 * @example
 * app.use(session({ adapter: new RedisAdapter({ url: process.env.REDIS_URL }) }));
 */
export class RedisAdapter extends AbstractAdapter {
  /** ioredis options that keep a session store bounded when Redis is down, slow or restarted. */
  static clientOptions(timeoutMs = 1000): RedisOptions {
    return {
      enableOfflineQueue: false, // never replay a stale write after a reconnect
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(50 * 2 ** times, 1000),
    };
  }

  readonly client: Client;
  readonly lifetime: number;
  /** Read refreshes the TTL, so an unchanged session needs no separate touch. */
  readonly touchesOnRead = true;
  /** Per-session locking; absent when `lockingEnabled` is false. */
  readonly lock?: (id: string, options?: Partial<LockOptions>) => Promise<LockHandle>;

  readonly #owned: boolean;
  readonly #timeoutMs: number;
  readonly #lockDefaults: LockOptions;
  readonly #pollMs: number;
  readonly #mutex = new KeyedMutex();
  readonly #wakeups: Wakeups;
  #readyWait: Promise<void> | undefined;
  /** Whether #coalesce() applies: one socket, and no auto-pipelining of its own. */
  readonly #corkable: boolean;
  #corked = false;

  constructor(options: RedisAdapterOptions = {}) {
    if (typeof options === 'string') throw new InvalidOption('RedisAdapter', "takes an options object: new RedisAdapter({ url: 'redis://…' })");
    if (typeof options !== 'object' || options === null) throw new InvalidOption('RedisAdapter', 'takes an options object');
    checkOptionKeys('RedisAdapter', options, OPTION_KEYS, OPTION_HINTS);
    super(options.prefix ?? 'sess-reds-');
    this.lifetime = positive('lifetime', options.lifetime, 3600);
    this.#timeoutMs = ms(positive('readTimeout', options.readTimeout, 1));
    const retries = positive('lockRetries', options.lockRetries, 100, true);
    const waitTime = positive('lockWaitTime', options.lockWaitTime, 50000, true);
    this.#lockDefaults = { wait: (retries * waitTime) / 1e6, expiry: positive('lockExpiry', options.lockExpiry, 30) };
    this.#pollMs = waitTime / 1000;
    if (options.lockingEnabled !== undefined && typeof options.lockingEnabled !== 'boolean') throw new InvalidOption('lockingEnabled', 'must be true or false');
    if (options.client) {
      if (options.autoPipelining !== undefined) throw new InvalidOption('autoPipelining', 'applies to the adapter\'s own client: set enableAutoPipelining on the client you pass');
      for (const other of ['url', 'host', 'port', 'socket', 'index', 'auth'] as const) {
        if (options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with client: configure the client you pass');
      }
      this.client = options.client;
      this.#owned = false;
    } else {
      if (options.autoPipelining !== undefined && typeof options.autoPipelining !== 'boolean') throw new InvalidOption('autoPipelining', 'must be true or false');
      const own: RedisOptions = {
        ...RedisAdapter.clientOptions(this.#timeoutMs),
        enableAutoPipelining: options.autoPipelining === true,
        connectTimeout: ms(positive('timeout', options.timeout, 1)),
      };
      this.client = options.url !== undefined ? new RedisClient(checkUrl(options), own) : new RedisClient({ ...own, ...connection(options) });
      this.client.on('error', (err: Error) => debug('redis: %s', err.message));
      this.#owned = true;
    }
    this.#corkable = !('isCluster' in this.client && this.client.isCluster) && this.client.options.enableAutoPipelining !== true;
    this.#wakeups = new Wakeups(this.client);
    if (options.lockingEnabled !== false) this.lock = (id, request = {}) => this.#lock(id, request);
  }

  async read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null> {
    const key = this.key(id);
    if (lock instanceof RedisLock && lock.dataKey === key) {
      const data = lock.take();
      if (data !== undefined) {
        if (ttl) lock.touchMs = ms(ttl);
        return data;
      }
    }
    return (await this.#eval(READ, key, [ttl ? ms(ttl) : 0])) as string | null;
  }

  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    const key = this.key(id);
    ttlMs(ttl); // refuses a TTL that is not a positive number (it would reach Redis as 1 ms or NaN)
    const px = ms(ttl);
    const update = options?.existing === true ? '1' : '0';
    if (lock instanceof RedisLock && lock.dataKey === key) {
      if (!lock.held) throw new SessionLockLost(redactId(lock.lockKey, id));
      // On a failure the lock stays: the Manager's release() tries again, else it expires.
      // The token is checked inside Redis: a lock that expired or was deleted there while this
      // process still counted it as held refuses the write (fenced), whatever `held` says.
      const written = await this.#eval(WRITE_UNLOCK, key, [data, px, lock.token, update]);
      lock.ended();
      if (written === 0) throw new SessionLockLost(redactId(lock.lockKey, id));
      return written === 1;
    }
    if (update === '1') return (await this.#eval(WRITE, key, [data, px, update])) === 1;
    if (this.client.status !== 'ready') await this.#ready();
    this.#coalesce();
    await this.client.set(key, data, 'PX', px);
    return true;
  }

  /** Refreshes a stored session's TTL; a missing record or a move marker is left as it is. */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<boolean> {
    const key = this.key(id);
    ttlMs(ttl); // as in write()
    return (await this.#eval(TOUCH, key, [ms(ttl)])) === 1;
  }

  async validateId(id: string): Promise<boolean> {
    const key = this.key(id);
    if (this.client.status !== 'ready') await this.#ready();
    return (await this.client.exists(key)) === 1;
  }

  /** Resolves what was stored (so a move marker removed here can be followed), null when nothing. */
  async destroy(id: string): Promise<string | null> {
    return (await this.#eval(DESTROY, this.key(id), [])) as string | null;
  }

  /** Redis expires records by their TTL: nothing to sweep. */
  async gc(): Promise<number> {
    return 0;
  }

  /** Closes the connections the adapter opened (never a `client` the app passed in). */
  async close(): Promise<void> {
    await this.#wakeups.close();
    if (this.#owned) await this.client.quit().catch(() => this.client.disconnect());
  }

  /** `<prefix>{<id>}`: the braces make the data and lock keys one Cluster slot. */
  protected override key(id: string): string {
    super.key(id); // validates the id
    return `${this.prefix}{${id}}`;
  }

  async #lock(id: string, request: Partial<LockOptions>): Promise<LockHandle> {
    const options = lockOptions(request, this.#lockDefaults);
    const dataKey = this.key(id);
    const lockKey = `${dataKey}.lock`;
    const started = performance.now();
    const local = this.#mutex.tryLock(dataKey, options) ?? await this.#mutex.lock(dataKey, options);
    const deadline = started + options.wait * 1000;
    let listener: Awaited<ReturnType<Wakeups['listen']>> | undefined;
    let refused = false;
    try {
      for (let attempt = 0; ; attempt++) {
        const claimMs = Math.ceil(2 * this.#pollMs) + 50; // outlives the pause between two tries
        const [ok, value] = (await this.#eval(LOCK_READ, dataKey, [local.token, ms(options.expiry), claimMs])) as [number, string | number | null];
        if (ok === 1) {
          const waited = attempt === 0 ? local.waitedMs : performance.now() - started;
          return new RedisLock(this.#owner, local, dataKey, lockKey, waited, value as string | null, options);
        }
        refused = true;
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw new SessionLockTimeout(redactId(lockKey, id), performance.now() - started);
        if (listener === undefined) {
          listener = await this.#wakeups.listen(lockKey);
          continue; // a release during the subscription was not heard: try again at once
        }
        await listener.wait(Math.min(this.#pollMs, remaining, Math.max(1, Number(value))));
      }
    } catch (err) {
      if (refused) await this.#eval(UNCLAIM, dataKey, [local.token]).catch(() => undefined);
      await local.release();
      throw err;
    } finally {
      listener?.close();
    }
  }

  readonly #owner: LockOwner = {
    unlock: async (lock) => {
      await this.#eval(UNLOCK, lock.dataKey, [lock.token, lock.touchMs]);
    },
    // The expiry the lock was taken with (locking: { expiry }), not the adapter's default.
    renew: async (lock) => (await this.#eval(RENEW, lock.dataKey, [lock.token, ms(lock.expiry)])) === 1,
  };

  /**
   * Run a script on the data key and, as far as it uses them, the lock and claim keys: EVALSHA,
   * or EVAL after a NOSCRIPT. (Each argument costs ioredis CPU: only the keys used are sent.)
   */
  async #eval(script: Script, dataKey: string, args: Array<string | number>): Promise<unknown> {
    if (this.client.status !== 'ready') await this.#ready();
    this.#coalesce();
    const keys = script.keys === 1 ? [dataKey]
      : script.keys === 2 ? [dataKey, `${dataKey}.lock`]
        : [dataKey, `${dataKey}.lock`, `${dataKey}.claim`];
    try {
      return await this.client.evalsha(script.sha, script.keys, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      this.#coalesce();
      return this.client.eval(script.lua, script.keys, ...keys, ...args);
    }
  }

  /**
   * Cork the connection until the end of this tick, so that the commands concurrent requests send
   * in one tick leave in one write. Loopback socket writes were the largest part of a locked
   * request's CPU (37 %, one write per command); this costs a flag and a nextTick per tick, where
   * ioredis' auto-pipelining builds a Pipeline per tick and measured slower. Not for a Cluster
   * (no single socket) nor a client that pipelines by itself.
   */
  #coalesce(): void {
    if (this.#corked || !this.#corkable) return;
    const stream = (this.client as Redis).stream;
    if (stream === undefined || typeof stream.cork !== 'function') return;
    this.#corked = true;
    stream.cork();
    process.nextTick(() => {
      this.#corked = false;
      stream.uncork();
    });
  }

  /**
   * Wait for a connection that is being (re)established, at most the command timeout; a Redis
   * that is down therefore fails a request in about a second instead of queueing it. Callers
   * check `client.status` first: awaiting this on every command cost CPU (profile).
   */
  async #ready(): Promise<void> {
    const status = this.client.status;
    if (status === 'ready') return;
    if (status === 'end') throw new AdapterRuntimeError('The Redis connection was closed', 'ERR_SESSION_STORE');
    if (status === 'wait') this.client.connect().catch(() => undefined);
    this.#readyWait ??= new Promise<void>((resolve) => this.client.once('ready', resolve))
      .finally(() => { this.#readyWait = undefined; });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AdapterRuntimeError(`Redis is not reachable (${status})`, 'ERR_SESSION_STORE')), this.#timeoutMs);
    });
    try {
      await Promise.race([this.#readyWait, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The `url` option, checked: a string with a redis:// or rediss:// scheme, alone. */
function checkUrl(options: RedisAdapterOptions): string {
  const url = options.url;
  if (typeof url !== 'string' || !/^rediss?:\/\//i.test(url)) throw new InvalidOption('url', "must be a redis:// or rediss:// URL");
  for (const other of ['host', 'port', 'socket', 'index', 'auth'] as const) {
    if (options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with url: put it in the URL');
  }
  return url;
}

/** ioredis connection options from Phalcon's. */
function connection(options: RedisAdapterOptions): RedisOptions {
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
  const auth = options.auth;
  if (typeof auth === 'string') result.password = auth;
  else if (Array.isArray(auth)) [result.username, result.password] = auth;
  else if (auth) [result.username, result.password] = [auth.user, auth.pass];
  return result;
}
