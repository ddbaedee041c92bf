import type { Adapter } from './adapters/Adapter';
import { InvalidSessionId, InvalidSessionName, SessionAlreadyStarted, SessionModificationDenied, SessionNotStarted } from './errors';
import type { SessionEventName } from './events';
import { isValidId, isValidName } from './id';
import { withPropertyAccess } from './propertyAccess';
import { emit, type EventPayload } from './manager/emit';
import { ownOptions, serializerOf, uniquePrefixOf, type ManagerOptions } from './manager/ManagerOptions';
import type { SessionTransport } from './manager/SessionTransport';
import { DONE, StoredSession } from './manager/StoredSession';
import { ACTIVE, CLOSED, GUARDS, NO_DATA, NONE, READ_ONLY_MESSAGE, REQUIRE_START, RESTART, SESSION_DATA, type SessionGuard } from './manager/internal';
import { DEFAULT_POLICY, resolvePolicy, type ResolvedPolicy, type SessionRoutePolicy } from './manager/SessionPolicy';
import { checkValue, type SessionData, type SessionGet, type SessionKey, type SessionProperties, type SessionValue } from './manager/data';

export type { ManagerOptions, SessionTransport, SessionRoutePolicy, ResolvedPolicy, SessionGuard }; // no values: spec/exportsShape.spec.ts
// Re-exported with `from`: an app's augmentation of SessionData reaches the declaration only so.
export type { SessionData, SessionGet, SessionKey, SessionProperties, SessionTyping, SessionValue, UntypedSession } from './manager/data';

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
  /** Set by setOptions(), from the constructor on. */
  #options!: ManagerOptions;
  #uniquePrefix = '';
  #name = '';
  #status = NONE;
  #starting: Promise<boolean> | undefined;
  #data = NO_DATA;
  #policy: ResolvedPolicy = DEFAULT_POLICY;
  /** Set through REQUIRE_START: access before the first start throws. */
  #requireStart = false;
  /** Set through GUARDS (the middleware): lifecycle watchers of this request. */
  #guards: readonly SessionGuard<Manager>[] | null = null;
  /** The storage side: the id, the cookie sent, the record and its lock. */
  readonly #stored = new StoredSession(() => this.getName(), (event, payload) => this.#emit(event, payload));
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

  getAdapter(): Adapter | null { return this.#adapter; }

  /** The request side (cookies, headers-sent check); the Koa middleware sets one. */
  setTransport(transport: SessionTransport): this {
    this.#transport = transport;
    return this.#self;
  }

  /** A copy of the options last given (PHP arrays are values: changing it changes nothing). */
  getOptions(): ManagerOptions {
    return { ...this.#options };
  }

  /** Replaces every option (Phalcon): a later call without `uniqueId` removes the namespace; an unknown key throws `InvalidOption` (Phalcon would keep it and ignore it). */
  setOptions(options: ManagerOptions): void {
    // A copy, unless checked and frozen once (checkedOptions(): the middleware's, every request).
    this.#options = ownOptions(options);
    this.#uniquePrefix = uniquePrefixOf(options);
    this.#stored.configure(this.#options);
  }

  /**
   * This request's policy (before `start()`): `{ readOnly: true }` takes no lock and never
   * writes, and its changes throw; `{ lock: false }` writes without the lock.
   */
  setPolicy(policy: SessionRoutePolicy): this {
    const resolved = resolvePolicy(policy);
    if (this.#status !== NONE || this.#starting) throw new SessionAlreadyStarted('The session has already been started: its policy cannot change any more');
    this.#policy = resolved;
    return this.#self;
  }

  getPolicy(): ResolvedPolicy { return this.#policy; }

  /** @internal */
  [REQUIRE_START](): void { this.#requireStart = true; }

  /** @internal */
  [GUARDS](guards: readonly SessionGuard<Manager>[]): void { this.#guards = guards.length > 0 ? guards : null; }

  /** @internal The data of this request, every key (frozen and empty before start). */
  [SESSION_DATA](): Record<string, unknown> { return this.#data; }

  /** @internal A guard's fresh start after it destroyed the session (not joining the start it runs in). */
  [RESTART](): Promise<boolean> { return this.#start(); }

  /** 2 while active, otherwise 1 (0, "disabled", never applies in Node). */
  status(): 0 | 1 | 2 {
    return this.#status === ACTIVE ? ACTIVE : NONE;
  }

  /** True while the session is active in this request. */
  exists(): boolean {
    return this.#status === ACTIVE;
  }

  getId(): string { return this.#stored.id; }

  /** Force the id to use (before `start()`); it takes precedence over the cookie. */
  setId(id: string): this {
    if (this.#status === ACTIVE) throw new SessionAlreadyStarted();
    if (!isValidId(id)) throw new InvalidSessionId();
    this.#stored.id = id;
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
  start(): Promise<boolean> {
    // A second start() while the first is loading (or its guards run) joins it instead of queueing for its own lock.
    if (this.#starting !== undefined) return this.#starting;
    if (this.#status === ACTIVE) return Promise.resolve(true);
    if (this.#transport?.headersSent()) return Promise.resolve(false);
    return (this.#starting = this.#start(true));
  }

  async #start(joined = false): Promise<boolean> { // joined: the start in #starting (a guard's RESTART is not)
    try {
      this.#data = NO_DATA; // nothing of an earlier session is readable while loading, or after a failure
      this.#data = await this.#stored.open(this.#adapter, this.#transport, this.#policy.lock);
      this.#status = ACTIVE;
      this.#requireStart = false;
      this.#emit('session:started', { id: this.#stored.id, isNew: this.#stored.isNew });
      try {
        if (this.#guards !== null) for (const guard of this.#guards) await guard.started?.(this.#self, this.#transport?.context);
      } catch (err) {
        // A guard that failed (a store down while it destroys) leaves no lock held, no data readable.
        this.#status = CLOSED;
        this.#data = NO_DATA;
        await this.#stored.release();
        throw err;
      }
      return true;
    } finally {
      if (joined) this.#starting = undefined;
    }
  }

  /**
   * Persist and release now (PHP `session_write_close`): write when the data changed,
   * otherwise refresh the TTL; send the cookie; release the lock. Reads still work afterwards;
   * writes throw `SessionModificationDenied`. A new session that holds nothing stores nothing.
   */
  writeClose(): Promise<void> {
    // A read-only request stores nothing, not even a timestamp (PHP's read_and_close): answered
    // without an async frame, and the session() middleware skips its await of DONE (issue #17).
    if (this.#starting !== undefined || !this.#policy.readOnly) return this.#close(true);
    if (this.#status !== ACTIVE) return DONE;
    this.#status = CLOSED;
    try {
      this.#stored.refreshCookie(this.#adapter, this.#transport);
    } catch (err) {
      return this.#stored.release().then(() => { throw err; });
    }
    return this.#stored.release();
  }

  /** Release without writing (PHP `session_abort`); reads still work, writes throw. */
  abort(): Promise<void> {
    return this.#close(false);
  }

  /** writeClose() (`write`: store, then release) or abort(). */
  async #close(write: boolean): Promise<void> {
    // A start still loading (routing-controllers resolves an action's parameters together: one
    // can fail while @Session() starts) ends with the lock held: wait for it, then release it.
    if (this.#starting !== undefined) await this.#starting.catch(() => false);
    if (this.#status !== ACTIVE) return;
    if (write && this.#policy.readOnly) return this.writeClose();
    this.#status = CLOSED;
    try {
      if (write && this.#guards !== null) for (const guard of this.#guards) await guard.committing?.(this.#self, this.#transport?.context);
      // (a guard may have destroyed the session: nothing to store then)
      if (write && this.#status === CLOSED) await this.#stored.persist(this.#adapter!, this.#transport, this.#data);
    } finally {
      const released = this.#stored.release();
      if (released !== DONE) await released; // (nothing held: no turn of the microtask queue)
    }
  }

  /**
   * Delete the stored session and clear the cookie; also after `writeClose()`. A no-op before
   * start. A later `start()` in the same request begins a fresh session (e.g. for a flash
   * message after sign-out).
   */
  async destroy(): Promise<void> {
    if (this.#status === NONE) return;
    if (this.#policy.readOnly) throw new SessionModificationDenied(READ_ONLY_MESSAGE);
    this.#status = NONE;
    this.#data = NO_DATA;
    const { id, followed } = await this.#stored.destroy(this.#adapter!);
    this.#transport?.clearId(this.getName());
    this.#emit('session:destroyed', followed.length > 0 ? { id, followed } : { id });
  }

  /**
   * Move the data to a new id (after sign-in, against fixation); the move is stored at commit,
   * new record first, and the old lock is held until then. With `deleteOld` the old id stops
   * working: its data is replaced by a short-lived marker (at most 60 s), so a request of the
   * same browser still in flight with the old cookie gets a throwaway session that is neither
   * stored nor sent (its changes are dropped), instead of a session whose cookie would sign the
   * user out. With `deleteOld` false the old id keeps a copy of the data as it is at this call
   * (PHP): what is set afterwards (the signed-in user) stays under the new id only.
   */
  async regenerateId(deleteOld = true): Promise<this> {
    if (this.#status === CLOSED) throw new SessionModificationDenied('The session was closed (writeClose() or abort()); its id cannot change any more');
    if (this.#status !== ACTIVE) return this.#self;
    if (this.#policy.readOnly) throw new SessionModificationDenied(READ_ONLY_MESSAGE);
    this.#stored.regenerate(!deleteOld, this.#data);
    return this.#self;
  }

  /**
   * The value of `key`, or `defaultValue` when missing or null; null before start (Phalcon).
   * Typed by {@link SessionData}; `get<T>(key)` states the type of a key it does not declare.
   */
  get<T = never, K extends SessionKey = SessionKey>(key: K, defaultValue?: SessionGet<T, K> | null, remove?: boolean): SessionGet<T, K> | null;
  get(key: string, defaultValue: unknown = null, remove = false): unknown {
    if (this.#status === NONE) return this.#notStarted(null);
    const value = this.#data[this.#uniquePrefix + key];
    if (remove && this.#writable()) delete this.#data[this.#uniquePrefix + key];
    return value === undefined || value === null ? defaultValue : value;
  }

  set<K extends SessionKey>(key: K, value: SessionValue<K>): void;
  /**
   * Store `value` under `key`; a silent no-op before start (Phalcon), throws after writeClose().
   * `undefined` removes the key. A value the serializer cannot keep as it is (with JSON: a
   * function, symbol, BigInt, cycle, Date, Map, class instance, NaN…) throws
   * `InvalidSessionValue` naming the key, instead of coming back changed after the next request.
   */
  set(key: string, value: unknown): void {
    if (!this.#writable()) return;
    if (value === undefined) {
      delete this.#data[this.#uniquePrefix + key];
      return;
    }
    checkValue(key, value, serializerOf(this.#options), this.#uniquePrefix + key);
    this.#data[this.#uniquePrefix + key] = value;
  }

  /** True when `key` holds a value other than null (PHP `isset`). */
  has(key: SessionKey): boolean;
  has(key: string): boolean {
    if (this.#status === NONE) return this.#notStarted(false);
    const value = this.#data[this.#uniquePrefix + key];
    return value !== undefined && value !== null;
  }

  remove(key: SessionKey): void;
  remove(key: string): void {
    if (this.#writable()) delete this.#data[this.#uniquePrefix + key];
  }

  #writable(): boolean {
    if (this.#status === NONE) return this.#notStarted(false);
    if (this.#policy.readOnly) throw new SessionModificationDenied(READ_ONLY_MESSAGE);
    if (this.#status === CLOSED) throw new SessionModificationDenied('The session was closed (writeClose() or abort()); it can be read but not changed');
    return true;
  }

  /** Phalcon's answer before start(), unless the middleware asked for a start first. */
  #notStarted<T>(answer: T): T {
    if (this.#requireStart) throw new SessionNotStarted();
    return answer;
  }

  #emit<E extends SessionEventName>(event: E, payload: EventPayload<E>): void {
    emit(this.#options.events, event, payload, this.#self, this.#transport);
  }
}
