import { setTimeout as sleep } from 'node:timers/promises';
import type * as memjs from 'memjs';
import { InvalidOption, SessionLockLost, SessionLockTimeout } from '../errors';
import { checkOptionKeys, positive } from '../closedOptions';
import { redactId } from '../id';
import { isMoveMarker, type LockHandle, type LockOptions, type SharedFormat, type WriteOptions } from '../adapters/Adapter';
import { AbstractAdapter, lockOptions, ttlMs } from '../adapters/AbstractAdapter';
import { KeyedMutex } from '../adapters/KeyedMutex';
import { expiry } from './expiry';
import { HashRing } from './HashRing';
import { MemcachedLock, releaseLater } from './MemcachedLock';
import {
  CLIENT_DEFAULTS, OPTION_HINTS, OPTION_KEYS, appClientTimeoutMs, checkPrefix, commandTimeoutMs, resolveClientOptions,
  resolveSasl, resolveServers, type MemcachedAdapterOptions, type MemcachedServerOption, type MemjsOptions, type SaslAuthData,
} from './options';
import { Shard, type MemjsClient } from './Shard';
import { requirePeer } from '../peer';
import { phpKey, resolvePhpStore } from '../php/store';

// Loaded when this entry point is imported, never by the main one.
const { Client, Server } = requirePeer<typeof memjs>('memjs', 'koa-session-manager/memcached');

export type { MemcachedAdapterOptions, MemcachedServerOption, MemjsClient, MemjsOptions, SaslAuthData };

/** What one try for the lock gave: the lock, or a refusal with or without the next turn. */
type Try = 'locked' | 'claimed' | 'waiting';

/**
 * Sessions in memcached (Phalcon `Session\Adapter\Libmemcached`) over memjs: one client per
 * server, sessions spread by a consistent hash (ketama, by weight), every command bounded so a
 * dead server fails its own sessions in about a second while the others keep working.
 * Expiry is memcached's, in whole seconds: a record lives at least its TTL and at most about a
 * second longer. With `lockingEnabled`, a per-request token is taken with an atomic `add`,
 * renewed while held, checked before a write and deleted only by its owner (see docs/adapters.md for
 * what memcached cannot guarantee).
 *
 * Keys: `<prefix><id>` for data, `<prefix><id>.lock` for the lock and `<prefix><id>.claim` for
 * the waiter whose turn is next (`.` is outside the id alphabet, so they never collide); the
 * ring hashes the id alone, so all three live on one server.
 *
 * @example
 * app.use(session({ adapter: new MemcachedAdapter({ servers: [{ host: '10.0.0.7', port: 11211, weight: 1 }], lockingEnabled: true }) }));
 */
export class MemcachedAdapter extends AbstractAdapter {
  /** The bounded memjs options the adapter's own clients use, for a `memjsClient` of the app. */
  static clientOptions(): MemjsOptions {
    return { ...CLIENT_DEFAULTS };
  }

  readonly lifetime: number;
  /** The memjs clients commands go to: one per server, or the app's `memjsClient`. */
  readonly clients: readonly MemjsClient[];
  /** Per-session locking; absent when `lockingEnabled` is false. */
  readonly lock?: (id: string, options?: Partial<LockOptions>) => Promise<LockHandle>;

  readonly #shards: Shard[];
  readonly #ring: HashRing | undefined;
  readonly #owned: memjs.Client[] = [];
  readonly #lockDefaults: LockOptions;
  readonly #pollMs: number;
  readonly #mutex = new KeyedMutex();
  /** With `php`: php-memcached's lock key, `<prefix>lock.<id>`. */
  readonly #php: boolean;
  /** With `php`: PHP's format and cookie name (session() uses them). */
  readonly sharedFormat?: SharedFormat;

