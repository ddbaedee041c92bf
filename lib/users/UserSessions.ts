import type { Context } from 'koa';
import type { Adapter, LockHandle } from '../adapters/Adapter';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, SessionError, SessionModificationDenied, SessionNotMounted } from '../errors';
import { cryptoModule, idTag } from '../id';
import type { Manager, SessionGuard } from '../Manager';
import { untyped } from '../manager/data';
import { lockOptionsOf, type ManagerOptions } from '../manager/ManagerOptions';
import { judgeRecord } from '../manager/storeCalls';
import { requestState } from '../koa/state';
import { logger } from '../log';

const debug = logger('koa-session-manager:users');

/** The session key of the bound user; the Manager's `uniqueId` prefix applies to it. */
export const USER_SESSION_KEY = '$koa-session-manager/user$';

/** How every stored user index begins (never a session record: a cookie naming it gets a new session). */
const INDEX_PREFIX = '\u0000users:';

/** 400 days, the longest lifetime a session can have: no index is kept longer. */
const MAX_INDEX_TTL = 400 * 86400;

/**
 * An index entry whose session is not readable (yet) is kept this long: the sign-in that added
 * it writes its session right after.
 */
const PENDING_MS = 60_000;

/** Options of {@link UserSessions}. */
export interface UserSessionsOptions {
  /** The most sessions one user may have at once; 0 for no cap. @default 0 */
  max?: number;
  /**
   * At the cap, a sign-in (`bind()`) ends the user's oldest sessions (`'endOldest'`) or throws
   * `SessionLimitReached` and changes nothing (`'refuse'`). @default 'endOldest'
   */
  onLimit?: 'endOldest' | 'refuse';
}

/** One of a user's sessions, as `list()` gives it. */
export interface UserSession {
  /**
   * Names the session for `end()` without being its id (ids are credentials: one signed-in
   * device must not learn another's): 22 characters of a hash of the id.
   */
  handle: string;
  /** True for the session of the request given to `list(ctx)`. */
  current: boolean;
  /** When the user was bound to it (ms since the epoch). */
  boundAt: number;
  /** What `bind()` was given for it (e.g. a device name), or null. */
  info: unknown;
}

/** What the session holds about its user. */
interface BoundUser {
  /** The user id. */
  id: string;
  /** Bound at (ms). */
  b: number;
  /** The tag of the session id it was last indexed under, and when (ms). */
  sid: string;
  at: number;
  /** bind()'s `info`. */
  i?: unknown;
}

/** An index entry: bound at, indexed at (ms), info. */
interface Entry { b: number; r: number; i?: unknown }
type Entries = Record<string, Entry>;

/** What the middleware hands over when it is made with `users`. */
export interface UserSessionsSetup {
  adapter: Adapter;
  manager: ManagerOptions;
  lifetime: number;
}

/** Internal: the middleware attaches itself through this. */
export const ATTACH = Symbol('koa-session-manager.users.attach');

/**
 * A sign-in beyond `max` sessions under `onLimit: 'refuse'` (403, `ERR_SESSION_LIMIT`): the
 * user must sign out elsewhere first (or the app offers to end another session).
 */
export class SessionLimitReached extends SessionError {
  override readonly status: number = 403;
  override readonly expose: boolean = true;

  constructor(readonly max: number) {
    super(`This account already has ${max} active session${max === 1 ? '' : 's'}: sign out of one before signing in here`, 'ERR_SESSION_LIMIT');
  }
}

const KEYS: readonly (keyof UserSessionsOptions)[] = ['max', 'onLimit'];

function tagOf(id: string): string {
  return cryptoModule().createHash('sha256').update(id).digest('base64url').slice(0, 22);
}

function isBound(value: unknown): value is BoundUser {
  const user = value as Partial<BoundUser> | null;
  return typeof user === 'object' && user !== null && typeof user.id === 'string' && typeof user.b === 'number'
    && typeof user.sid === 'string' && typeof user.at === 'number';
}

