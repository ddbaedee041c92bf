import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, InvalidSessionAdapter } from '../errors';
import { isMoveMarker, type Adapter, type LockHandle, type LockOptions, type WriteOptions } from './Adapter';
import { checked, EXISTING, holds, removeIfStill, tolerated, touch } from './migratingCalls';
import { handleOf, lockStores, MigratingLock } from './MigratingLock';

/**
 * Where a move between stores stands (see {@link MigratingAdapter}):
 * - `'copy'`: the old store is the store (read, locked); every write and touch is copied into
 *   the new one. Safe beside processes still on the old adapter alone (a rolling deploy).
 * - `'both'`: the new store is read first (the old one when it lacks the session) and locked;
 *   writes go to both, so processes on `'copy'` or `'new'` stay right beside it.
 * - `'new'`: writes go to the new store alone; a session found only in the old store moves at
 *   its next request (a write, a touch, a read without a lock) and leaves the old store.
 */
export type MigrationPhase = 'copy' | 'both' | 'new';

/** Options of {@link MigratingAdapter}; checked when it is made, unknown keys refused. */
export interface MigratingAdapterOptions {
  /** The store the sessions move out of. */
  from: Adapter;
  /** The store the sessions move into; it locks when `from` does, and only then. */
  to: Adapter;
  /** Where the move stands; no default: every process must say which phase it runs. */
  phase: MigrationPhase;
}

const OPTIONS = ['from', 'to', 'phase'];
const PHASES: readonly string[] = ['copy', 'both', 'new'];
const HINTS: Readonly<Record<string, string>> = {
  old: 'use `from`: the store the sessions move out of',
  current: 'use `from`: the store the sessions move out of',
  source: 'use `from`: the store the sessions move out of',
  new: 'use `to`: the store the sessions move into',
  writeOnly: 'use `to`: the store the sessions move into',
  target: 'use `to`: the store the sessions move into',
  mode: "use `phase`: 'copy', 'both' or 'new'",
};
/** The lock a read without one takes to move a session in `'new'`: a short wait, else no move. */
const MOVE_LOCK: Partial<LockOptions> = Object.freeze({ wait: 0.05 });

/**
 * Moves a live app's sessions from one store to another without signing anyone out (Symfony's
 * `MigratingSessionHandler`, with the reads turned to the new store and the edge cases closed).
 * Run it in `'copy'`, then `'both'`, then `'new'` (docs/migrating.md gives the steps and waits).
 *
 * What holds in every phase:
 * - **Never served from the old store once the new one has it**: from `'both'` on, the new store
 *   is read first and the old one only when the new one has no record (not even a move marker).
 *   Both copies get the same TTL, the old one written after the new one (it may outlive it by
 *   that gap, holding the same record); a move marker reaches the old store too, and in `'new'`
 *   a session found only in the old store moves into the new one and leaves the old one.
 * - **Destroy removes the session from both stores**, the store read first last (`'copy'`: the
 *   new one first; `'both'`, `'new'`: the old one first): if that fails, the store that is read
 *   still holds the session and the logout fails loudly; the fallback cannot bring it back.
 * - **An update of a session only the old store holds copies it first**, under this request's
 *   locks: the record goes into the new store, then the old store's own `existing` update
 *   decides whether the session is still live there (not destroyed, expired or moved meanwhile);
 *   refused, the copy is removed again — unless another request wrote the new store since (the
 *   new store's write may release its lock: Redis and SQL do). An outage of the old store in
 *   `'new'` keeps the copy. The old store writes last: its write may release the old lock too.
 * - **Sign-in** (a move marker): the old store's update says if the session is live there.
 * - **Locks**: `'copy'` locks the old store, `'both'` the old one then the new one, `'new'` the
 *   new one: two processes in neighbouring phases always share a lock, and take them in the same
 *   order (so `from` and `to` must both lock, or neither). `touchesOnRead` is false: every
 *   unchanged request touches, so TTLs stay in step; in `'both'` a touch rewrites the old copy
 *   (repairing one an old-store outage left behind). In `'new'` a read never extends the old
 *   copy: a read without a lock (a read-only route) moves the session under a short lock.
 * - **The old store down** in `'both'` or `'new'`: sessions the new store holds are read,
 *   written and touched as usual (in `'both'` the old copy is left behind, older; a refused old
 *   update there is ignored: the new store decides). `'both'` still takes the old lock, so a
 *   locked request fails (skipping it would let a `'copy'` process in beside it). Reading or
 *   copying a session the new store lacks, sign-ins and logouts fail with the store's error,
 *   never as an empty session. In `'copy'` the old store is the store. The new store down:
 *   every phase fails (in `'copy'`, writes and touches).
 *
 * @example
 * import { MigratingAdapter } from 'koa-session-manager';
 * import { StreamAdapter } from 'koa-session-manager/file';
 * import { RedisAdapter } from 'koa-session-manager/redis';
 *
 * const adapter = new MigratingAdapter({
 *   from: new StreamAdapter({ savePath: '/var/lib/app/sessions' }),
 *   to: new RedisAdapter({ port: 6379 }),
 *   phase: 'both',
 * });
 * app.use(session({ adapter }));
 */