  constructor(options: MemcachedAdapterOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('MemcachedAdapter', 'takes an options object: new MemcachedAdapter({ servers: [{ host, port }] })');
    checkOptionKeys('MemcachedAdapter', options, OPTION_KEYS, OPTION_HINTS);
    const php = options.php === undefined ? undefined : resolvePhpStore(options.php, ['php-memcached']);
    super(checkPrefix(options.prefix ?? php?.prefix ?? 'sess-memc-'));
    if (php !== undefined && this.prefix === '') throw new InvalidOption('prefix', 'cannot be empty with `php`: every key of the server would be a session a cookie can name');
    this.lifetime = positive('lifetime', options.lifetime, php?.lifetime ?? 3600);
    this.#php = php !== undefined;
    if (php !== undefined) {
      this.sharedFormat = { serializer: php.serializer, cookieName: php.cookieName };
    }
    const retries = positive('lockRetries', options.lockRetries, 100, true);
    const waitTime = positive('lockWaitTime', options.lockWaitTime, 50000, true);
    this.#lockDefaults = { wait: (retries * waitTime) / 1e6, expiry: positive('lockExpiry', options.lockExpiry, 30) };
    this.#pollMs = waitTime / 1000;
    if (options.lockingEnabled !== undefined && typeof options.lockingEnabled !== 'boolean') throw new InvalidOption('lockingEnabled', 'must be a boolean');
    if (options.persistentId !== undefined && typeof options.persistentId !== 'string') throw new InvalidOption('persistentId', 'must be a string');
    const app = options.memjsClient;
    if (app !== undefined) {
      const commands = ['get', 'set', 'add', 'replace', 'touch', 'delete'] as const;
      if (typeof app !== 'object' || app === null || commands.some((c) => typeof app[c] !== 'function')) {
        throw new InvalidOption('memjsClient', 'must be a memjs Client (get, set, add, replace, touch, delete)');
      }
      for (const other of ['servers', 'client', 'saslAuthData'] as const) {
        if (options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with memjsClient: configure the client you pass');
      }
      if (php !== undefined && ((app as { servers?: unknown[] }).servers?.length ?? 1) > 1) {
        throw new InvalidOption('php', 'shares sessions on one memcached server: a memjsClient of several spreads keys with its own hashing, not php-memcached\'s');
      }
      this.#shards = [new Shard(app, 'memjsClient', appClientTimeoutMs(app), this.#php)];
    } else {
      const servers = resolveServers(options.servers);
      if (php !== undefined && servers.length > 1) {
        throw new InvalidOption('php', 'shares sessions on one memcached server: php-memcached spreads keys over several with libmemcached\'s hashing, which Node does not reproduce');
      }
      const memjs = resolveClientOptions(options.client);
      const sasl = resolveSasl(options.saslAuthData);
      const timeoutMs = commandTimeoutMs(memjs);
      this.#shards = servers.map(({ host, port }) => {
        const client = new Client([new Server(host, port, sasl?.user, sasl?.pass, memjs)], memjs);
        this.#owned.push(client);
        return new Shard(client, `${host}:${port}`, timeoutMs, this.#php);
      });
      if (servers.length > 1) this.#ring = new HashRing(servers);
    }
    this.clients = this.#shards.map((shard) => shard.client);
    if (options.lockingEnabled !== false) this.lock = (id, request = {}) => this.#lock(id, request);
  }

  /** `host:port` of the server that holds the session `id` (`memjsClient` for an app's client). */
  serverFor(id: string): string {
    return this.#at(id).shard.label;
  }

