import { logger } from '../log';
import type { Adapter, LockHandle, LockOptions, WriteOptions } from '../adapters/Adapter';
import { InvalidSessionAdapter, SessionTooLarge, type SessionError } from '../errors';
import type { SessionEventName } from '../events';
import { generateId, idTag, isValidId, RESERVED_ID_PREFIX } from '../id';
import { emptyData, encodeMarker, isEmpty } from '../record';
import type { EventPayload } from './emit';
import { checkSerializer, lockOptionsOf, ttlOf, type ManagerOptions } from './ManagerOptions';
import { cookieDue, cookieDueOnRead, cookieMaxAge, cookieRuled, destroyFollowing, ruledMaxAge, encodeSession, judgeRecord, releaseReporting, storeFailure } from './storeCalls';
import type { SessionTransport } from './SessionTransport';

const debug = logger('koa-session-manager:manager');

/** What release() resolves when there is nothing to release (no promise made per call; the Manager does not await it). */
export const DONE: Promise<void> = Promise.resolve();

/** Seconds the marker left by regenerateId() outlives the move: longer than any queued request. */
const REGENERATED_MARKER_TTL = 60;

/** The write options of an update (a session this request read). */
const EXISTING: WriteOptions = Object.freeze({ existing: true });

/** The Manager's `#emit`. */
export type Emit = <E extends SessionEventName>(event: E, payload: EventPayload<E>) => void;

/**
 * The storage side of one request's session, internal to its Manager: the id, the cookie the
 * client sent, the record in the store and the lock on it. The Manager keeps the data; it calls
 * `open()` at start, `persist()` (or `refreshCookie()`, read-only) at commit, then `release()`.
 */
export class StoredSession {
  /** The session id: set by setId() or start(), '' before and after destroy(). */
  id = '';
  readonly #name: () => string; // the Manager's cookie name, read when a cookie is read or sent
  readonly #emit: Emit;
  /** The Manager's options (the same copy), set through configure(). */
  #options!: ManagerOptions;
  /** Resolved from `options.locking`; null when locking is off. */
  #lockOptions: Partial<LockOptions> | null = null;
  #lock: LockHandle | null = null;
  #created = 0;
  /** The stored text as read or last written; null when the store holds nothing for this id. */
  #raw: string | null = null;
  /** What the serializer writes over (PHP's bytes): #raw, kept across regenerateId(). */
  #source: string | null = null;
  /** When the cookie the client holds expires (ms, the record's `s`; 0 unknown): the cookie rule, storeCalls.ts. */
  #cookieExpires = 0;
  /** The raw cookie value the client sent, if any. */
  #sentCookie: string | undefined;
  /** After destroy(), a new start() begins a fresh session instead of reading the cookie again. */
  #cookieSpent = false;
  /** The request's id was moved away from (sign-in) while in flight: nothing stored, no cookie sent. */
  #orphan = false;
  /** For an orphan: the id its cookie named and the id the marker there points to (never sent). */
  #orphanOf: { id: string; movedTo: string } | null = null;
  /**
   * Set by regenerateId(): the stored id the data moves away from, at commit: the new record,
   * then under the old lock the old id's marker (or `copy`, for regenerateId(false)).
   */
  #movedFrom: { id: string; copy: string | null } | null = null;

