import type { EventEmitter } from 'node:events';
import type { Adapter, LockHandle } from '../adapters/Adapter';
import { cryptoModule, idTag, RESERVED_ID_PREFIX } from '../id';
import { logger } from '../log';
import { lockOptionsOf, uniquePrefixOf, type ManagerOptions } from '../manager/ManagerOptions';
import { judgeRecord } from '../manager/storeCalls';

const debug = logger('koa-session-manager:users');

/** The session key of the bound user; the Manager's `uniqueId` prefix applies to it. */
export const USER_SESSION_KEY = '$koa-session-manager/user$';

/** How every stored user index begins (never a session record: a cookie naming it gets a new session). */
const INDEX_PREFIX = '\u0000users:';

/**
 * An index entry whose session is not stored (yet) is kept this long: the sign-in that added it
 * stores its session when its request commits.
 */
export const PENDING_MS = 60_000;

/** Sessions verified at once when a user's index is read in full (list, end, the cap). */
const VERIFY_BATCH = 16;

/** What the session holds about its user. */
export interface BoundUser {
  /** The user id. */
  id: string;
  /** Bound at (ms). */
  b: number;
  /** The tag of the session id it was last indexed under, and when (ms). */
  sid: string;
  at: number;
  /** bind()'s `info`. */
  i?: unknown;
  /** Kept at (ms): when this session ran "sign out other devices" (it survives that `e`). */
  k?: number;
}

/**
 * An index entry: bound at, indexed at (ms), info; `x` when it was ended before its session was
 * stored (a sign-in still committing): that commit destroys it instead.
 */
export interface Entry { b: number; r: number; i?: unknown; x?: 1 }
/** A user's index: entries by session id. */
export type Entries = Record<string, Entry>;

/**
 * A user's index record: its entries, and `e`, when every session of the user bound before it
 * was ended ("log out everywhere"): a sign-in that commits later with an older binding is
 * destroyed at that commit.
 */
export interface IndexRecord { s: Entries; e?: number }

/** What the middleware hands over when it is made with `users`. */
export interface UserSessionsSetup {
  adapter: Adapter;
  manager: ManagerOptions;
  lifetime: number;
  /** The middleware's events, for a failed index refresh (`session:storeError`). */
  events: EventEmitter;
}

/**
 * The tag of a session id (22 base64url characters of its SHA-256): names a session in the
 * session's own data and in `list()` without being its id.
 */
export function tagOf(id: string): string {
  return cryptoModule().createHash('sha256').update(id).digest('base64url').slice(0, 22);
}

export function isBound(value: unknown): value is BoundUser {
  const user = value as Partial<BoundUser> | null;
  return typeof user === 'object' && user !== null && typeof user.id === 'string' && typeof user.b === 'number'
    && typeof user.sid === 'string' && typeof user.at === 'number';
}

/**
 * The users' indexes of one middleware, kept as records of its session store: one per user,
 * under an id of its own, changed under that id's lock.
 */
export class UserIndex {
  readonly #prefix: string;
  /** The key of the bound user in a session's data, `uniqueId` prefix included. */
  readonly key: string;

  constructor(readonly setup: UserSessionsSetup) {
    this.#prefix = uniquePrefixOf(setup.manager);
    this.key = this.#prefix + USER_SESSION_KEY;
  }

  /** The bound user in a session's data (read from the Manager or from a stored record). */
  boundIn(data: Record<string, unknown>): BoundUser | undefined {
    const value = data[this.key];
    return isBound(value) ? value : undefined;
  }

  /** The id of the index record of `user` (a valid session id that no generated one equals). */
  id(user: string): string {
    return `${RESERVED_ID_PREFIX}user-${cryptoModule().createHash('sha256').update(`${this.#prefix}\u0000${user}`).digest('hex').slice(0, 40)}`;
  }

  async read(user: string, lock?: LockHandle): Promise<IndexRecord> {
    const text = await this.setup.adapter.read(this.id(user), lock);
    if (text === null) return { s: {} };
    if (!text.startsWith(INDEX_PREFIX)) {
      debug('the user index %s is not one: replaced', idTag(this.id(user)));
      return { s: {} };
    }
    try {
      const parsed = JSON.parse(text.slice(INDEX_PREFIX.length)) as Partial<IndexRecord>;
      const record: IndexRecord = { s: typeof parsed.s === 'object' && parsed.s !== null ? parsed.s : {} };
      if (typeof parsed.e === 'number') record.e = parsed.e;
      return record;
    } catch {
      return { s: {} };
    }
  }

  /**
   * Run `change` on the index of `user` under its lock and store what it leaves: sign-ins and
   * "log out everywhere" of one user never undo each other.
   */
  async update<T>(user: string, change: (record: IndexRecord) => Promise<T> | T): Promise<T> {
    const { adapter, manager, lifetime } = this.setup;
    const id = this.id(user);
    const lock = await adapter.lock!(id, lockOptionsOf(manager) ?? {});
    try {
      const record = await this.read(user, lock);
      const result = await change(record);
      if (Object.keys(record.s).length === 0 && record.e === undefined) await adapter.destroy(id);
      // Twice the idle lifetime: a session re-indexes itself at least once per lifetime
      // (UserSessions' guards), so the index outlives every session it lists.
      else await adapter.write(id, INDEX_PREFIX + JSON.stringify(record), 2 * lifetime, lock);
      return result;
    } finally {
      await lock.release();
    }
  }

  /**
   * The entries whose session is stored and bound to `user`, oldest first; `current` (the
   * request's session, which may not be stored yet) counts when listed.
   */
  async verify(user: string, entries: Entries, current: string | null): Promise<{ sid: string; entry: Entry }[]> {
    const { adapter, manager } = this.setup;
    const check = async ([sid, entry]: [string, Entry]) => {
      if (sid === current) return { sid, entry, live: true };
      const text = await adapter.read(sid);
      if (text === null) return { sid, entry, live: false };
      const record = judgeRecord(manager, text);
      const bound = typeof record === 'object' && 'd' in record ? this.boundIn(record.d) : undefined;
      return { sid, entry, live: bound?.id === user };
    };
    const all = Object.entries(entries);
    const checked: { sid: string; entry: Entry; live: boolean }[] = [];
    for (let i = 0; i < all.length; i += VERIFY_BATCH) checked.push(...await Promise.all(all.slice(i, i + VERIFY_BATCH).map(check)));
    return checked.filter((c) => c.live).sort((a, b) => a.entry.b - b.entry.b);
  }
}
