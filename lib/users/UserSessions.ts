import type { Context } from 'koa';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, SessionError, SessionModificationDenied, SessionNotMounted } from '../errors';
import type { Manager, SessionGuard } from '../Manager';
import { untyped } from '../manager/data';
import { unwrap } from '../propertyAccess';
import { isBound, tagOf, UserIndex, USER_SESSION_KEY, type BoundUser, type Entry, type UserSessionsSetup } from './UserIndex';

export { USER_SESSION_KEY, type UserSessionsSetup };

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

  /** Internal: the middleware's store and options; one middleware per UserSessions. */
  [ATTACH](setup: UserSessionsSetup): SessionGuard<Manager> {
    if (this.#index !== null) throw new InvalidOption('users', 'this UserSessions is already given to another session() middleware: make one per middleware');
    this.#index = new UserIndex(setup);
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
    return this.#boundUser(managerOf(ctx))?.id ?? null;
  }

  /**
   * The live sessions of a user (or of the request's user), oldest first. Reads each listed
   * session once, so the answer never includes one that was ended or has expired.
   */
  async list(userOrCtx: string | number | Context): Promise<UserSession[]> {
    const { user, current } = this.#who(userOrCtx);
    if (user === null) return [];
    const index = this.#users();
    const live = await index.verify(user, await index.read(user), current);
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
    const current = managerOf(ctx).getId();
    return this.#end(ctx, (sid) => sid !== current);
  }

  /** End the session `handle` (from `list()`) of a user; resolves false when it was not theirs or is gone. */
  async end(userOrCtx: string | number | Context, handle: string): Promise<boolean> {
    return (await this.#end(userOrCtx, (sid) => tagOf(sid) === handle)) > 0;
  }

  #users(): UserIndex {
    if (this.#index === null) throw new InvalidOption('users', 'give this UserSessions to session({ users }) before using it');
    return this.#index;
  }

  async #started(ctx: Context): Promise<Manager> {
    const session = managerOf(ctx);
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
      const session = managerOf(userOrCtx);
      return { user: this.#boundUser(session)?.id ?? null, current: session.exists() ? session.getId() : null, session };
    }
    return { user: userIdOf(userOrCtx), current: null, session: null };
  }

  /** At the cap: end the oldest sessions, or refuse. Runs before the sign-in changes anything. */
  async #makeRoom(user: string): Promise<void> {
    const index = this.#users();
    await index.update(user, async (entries) => {
      const live = await index.verify(user, entries, null);
      const over = live.length - this.#max + 1;
      if (over <= 0) return entries;
      if (this.#onLimit === 'refuse') throw new SessionLimitReached(this.#max);
      const { adapter } = index.setup;
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
    const index = this.#users();
    const { adapter } = index.setup;
    // The request's own session ends through its Manager (which clears its cookie), indexed yet or not.
    const endCurrent = session !== null && current !== null && which(current);
    let ended = 0;
    await index.update(user, async (entries) => {
      const live = new Set((await index.verify(user, entries, current)).map(({ sid }) => sid));
      const now = Date.now();
      for (const sid of Object.keys(entries)) {
        if (!which(sid)) continue;
        if (sid === current) {
          delete entries[sid];
        } else if (live.has(sid)) {
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
    if (endCurrent) {
      await session!.destroy();
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
    const index = this.#users();
    const { lifetime } = index.setup;
    if (bound.sid === tag && now - bound.at < lifetime * 1000) return;
    await index.update(bound.id, (entries) => {
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
