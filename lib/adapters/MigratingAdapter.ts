import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, InvalidSessionAdapter, InvalidSessionId } from '../errors';
import { isValidId } from '../id';
import { isMoveMarker, type Adapter, type LockHandle, type LockOptions, type WriteOptions } from './Adapter';
import { handleOf, isOutage, lockStores, MigratingLock } from './MigratingLock';

/**
 * Where a move between stores stands (see {@link MigratingAdapter}):
 * - `'copy'`: the old store is the store (read, locked); every write and touch is copied into
 *   the new one. Safe beside processes still on the old adapter alone (a rolling deploy).
 * - `'both'`: the new store is read first (the old one when it lacks the session) and locked;
 *   writes go to both, so processes on `'copy'` or `'new'` stay right beside it.
 * - `'new'`: writes go to the new store alone; a session found only in the old store moves at
 *   its next write or touch and leaves the old store. Then the wrapper can go.
 */
export type MigrationPhase = 'copy' | 'both' | 'new';

/** Options of {@link MigratingAdapter}; checked when it is made, unknown keys refused. */
export interface MigratingAdapterOptions {
  /** The store the sessions move out of. */
  from: Adapter;
  /** The store the sessions move into. */
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
const EXISTING: WriteOptions = Object.freeze({ existing: true });

/**
 * Moves a live app's sessions from one store to another without signing anyone out (Symfony's
 * `MigratingSessionHandler`, with the reads turned to the new store and the edge cases closed).
 * Run it in `'copy'`, then `'both'`, then `'new'` (docs/migrating.md gives the steps and waits).
 *
 * What holds in every phase:
 * - **Never served from the old store once the new one has it**: from `'both'` on, the new store
 *   is read first and the old one only when the new one has no record (not even a move marker).
 *   The old copy of a session never outlives the new one: both are written with the same TTL,
 *   the old one no later; a move marker reaches the old store too (or, in `'new'`, the old copy
 *   is removed), and in `'new'` a session copied out of the old store is removed from it.
 * - **Destroy removes the session from both stores, the old one first**: if that fails, nothing
 *   was removed and the logout fails loudly; a destroyed session cannot come back by the fallback.
 * - **An update of a session only the old store holds copies it first**, under this request's
 *   locks: the record goes into the new store, then the old store's own `existing` update
 *   decides whether the session is still live there (not destroyed, expired or moved meanwhile);
 *   refused, the copy is removed again. The old store always writes last: its write may release
 *   the old lock in the same step (Redis does), and the locks must cover both writes.
 * - **Locks**: `'copy'` locks the old store, `'both'` the old one then the new one, `'new'` the
 *   new one: two processes in neighbouring phases always share a lock, and take them in the same
 *   order. `touchesOnRead` is false: every unchanged request touches, so TTLs stay in step.
 * - **The old store down** in `'both'` or `'new'`: sessions the new store holds are read,
 *   locked, written and touched as usual (in `'both'` the old copy is left behind, older, and
 *   the old lock skipped); reading or copying one it does not hold, sign-ins (move markers) and
 *   logouts fail with the store's error, never as an empty session. In `'copy'` the old store
 *   is the store. The new store down: every phase fails (in `'copy'`, writes and touches).
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
    if (!PHASES.includes(options.phase)) throw new InvalidOption('phase', `must be 'copy', 'both' or 'new', got ${JSON.stringify(options.phase)}`);
    const { from, to, phase } = options;
    this.from = from;
    this.to = to;
    this.phase = phase;
    const lifetime = to.lifetime ?? from.lifetime;
    if (lifetime !== undefined) Object.defineProperty(this, 'lifetime', { value: lifetime, enumerable: true });
    const first = phase === 'new' ? undefined : from;
    const second = phase === 'copy' ? undefined : to;
    if (first?.lock || second?.lock) {
      this.lock = async (id, lockOptions) => lockStores(checked(id), lockOptions, first, second, phase === 'both');
    }
  }

  async read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null> {
    checked(id);
    if (this.phase === 'copy') return this.from.read(id, handleOf(lock, 'from'), ttl);
    const found = await this.to.read(id, handleOf(lock, 'to'), ttl);
    if (lock instanceof MigratingLock) lock.foundIn = found !== null ? 'to' : 'from';
    if (found !== null) return found;
    return this.from.read(id, handleOf(lock, 'from'), ttl);
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
    if (lock instanceof MigratingLock && lock.foundIn === 'from') return this.#adopt(id, data, ttl, fromLock, toLock);
    if (isMoveMarker(data)) await this.#markOld(id, data, ttl, fromLock);
    const updated = await this.to.write(id, data, ttl, toLock, EXISTING);
    if (updated !== false) {
      if (this.phase === 'both' && !isMoveMarker(data)) await tolerated(this.from.write(id, data, ttl, fromLock, EXISTING));
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
      if (this.phase === 'both') await tolerated(touch(this.from, id, data, ttl, fromLock));
      return touched;
    }
    return lock === undefined ? this.#adoptUnlocked(id, data, ttl) : false;
  }

  /** Old store first: a failure there leaves both copies, never a new-store hole the old one fills. */
  async destroy(id: string): Promise<string | null | void> {
    checked(id);
    const old = await this.from.destroy(id);
    const fresh = await this.to.destroy(id);
    const [first, other] = this.phase === 'copy' ? [old, fresh] : [fresh, old];
    if (typeof first === 'string') return first;
    if (typeof other === 'string') return other;
    return first === null || other === null ? null : undefined;
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
   * does) and because its own check decides: refused (the session is gone or moved there) or
   * failed, the new store's copy is removed again, so it never holds what the old one does not.
   */
  async #copyThen(id: string, data: string, ttl: number, old: () => Promise<boolean | void>): Promise<boolean | void> {
    await this.to.write(id, data, ttl);
    let done: boolean | void;
    try {
      done = await old();
    } catch (err) {
      await this.to.destroy(id).catch(() => undefined);
      throw err;
    }
    if (done === false) await this.to.destroy(id);
    return done;
  }

  /**
   * A move marker (a sign-in) reaches the old store first, and must: once the marker expires, a
   * pre-sign-in copy there would be served again. `'new'` removes the old copy instead. An old
   * store that is down fails the sign-in before the new store changes, so the session is whole.
   */
  async #markOld(id: string, marker: string, ttl: number, fromLock: LockHandle | undefined): Promise<void> {
    if (this.phase === 'new') await this.from.destroy(id);
    else await this.from.write(id, marker, ttl, fromLock, EXISTING);
  }

  /**
   * Copy-on-update, locked: the read found the session in the old store alone. The record goes into
   * the new store (fenced by its lock when given), then the old store's own update says whether
   * the session is still live there. `'new'` then removes it from the old store.
   */
  async #adopt(id: string, data: string, ttl: number, fromLock: LockHandle | undefined, toLock: LockHandle | undefined): Promise<boolean> {
    await this.to.write(id, data, ttl, toLock);
    // The old store's own update decides, last (see #copyThen); refused or failed, the copy goes.
    let kept: boolean | void;
    try {
      kept = await this.from.write(id, data, ttl, fromLock, EXISTING);
    } catch (err) {
      await this.to.destroy(id).catch(() => undefined);
      throw err;
    }
    if (kept === false) {
      await this.to.destroy(id);
      return false;
    }
    if (this.phase === 'new') await tolerated(this.from.destroy(id));
    return true;
  }

  /**
   * Copy-on-update without a lock, after the new store refused the update (it may hold a move
   * marker, which a copy must not replace): the old store's update first, as the check; the
   * copy; then the old store asked again, since a destroy may have passed between the two.
   */
  async #adoptUnlocked(id: string, data: string, ttl: number): Promise<boolean> {
    if ((await this.from.write(id, data, ttl, undefined, EXISTING)) === false) return false;
    await this.to.write(id, data, ttl);
    if ((await this.from.read(id)) === null) {
      await this.to.destroy(id);
      return false;
    }
    if (this.phase === 'new') await tolerated(this.from.destroy(id));
    return true;
  }
}

/** `id`, or InvalidSessionId: no id outside the alphabet reaches either store. */
function checked(id: string): string {
  if (!isValidId(id)) throw new InvalidSessionId();
  return id;
}

/** Refresh `id` in `store`: its `updateTimestamp`, else an update that rewrites the same data. */
function touch(store: Adapter, id: string, data: string, ttl: number, lock: LockHandle | undefined): Promise<boolean | void> {
  return store.updateTimestamp ? store.updateTimestamp(id, data, ttl, lock) : store.write(id, data, ttl, lock, EXISTING);
}

/** A live record (or marker) of `id` in `store`. */
async function holds(store: Adapter, id: string): Promise<boolean> {
  return store.validateId ? store.validateId(id) : (await store.read(id)) !== null;
}

/** Waits for `call`; an outage of the store ({@link isOutage}) is let pass, anything else thrown. */
async function tolerated(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (!isOutage(err)) throw err;
  }
}