export class MigratingAdapter implements Adapter {
  readonly from: Adapter;
  readonly to: Adapter;
  readonly phase: MigrationPhase;
  /** Always false: the wrapper keeps both stores' TTLs in step with `updateTimestamp`. */
  readonly touchesOnRead = false;
  /** The new store's lifetime, else the old store's (absent when neither has one). */
  declare readonly lifetime?: number;
  readonly lock?: (id: string, options: Partial<LockOptions>) => Promise<LockHandle>;

  constructor(options: MigratingAdapterOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('MigratingAdapter', 'needs options { from, to, phase }');
    checkOptionKeys('MigratingAdapter', options, OPTIONS, HINTS);
    for (const side of ['from', 'to'] as const) {
      const inner = options[side] as unknown as Record<string, unknown> | undefined;
      if (typeof inner !== 'object' || inner === null || !['read', 'write', 'destroy', 'gc'].every((m) => typeof inner[m] === 'function')) {
        throw new InvalidSessionAdapter(`MigratingAdapter \`${side}\` must be an adapter: it must implement read, write, destroy and gc`);
      }
    }
    if (options.from === options.to) throw new InvalidOption('to', 'must be another adapter than `from`: a move needs two stores');
    if (options.from?.sharedFormat !== undefined || options.to?.sharedFormat !== undefined) throw new InvalidOption('from', 'cannot move sessions a PHP app shares (their format is PHP\'s, not the other store\'s)');
    if (!PHASES.includes(options.phase)) throw new InvalidOption('phase', `must be 'copy', 'both' or 'new', got ${JSON.stringify(options.phase)}`);
    const { from, to, phase } = options;
    if (Boolean(from.lock) !== Boolean(to.lock)) {
      throw new InvalidOption('to', 'must lock if `from` locks, and not if it does not: neighbouring phases lock different stores, so both stores lock or neither');
    }
    this.from = from;
    this.to = to;
    this.phase = phase;
    const lifetime = to.lifetime ?? from.lifetime;
    if (lifetime !== undefined) Object.defineProperty(this, 'lifetime', { value: lifetime, enumerable: true });
    const first = phase === 'new' ? undefined : from;
    const second = phase === 'copy' ? undefined : to;
    if (first?.lock || second?.lock) this.lock = async (id, lockOptions) => lockStores(checked(id), lockOptions, first, second);
  }

