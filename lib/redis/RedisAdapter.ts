import type * as ioredis from 'ioredis';
import type { Cluster, Redis } from 'ioredis';
import { InvalidOption, InvalidSessionId, SessionLockLost, SessionLockTimeout } from '../errors';
import { checkOptionKeys } from '../closedOptions';
import { redactId } from '../id';
import { isMoveMarker, type LockHandle, type LockOptions, type SharedFormat, type WriteOptions } from '../adapters/Adapter';
import { AbstractAdapter, lockOptions, ttlMs } from '../adapters/AbstractAdapter';
import { KeyedMutex } from '../adapters/KeyedMutex';
import { Commands, MOVED } from './Commands';
import { OPTION_HINTS, OPTION_KEYS, clientOptions, ms, type BoundedClientOptions, type RedisAdapterOptions } from './options';
import { positive } from '../closedOptions';
import { closeClient, ownClient } from './connect';
import { ReplyWatch } from './ReplyWatch';
import { sentinelConnector } from './sentinelConnector';
import { StoreLock, type LockOwner } from '../adapters/StoreLock';
import { DESTROY, LOCK_READ, MOVE_MARKER, READ, RENEW, TOUCH, UNCLAIM, UNLOCK, WRITE, WRITE_MOVED, WRITE_UNLOCK } from './scripts';
import { Wakeups } from './Wakeups';
import { requirePeer } from '../peer';
import { restoreFastStringPrototype } from './fastStrings';
import { bytesOfText, textOfBytes } from '../php/bytes';
import { phpKey, resolvePhpStore } from '../php/store';

// Loaded when this entry point is imported, never by the main one.
const { Redis: RedisClient, SentinelConnector } = requirePeer<typeof ioredis>('ioredis', 'koa-session-manager/redis');
restoreFastStringPrototype(); // (ioredis 6 leaves every string method call in the process slow: fastStrings.ts)
/** ioredis' own, telling why the sentinels were unreachable (a refused TLS handshake), and not ending the client on a failover heard while it connects. */
const ExplainingSentinelConnector = sentinelConnector(SentinelConnector) as ioredis.RedisOptions['Connector'];
/** How long the adapter's own client rests after ioredis gave it up (`end`) before it connects again. */
const REVIVE_MS = 1000;
/** The most a move marker has left (the Manager writes them for a minute): for one found under a data key. */
const MARKER_MS = 60_000;

export type { RedisAdapterOptions };


/**
 * Sessions in Redis (Phalcon `Session\Adapter\Redis`) over ioredis: one round trip for a
 * read-only request, two for a writing one, with or without locking. Locks are per request
 * (token), fenced (a write after the lock was lost is refused), renewed while the request runs,
 * and handed over on release through pub/sub instead of sleeping `lockWaitTime`. A Redis that is
 * down or hung makes a request fail within about a second with `AdapterRuntimeError`.
 *
 * Keys: `<prefix>{<id>}` for data, `<prefix>{<id>}.lock` for the lock, `<prefix>{<id>}.claim`
 * for the waiter whose turn is next and `<prefix>{<id>}.moved` for the move marker a sign-in
 * leaves (so that a read refreshes the data's TTL with a plain GETEX, which would extend a marker
 * kept under the data key): they never collide (a data key always ends in `}`) and share one
 * Cluster slot (hash tag).
 *
 * @example
 * app.use(session({ adapter: new RedisAdapter({ url: process.env.REDIS_URL }) }));
 */
export class RedisAdapter extends AbstractAdapter {
  /** ioredis options that keep a session store bounded when Redis is down, slow or restarted. */
  static clientOptions(timeoutMs = 1000): BoundedClientOptions {
    return clientOptions(timeoutMs);
  }

  readonly client: Redis | Cluster;
  readonly lifetime: number;
  /** Read refreshes the TTL, so an unchanged session needs no separate touch. */
  readonly touchesOnRead = true;
  /** Per-session locking; absent when `lockingEnabled` is false. */
  readonly lock?: (id: string, options?: Partial<LockOptions>) => Promise<LockHandle>;

