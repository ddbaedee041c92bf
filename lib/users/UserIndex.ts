import type { Adapter, LockHandle } from '../adapters/Adapter';
import { cryptoModule, idTag } from '../id';
import { logger } from '../log';
import { lockOptionsOf, uniquePrefixOf, type ManagerOptions } from '../manager/ManagerOptions';
import { judgeRecord } from '../manager/storeCalls';

const debug = logger('koa-session-manager:users');

/** The session key of the bound user; the Manager's `uniqueId` prefix applies to it. */
export const USER_SESSION_KEY = '$koa-session-manager/user$';

/** How every stored user index begins (never a session record: a cookie naming it gets a new session). */
const INDEX_PREFIX = '\u0000users:';

/** 400 days, the longest lifetime a session can have: no index is kept longer. */
const MAX_INDEX_TTL = 400 * 86400;

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
}

/** An index entry: bound at, indexed at (ms), info. */
export interface Entry { b: number; r: number; i?: unknown }
/** A user's index: entries by session id. */
export type Entries = Record<string, Entry>;

/** What the middleware hands over when it is made with `users`. */
export interface UserSessionsSetup {
  adapter: Adapter;
  manager: ManagerOptions;
  lifetime: number;
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

  constructor(readonly setup: UserSessionsSetup) {
    this.#prefix = uniquePrefixOf(setup.manager);
  }

  /** The bound user in a session's data (read from the Manager or from a stored record). */
  boundIn(data: Record<string, unknown>): BoundUser | undefined {
    const value = data[this.#prefix + USER_SESSION_KEY];
    return isBound(value) ? value : undefined;
  }

  /** The id of the index record of `user` (a valid session id that no generated one equals). */
  id(user: string): string {
    return `ksm-user-${cryptoModule().createHash('sha256').update(`${this.#prefix}\u0000${user}`).digest('hex').slice(0, 40)}`;
  }

  async read(user: string, lock?: LockHandle): Promise<Entries> {
    const text = await this.setup.adapter.read(this.id(user), lock);
    if (text === null) return {};
    if (!text.startsWith(INDEX_PREFIX)) {
      debug('the user index %s is not one: replaced', idTag(this.id(user)));
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
  async update(user: string, change: (entries: Entries) => Promise<Entries> | Entries): Promise<void> {
    const { adapter, manager, lifetime } = this.setup;
    const id = this.id(user);
    const lock = adapter.lock ? await adapter.lock(id, lockOptionsOf(manager) ?? {}) : undefined;
    try {
      const next = await change(await this.read(user, lock));
      if (Object.keys(next).length === 0) await adapter.destroy(id);
      // Twice the idle lifetime: a session refreshes its entry at least once per lifetime
      // (UserSessions' commit guard), so the index outlives every session it lists.
      else await adapter.write(id, INDEX_PREFIX + JSON.stringify({ s: next }), Math.min(2 * lifetime, MAX_INDEX_TTL), lock);
    } finally {
      await lock?.release();
    }
  }

  /**
   * The entries whose session is stored and bound to `user`, oldest first; `current` (the
   * request's session, which may not be stored yet) counts when listed.
   */
  async verify(user: string, entries: Entries, current: string | null): Promise<{ sid: string; entry: Entry }[]> {
    const { adapter, manager } = this.setup;
    const checks = Object.entries(entries).map(async ([sid, entry]) => {
      if (sid === current) return { sid, entry, live: true };
      const text = await adapter.read(sid);
      if (text === null) return { sid, entry, live: false };
      const record = judgeRecord(manager, text);
      const bound = typeof record === 'object' && 'd' in record ? this.boundIn(record.d) : undefined;
      return { sid, entry, live: bound?.id === user };
    });
    return (await Promise.all(checks)).filter((c) => c.live).sort((a, b) => a.entry.b - b.entry.b);
  }
}