  async read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null> {
    checked(id);
    if (this.phase === 'copy') return this.from.read(id, handleOf(lock, 'from'), ttl);
    const found = await this.to.read(id, handleOf(lock, 'to'), ttl);
    if (lock instanceof MigratingLock) lock.foundIn = found !== null ? 'to' : 'from';
    if (found !== null) return found;
    if (this.phase === 'both') return this.from.read(id, handleOf(lock, 'from'), ttl);
    // 'new': a read never extends the old copy (it would outlive the move); unlocked, it moves.
    const old = await this.from.read(id);
    if (old === null || isMoveMarker(old) || lock !== undefined || ttl === undefined || !this.lock) return old;
    return this.#moveOnRead(id, old, ttl);
  }

  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean | void> {
    checked(id);
    const [fromLock, toLock] = [handleOf(lock, 'from'), handleOf(lock, 'to')];
    if (this.phase === 'copy') return this.#copyThen(id, data, ttl, () => this.from.write(id, data, ttl, fromLock, options));
    if (options?.existing !== true) {
      // A record this request makes (a new id): nothing to check, nothing to bring back.
      await this.to.write(id, data, ttl, toLock);
      if (this.phase === 'both') await tolerated(this.from.write(id, data, ttl, fromLock));
      return true;
    }
    const foundIn = lock instanceof MigratingLock ? lock.foundIn : undefined;
    if (foundIn === 'from') return this.#adopt(id, data, ttl, fromLock, toLock);
    if (isMoveMarker(data)) return this.#mark(id, data, ttl, fromLock, toLock, foundIn === 'to');
    const updated = await this.to.write(id, data, ttl, toLock, EXISTING);
    if (updated !== false) {
      // A refusal by the old store is no failure here: the new store decides from 'both' on.
      if (this.phase === 'both') await tolerated(this.from.write(id, data, ttl, fromLock, EXISTING));
      return updated;
    }
    // Locked, the read found the session in the new store: refused now, it is gone there.
    return lock === undefined ? this.#adoptUnlocked(id, data, ttl) : false;
  }

  async updateTimestamp(id: string, data: string, ttl: number, lock?: LockHandle): Promise<boolean | void> {
    checked(id);
    const [fromLock, toLock] = [handleOf(lock, 'from'), handleOf(lock, 'to')];
    // 'copy': the whole record, so a copy the new store holds from before is brought up to date too.
    if (this.phase === 'copy') return this.#copyThen(id, data, ttl, () => touch(this.from, id, data, ttl, fromLock));
    if (lock instanceof MigratingLock && lock.foundIn === 'from') return this.#adopt(id, data, ttl, fromLock, toLock);
    const touched = await touch(this.to, id, data, ttl, toLock);
    if (touched !== false) {
      // 'both': the whole record, so an old copy a failed write left behind is repaired.
      if (this.phase === 'both') await tolerated(this.from.write(id, data, ttl, fromLock, EXISTING));
      return touched;
    }
    return lock === undefined ? this.#adoptUnlocked(id, data, ttl) : false;
  }

  /**
   * The store read first goes last (`'copy'`: the new store first): a failure in between leaves
   * the session where it is read, never a hole the other store's copy fills later.
   */
  async destroy(id: string): Promise<string | null | void> {
    checked(id);
    const copy = this.phase === 'copy';
    const firstGone = await (copy ? this.to : this.from).destroy(id);
    const secondGone = await (copy ? this.from : this.to).destroy(id);
    if (typeof secondGone === 'string') return secondGone;
    if (typeof firstGone === 'string') return firstGone;
    return secondGone === null || firstGone === null ? null : undefined;
  }

  /** Both stores (the old one still holds sessions that expire there); resolves the sum. */
  async gc(maxLifetime: number): Promise<number> {
    const results = await Promise.allSettled([this.from.gc(maxLifetime), this.to.gc(maxLifetime)]);
    let removed = 0;
    for (const result of results) {
      if (result.status === 'rejected') throw result.reason;
      removed += result.value;
    }
    return removed;
  }

  /** A live record in the store the phase reads first, else (from `'both'` on) in the old one. */
  async validateId(id: string): Promise<boolean> {
    checked(id);
    if (this.phase === 'copy') return holds(this.from, id);
    return (await holds(this.to, id)) || holds(this.from, id);
  }