function userIdOf(user: unknown): string {
  if (typeof user === 'number' && Number.isSafeInteger(user)) return String(user);
  if (typeof user !== 'string' || user === '' || user.length > 256) throw new InvalidOption('userId', 'must be a non-empty string of at most 256 characters, or a whole number');
  return user;
}

/**
 * Sessions indexed by user (OWASP's "log out everywhere" and concurrent-session limit; Spring
 * Session's sessions by principal). Give it to the middleware, then bind the user at sign-in:
 * the session moves to a new id (against fixation) and joins the user's index, a record in the
 * session store itself (any adapter: files, Redis, Memcached, PostgreSQL, MySQL, memory) kept
 * alive as long as the sessions it lists. List a user's sessions, end all of them, all but the
 * current one, or one; optionally cap how many a user has at once.
 *
 * @example
 * const users = new UserSessions({ max: 3 });
 * app.use(session({ adapter, users }));
 * router.post('/login', async (ctx) => { …; await users.bind(ctx, account.id, { device: ctx.get('user-agent') }); });
 * router.post('/logout-everywhere', async (ctx) => { await users.endAll(ctx); });
 */
export class UserSessions {
  readonly #max: number;
  readonly #onLimit: 'endOldest' | 'refuse';
  #setup: UserSessionsSetup | null = null;
  #prefix = '';

  constructor(options: UserSessionsOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('UserSessions', 'options must be an object');
    checkOptionKeys('UserSessions', options, KEYS);
    const { max = 0, onLimit = 'endOldest' } = options;
    if (!Number.isSafeInteger(max) || max < 0) throw new InvalidOption('UserSessions.max', 'must be a whole number, 0 for no cap');
    if (onLimit !== 'endOldest' && onLimit !== 'refuse') throw new InvalidOption('UserSessions.onLimit', "must be 'endOldest' or 'refuse'");
    this.#max = max;
    this.#onLimit = onLimit;
  }