  readonly #owned: boolean;
  /** close() was called: the adapter's own client is not revived. */
  #closing = false;
  readonly #lockDefaults: LockOptions;
  readonly #pollMs: number;
  readonly #mutex = new KeyedMutex();
  readonly #wakeups: Wakeups;
  readonly #commands: Commands;
  /** With `php`: PHP's keys (no hash tag), PHP's lock key, bytes. */
  readonly #php: 'phpredis' | 'phalcon' | undefined;
  /** With `php`: PHP's format and cookie name (session() uses them). */
  readonly sharedFormat?: SharedFormat;
  /** False once Redis answered that it has no GETEX (before 6.2, or renamed away): READ then. */
  #getex = true;

  constructor(options: RedisAdapterOptions = {}) {
    if (typeof options === 'string') throw new InvalidOption('RedisAdapter', "takes an options object: new RedisAdapter({ url: 'redis://…' })");
    if (typeof options !== 'object' || options === null) throw new InvalidOption('RedisAdapter', 'takes an options object');
    checkOptionKeys('RedisAdapter', options, OPTION_KEYS, OPTION_HINTS);
    const php = options.php === undefined ? undefined : resolvePhpStore(options.php, ['phpredis', 'phalcon']);
    super(options.prefix ?? php?.prefix ?? 'sess-reds-');
    if (php !== undefined && this.prefix === '') throw new InvalidOption('prefix', 'cannot be empty with `php`: every key of the database would be a session a cookie can name');
    this.lifetime = positive('lifetime', options.lifetime, php?.lifetime ?? 3600);
    this.#php = php?.flavor as 'phpredis' | 'phalcon' | undefined;
    if (php !== undefined) {
      this.sharedFormat = { serializer: php.serializer, cookieName: php.cookieName };
    }
    const timeoutMs = ms(positive('readTimeout', options.readTimeout, 1));
    const retries = positive('lockRetries', options.lockRetries, 100, true);
    const waitTime = positive('lockWaitTime', options.lockWaitTime, 50000, true);
    this.#lockDefaults = { wait: (retries * waitTime) / 1e6, expiry: positive('lockExpiry', options.lockExpiry, 30) };
    this.#pollMs = waitTime / 1000;
    if (options.lockingEnabled !== undefined && typeof options.lockingEnabled !== 'boolean') throw new InvalidOption('lockingEnabled', 'must be true or false');
    if (options.client) {
      if (options.autoPipelining !== undefined) throw new InvalidOption('autoPipelining', 'applies to the adapter\'s own client: set enableAutoPipelining on the client you pass');
      for (const other of ['url', 'host', 'port', 'socket', 'index', 'auth', 'tls', 'sentinels', 'name', 'sentinelAuth', 'sentinelTls'] as const) {
        if (options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with client: configure the client you pass');
      }
      this.client = options.client;
      this.#owned = false;
    } else {
      const [url, own] = ownClient(options, timeoutMs, ms(positive('timeout', options.timeout, 1)));
      if (own.sentinels !== undefined && ExplainingSentinelConnector !== undefined) own.Connector = ExplainingSentinelConnector;
      this.client = url !== undefined ? new RedisClient(url, own) : new RedisClient(own);
      this.#owned = true;
    }
    if (php !== undefined && this.client.options.keyPrefix) throw new InvalidOption('php', 'cannot use a client with keyPrefix: PHP\'s keys are the adapter\'s prefix and the id, nothing before');
    if (php !== undefined && 'isCluster' in this.client && this.client.isCluster) {
      throw new InvalidOption('php', 'works with one Redis (or Sentinel), not a Cluster: PHP\'s session and lock keys carry no hash tag, so they may live in different slots');
    }
    this.#commands = php === undefined ? new Commands(this.client, timeoutMs)
      : new Commands(this.client, timeoutMs, php.flavor === 'phalcon' ? '-lock' : '_LOCK', textOfBytes);
    // The last connection error (a refused port, an untrusted certificate) names the cause of a
    // "not reachable" error; an app's own client keeps its error listeners to itself.
    if (this.#owned) {
      this.client.on('error', (err: Error) => this.#commands.failed(err));
      this.client.on('ready', () => this.#commands.failed(undefined));
      // ioredis can end a client for good ('end', no reconnection) on paths other than close():
      // ioredis' own Sentinel connector when a failover is heard while it asks the sentinels
      // (sentinelConnector.ts). A session store that stops for good is an outage: the adapter's
      // own client connects again, until the adapter is closed.
      this.client.on('end', () => this.#revive());
    }
    if (this.#owned) this.#commands.watch = new ReplyWatch(this.client as Redis, timeoutMs);
    // The subscriber of the adapter's own client bounds its few commands with ioredis' own timer.
    this.#wakeups = new Wakeups(this.client, this.#owned ? timeoutMs : undefined);
    if (options.lockingEnabled !== false) this.lock = (id, request = {}) => this.#lock(id, request);
  }

  read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null> {
    // Not async: the command's promise and one check on it, an async frame less a read (issue #17).
    try {
      const locked = lock instanceof StoreLock && lock.ownedBy(this.#owner, id);
      if (locked) {
        const data = lock.take();
        if (data !== undefined) {
          if (ttl) lock.touchMs = ms(ttl);
          return Promise.resolve(data);
        }
      }
      const key = locked ? lock.dataKey : this.key(id);
      const px = ttl ? ms(ttl) : 0;
      // PHP's keys keep a marker under the data key, which READ does not extend.
      if (this.#php !== undefined) return this.#commands.eval(READ, key, [px]) as Promise<string | null>;
      return this.#get(key, px).then((data) => {
        if (data === null) return this.#get(key + MOVED, 0);
        if (isMoveMarker(data)) return this.#commands.eval(MOVE_MARKER, key, [MARKER_MS]).then(() => data); // (written by an earlier version)
        return data;
      });
    } catch (err) {
      return Promise.reject(err); // (as from an async function: an id the adapter refuses rejects)
    }
  }

  /**
   * GET `key`, with its TTL set to `px` ms when > 0: GETEX, one command and no script (a fifth of
   * READ's time in Redis, issue #17); READ on a Redis without it (before 6.2, or renamed away).
   */
  #get(key: string, px: number): Promise<string | null> {
    // (not async: the command's own promise is the answer, one frame less a read, issue #17)
    if (this.client.status !== 'ready') return this.#commands.ready().then(() => this.#send(key, px));
    return this.#send(key, px);
  }

  #send(key: string, px: number): Promise<string | null> {
    this.#commands.coalesce();
    if (px === 0) return this.client.get(key);
    if (!this.#getex) return this.#commands.eval(READ, key, [px]) as Promise<string | null>;
    return this.client.getex(key, 'PX', px).catch((err: unknown) => {
      // (NOPERM: an ACL that allows scripts but not GETEX; READ then says whether it is allowed.)
      if (!/unknown command|NOPERM/i.test(String((err as Error)?.message))) throw err;
      this.#getex = false;
      return this.#commands.eval(READ, key, [px]) as Promise<string | null>;
    });
  }

  async write(id: string, text: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    // This adapter's lock on `id` carries the key (the id was checked when it was taken).
    const locked = lock instanceof StoreLock && lock.ownedBy(this.#owner, id);
    const key = locked ? lock.dataKey : this.key(id);
    const data = this.#php === undefined ? text : bytesOfText(text);
    ttlMs(ttl); // refuses a TTL that is not a positive number (it would reach Redis as 1 ms or NaN)
    const px = ms(ttl);
    const update = options?.existing === true ? '1' : '0';
    // A move marker of the adapter's own keys goes under `.moved`, the data key removed.
    const moved = this.#php === undefined && isMoveMarker(text);
    if (locked) {
      if (!lock.held) throw new SessionLockLost(redactId(lock.lockKey, id));
      // On a failure the lock stays: the Manager's release() tries again, else it expires.
      // The token is checked inside Redis: a lock that expired or was deleted there while this
      // process still counted it as held refuses the write (fenced), whatever `held` says.
      const written = await this.#commands.eval(moved ? WRITE_MOVED : WRITE_UNLOCK, key, [data, px, lock.token, update]);
      lock.ended();
      if (written === 0) throw new SessionLockLost(redactId(lock.lockKey, id));
      return written === 1;
    }
    if (moved) return (await this.#commands.eval(WRITE_MOVED, key, [data, px, '', update])) === 1;
    if (update === '1') return (await this.#commands.eval(WRITE, key, [data, px, update])) === 1;
    if (this.client.status !== 'ready') await this.#commands.ready();
    this.#commands.coalesce();
    await this.client.set(key, data, 'PX', px);
    return true;
  }

  /** Refreshes a stored session's TTL; a missing record or a move marker is left as it is. */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<boolean> {
    const key = this.key(id);
    ttlMs(ttl); // as in write()
    return (await this.#commands.eval(TOUCH, key, [ms(ttl)])) === 1;
  }

  async validateId(id: string): Promise<boolean> {
    const key = this.key(id);
    if (this.client.status !== 'ready') await this.#commands.ready();
    this.#commands.coalesce();
    return (await this.client.exists(key)) === 1;
  }

  /** Resolves what was stored (so a move marker removed here can be followed), null when nothing. */
  async destroy(id: string): Promise<string | null> {
    return (await this.#commands.eval(DESTROY, this.key(id), [])) as string | null;
  }

  /** Redis expires records by their TTL: nothing to sweep. */
  async gc(): Promise<number> {
    return 0;
  }

  /** Closes the connections the adapter opened (never a `client` the app passed in). */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#wakeups.close();
    this.#commands.watch?.arm(); // (QUIT waits for its reply: bounded as every command)
    if (this.#owned) await closeClient(this.client);
  }

  /** Connects the adapter's own client again REVIVE_MS after ioredis ended it, unless closed. */
  #revive(): void {
    if (this.#closing) return;
    const client = this.client as Redis;
    setTimeout(() => {
      if (!this.#closing && client.status === 'end') client.connect().catch(() => undefined); // its errors reach the 'error' listener
    }, REVIVE_MS).unref();
  }

  /**
   * `<prefix>{<id>}`: the braces make the data and lock keys one Cluster slot. With `php`,
   * PHP's `<prefix><id>` (no Cluster), or a key PHP cannot name for the library's own records.
   */
  protected override key(id: string): string {
    const key = super.key(id); // validates the id
    if (this.#php === undefined) return `${this.prefix}{${id}}`;
    if (!this.acceptsId(id)) throw new InvalidSessionId('The session id names a Phalcon lock key');
    return phpKey(this.prefix, id, key);
  }

  /** False for an id whose key is another session's lock (Phalcon's `<id>-lock`). */
  acceptsId(id: string): boolean {
    return this.#php !== 'phalcon' || !id.endsWith('-lock');
  }

  async #lock(id: string, request: Partial<LockOptions>): Promise<LockHandle> {
    const options = lockOptions(request, this.#lockDefaults);
    const dataKey = this.key(id);
    const lockKey = dataKey + (this.#php === undefined ? '.lock' : this.#php === 'phalcon' ? '-lock' : '_LOCK');
    const started = performance.now();
    const local = this.#mutex.tryLock(dataKey, options) ?? await this.#mutex.lock(dataKey, options);
    const deadline = started + options.wait * 1000;
    let listener: Awaited<ReturnType<Wakeups['listen']>> | undefined;
    let refused = false;
    try {
      for (let attempt = 0; ; attempt++) {
        const claimMs = Math.ceil(2 * this.#pollMs) + 50; // outlives the pause between two tries
        const [ok, value] = (await this.#commands.eval(LOCK_READ, dataKey, [local.token, ms(options.expiry), claimMs])) as [number, string | number | null];
        if (ok === 1) {
          const waited = attempt === 0 ? local.waitedMs : performance.now() - started;
          return new StoreLock(this.#owner, local, dataKey, lockKey, waited, value as string | null, options, id);
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
      if (refused) await this.#commands.eval(UNCLAIM, dataKey, [local.token]).catch(() => undefined);
      await local.release();
      throw err;
    } finally {
      listener?.close();
    }
  }

  readonly #owner: LockOwner = {
    unlock: async (lock) => {
      await this.#commands.eval(UNLOCK, lock.dataKey, [lock.token, lock.touchMs]);
    },
    // The expiry the lock was taken with (locking: { expiry }), not the adapter's default.
    renew: async (lock) => (await this.#commands.eval(RENEW, lock.dataKey, [lock.token, ms(lock.expiry)])) === 1,
  };

}
