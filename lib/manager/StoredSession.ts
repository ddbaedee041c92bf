import createDebug from 'debug';
import type { Adapter, LockHandle, LockOptions } from '../adapters/Adapter';
import { AdapterRuntimeError, InvalidSessionAdapter, SessionError } from '../errors';
import type { SessionEventName } from '../events';
import { generateId, isValidId } from '../id';
import type { Manager } from '../Manager';
import { decodeRecord, emptyData, encodeRecord } from '../record';
import type { EventPayload } from './emit';
import { absoluteLifetimeOf, lockOptionsOf, serializerOf, ttlOf, type ManagerOptions } from './ManagerOptions';
import type { SessionTransport } from './SessionTransport';

const debug = createDebug('koa-session-manager:manager');

/** What release() resolves when there is nothing to release (no promise made per call). */
const DONE: Promise<void> = Promise.resolve();

/** Seconds the marker left by regenerateId() outlives the move: longer than any queued request. */
const REGENERATED_MARKER_TTL = 60;

/** The Manager's `#emit`. */
export type Emit = <E extends SessionEventName>(event: E, payload: EventPayload<E>) => void;

/**
 * The storage side of one request's session, internal to its Manager: the id, the cookie the
 * client sent, the record in the store and the lock on it. The Manager keeps the data.
 *
 * @example
 * const data = await stored.open(adapter, transport);   // stored.id is now set
 * await stored.persist(adapter, transport, data);
 * await stored.release();
 */
export class StoredSession {
  /** The session id: set by setId() or start(), '' before and after destroy(). */
  id = '';
  /** The Manager this belongs to (for its cookie name). */
  readonly #manager: Manager;
  readonly #emit: Emit;
  /** The Manager's options (the same copy), set through configure(). */
  #options!: ManagerOptions;
  /** Resolved from `options.locking`; null when locking is off. */
  #lockOptions: Partial<LockOptions> | null = null;
  #lock: LockHandle | null = null;
  #created = 0;
  /** The stored text as read or last written; null when the store holds nothing for this id. */
  #raw: string | null = null;
  /** The raw cookie value the client sent, if any. */
  #sentCookie: string | undefined;
  /** After destroy(), a new start() begins a fresh session instead of reading the cookie again. */
  #cookieSpent = false;
  /**
   * This request came with an id that `regenerateId()` (sign-in) moved away from while it was
   * in flight. Its fresh session is never stored and sends no cookie, so a late response cannot
   * replace the cookie of the signed-in session in the browser.
   */
  #orphan = false;
  /**
   * Set by regenerateId(): the stored id the data moves away from. The move happens at commit:
   * the new record first, then the old id's marker (or copy) under the old lock, so a store
   * failure in between leaves the old session whole.
   */
  #movedFrom: { id: string; keepCopy: boolean } | null = null;

  constructor(manager: Manager, emit: Emit) {
    this.#manager = manager;
    this.#emit = emit;
  }

  /** Take the Manager's options (its setOptions() calls this). */
  configure(options: ManagerOptions): void {
    this.#options = options;
    this.#lockOptions = lockOptionsOf(options);
  }

  /** True while the store holds no record for this session. */
  get isNew(): boolean {
    return this.#raw === null;
  }

