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
 *   async write(id, data, ttl) { await db.set(id, data, { ttl }); }
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
   * Required. Store `data` under `id` for `ttl` seconds. With `lock`, the write is fenced: if
   * the handle no longer holds the lock, reject with `SessionLockLost` and change nothing. An
   * adapter may release the lock in the same step (the Manager releases it right after).
   */
  write(id: string, data: string, ttl: number, lock?: LockHandle): Promise<void>;

  /** Required. Remove `id`; resolves for an unknown id too. */
  destroy(id: string): Promise<void>;

  /** Required. Remove records idle for more than `maxLifetime` seconds; resolves how many. */
  gc(maxLifetime: number): Promise<number>;

  /** Optional (strict mode, Phalcon `validateId`). True when a live record exists for `id`. */
  validateId?(id: string): Promise<boolean>;

  /**
   * Optional (lazy write). Extend the life of `id` to `ttl` seconds from now without rewriting
   * the data. Must never recreate a record that is gone (destroyed or expired).
   */
  updateTimestamp?(id: string, data: string, ttl: number, lock?: LockHandle): Promise<void>;

  /**
   * Optional (per-session locking). Wait until this request holds the lock of `id`, at most
   * `options.wait` seconds, then resolve a handle. Rejects with `SessionLockTimeout`. Options
   * left out take the adapter's own defaults (for the Redis adapter, Phalcon's lock options).
   */
  lock?(id: string, options: Partial<LockOptions>): Promise<LockHandle>;

  /** Optional. Release what the adapter owns (clients it created, timers) at app shutdown. */
  close?(): Promise<void>;
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
