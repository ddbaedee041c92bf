import type { EventEmitter } from 'node:events';
import createDebug from 'debug';
import type { Adapter, LockHandle, LockOptions } from './adapters/Adapter';
import {
  AdapterRuntimeError, InvalidSessionAdapter, InvalidSessionId, InvalidSessionName,
  SessionAlreadyStarted, SessionError, SessionModificationDenied,
} from './errors';
import { generateId, isValidId, isValidName } from './id';
import { decodeRecord, emptyData, encodeRecord } from './record';
import type { Serializer } from './serializers/Serializer';
import { JsonSerializer } from './serializers/JsonSerializer';
import type { SessionEventMap, SessionEventName } from './events';
import { withPropertyAccess } from './propertyAccess';

const debug = createDebug('koa-session-manager:manager');

/**
 * The app's session data, for typed property access and `get`/`set`. Augment it:
 *
 * @example
 * declare module 'koa-session-manager' {
 *   interface SessionData { userId: number; role: 'admin' | 'user' }
 * }
 * ctx.session.userId; // number | null | undefined
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionData {}

/** How the Manager reaches the request: the framework-specific part (cookies, headers). */
export interface SessionTransport {
  /** The id the client sent under `name`, if any (raw, unvalidated). */
  readId(name: string): string | undefined;
  /** Send `id` to the client under `name`, valid for `maxAge` seconds. */
  writeId(name: string, id: string, maxAge: number): void;
  /** Tell the client to forget `name`. */
  clearId(name: string): void;
  /** True once the response headers are out (a session cannot start any more). */
  headersSent(): boolean;
  /** Passed along in events, e.g. the Koa context. */
  readonly context?: unknown;
}

/** Manager options. Unknown keys are kept, as Phalcon keeps them. */
export interface ManagerOptions {
  /** Namespace for every key: `uniqueId#key`. */
  uniqueId?: string;
  /** Idle lifetime in seconds: store TTL and cookie Max-Age. @default 3600 */
  lifetime?: number;
  /** Absolute lifetime in seconds from creation; 0 for none. @default 0 */
  absoluteLifetime?: number;
  /** Replace an id the store does not know by a fresh one (PHP `use_strict_mode`). @default true */
  strict?: boolean;
  /** Unchanged data costs only `updateTimestamp` (PHP `lazy_write`). @default true */
  lazyWrite?: boolean;
  /** @default new JsonSerializer() */
  serializer?: Serializer;
  /**
   * Per-session locking when the adapter offers `lock()`; `wait`/`expiry` left out take the
   * adapter's defaults (5 s and 30 s for the file and memory adapters). @default true
   */
  locking?: boolean | Partial<LockOptions>;
  /** Where `session:*` events go (an EventEmitter, or the Koa app). */
  events?: EventEmitter;
  [option: string]: unknown;
}

const NONE = 1;
const ACTIVE = 2;
/** After writeClose()/abort(): reads work, writes throw. Reported as NONE, as PHP does. */
const CLOSED = 3;

/** Locking on with the adapter's own defaults. */
const ADAPTER_DEFAULTS: Partial<LockOptions> = Object.freeze({});
/** Seconds the marker left by regenerateId() outlives the move: longer than any queued request. */
const REGENERATED_MARKER_TTL = 60;
const JSON_SERIALIZER = new JsonSerializer();

/** The Manager's typed property view of {@link SessionData}. */
export type SessionProperties = { [K in keyof SessionData]?: SessionData[K] | null };

// Property access (`session.userId`) is declared through this merged interface.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Manager extends SessionProperties {}