  /** Internal: the middleware's store and options; one middleware per UserSessions. */
  [ATTACH](setup: UserSessionsSetup): SessionGuard {
    if (this.#setup !== null) throw new InvalidOption('users', 'this UserSessions is already given to another session() middleware: make one per middleware');
    this.#setup = setup;
    const u = setup.manager.uniqueId;
    this.#prefix = u === undefined || u === null || u === '' || u === '0' ? '' : `${u}#`;
    return { committing: (session) => this.#committing(session) };
  }

  /**
   * Bind `userId` to the request's session (at sign-in). Another user (or none) bound so far:
   * the session moves to a new id first (`regenerateId()`, as Symfony migrates on login), and
   * at the cap the user's oldest sessions end (or `SessionLimitReached` is thrown, nothing
   * changed). The same user again: only `info` is replaced. `info` (small, JSON) is what
   * `list()` shows for this session, e.g. `{ device: 'Firefox on Linux' }`.
   */
  async bind(ctx: Context, userId: string | number, info?: unknown): Promise<void> {
    const user = userIdOf(userId);
    const session = await this.#started(ctx);
    const bound = this.#boundUser(session);
    if (bound?.id === user) {
      if (info !== undefined) untyped(session).set(USER_SESSION_KEY, { ...bound, i: info });
      return;
    }
    if (this.#max > 0) await this.#makeRoom(user);
    await session.regenerateId();
    const record: BoundUser = { id: user, b: Date.now(), sid: '', at: 0 };
    if (info !== undefined) record.i = info;
    untyped(session).set(USER_SESSION_KEY, record);
  }

  /** The user bound to the request's session, or null. */
  userOf(ctx: Context): string | null {
    const state = requestState(ctx);
    if (state === undefined) throw new SessionNotMounted();
    return this.#boundUser(state.raw)?.id ?? null;
  }

  /**
   * The live sessions of a user (or of the request's user), oldest first. Reads each listed
   * session once, so the answer never includes one that was ended or has expired.
   */
  async list(userOrCtx: string | number | Context): Promise<UserSession[]> {
    const { user, current } = this.#who(userOrCtx);
    if (user === null) return [];
    const entries = await this.#readIndex(user);
    const live = await this.#verify(user, entries, current);
    return live.map(({ sid, entry }) => ({ handle: tagOf(sid), current: sid === current, boundAt: entry.b, info: entry.i ?? null }));
  }

  /**
   * End every session of a user ("log out everywhere"). Given the request, the request's own
   * session is destroyed through it (its cookie is cleared). Resolves how many were ended.
   */
  endAll(userOrCtx: string | number | Context): Promise<number> {
    return this.#end(userOrCtx, () => true);
  }

  /** End every session of the request's user but the request's own ("sign out other devices"). */
  endOthers(ctx: Context): Promise<number> {
    const state = requestState(ctx);
    if (state === undefined) throw new SessionNotMounted();
    const current = state.raw.getId();
    return this.#end(ctx, (sid) => sid !== current);
  }

  /** End the session `handle` (from `list()`) of a user; resolves false when it was not theirs or is gone. */
  async end(userOrCtx: string | number | Context, handle: string): Promise<boolean> {
    return (await this.#end(userOrCtx, (sid) => tagOf(sid) === handle)) > 0;
  }

  #store(): UserSessionsSetup {
    if (this.#setup === null) throw new InvalidOption('users', 'give this UserSessions to session({ users }) before using it');
    return this.#setup;
  }

  async #started(ctx: Context): Promise<Manager> {
    const state = requestState(ctx);
    if (state === undefined) throw new SessionNotMounted();
    const session = state.raw;
    if (session.getPolicy().readOnly) throw new SessionModificationDenied('A user cannot be bound on a read-only route (sessionPolicy({ readOnly: true }))');
    if (!session.exists()) await session.start();
    return session;
  }

  #boundUser(session: Manager): BoundUser | undefined {
    const value = untyped(session).get(USER_SESSION_KEY);
    return isBound(value) ? value : undefined;
  }

  #who(userOrCtx: string | number | Context): { user: string | null; current: string | null; session: Manager | null } {
    if (typeof userOrCtx === 'object' && userOrCtx !== null) {
      const state = requestState(userOrCtx);
      if (state === undefined) throw new SessionNotMounted();
      const session = state.raw;
      return { user: this.#boundUser(session)?.id ?? null, current: session.exists() ? session.getId() : null, session };
    }
    return { user: userIdOf(userOrCtx), current: null, session: null };
  }

  /** The id of the index record of `user` (a valid session id that no generated one equals). */
  #indexId(user: string): string {
    return `ksm-user-${cryptoModule().createHash('sha256').update(`${this.#prefix}\u0000${user}`).digest('hex').slice(0, 40)}`;
  }

  async #readIndex(user: string, lock?: LockHandle): Promise<Entries> {
    const text = await this.#store().adapter.read(this.#indexId(user), lock);
    if (text === null) return {};
    if (!text.startsWith(INDEX_PREFIX)) {
      debug('the user index %s is not one: replaced', idTag(this.#indexId(user)));
      return {};
    }
    try {
      const parsed = JSON.parse(text.slice(INDEX_PREFIX.length)) as { s?: Entries };
      return typeof parsed.s === 'object' && parsed.s !== null ? parsed.s : {};
    } catch {
      return {};
    }
  }

  /**
   * Run `change` on the index of `user` under its lock (when the adapter has locks) and store
   * what it resolves: sign-ins and "log out everywhere" of one user never undo each other.
   */
  async #update(user: string, change: (entries: Entries) => Promise<Entries> | Entries): Promise<void> {
    const { adapter, manager, lifetime } = this.#store();
    const id = this.#indexId(user);
    const lock = adapter.lock ? await adapter.lock(id, lockOptionsOf(manager) ?? {}) : undefined;
    try {
      const next = await change(await this.#readIndex(user, lock));
      if (Object.keys(next).length === 0) await adapter.destroy(id);
      // Twice the idle lifetime: a session refreshes its entry at least once per lifetime
      // (see #committing), so the index outlives every session it lists.
      else await adapter.write(id, INDEX_PREFIX + JSON.stringify({ s: next }), Math.min(2 * lifetime, MAX_INDEX_TTL), lock);
    } finally {
      await lock?.release();
    }
  }

  /**
   * The entries whose session is stored and bound to `user`, oldest first; `current` (the
   * request's session, which may not be stored yet) counts when listed.
   */
  async #verify(user: string, entries: Entries, current: string | null): Promise<{ sid: string; entry: Entry }[]> {
    const { adapter, manager } = this.#store();
    const checks = Object.entries(entries).map(async ([sid, entry]) => {
      if (sid === current) return { sid, entry, live: true };
      const text = await adapter.read(sid);
      if (text === null) return { sid, entry, live: false };
      const record = judgeRecord(manager, text);
      const bound = typeof record === 'object' && 'd' in record ? record.d[this.#prefix + USER_SESSION_KEY] : undefined;
      return { sid, entry, live: isBound(bound) && bound.id === user };
    });
    return (await Promise.all(checks)).filter((c) => c.live).sort((a, b) => a.entry.b - b.entry.b);
  }

  /** At the cap: end the oldest sessions, or refuse. Runs before the sign-in changes anything. */
  async #makeRoom(user: string): Promise<void> {
    await this.#update(user, async (entries) => {
      const live = await this.#verify(user, entries, null);
      const over = live.length - this.#max + 1;
      if (over <= 0) return entries;
      if (this.#onLimit === 'refuse') throw new SessionLimitReached(this.#max);
      const { adapter } = this.#store();
      for (const { sid } of live.slice(0, over)) {
        await adapter.destroy(sid);
        delete entries[sid];
      }
      return entries;
    });
  }

  async #end(userOrCtx: string | number | Context, which: (sid: string) => boolean): Promise<number> {
    const { user, current, session } = this.#who(userOrCtx);
    if (user === null) return 0;
    const { adapter } = this.#store();
    let ended = 0;
    let endCurrent = false;
    await this.#update(user, async (entries) => {
      const live = new Set((await this.#verify(user, entries, current)).map(({ sid }) => sid));
      const now = Date.now();
      for (const sid of Object.keys(entries)) {
        if (!which(sid)) continue;
        if (sid === current) {
          endCurrent = true;
          delete entries[sid];
          continue;
        }
        if (live.has(sid)) {
          // Without its lock: a request of that session in flight cannot write it back (the
          // adapter contract's update-only write), and waiting for it could take seconds.
          await adapter.destroy(sid);
          ended++;
          delete entries[sid];
        } else if (now - entries[sid]!.r > PENDING_MS) {
          delete entries[sid];
        }
      }
      return entries;
    });
    if (endCurrent && session !== null) {
      await session.destroy();
      ended++;
    }
    return ended;
  }

  /**
   * Before each commit of a session bound to a user: (re)index it when its id changed (sign-in,
   * `regenerateId()`) or its entry is older than the idle lifetime, so the index never expires
   * before a session it lists. Other commits cost one read of the session's own data.
   */
  async #committing(session: Manager): Promise<void> {
    const bound = this.#boundUser(session);
    if (bound === undefined) return;
    const id = session.getId();
    const tag = tagOf(id);
    const now = Date.now();
    const { lifetime } = this.#store();
    if (bound.sid === tag && now - bound.at < lifetime * 1000) return;
    await this.#update(bound.id, (entries) => {
      const entry: Entry = { b: bound.b, r: now };
      if (bound.i !== undefined) entry.i = bound.i;
      entries[id] = entry;
      // An entry not refreshed for two lifetimes names a session that has expired.
      for (const [sid, other] of Object.entries(entries)) if (now - other.r > 2 * lifetime * 1000) delete entries[sid];
      return entries;
    });
    untyped(session).set(USER_SESSION_KEY, { ...bound, sid: tag, at: now });
  }
}
