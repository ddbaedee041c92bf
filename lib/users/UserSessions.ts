import type { Context } from 'koa';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, SessionError, SessionModificationDenied, SessionNotMounted } from '../errors';
import type { Manager, SessionGuard } from '../Manager';
import { untyped } from '../manager/data';
import { unwrap } from '../propertyAccess';
import { userGuard } from './guard';
import { isBound, PENDING_MS, tagOf, UserIndex, USER_SESSION_KEY, type BoundUser, type Entries, type UserSessionsSetup } from './UserIndex';

export type { UserSessionsSetup };


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

/** The request's Manager (without the property-access proxy); throws when session() did not run. */
function managerOf(ctx: Context): Manager {
  const session = (ctx as { session?: Manager }).session;
  if (session === undefined) throw new SessionNotMounted();
  return unwrap(session);
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
  #index: UserIndex | null = null;

  constructor(options: UserSessionsOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('UserSessions', 'options must be an object');
    checkOptionKeys('UserSessions', options, KEYS);
    const { max = 0, onLimit = 'endOldest' } = options;
    if (!Number.isSafeInteger(max) || max < 0) throw new InvalidOption('UserSessions.max', 'must be a whole number, 0 for no cap');
    if (onLimit !== 'endOldest' && onLimit !== 'refuse') throw new InvalidOption('UserSessions.onLimit', "must be 'endOldest' or 'refuse'");
    this.#max = max;
    this.#onLimit = onLimit;
  }

  /** @internal The middleware's store and options; one middleware per UserSessions. */
  [ATTACH](setup: UserSessionsSetup): SessionGuard<Manager> {
    if (this.#index !== null) throw new InvalidOption('users', 'this UserSessions is already given to another session() middleware: make one per middleware');
    if (typeof setup.adapter.lock !== 'function') {
      throw new InvalidOption('users', 'needs an adapter with locks: concurrent sign-ins of one user would overwrite each other\'s index entries (turn the adapter\'s locking on, e.g. RedisAdapter lockingEnabled)');
    }
    this.#index = new UserIndex(setup);
    return userGuard(this.#index);
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
    const session = await started(ctx);
    if (session.getPolicy().readOnly) throw new SessionModificationDenied('A user cannot be bound on a read-only route (sessionPolicy({ readOnly: true }))');
    const bound = boundUser(session);
    if (bound?.id === user) {
      if (info !== undefined) untyped(session).set(USER_SESSION_KEY, { ...bound, i: info });
      return;
    }
    const record: BoundUser = { id: user, b: Date.now(), sid: '', at: 0 };
    if (info !== undefined) record.i = info;
    if (this.#max > 0) await this.#makeRoom(user, session, record);
    else await session.regenerateId();
    untyped(session).set(USER_SESSION_KEY, record);
  }

  /**
   * The user bound to the request's session, or null. The session must be started (the eager
   * default; with `start: 'lazy'`, after the route's policy or `await ctx.session.start()`).
   */
  userOf(ctx: Context): string | null {
    return boundUser(managerOf(ctx))?.id ?? null;
  }

  /**
   * The live sessions of a user (or of the request's user), oldest first. Reads each listed
   * session once, so the answer never includes one that was ended or has expired; a sign-in
   * still committing is not listed yet.
   */
  async list(userOrCtx: string | number | Context): Promise<UserSession[]> {
    const { user, current } = await this.#who(userOrCtx);
    if (user === null) return [];
    const index = this.#users();
    const { s: entries } = await index.read(user);
    const bound = current === null ? undefined : boundUser(managerOf(userOrCtx as Context));
    // The request's own session, signed in by this very request, is not indexed before its commit.
    if (current !== null && bound !== undefined && entries[current] === undefined) entries[current] = { b: bound.b, r: Date.now(), i: bound.i };
    const live = await index.verify(user, entries, current);
    return live.map(({ sid, entry }) => ({ handle: tagOf(sid), current: sid === current, boundAt: entry.b, info: entry.i ?? null }));
  }

  /**
   * End every session of a user ("log out everywhere"), those signing in at this moment too.
   * Given the request, the request's own session is destroyed through it (its cookie is
   * cleared). Resolves how many stored sessions were ended.
   */
  async endAll(userOrCtx: string | number | Context): Promise<number> {
    return (await this.#end(userOrCtx, () => true, true)).count;
  }

  /**
   * End every session of the request's user but the request's own ("sign out other devices"),
   * those signing in at this moment too. Needs a writable route (the session records it).
   */
  async endOthers(ctx: Context): Promise<number> {
    const session = await started(ctx);
    const current = session.getId();
    const { count, at } = await this.#end(ctx, (sid) => sid !== current, true);
    // Kept through the end it just recorded (`at`, possibly the very millisecond of its binding).
    const bound = boundUser(session);
    if (bound !== undefined) untyped(session).set(USER_SESSION_KEY, { ...bound, k: at });
    return count;
  }

  /** End the session `handle` (from `list()`) of a user; resolves false when it was not theirs or is gone. */
  async end(userOrCtx: string | number | Context, handle: string): Promise<boolean> {
    return (await this.#end(userOrCtx, (sid) => tagOf(sid) === handle, false)).count > 0;
  }

  #users(): UserIndex {
    if (this.#index === null) throw new InvalidOption('users', 'give this UserSessions to session({ users }) before using it');
    return this.#index;
  }

  async #who(userOrCtx: string | number | Context): Promise<{ user: string | null; current: string | null; session: Manager | null }> {
    if (typeof userOrCtx === 'object' && userOrCtx !== null) {
      const session = await started(userOrCtx);
      return { user: boundUser(session)?.id ?? null, current: session.exists() ? session.getId() : null, session };
    }
    return { user: userIdOf(userOrCtx), current: null, session: null };
  }

  /**
   * Under the user's index lock: count the live sessions and the sign-ins still committing; at
   * the cap, refuse (nothing changed) or end the oldest; then move this session to its new id
   * and reserve its entry, so that concurrent sign-ins count each other.
   */
  async #makeRoom(user: string, session: Manager, record: BoundUser): Promise<void> {
    const index = this.#users();
    await index.update(user, async (stored) => {
      const now = Date.now();
      const live = await index.verify(user, stored.s, null);
      const liveIds = new Set(live.map(({ sid }) => sid));
      const pending = Object.entries(stored.s).filter(([sid, entry]) => !liveIds.has(sid) && !entry.x && now - entry.r <= PENDING_MS);
      dropDead(stored.s, liveIds, now);
      const over = live.length + pending.length - this.#max + 1;
      if (over > 0 && this.#onLimit === 'refuse') throw new SessionLimitReached(this.#max);
      const oldest = [...live.map(({ sid, entry }) => [sid, entry] as const), ...pending].sort((a, b) => a[1].b - b[1].b);
      for (const [sid, entry] of oldest.slice(0, Math.max(0, over))) await this.#endOne(stored.s, sid, entry, liveIds.has(sid));
      await session.regenerateId();
      stored.s[session.getId()] = { b: record.b, r: now, ...(record.i !== undefined ? { i: record.i } : {}) };
    });
  }

  /** End one session of the index: a stored one is destroyed, one still committing is marked (its commit destroys it). */
  async #endOne(entries: Entries, sid: string, entry: { x?: 1 }, live: boolean): Promise<void> {
    if (live) {
      // Without its lock: a request of that session in flight cannot write it back (the
      // adapter contract's update-only write), and waiting for it could take seconds.
      await this.#users().setup.adapter.destroy(sid);
      delete entries[sid];
    } else {
      entry.x = 1;
    }
  }

  /** Ends the sessions `which` selects; with `all`, records when (`at`) in the index. */
  async #end(userOrCtx: string | number | Context, which: (sid: string) => boolean, all: boolean): Promise<{ count: number; at: number }> {
    const { user, current, session } = await this.#who(userOrCtx);
    if (user === null) return { count: 0, at: Date.now() };
    const index = this.#users();
    // The request's own session ends through its Manager (which clears its cookie), indexed yet or not.
    const endCurrent = session !== null && current !== null && which(current);
    let at = Date.now();
    const ended = await index.update(user, async (stored) => {
      const now = (at = Date.now());
      if (all) stored.e = now; // a sign-in bound before now and committing after is ended at its commit
      const live = new Set((await index.verify(user, stored.s, current)).map(({ sid }) => sid));
      let count = 0;
      for (const [sid, entry] of Object.entries(stored.s)) {
        if (!which(sid)) continue;
        if (sid === current) delete stored.s[sid];
        else if (live.has(sid)) count++;
        if (sid !== current && (live.has(sid) || now - entry.r <= PENDING_MS)) await this.#endOne(stored.s, sid, entry, live.has(sid));
      }
      dropDead(stored.s, live, now);
      return count;
    });
    if (endCurrent) await session!.destroy();
    return { count: ended + (endCurrent ? 1 : 0), at };
  }
}

/** Entries whose session is neither stored nor (recently) committing: gone. */
function dropDead(entries: Entries, live: Set<string>, now: number): void {
  for (const [sid, entry] of Object.entries(entries)) if (!live.has(sid) && now - entry.r > PENDING_MS) delete entries[sid];
}

/** The user bound in a session (started), read through its data. */
function boundUser(session: Manager): BoundUser | undefined {
  const value = untyped(session).get(USER_SESSION_KEY);
  return isBound(value) ? value : undefined;
}

/** The request's Manager, started if it was not (a lazy start); not again after it was closed. */
async function started(ctx: Context): Promise<Manager> {
  const session = managerOf(ctx);
  if (!session.exists() && session.getId() === '') await session.start();
  return session;
}
