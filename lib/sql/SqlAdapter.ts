import { AdapterRuntimeError, InvalidOption, SessionError, SessionLockLost, SessionLockTimeout } from '../errors';
import { positive } from '../closedOptions';
import { redactId } from '../id';
import type { LockHandle, LockOptions, WriteOptions } from '../adapters/Adapter';
import { AbstractAdapter, lockOptions, ttlMs } from '../adapters/AbstractAdapter';
import { KeyedMutex } from '../adapters/KeyedMutex';
import { StoreLock, type LockOwner } from '../adapters/StoreLock';
import type { Watch } from '../adapters/wakeable';

/** Rows `gc()` deletes per statement, and statements per call: bounded work, no long lock. */
const GC_BATCH = 1000;
const GC_BATCHES = 50;

/**
 * One dialect's statements over the session table (see docs/adapters.md for the table). Every
 * duration is in milliseconds, every time the database server's; data travels as bytes.
 */
export interface SqlStore {
  /** The table's SQL (`CREATE TABLE IF NOT EXISTS` and the expiry index). */
  readonly tableSql: string;
  createTable(): Promise<void>;
  /** A live row's data (markers included), touched when more than `slackMs` short of `ttlMs` (0: no touch). */
  read(id: string, ttlMs: number, slackMs: number): Promise<Buffer | null>;
  /** Take the lock when free or expired, and read: undefined when refused. */
  lockRead(id: string, token: string, expiryMs: number): Promise<{ data: Buffer | null } | undefined>;
  /** Write and release, fenced by `token` (and, `existing`, only over a live non-marker session). */
  writeUnlock(id: string, data: Buffer, ttlMs: number, token: string, existing: boolean): Promise<boolean>;
  /** Whether `token` still holds the lock of `id`. */
  holds(id: string, token: string): Promise<boolean>;
  /** Release (a lock-only row is removed), touching as `read` does. */
  unlock(id: string, token: string, touchMs: number, slackMs: number): Promise<void>;
  renew(id: string, token: string, expiryMs: number): Promise<boolean>;
  upsert(id: string, data: Buffer, ttlMs: number): Promise<void>;
  /** Update a live non-marker session; false when there is none. */
  update(id: string, data: Buffer, ttlMs: number): Promise<boolean>;
  touch(id: string, ttlMs: number): Promise<boolean>;
  /** Remove the session (keeping a held lock); what it held while alive. */
  destroy(id: string): Promise<Buffer | null>;
  exists(id: string): Promise<boolean>;
  /** Delete up to `limit` expired rows whose lock is not held; how many. */
  gcBatch(limit: number): Promise<number>;
  close(): Promise<void>;
}

/** What wakes a lock waiter when the holder releases (PostgreSQL LISTEN/NOTIFY); polling otherwise. */
export interface Waker {
  /** True once waits can be woken; false when not now (the waiter polls). */
  ready(): Promise<boolean>;
  /** A waiter of `id`, registered before its next try (a release heard before the refusal is kept). */
  watch(id: string): Watch;
  close(): Promise<void>;
}

/** The options every SQL adapter shares; times in seconds. */
export interface SqlAdapterOptions {
  /** The session table, optionally schema-qualified (`app.sessions`). Made by `createTable()`, never behind your back. @default 'sessions' */
  table?: string;
  /** Idle lifetime, the TTL of a stored session. @default 3600 */
  lifetime?: number;
  /** Per-session locking. @default true */
  lockingEnabled?: boolean;
  /** Longest wait for a session's lock. @default 5 */
  lockWait?: number;
  /** Seconds after which a lock whose holder stopped renewing it is taken over. @default 30 */
  lockExpiry?: number;
  /** How often a waiter tries again when nothing wakes it. @default 0.05, or 0.25 when woken by notifications */
  lockPoll?: number;
  /**
   * A read refreshes the stored expiry only when it is more than this short of a full lifetime,
   * so a busy session is not written on every request: an idle session may end up to this much
   * before its lifetime. 0 touches on every read; at most half the lifetime is used.
   * @default the smaller of 60 and a tenth of the session's lifetime
   */
  touchSlack?: number;
  /** Connection and statement timeout (PostgreSQL: of the adapter's own pool; MySQL: of every statement). @default 1 */
  timeout?: number;
}

export const SQL_OPTION_KEYS = ['table', 'lifetime', 'lockingEnabled', 'lockWait', 'lockExpiry', 'lockPoll', 'touchSlack', 'timeout'] as const;

/** A table name: one or two SQL identifiers (`sessions`, `app.sessions`). */
export function tableParts(value: unknown): string[] {
  if (value === undefined) return ['sessions'];
  if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/.test(value)) {
    throw new InvalidOption('table', 'must be a table name: letters, digits and _, optionally schema.table');
  }
  return value.split('.');
}