  constructor(name: () => string, emit: Emit) {
    this.#name = name;
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
    if (!adapter) throw new InvalidSessionAdapter();
    checkSerializer(adapter, this.#options);
    let id = this.id;
    if (id === '' && transport && !this.#cookieSpent) {
      let sent = transport.readId(this.#name());
      if (typeof sent === 'object' && sent !== null) sent = await sent;
      // null: rejected and reported by the transport; '' is no id, so persist() clears it.
      this.#sentCookie = sent ?? (sent === null ? '' : undefined);
      if (typeof sent === 'string') {
        if (isValidId(sent) && !sent.startsWith(RESERVED_ID_PREFIX) && adapter.acceptsId?.(sent) !== false) id = sent;
        else this.#emit('session:invalid', { reason: 'id' });
      }
    }
    this.#created = Date.now();
    this.#raw = this.#source = null;
    this.#cookieExpires = 0;
    this.#orphan = false;
    this.#orphanOf = null;
    this.#movedFrom = null;
    // The load is written out here, not in a function of its own: one async frame less on every
    // start (issue #17); its calls are awaited directly rather than through #store() for the same reason.
    let loaded: 'missing' | 'invalid' | 'expired' | 'regenerated' = 'missing';
    if (id !== '') {
      const options = this.#lockOptions;
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
      const record = text === null ? null : judgeRecord(this.#options, text);
      if (typeof record === 'object' && record !== null && !('movedTo' in record)) {
        this.#created = record.c;
        this.#raw = this.#source = text;
        this.#cookieExpires = record.s ?? 0;
        this.id = id;
        return record.d;
      }
      loaded = await this.#unusable(adapter, id, record);
    }
    if (loaded === 'invalid' && adapter.sharedFormat !== undefined) this.#orphan = true; // PHP's, unreadable: kept, and its cookie
    // Non-strict mode adopts an unknown id (PHP use_strict_mode=0); invalid or expired data
    // always gets a new id, so the old record is never overwritten by an empty session.
    const adopt = loaded === 'missing' && id !== '' && this.#options.strict === false;
    if (!adopt) {
      await this.release();
      id = generateId();
    }
    this.#emit('session:created', { id });
    this.id = id;
    return emptyData();
  }

  /** Why the record read for `id` gives no data (`null`: the store has none), reported; an expired one is removed. */
  async #unusable(adapter: Adapter, id: string, record: ReturnType<typeof judgeRecord> | null): Promise<'missing' | 'invalid' | 'expired' | 'regenerated'> {
    if (record === null) {
      // The store keeps nothing past its TTL, so an id it does not know is expired, destroyed or made up.
      this.#emit('session:expired', { id, reason: 'missing' });
      return 'missing';
    }
    if (typeof record === 'object' && 'movedTo' in record) {
      this.#orphan = true;
      this.#orphanOf = { id, movedTo: record.movedTo };
      this.#emit('session:expired', { id, reason: 'regenerated' });
      return 'regenerated';
    }
    if (record === 'invalid') {
      debug('undecodable data for %s', idTag(id));
      this.#emit('session:invalid', { id, reason: 'data' });
      return 'invalid';
    }
    this.#emit('session:expired', { id, reason: 'absolute' });
    await this.#store('destroy', id, () => adapter.destroy(id)).catch(() => undefined);
    return 'expired';
  }

  /**
   * writeClose(): store `data` (write when it changed, otherwise refresh the TTL) and send the
   * cookie. A new session that holds nothing stores nothing.
   */
  async persist(adapter: Adapter, transport: SessionTransport | null, data: Record<string, unknown>): Promise<void> {
    const id = this.id;
    if (this.#orphan) {
      debug('request of a regenerated id: nothing is stored (%s)', idTag(id));
      return;
    }
    const moved = this.#movedFrom;
    // (isEmpty last: enumerating the data's keys is the dearest test, and only a new session needs it)
    if (this.#raw === null && moved === null && isEmpty(data)) {
      // Nothing stored, nothing to store: no record, no cookie. Drop a cookie that points nowhere.
      if (this.#sentCookie !== undefined && this.#sentCookie !== id) transport?.clearId(this.#name());
      return;
    }
    const ttl = ttlOf(this.#options);
    const ruled = cookieRuled(transport, this.#options);
    const maxAge = cookieMaxAge(this.#options, this.#created, ruled ? ruledMaxAge(ttl) : ttl);
    const sendCookie = cookieDue(ruled, this.#sentCookie, id, this.#cookieExpires, ttl, Date.now());
    if (sendCookie && ruled) this.#cookieExpires = Date.now() + maxAge * 1000; // stored with the record: the next requests spare it
    const text = this.#encode(data);
    const lock = this.#lock ?? undefined;
    if (moved !== null) {
      await this.#store('write', id, () => adapter.write(id, text, ttl));
      const old = moved.copy ?? encodeMarker(id);
      const oldTtl = moved.copy !== null ? ttl : Math.min(ttl, REGENERATED_MARKER_TTL);
      // An update: if a logout destroyed the old session meanwhile, the sign-in must not live on.
      const kept = await this.#store('write', moved.id, () => adapter.write(moved.id, old, oldTtl, lock, EXISTING));
      this.#movedFrom = null;
      if (kept === false) {
        await this.#store('destroy', id, () => adapter.destroy(id));
        return this.#discard(moved.id);
      }
    } else if (text !== this.#raw || this.#options.lazyWrite === false || !adapter.updateTimestamp) {
      // A session this request read is only updated: one that another request destroyed or
      // moved away since is not brought back. Only a session this request made is created.
      let written: boolean | void;
      try {
        written = await adapter.write(id, text, ttl, lock, this.#raw === null ? undefined : EXISTING);
      } catch (err) {
        throw this.#failure('write', id, err);
      }
      if (written === false) return this.#discard(id);
    } else if (!adapter.touchesOnRead) {
      const touched = await this.#store('touch', id, () => adapter.updateTimestamp!(id, text, ttl, lock));
      if (touched === false) return this.#discard(id);
    }
    this.#raw = this.#source = text;
    if (sendCookie) transport?.writeId(this.#name(), id, maxAge);
    else transport?.keepPrivate?.();
  }

  /** A read-only request stores nothing; on a store whose reads refresh the TTL it sends the cookie when due. */
  refreshCookie(adapter: Adapter | null, transport: SessionTransport | null): void {
    const ttl = ttlOf(this.#options);
    if (this.#raw === null || this.#orphan || adapter?.touchesOnRead !== true || !cookieRuled(transport, this.#options)) return;
    if (cookieDueOnRead(transport!, this.#sentCookie, this.id, this.#cookieExpires, ttl, Date.now())) transport!.writeId(this.#name(), this.id, cookieMaxAge(this.#options, this.#created, ruledMaxAge(ttl)));
  }

  /** The record text of `data` (see {@link encodeSession}). */
  #encode(data: Record<string, unknown>): string {
    return encodeSession(this.#options, this.#created, data, this.#source, this.#cookieExpires);
  }

  /** Another request destroyed or moved the session since this one read it: store nothing, send no cookie. */
  #discard(id: string): void {
    debug('session gone since it was read; changes dropped (%s)', idTag(id));
    this.#raw = this.#source = null;
    this.#orphan = true;
    this.#emit('session:discarded', { id, reason: 'gone' });
  }

  /**
   * regenerateId(): a new id; the data leaves the stored id at the commit. With `keepCopy`
   * (regenerateId(false)) the old id keeps the record as it is now, not as it will be at the
   * commit: what is set after the call (the signed-in user) never reaches the old id.
   */
  regenerate(keepCopy: boolean, data: Record<string, unknown>): void {
    const oldId = this.id;
    const copy = keepCopy ? this.#encode(data) : null;
    if (this.#movedFrom) this.#movedFrom.copy = copy;
    else if (this.#raw !== null) this.#movedFrom = { id: oldId, copy };
    this.id = generateId();
    this.#raw = null;
    this.#orphan = false;
    this.#orphanOf = null;
    this.#emit('session:regenerated', { id: this.id, oldId });
  }

  /**
   * destroy(): remove the stored record and release the lock; resolves the id removed and the
   * ids ended with it. A move marker — found when the session was read (this request came with
   * the pre-sign-in cookie), or removed now (a sign-in committed after this request read) — is
   * followed: a logout racing a sign-in also ends the session the sign-in made.
   */
  async destroy(adapter: Adapter): Promise<{ id: string; followed: string[] }> {
    const orphanOf = this.#orphanOf;
    // After regenerateId() the new id is not stored yet: what exists is the old one.
    const id = orphanOf?.id ?? this.#movedFrom?.id ?? this.id;
    this.id = '';
    this.#movedFrom = null;
    this.#orphanOf = null;
    let followed: string[];
    try {
      followed = await destroyFollowing(adapter, id, orphanOf?.movedTo, (op, target, call) => this.#store(op, target, call));
    } finally {
      await this.release();
    }
    this.#raw = this.#source = null;
    this.#orphan = false;
    this.#cookieSpent = true;
    return { id, followed };
  }

  release(): Promise<void> {
    const lock = this.#lock;
    if (lock === null) return DONE;
    this.#lock = null;
    return releaseReporting(lock, this.#emit);
  }

  /** Run one adapter call; a failure is reported as {@link #failure} says. */
  async #store<T>(operation: string, id: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw this.#failure(operation, id, err);
    }
  }

  /**
   * A failed adapter call (see {@link storeFailure}), emitted as session:storeError; not a
   * session too large for its carrier (a token over a cookie's size), which is no store failure.
   */
  #failure(operation: string, id: string, err: unknown): SessionError {
    const error = storeFailure(operation, id, err);
    if (!(error instanceof SessionTooLarge)) this.#emit('session:storeError', { id, operation, error });
    return error;
  }
}