  /**
   * start(): pick the id (the forced one, else the cookie's), lock (unless the route's policy
   * says not to), read, decode, check expiry.
   * Resolves the stored data, or empty data under a new id (or the unknown id, adopted).
   */
  async open(adapter: Adapter | null, transport: SessionTransport | null, lock = true): Promise<Record<string, unknown>> {
    let id = this.id;
    if (id === '' && transport && !this.#cookieSpent) {
      const sent = transport.readId(this.#manager.getName());
      this.#sentCookie = sent;
      if (sent !== undefined) {
        if (isValidId(sent)) id = sent;
        else this.#emit('session:invalid', { reason: 'id' });
      }
    }
    if (!adapter) throw new InvalidSessionAdapter();
    this.#created = Date.now();
    this.#raw = null;
    this.#orphan = false;
    this.#movedFrom = null;
    const loaded = id === '' ? 'missing' : await this.#load(adapter, id, lock);
    if (typeof loaded !== 'object') {
      // Non-strict mode adopts an unknown id (PHP use_strict_mode=0); invalid or expired data
      // always gets a new id, so the old record is never overwritten by an empty session.
      const adopt = loaded === 'missing' && id !== '' && this.#options.strict === false;
      if (!adopt) {
        await this.release();
        id = generateId();
      }
      this.#emit('session:created', { id });
    }
    this.id = id;
    return typeof loaded === 'object' ? loaded : emptyData();
  }

  /** Lock (when enabled), read and decode `id`: its data, or why there is none. */
  async #load(adapter: Adapter, id: string, lock: boolean): Promise<Record<string, unknown> | 'missing' | 'invalid' | 'expired' | 'regenerated'> {
    const options = this.#lockOptions;
    // The calls of every request (lock, read, write) are awaited here rather than through
    // #store(): a closure and an async frame each, measurable on a Redis round trip.
    if (lock && options !== null && adapter.lock) {
      try {
        this.#lock = await adapter.lock(id, options);
      } catch (err) {
        throw this.#failure('lock', id, err);
      }
      if (this.#lock.waitedMs > 0) this.#emit('session:lockWaited', { id, waitedMs: this.#lock.waitedMs });
    }
    let text: string | null;
    try {
      text = await adapter.read(id, this.#lock ?? undefined, ttlOf(this.#options));
    } catch (err) {
      const error = this.#failure('read', id, err);
      await this.release();
      throw error;
    }
    if (text === null) {
      // The store keeps nothing past its TTL, so an id it does not know is expired, destroyed or made up.
      this.#emit('session:expired', { id, reason: 'missing' });
      return 'missing';
    }
    const record = decodeRecord(serializerOf(this.#options), text);
    if (record === null) {
      debug('undecodable data for %s', id);
      this.#emit('session:invalid', { id, reason: 'data' });
      return 'invalid';
    }
    if (record.r === 1) {
      this.#orphan = true;
      this.#emit('session:expired', { id, reason: 'regenerated' });
      return 'regenerated';
    }
    const absolute = absoluteLifetimeOf(this.#options);
    if (absolute > 0 && Date.now() - record.c >= absolute * 1000) {
      this.#emit('session:expired', { id, reason: 'absolute' });
      await this.#store('destroy', id, () => adapter.destroy(id)).catch(() => undefined);
      return 'expired';
    }
    this.#created = record.c;
    this.#raw = text;
    return record.d;
  }

  /**
   * writeClose(): store `data` (write when it changed, otherwise refresh the TTL) and send the
   * cookie. A new session that holds nothing stores nothing.
   */
  async persist(adapter: Adapter, transport: SessionTransport | null, data: Record<string, unknown>): Promise<void> {
    const id = this.id;
    if (this.#orphan) {
      debug('request of a regenerated id: nothing is stored (%s)', id);
      return;
    }
    const moved = this.#movedFrom;
    let empty = true;
    for (const _ in data) { empty = false; break; }
    if (this.#raw === null && empty && moved === null) {
      // Nothing stored, nothing to store: no record, no cookie. Drop a cookie that points nowhere.
      if (this.#sentCookie !== undefined && this.#sentCookie !== id) transport?.clearId(this.#manager.getName());
      return;
    }
    const text = encodeRecord(serializerOf(this.#options), { c: this.#created, d: data });
    const ttl = ttlOf(this.#options);
    const lock = this.#lock ?? undefined;
    if (moved !== null) {
      await this.#store('write', id, () => adapter.write(id, text, ttl));
      const old = moved.keepCopy ? text : encodeRecord(serializerOf(this.#options), { c: this.#created, d: {}, r: 1 });
      const oldTtl = moved.keepCopy ? ttl : Math.min(ttl, REGENERATED_MARKER_TTL);
      await this.#store('write', moved.id, () => adapter.write(moved.id, old, oldTtl, lock));
      this.#movedFrom = null;
    } else if (text !== this.#raw || this.#options.lazyWrite === false || !adapter.updateTimestamp) {
      try {
        await adapter.write(id, text, ttl, lock);
      } catch (err) {
        throw this.#failure('write', id, err);
      }
    } else if (!adapter.touchesOnRead) {
      await this.#store('touch', id, () => adapter.updateTimestamp!(id, text, ttl, lock));
    }
    this.#raw = text;
    transport?.writeId(this.#manager.getName(), id, this.#cookieMaxAge(ttl));
  }

  /** regenerateId(): a new id; the data leaves the stored id at the commit. */
  regenerate(keepCopy: boolean): void {
    const oldId = this.id;
    if (this.#movedFrom) this.#movedFrom.keepCopy = keepCopy;
    else if (this.#raw !== null) this.#movedFrom = { id: oldId, keepCopy };
    this.id = generateId();
    this.#raw = null;
    this.#orphan = false;
    this.#emit('session:regenerated', { id: this.id, oldId });
  }

  /** destroy(): remove the stored record and release the lock; resolves the id removed. */
  async destroy(adapter: Adapter): Promise<string> {
    // After regenerateId() the new id is not stored yet: what exists is the old one.
    const id = this.#movedFrom?.id ?? this.id;
    this.id = '';
    this.#movedFrom = null;
    try {
      await this.#store('destroy', id, () => adapter.destroy(id));
    } finally {
      await this.release();
    }
    this.#raw = null;
    this.#cookieSpent = true;
    return id;
  }

  release(): Promise<void> {
    const lock = this.#lock;
    if (lock === null) return DONE;
    this.#lock = null;
    return this.#release(lock);
  }

  async #release(lock: LockHandle): Promise<void> {
    try {
      await lock.release();
    } catch (err) {
      // The record is already written; an expiring lock cannot lose data, so report and go on.
      this.#emit('session:storeError', { id: lock.id, operation: 'unlock', error: err });
    }
  }

  /** The cookie lives as long as the store keeps the record, capped by the absolute lifetime. */
  #cookieMaxAge(ttl: number): number {
    const absolute = absoluteLifetimeOf(this.#options);
    if (absolute <= 0) return ttl;
    return Math.max(0, Math.min(ttl, absolute - (Date.now() - this.#created) / 1000));
  }

  /** Run one adapter call; a failure is reported as {@link #failure} says. */
  async #store<T>(operation: string, id: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw this.#failure(operation, id, err);
    }
  }

  /** A failed adapter call, emitted as session:storeError: a SessionError, else an AdapterRuntimeError. */
  #failure(operation: string, id: string, err: unknown): SessionError {
    const error = err instanceof SessionError ? err
      : new AdapterRuntimeError(`Session store ${operation} failed: ${(err as Error)?.message ?? err}`, 'ERR_SESSION_STORE', { cause: err });
    debug('store %s failed: %s', operation, error.message);
    this.#emit('session:storeError', { id, operation, error });
    return error;
  }
}