const text = (value: Buffer | null): string | null => (value === null ? null : value.toString('utf8'));

/**
 * A session table in a SQL database (the PHP lesson's `sessions(id, payload, expires_at)`
 * handler), for the dialects' adapters. A request that waits for or holds a session's lock holds
 * no pool connection: the lock is a token and an expiry in the session's row, taken together with
 * the read and released together with the write. Fenced like the Redis adapter's: a request whose
 * lock expired cannot overwrite newer data. One in-process queue per session, so one request per
 * session and process reaches the database at a time.
 *
 * @example
 * class MyDialectAdapter extends SqlAdapter {
 *   constructor(options) { super('MyDialect', options, new MyDialectStore(options)); }
 * }
 */
export abstract class SqlAdapter extends AbstractAdapter {
  readonly lifetime: number;
  /** A read (or the lock's release) refreshes the expiry: no separate touch for unchanged data. */
  readonly touchesOnRead = true;
  /** Per-session locking; absent when `lockingEnabled` is false. */
  readonly lock?: (id: string, options?: Partial<LockOptions>) => Promise<LockHandle>;

  /** The database's name in error messages (`PostgreSQL`, `MySQL`). */
  readonly dialect: string;

  readonly #store: SqlStore;
  readonly #waker: Waker | undefined;
  readonly #label: string;
  /** `touchSlack` in ms, or undefined for the default (a tenth of the TTL, at most 60 s). */
  readonly #slackMs: number | undefined;
  readonly #pollMs: number;
  readonly #lockDefaults: LockOptions;
  readonly #mutex = new KeyedMutex();

  protected constructor(dialect: string, options: SqlAdapterOptions, store: SqlStore, waker?: Waker) {
    super('');
    this.lifetime = positive('lifetime', options.lifetime, 3600);
    this.#lockDefaults = { wait: positive('lockWait', options.lockWait, 5), expiry: positive('lockExpiry', options.lockExpiry, 30) };
    const slack = options.touchSlack;
    if (slack !== undefined && (typeof slack !== 'number' || !(slack >= 0) || !Number.isFinite(slack))) throw new InvalidOption('touchSlack', 'must be 0 (touch on every read) or a positive number of seconds');
    this.#slackMs = slack === undefined ? undefined : slack * 1000;
    this.#pollMs = 1000 * positive('lockPoll', options.lockPoll, waker ? 0.25 : 0.05);
    if (options.lockingEnabled !== undefined && typeof options.lockingEnabled !== 'boolean') throw new InvalidOption('lockingEnabled', 'must be true or false');
    this.#store = store;
    this.#waker = waker;
    this.#label = tableParts(options.table).pop()!;
    this.dialect = dialect;
    if (options.lockingEnabled !== false) this.lock = (id, request = {}) => this.#lock(id, request);
  }


  /** Creates the session table and its expiry index when missing (idempotent); the SQL is {@link SqlAdapter.tableSql}. */
  async createTable(): Promise<void> {
    await this.#call('createTable', '', () => this.#store.createTable());
  }

  /** The SQL that makes the table, for a migration of the app's own. */
  tableSql(): string {
    return this.#store.tableSql;
  }

