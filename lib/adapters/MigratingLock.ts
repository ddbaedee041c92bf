import { AdapterRuntimeError, SessionLockLost, SessionLockTimeout } from '../errors';
import type { Adapter, LockHandle, LockOptions } from './Adapter';

const DONE: Promise<void> = Promise.resolve();

/** Shortest wait left for the second lock when the first one used up the request's wait (seconds). */
const MIN_SECOND_WAIT = 0.05;

/**
 * An outage of a store (down, hung, unreachable): an `AdapterRuntimeError` that is not about a
 * lock. A lock that timed out or was lost is never an outage: it means another request holds it.
 *
 * @example
 * try { await old.write(id, data, ttl); } catch (err) { if (!isOutage(err)) throw err; }
 */
export function isOutage(err: unknown): boolean {
  return err instanceof AdapterRuntimeError && !(err instanceof SessionLockTimeout) && !(err instanceof SessionLockLost);
}

/**
 * One request's hold on a session while {@link MigratingAdapter} moves it: the lock in the old
 * store (`from`) and the lock in the new store (`to`), each present when the phase takes it.
 * Released in the reverse order it was taken; idempotent.
 *
 * @example
 * const handle = await lockStores(id, { wait: 5 }, oldStore, newStore);
 * await newStore.write(id, data, ttl, handle.to);
 * await handle.release();
 */
export class MigratingLock implements LockHandle {
  /**
   * The store the locked read found the session in (set by `read`): an update of a session only
   * the old store holds copies it into the new one first, without a refused write in between.
   */
  foundIn: 'from' | 'to' | undefined = undefined;
  #released: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly waitedMs: number,
    /** The lock in the old store, when taken. */
    readonly from: LockHandle | undefined,
    /** The lock in the new store, when taken. */
    readonly to: LockHandle | undefined,
  ) {}

  release(): Promise<void> {
    return (this.#released ??= this.#release());
  }

  async #release(): Promise<void> {
    const results = await Promise.allSettled([this.to?.release() ?? DONE]);
    const old = await Promise.allSettled([this.from?.release() ?? DONE]);
    const failed = [...results, ...old].find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

/** The inner handle `pick` of a handle this module made; nothing for any other value. */
export function handleOf(lock: LockHandle | undefined, pick: 'from' | 'to'): LockHandle | undefined {
  return lock instanceof MigratingLock ? lock[pick] : undefined;
}

/**
 * Take the lock of `id` in `first`, then in `second` (each when given and able to lock), within
 * one wait: the second gets what the first left of `options.wait`. A failure of either (an
 * outage too) fails the lock: a process that skipped the old lock would run beside processes
 * that hold only that one. Every process takes the locks in the same order (old store, then
 * new), so two processes of different phases cannot deadlock.
 *
 * @example
 * const handle = await lockStores(id, options, phase === 'new' ? undefined : from, phase === 'copy' ? undefined : to);
 */
export async function lockStores(
  id: string,
  options: Partial<LockOptions>,
  first: Adapter | undefined,
  second: Adapter | undefined,
): Promise<MigratingLock> {
  const started = performance.now();
  let held: LockHandle | undefined;
  if (first?.lock) held = await first.lock(id, options);
  let next: LockHandle | undefined;
  if (second?.lock) {
    const left = options.wait === undefined || held === undefined ? options
      : { ...options, wait: Math.max(MIN_SECOND_WAIT, options.wait - (performance.now() - started) / 1000) };
    try {
      next = await second.lock(id, left);
    } catch (err) {
      await held?.release().catch(() => undefined);
      throw err;
    }
  }
  return new MigratingLock(id, (held?.waitedMs ?? 0) + (next?.waitedMs ?? 0), held, next);
}