  async read(id: string): Promise<string | null> {
    const { key, shard } = this.#at(id);
    return shard.get(key);
  }

  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    const { key, shard } = this.#at(id);
    const expires = ttlExpiry(ttl);
    const fenced = lock instanceof MemcachedLock && lock.dataKey === key;
    const update = options?.existing === true;
    // Fenced as far as memcached allows: the check and the set are two commands (no CAS), so a
    // lock that expires or is evicted between them goes unnoticed. The lock and the record are
    // checked at once (one round trip of waiting).
    const [owned, current] = await Promise.all([fenced ? lock.owned() : true, update ? shard.get(key) : null]);
    if (!owned) throw new SessionLockLost(redactId((lock as MemcachedLock).lockKey, id));
    if (!update) {
      await shard.set(key, data, expires);
      return true;
    }
    // An update: `replace` stores only over an existing item, so a record destroyed after the
    // check stays destroyed; a marker written in that one round trip is the window left.
    if (current === null || isMoveMarker(current)) return false;
    return shard.replace(key, data, expires);
  }

  /**
   * memcached `touch`: a new expiry, the data untouched; a missing record stays missing and a
   * move marker keeps its own expiry (one `get` first: memcached cannot touch conditionally).
   */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<boolean> {
    const { key, shard } = this.#at(id);
    const expires = ttlExpiry(ttl);
    const current = await shard.get(key);
    if (current === null || isMoveMarker(current)) return false;
    return shard.touch(key, expires);
  }

  async validateId(id: string): Promise<boolean> {
    const { key, shard } = this.#at(id);
    return (await shard.get(key)) !== null;
  }

  /** Resolves what was stored (a get before the delete: two commands), null when nothing. */
  async destroy(id: string): Promise<string | null> {
    const { key, shard } = this.#at(id);
    const current = await shard.get(key);
    await shard.delete(key);
    return current;
  }

  /** Memcached expires records by their TTL: nothing to sweep. */
  async gc(_maxLifetime?: number): Promise<number> {
    return 0;
  }

  /**
   * Closes the connections of the clients the adapter made (never a `memjsClient` of the app).
   * memjs's `close()` ends open sockets; its `quit()` would first connect to send QUIT.
   */
  async close(): Promise<void> {
    for (const shard of this.#shards) shard.close();
    for (const client of this.#owned) client.close();
  }

  /** The lock key of `id`: `<key>.lock`, or php-memcached's `<prefix>lock.<id>` (`.` is outside the id alphabet). */
  #lockKey(id: string, dataKey: string): string {
    return this.#php ? `${this.prefix}lock.${phpKey('', id, id)}` : `${dataKey}.lock`;
  }

  /** The key of `id` (checking the id) and the server it lives on. */
  #at(id: string): { key: string; shard: Shard } {
    const key = this.#php ? phpKey(this.prefix, id, this.key(id)) : this.key(id);
    return { key, shard: this.#ring ? this.#shards[this.#ring.locate(id)] : this.#shards[0] };
  }

  async #lock(id: string, request: Partial<LockOptions>): Promise<LockHandle> {
    const options = lockOptions(request, this.#lockDefaults);
    const { key: dataKey, shard } = this.#at(id);
    const lockKey = this.#lockKey(id, dataKey);
    const started = performance.now();
    // In-process waiters queue in memory: only the head of the queue asks memcached. The
    // MemcachedLock, not the queue, expires a holder that does not renew.
    const local = await this.#mutex.lock(dataKey, { ...options, renew: true });
    const deadline = started + options.wait * 1000;
    let claimed = false;
    let pause = 1;
    try {
      for (let attempt = 0; ; attempt++) {
        const outcome = await this.#try(shard, dataKey, lockKey, local.token, options.expiry);
        if (outcome === 'locked') {
          const waited = attempt === 0 ? local.waitedMs : performance.now() - started;
          return new MemcachedLock(shard, local, dataKey, lockKey, waited, options);
        }
        claimed ||= outcome === 'claimed';
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw new SessionLockTimeout(redactId(lockKey, id), performance.now() - started);
        // No pub/sub in memcached: poll, from 1 ms doubling up to lockWaitTime.
        await sleep(Math.min(pause, this.#pollMs, remaining));
        pause *= 2;
      }
    } catch (err) {
      if (claimed) await this.#unclaim(shard, dataKey, local.token).catch(() => undefined);
      await local.release();
      throw err;
    }
  }

  /**
   * One try for the lock. A waiter that was refused claims the next turn (`<key>.claim`, kept
   * alive by each try): without it, a process with a queue of its own requests would take the
   * lock back after every release, before another process's waiter polls again.
   */
  async #try(shard: Shard, dataKey: string, lockKey: string, token: string, lockExpiry: number): Promise<Try> {
    const claimKey = `${dataKey}.claim`;
    const claim = await shard.get(claimKey);
    const mine = claim === token;
    if ((claim === null || mine) && (await this.#add(shard, lockKey, token, lockExpiry))) {
      // The lock is ours whatever happens to the claim, which expires by itself within seconds.
      if (mine) await shard.delete(claimKey).catch(() => undefined);
      return 'locked';
    }
    const claimExpiry = expiry((2 * this.#pollMs) / 1000); // outlives the pause between two tries
    if (mine) return (await shard.touch(claimKey, claimExpiry)) ? 'claimed' : 'waiting';
    if (claim === null) return (await shard.add(claimKey, token, claimExpiry)) ? 'claimed' : 'waiting';
    return 'waiting';
  }

  /** `add` the lock; when no answer came, it may yet be applied: clean it up in the background. */
  async #add(shard: Shard, lockKey: string, token: string, lockExpiry: number): Promise<boolean> {
    try {
      return await shard.add(lockKey, token, expiry(lockExpiry));
    } catch (err) {
      releaseLater(shard, lockKey, token, lockExpiry);
      throw err;
    }
  }

  /** Give up a claimed turn (a waiter that timed out); best effort, like every check here. */
  async #unclaim(shard: Shard, dataKey: string, token: string): Promise<void> {
    const claimKey = `${dataKey}.claim`;
    if ((await shard.get(claimKey)) === token) await shard.delete(claimKey);
  }
}

/** The memcached expiry of a session TTL, rejecting a TTL that is not a positive number. */
function ttlExpiry(ttl: number): number {
  ttlMs(ttl);
  return expiry(ttl);
}