/**
 * One session for one request (Phalcon `Session\Manager`). Made by the middleware per request;
 * data lives in memory between `start()` and the commit (`writeClose()`).
 *
 * @example
 * const session = new Manager({ uniqueId: 'shop' }).setAdapter(new MemoryAdapter());
 * await session.start();
 * session.set('userId', 7);   // or: session.userId = 7
 * await session.writeClose();
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Manager {
  #adapter: Adapter | null = null;
  #transport: SessionTransport | null = null;
  #options: ManagerOptions = {};
  #uniquePrefix = '';
  /** Resolved from `options.locking`; null when locking is off. */
  #lockOptions: Partial<LockOptions> | null = ADAPTER_DEFAULTS;
  #name = '';
  #id = '';
  #status = NONE;
  #data: Record<string, unknown> = emptyData();
  #created = 0;
  /** The stored text as read or last written; null when the store holds nothing for this id. */
  #raw: string | null = null;
  #lock: LockHandle | null = null;
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
  /** The proxy users hold: chaining methods return it, not the bare target. */
  readonly #self: this;

  constructor(options: ManagerOptions = {}) {
    this.setOptions(options);
    this.#self = withPropertyAccess(this);
    return this.#self;
  }

  setAdapter(adapter: Adapter): this {
    this.#adapter = adapter;
    return this.#self;
  }

  getAdapter(): Adapter | null {
    return this.#adapter;
  }

  /** The request side (cookies, headers-sent check); the Koa middleware sets one. */
  setTransport(transport: SessionTransport): this {
    this.#transport = transport;
    return this.#self;
  }

  /** A copy of the options last given (PHP arrays are values: changing it changes nothing). */
  getOptions(): ManagerOptions {
    return { ...this.#options };
  }

  /** Replaces every option (Phalcon): a later call without `uniqueId` removes the namespace. */
  setOptions(options: ManagerOptions): void {
    // A copy: the middleware hands every request's Manager the same options object.
    this.#options = { ...options };
    const u = options.uniqueId;
    this.#uniquePrefix = u === undefined || u === null || u === '' || u === '0' ? '' : `${u}#`;
    const locking = options.locking ?? true;
    this.#lockOptions = locking === false ? null : locking === true ? ADAPTER_DEFAULTS : locking;
  }

  /** 2 while active, otherwise 1 (0, "disabled", never applies in Node). */
  status(): 0 | 1 | 2 {
    return this.#status === ACTIVE ? ACTIVE : NONE;
  }

  /** True while the session is active in this request. */
  exists(): boolean {
    return this.#status === ACTIVE;
  }

  getId(): string {
    return this.#id;
  }

  /** Force the id to use (before `start()`); it takes precedence over the cookie. */
  setId(id: string): this {
    if (this.#status === ACTIVE) throw new SessionAlreadyStarted();
    if (!isValidId(id)) throw new InvalidSessionId();
    this.#id = id;
    return this.#self;
  }

  /** The cookie name; `PHPSESSID` unless set (Phalcon parity). */
  getName(): string {
    if (this.#name === '') this.#name = 'PHPSESSID';
    return this.#name;
  }

  setName(name: string): this {
    if (this.#status === ACTIVE) throw new SessionModificationDenied();
    if (!isValidName(name)) throw new InvalidSessionName();
    this.#name = name;
    return this.#self;
  }

  /**
   * Start (or resume) the session: pick the id, lock, read, decode, check expiry. Missing,
   * expired or undecodable data gives a fresh session; a store failure rejects with
   * `AdapterRuntimeError` (never an empty session that would overwrite real data).
   * Resolves true when active, false when headers were already sent.
   */
  async start(): Promise<boolean> {
    if (this.#status === ACTIVE) return true;
    const transport = this.#transport;
    if (transport?.headersSent()) return false;
    let id = this.#id;
    if (id === '' && transport && !this.#cookieSpent) {
      const sent = transport.readId(this.getName());
      this.#sentCookie = sent;
      if (sent !== undefined) {
        if (isValidId(sent)) id = sent;
        else this.#emit('session:invalid', { reason: 'id' });
      }
    }
    const adapter = this.#adapter;
    if (!adapter) throw new InvalidSessionAdapter();
    this.#created = Date.now();
    this.#data = emptyData();
    this.#raw = null;
    this.#orphan = false;
    this.#movedFrom = null;
    const outcome = id === '' ? 'missing' : await this.#load(adapter, id);
    if (outcome !== 'loaded') {
      // Non-strict mode adopts an unknown id (PHP use_strict_mode=0); invalid or expired data
      // always gets a new id, so the old record is never overwritten by an empty session.
      const adopt = outcome === 'missing' && id !== '' && this.#options.strict === false;
      if (!adopt) {
        await this.#releaseLock();
        id = generateId();
      }
      this.#emit('session:created', { id });
    }
    this.#id = id;
    this.#status = ACTIVE;
    this.#emit('session:started', { id, isNew: this.#raw === null });
    return true;
  }

  /** Lock (when enabled), read and decode `id`; on anything but 'loaded' the data stays empty. */
  async #load(adapter: Adapter, id: string): Promise<'loaded' | 'missing' | 'invalid' | 'expired' | 'regenerated'> {
    const options = this.#lockOptions;
    if (options !== null && adapter.lock) {
      this.#lock = await this.#store('lock', () => adapter.lock!(id, options));
      if (this.#lock.waitedMs > 0) this.#emit('session:lockWaited', { id, waitedMs: this.#lock.waitedMs });
    }
    let text: string | null;
    try {
      text = await this.#store('read', () => adapter.read(id, this.#lock ?? undefined, this.#ttl()));
    } catch (err) {
      await this.#releaseLock();
      throw err;
    }
    if (text === null) {
      // The store keeps nothing past its TTL, so an id it does not know is expired, destroyed or made up.
      this.#emit('session:expired', { id, reason: 'missing' });
      return 'missing';
    }
    const record = decodeRecord(this.#serializer(), text);
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
    const absolute = Number(this.#options.absoluteLifetime ?? 0);
    if (absolute > 0 && Date.now() - record.c >= absolute * 1000) {
      this.#emit('session:expired', { id, reason: 'absolute' });
      await this.#store('destroy', () => adapter.destroy(id)).catch(() => undefined);
      return 'expired';
    }
    this.#created = record.c;
    this.#data = record.d;
    this.#raw = text;
    return 'loaded';
  }

  /**
   * Persist and release now (PHP `session_write_close`): write when the data changed,
   * otherwise refresh the TTL; send the cookie; release the lock. Reads still work afterwards;
   * writes throw `SessionModificationDenied`. A new session that holds nothing stores nothing.
   */
  async writeClose(): Promise<void> {
    if (this.#status !== ACTIVE) return;
    this.#status = CLOSED;
    try {
      await this.#persist();
    } finally {
      await this.#releaseLock();
    }
  }

  /** Release without writing (PHP `session_abort`); reads still work, writes throw. */
  async abort(): Promise<void> {
    if (this.#status !== ACTIVE) return;
    this.#status = CLOSED;
    await this.#releaseLock();
  }

  /**
   * Delete the stored session and clear the cookie; also after `writeClose()`. A no-op before
   * start. A later `start()` in the same request begins a fresh session (e.g. for a flash
   * message after sign-out).
   */
  async destroy(): Promise<void> {
    if (this.#status === NONE) return;
    // After regenerateId() the new id is not stored yet: what exists is the old one.
    const id = this.#movedFrom?.id ?? this.#id;
    this.#status = NONE;
    this.#data = emptyData();
    this.#id = '';
    this.#movedFrom = null;
    try {
      await this.#store('destroy', () => this.#adapter!.destroy(id));
    } finally {
      await this.#releaseLock();
    }
    this.#transport?.clearId(this.getName());
    this.#raw = null;
    this.#cookieSpent = true;
    this.#emit('session:destroyed', { id });
  }

  /**
   * Move the data to a new id (after sign-in, against fixation); the move is stored at commit,
   * new record first, and the old lock is held until then. With `deleteOld` the old id stops
   * working: its data is replaced by a short-lived marker (at most 60 s), so a request of the
   * same browser still in flight with the old cookie gets a throwaway session that is neither
   * stored nor sent (its changes are dropped), instead of a session whose cookie would sign the
   * user out. With `deleteOld` false the old id keeps a copy of the data (PHP).
   */
  async regenerateId(deleteOld = true): Promise<this> {
    if (this.#status === CLOSED) throw new SessionModificationDenied('The session was closed (writeClose() or abort()); its id cannot change any more');
    if (this.#status !== ACTIVE) return this.#self;
    const oldId = this.#id;
    if (this.#movedFrom) this.#movedFrom.keepCopy = !deleteOld;
    else if (this.#raw !== null) this.#movedFrom = { id: oldId, keepCopy: !deleteOld };
    this.#id = generateId();
    this.#raw = null;
    this.#orphan = false;
    this.#emit('session:regenerated', { id: this.#id, oldId });
    return this.#self;
  }

  get<K extends keyof SessionData>(key: K, defaultValue?: SessionData[K] | null, remove?: boolean): SessionData[K] | null;
  get<T = unknown>(key: string, defaultValue?: T, remove?: boolean): T | null;
  /** The value of `key`, or `defaultValue` when missing or null; null before start (Phalcon). */
  get(key: string, defaultValue: unknown = null, remove = false): unknown {
    if (this.#status === NONE) return null;
    const value = this.#data[this.#uniquePrefix + key];
    if (remove) this.remove(key);
    return value === undefined || value === null ? defaultValue : value;
  }

  set<K extends keyof SessionData>(key: K, value: SessionData[K]): void;
  set(key: string, value: unknown): void;
  /** Store `value` under `key`; a silent no-op before start (Phalcon), throws after writeClose(). */
  set(key: string, value: unknown): void {
    if (this.#writable()) this.#data[this.#uniquePrefix + key] = value;
  }

  /** True when `key` holds a value other than null (PHP `isset`). */
  has(key: string): boolean {
    if (this.#status === NONE) return false;
    const value = this.#data[this.#uniquePrefix + key];
    return value !== undefined && value !== null;
  }

  remove(key: string): void {
    if (this.#writable()) delete this.#data[this.#uniquePrefix + key];
  }

  #writable(): boolean {
    if (this.#status === ACTIVE) return true;
    if (this.#status === CLOSED) {
      throw new SessionModificationDenied('The session was closed (writeClose() or abort()); it can be read but not changed');
    }
    return false;
  }

  #serializer(): Serializer {
    return this.#options.serializer ?? JSON_SERIALIZER;
  }

  #encode(): string {
    return encodeRecord(this.#serializer(), { c: this.#created, d: this.#data });
  }

  /** Idle lifetime in seconds: the store TTL. */
  #ttl(): number {
    return Number(this.#options.lifetime ?? 3600);
  }

  async #persist(): Promise<void> {
    const adapter = this.#adapter!;
    const transport = this.#transport;
    const id = this.#id;
    if (this.#orphan) {
      debug('request of a regenerated id: nothing is stored (%s)', id);
      return;
    }
    const moved = this.#movedFrom;
    let empty = true;
    for (const _ in this.#data) { empty = false; break; }
    if (this.#raw === null && empty && moved === null) {
      // Nothing stored, nothing to store: no record, no cookie. Drop a cookie that points nowhere.
      if (this.#sentCookie !== undefined && this.#sentCookie !== id) transport?.clearId(this.getName());
      return;
    }
    const text = this.#encode();
    const ttl = this.#ttl();
    const lock = this.#lock ?? undefined;
    if (moved !== null) {
      await this.#store('write', () => adapter.write(id, text, ttl));
      const old = moved.keepCopy ? text : encodeRecord(this.#serializer(), { c: this.#created, d: {}, r: 1 });
      const oldTtl = moved.keepCopy ? ttl : Math.min(ttl, REGENERATED_MARKER_TTL);
      await this.#store('write', () => adapter.write(moved.id, old, oldTtl, lock));
      this.#movedFrom = null;
    } else if (text !== this.#raw || this.#options.lazyWrite === false || !adapter.updateTimestamp) {
      await this.#store('write', () => adapter.write(id, text, ttl, lock));
    } else if (!adapter.touchesOnRead) {
      await this.#store('touch', () => adapter.updateTimestamp!(id, text, ttl, lock));
    }
    this.#raw = text;
    transport?.writeId(this.getName(), id, this.#cookieMaxAge(ttl));
  }

  /** The cookie lives as long as the store keeps the record, capped by the absolute lifetime. */
  #cookieMaxAge(ttl: number): number {
    const absolute = Number(this.#options.absoluteLifetime ?? 0);
    if (absolute <= 0) return ttl;
    return Math.max(0, Math.min(ttl, absolute - (Date.now() - this.#created) / 1000));
  }

  async #releaseLock(): Promise<void> {
    const lock = this.#lock;
    if (lock === null) return;
    this.#lock = null;
    try {
      await lock.release();
    } catch (err) {
      // The record is already written; an expiring lock cannot lose data, so report and go on.
      this.#emit('session:storeError', { id: lock.id, operation: 'unlock', error: err });
    }
  }

  /** Run one adapter call; anything but a SessionError becomes an AdapterRuntimeError. */
  async #store<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const error = err instanceof SessionError ? err
        : new AdapterRuntimeError(`Session store ${operation} failed: ${(err as Error)?.message ?? err}`, 'ERR_SESSION_STORE', { cause: err });
      debug('store %s failed: %s', operation, error.message);
      this.#emit('session:storeError', { id: this.#id, operation, error });
      throw error;
    }
  }

  #emit<E extends SessionEventName>(event: E, payload: Omit<SessionEventMap[E], 'session' | 'context'>): void {
    const events = this.#options.events;
    if (events !== undefined && events.listenerCount(event) > 0) {
      try {
        events.emit(event, { ...payload, session: this.#self, context: this.#transport?.context });
      } catch (err) {
        // A listener must never break the lifecycle (a throw here could leave a lock held).
        debug('a %s listener threw: %s', event, (err as Error)?.message ?? err);
      }
    }
  }
}
