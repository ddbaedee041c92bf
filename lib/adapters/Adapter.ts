import type { Serializer } from '../serializers/Serializer';

/**
 * The storage contract. An adapter is created once per application and shared by every
 * concurrent request: it must keep no per-request state on the instance. What belongs to one
 * request (a lock token) travels in the {@link LockHandle} that `lock()` returns.
 *
 * Rules every method follows:
 * - Promises only; every time value is in **seconds** (fractions allowed).
 * - Ids arrive validated by the Manager (`[a-zA-Z0-9,-]{1,128}`); an adapter that builds paths
 *   or keys from them validates again (see `AbstractAdapter.key`).
 * - "Missing" is not an error: `read` resolves `null` and `destroy` succeeds for an unknown id.
 * - A backend failure (down, hung, full, corrupt transport) rejects with an
 *   `AdapterRuntimeError`; it is never reported as a missing session, because the Manager would
 *   then write an empty session over real data.
 * - Adapters move strings; serialization is the Manager's job.
 *
 * @example
 * class MyAdapter implements Adapter {
 *   async read(id) { return (await db.get(id)) ?? null; }
 *   async write(id, data, ttl, lock, options) {
 *     if (options?.existing) return db.update(id, data, { ttl, unlessMarker: isMoveMarker });
 *     await db.set(id, data, { ttl });
 *   }
 *   async destroy(id) { await db.del(id); }
 *   async gc() { return 0; }
 * }
 */
export interface Adapter {
  /**
   * Required. The stored data of `id`, or `null` when there is none or it is older than the TTL
   * of its last `write`/`updateTimestamp` (an expired record is never returned, gc or not).
   * With `lock`, the caller holds that session's lock (an adapter may have read already).
   * `ttl` is the session lifetime, for an adapter that refreshes it while reading.
   */
  read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null>;

  /**
   * Optional. True when `read(id, lock, ttl)` refreshes the TTL itself (in the same round trip,
   * or when the lock is released): the Manager then skips `updateTimestamp` for unchanged data.
   */
  readonly touchesOnRead?: boolean;

  /** Optional. The lifetime the adapter was configured with (Phalcon's `lifetime` option). */
  readonly lifetime?: number;

  /**
   * Optional. Set when another program reads this store too (a PHP app: the Redis and Memcached
   * adapters' `php` mode): see {@link SharedFormat}.
   */
  readonly sharedFormat?: SharedFormat;

  /**
   * Optional. False for an id the store cannot hold as a session because its key means
   * something else there (Phalcon's lock keys `<id>-lock`): a cookie naming one is refused like
   * an id outside the alphabet, and a fresh session is started.
   */
  acceptsId?(id: string): boolean;

  /**
   * Required. Store `data` under `id` for `ttl` seconds. With `lock`, the write is fenced: if
   * the handle no longer holds the lock, reject with `SessionLockLost` and change nothing. An
   * adapter may release the lock in the same step (the Manager releases it right after).
   *
   * With `options.existing` the write is an update: it happens only while a live record of `id`
   * is stored that is not a move marker ({@link isMoveMarker}); otherwise nothing changes and
   * the write resolves `false`. The check and the write are one step in the store where it can
   * (a script, a rename, `replace`), so a request that read a session before another request
   * destroyed it (logout) or moved it away (sign-in) cannot bring it back.
   * Resolves `false` only for a refused update; `true` or nothing when written.
   */
  write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean | void>;

  /**
   * Required. Remove `id`; resolves for an unknown id too. May resolve the text it removed (null
   * when there was none): the Manager then follows a move marker that appeared after its read,
   * so a logout that races a sign-in also ends the session the sign-in made. An adapter that
   * cannot tell resolves nothing.
   */
  destroy(id: string): Promise<string | null | void>;

  /** Required. Remove records idle for more than `maxLifetime` seconds; resolves how many. */
  gc(maxLifetime: number): Promise<number>;

  /** Optional (strict mode, Phalcon `validateId`). True when a live record exists for `id`. */
  validateId?(id: string): Promise<boolean>;

  /**
   * Optional (lazy write). Extend the life of `id` to `ttl` seconds from now without rewriting
   * the data. Must never recreate a record that is gone (destroyed or expired), and never
   * extend a move marker (it lives the time it was written with). Resolves `false` when there
   * was no live session record to touch.
   */
  updateTimestamp?(id: string, data: string, ttl: number, lock?: LockHandle): Promise<boolean | void>;

  /**
   * Optional (per-session locking). Wait until this request holds the lock of `id`, at most
   * `options.wait` seconds, then resolve a handle. Rejects with `SessionLockTimeout`. Options
   * left out take the adapter's own defaults (for the Redis adapter, Phalcon's lock options).
   */
  lock?(id: string, options: Partial<LockOptions>): Promise<LockHandle>;

  /** Optional. Release what the adapter owns (clients it created, timers) at app shutdown. */
  close?(): Promise<void>;
}

/** How one `write` is done. */
export interface WriteOptions {
  /**
   * Update only: write while a live record of the id is stored that is not a move marker;
   * otherwise change nothing and resolve `false`. @default false (create or replace)
   */
  existing?: boolean;
}

/**
 * How every stored move marker begins. `regenerateId()` leaves one under the id it moved away
 * from, for at most a minute; it names the new id, which is never sent to a client. The
 * Manager writes and reads markers; an adapter only recognises them: an update
 * (`existing: true`) never replaces one, and no read or touch extends one's life. No
 * serializer output begins with a NUL character.
 */
export const MOVE_MARKER_PREFIX = '\u0000moved:';

/**
 * How a stored PHP session travels as the string the adapter contract moves: PHP strings are
 * bytes, and a session may hold bytes that are no UTF-8 (a binary string, a Latin-1 name). Text
 * that is UTF-8 travels as itself; other bytes as this prefix followed by one character per byte
 * (Latin-1). No PHP session string begins with a NUL byte (a key or `a:` comes first), so the
 * prefix is never ambiguous; like a move marker, it never reaches a store.
 */
export const BYTES_PREFIX = '\u0000bytes:';

/** True when stored `data` is a move marker (see {@link MOVE_MARKER_PREFIX}). */
export function isMoveMarker(data: string | null | undefined): boolean {
  return typeof data === 'string' && data.startsWith(MOVE_MARKER_PREFIX);
}

/**
 * What a store shared with another program (a PHP app) requires of the sessions in it.
 * `session()` takes both as its defaults; a Manager with another serializer refuses to start
 * (`InvalidOption`) rather than write records that program cannot read.
 */
export interface SharedFormat {
  /** The format the records must have (a `PhpSerializer`). */
  readonly serializer: Serializer;
  /** The cookie name the other program uses (`PHPSESSID`): `session()`'s default `name`. */
  readonly cookieName: string;
}

/** How a session lock is taken. */
export interface LockOptions {
  /** Longest wait for the lock, in seconds. */
  wait: number;
  /** Seconds after which a lock whose holder stopped renewing it counts as abandoned. */
  expiry: number;
  /**
   * Keep renewing the lock while it is held, so a slow request does not lose it.
   * @default true
   */
  renew?: boolean;
}

/** One request's hold on one session's lock. */
export interface LockHandle {
  /** The session id the lock belongs to. */
  readonly id: string;
  /** Milliseconds the request waited for the lock (0 when it was free). */
  readonly waitedMs: number;
  /** Give the lock up. Idempotent; never rejects for a lock that was already lost. */
  release(): Promise<void>;
}