  async read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null> {
    this.key(id);
    // Only this adapter's own lock (another adapter's read another store, or another table).
    if (lock instanceof StoreLock && lock.ownedBy(this.#owner, id)) {
      const data = lock.take();
      if (data !== undefined) {
        if (ttl) lock.touchMs = ttlMs(ttl);
        return data;
      }
    }
    const px = ttl ? ttlMs(ttl) : 0;
    return text(await this.#call('read', id, () => this.#store.read(id, px, this.#slack(px))));
  }

  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    this.key(id);
    const px = ttlMs(ttl);
    const bytes = Buffer.from(data, 'utf8');
    const existing = options?.existing === true;
    if (lock instanceof StoreLock && lock.ownedBy(this.#owner, id)) {
      if (!lock.held) throw new SessionLockLost(redactId(lock.lockKey, id));
      if (await this.#call('write', id, () => this.#store.writeUnlock(id, bytes, px, lock.token, existing))) {
        lock.ended();
        return true;
      }
      // Refused: the session is gone (an update) while the lock is still ours, or the lock is lost.
      if (!(await this.#call('write', id, () => this.#store.holds(id, lock.token)))) {
        lock.ended();
        throw new SessionLockLost(redactId(lock.lockKey, id));
      }
      await lock.release();
      return false;
    }
    if (existing) return this.#call('write', id, () => this.#store.update(id, bytes, px));
    await this.#call('write', id, () => this.#store.upsert(id, bytes, px));
    return true;
  }

  /** Extends a live session; a missing one or a move marker is left as it is. */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<boolean> {
    this.key(id);
    return this.#call('touch', id, () => this.#store.touch(id, ttlMs(ttl)));
  }

  async validateId(id: string): Promise<boolean> {
    this.key(id);
    return this.#call('validate', id, () => this.#store.exists(id));
  }

  /** Resolves what was stored (so a move marker removed here can be followed), null when nothing. */
  async destroy(id: string): Promise<string | null> {
    this.key(id);
    return text(await this.#call('destroy', id, () => this.#store.destroy(id)));
  }

  /**
   * Deletes expired rows whose lock is not held, oldest first, in batches of 1000 through the
   * expiry index (PostgreSQL skips rows in use, `SKIP LOCKED`; MySQL waits for them, briefly:
   * no statement holds a row for longer than itself), at most 50 batches a call. Reads never
   * serve an expired row, whatever gc has done.
   */
  async gc(): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < GC_BATCHES; batch++) {
      const deleted = await this.#call('gc', '', () => this.#store.gcBatch(GC_BATCH));
      total += deleted;
      if (deleted < GC_BATCH) break;
    }
    return total;
  }

  /** Ends what the adapter opened: its pool (never an app's) and its listening connection. */
  async close(): Promise<void> {
    await this.#waker?.close();
    await this.#store.close();
  }

  async #lock(id: string, request: Partial<LockOptions>): Promise<LockHandle> {
    this.key(id);
    const options = lockOptions(request, this.#lockDefaults);
    // The id is redacted (a SHA-256 tag) only in the message of an error, off the hot path.
    const label = `${this.#label}:${id}`;
    const started = performance.now();
    const local = this.#mutex.tryLock(id, options) ?? await this.#mutex.lock(id, options);
    const deadline = started + options.wait * 1000;
    // Made once the waker listens, before the try that follows: a release notified while that
    // try's refusal is on its way back wakes the wait after it (wakeable()).
    let watch: Watch | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        const got = await this.#call('lock', id, () => this.#store.lockRead(id, local.token, ttlMs(options.expiry)));
        if (got !== undefined) {
          const waited = attempt === 0 ? local.waitedMs : performance.now() - started;
          return new StoreLock(this.#owner, local, id, label, waited, text(got.data), options);
        }
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw new SessionLockTimeout(redactId(label, id), performance.now() - started);
        if (this.#waker !== undefined && watch === undefined) {
          // Bounded: a listening connection that cannot be made now must not outlast the wait.
          const ready = this.#waker.ready();
          const listening = await within(ready, Math.min(remaining, 1000), undefined);
          if (listening !== false) {
            // Still connecting (undefined: a loaded database): poll, but try again as soon as it
            // listens. Either way a release before it listened was not heard: try again at once.
            if (listening || await within(ready, Math.min(this.#pollMs, deadline - performance.now()), false)) watch = this.#waker.watch(id);
            continue;
          }
          // Refused or failed: the poll below, and ready() again after it.
        }
        const pause = Math.min(this.#pollMs, remaining);
        await (watch !== undefined ? watch.wait(pause) : new Promise((resolve) => setTimeout(resolve, pause)));
      }
    } catch (err) {
      await local.release();
      throw err;
    } finally {
      watch?.close();
    }
  }

  readonly #owner: LockOwner = {
    unlock: (lock) => this.#call('unlock', lock.id, () => this.#store.unlock(lock.id, lock.token, lock.touchMs, this.#slack(lock.touchMs))),
    // The expiry the lock was taken with (locking: { expiry }), not the adapter's default.
    renew: (lock) => this.#call('renew', lock.id, () => this.#store.renew(lock.id, lock.token, ttlMs(lock.expiry))),
  };

  /**
   * How far short of a full `ttlMs` the stored expiry may be before a read touches it: the
   * session's own TTL decides the default (a tenth, at most 60 s); `touchSlack` is capped at half.
   */
  #slack(ttlMs: number): number {
    return this.#slackMs === undefined ? Math.min(60_000, ttlMs / 10) : Math.min(this.#slackMs, ttlMs / 2);
  }

  /** One store call; a failure is an AdapterRuntimeError (503) that does not name the id. */
  async #call<T>(operation: string, id: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof SessionError) throw err;
      const message = redactId(String((err as Error)?.message ?? err), id);
      throw new AdapterRuntimeError(`${this.dialect} ${operation} failed: ${message}`, 'ERR_SESSION_STORE', { cause: err });
    }
  }
}

/** `promise`, or `fallback` after `ms`, whichever comes first (the timer cleared when the promise wins). */
function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => { timer = setTimeout(resolve, Math.max(0, ms), fallback); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