  /** Closes both stores' adapters. */
  async close(): Promise<void> {
    const results = await Promise.allSettled([this.from.close?.(), this.to.close?.()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * `'copy'`: the record goes into the new store first, then the old store takes the write or
   * touch (`old`) — last, because its write may release the old lock in the same step (Redis
   * does) and because its own check decides: refused or failed, the new store's copy is taken
   * back (see {@link removeIfStill}), so it never holds what the old one does not.
   */
  async #copyThen(id: string, data: string, ttl: number, old: () => Promise<boolean | void>): Promise<boolean | void> {
    await this.to.write(id, data, ttl);
    let done: boolean | void;
    try {
      done = await old();
    } catch (err) {
      await removeIfStill(this.to, id, data).catch(() => undefined);
      throw err;
    }
    if (done === false) await removeIfStill(this.to, id, data);
    return done;
  }

  /**
   * A move marker (a sign-in) reaches the old store first, and must: once the marker expires, a
   * pre-sign-in copy there would be served again; an old store that is down fails the sign-in
   * before the new store changes. The old store's update also says whether the session was live
   * there: refused by the new store (it never held the session), the marker goes in as it is,
   * locked or not — unless the locked read found the session in the new store (gone there now).
   */
  async #mark(id: string, marker: string, ttl: number, fromLock?: LockHandle, toLock?: LockHandle, readInTo = false): Promise<boolean | void> {
    const liveInOld = (await this.from.write(id, marker, ttl, fromLock, EXISTING)) !== false;
    const updated = await this.to.write(id, marker, ttl, toLock, EXISTING);
    if (updated !== false) return updated;
    if (!liveInOld || readInTo) return false;
    await this.to.write(id, marker, ttl); // unfenced: a refused write may have released the lock
    return true;
  }

  /**
   * Copy-on-update, locked: the read found the session in the old store alone. The record goes into
   * the new store (fenced by its lock when given), then the old store's own update says whether
   * the session is still live there. `'new'` then removes it from the old store.
   */
  async #adopt(id: string, data: string, ttl: number, fromLock: LockHandle | undefined, toLock: LockHandle | undefined): Promise<boolean> {
    await this.to.write(id, data, ttl, toLock);
    // The old store's update decides, last (see #copyThen); the copy is taken back only while unchanged.
    let kept: boolean | void;
    try {
      kept = await this.from.write(id, data, ttl, fromLock, EXISTING);
    } catch (err) {
      // 'new': the old store no longer counts for writes; the copy stays (the request fails).
      if (this.phase === 'both') await removeIfStill(this.to, id, data).catch(() => undefined);
      throw err;
    }
    if (kept === false) {
      await removeIfStill(this.to, id, data);
      return false;
    }
    if (this.phase === 'new') await tolerated(this.from.destroy(id));
    return true;
  }

  /**
   * Copy-on-update without a lock, after the new store refused the update (it may hold a move
   * marker, which a copy must not replace): the old store's update first, as the check; the
   * copy; then the old store asked again, since a destroy or sign-in may have passed between.
   */
  async #adoptUnlocked(id: string, data: string, ttl: number): Promise<boolean> {
    if ((await this.from.write(id, data, ttl, undefined, EXISTING)) === false) return false;
    await this.to.write(id, data, ttl);
    const again = await this.from.read(id);
    if (again === null || isMoveMarker(again)) {
      await removeIfStill(this.to, id, data);
      return false;
    }
    if (this.phase === 'new') await tolerated(this.from.destroy(id));
    return true;
  }

  /**
   * `'new'`, a read without a lock (a read-only route) of a session only the old store holds: moved
   * under a short lock, as a locked touch would (busy: a locked request moves it); best effort.
   */
  async #moveOnRead(id: string, old: string, ttl: number): Promise<string | null> {
    let held: LockHandle;
    try {
      held = await this.lock!(id, MOVE_LOCK);
    } catch {
      return old;
    }
    try {
      const now = await this.read(id, held, ttl);
      if (now === null || isMoveMarker(now) || (held as MigratingLock).foundIn !== 'from') return now;
      await this.#adopt(id, now, ttl, undefined, handleOf(held, 'to')).catch(() => false);
      return now;
    } finally {
      await held.release().catch(() => undefined);
    }
  }
}
