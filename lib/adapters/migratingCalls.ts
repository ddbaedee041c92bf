import { InvalidSessionId } from '../errors';
import { isValidId } from '../id';
import type { Adapter, LockHandle, WriteOptions } from './Adapter';
import { isOutage } from './MigratingLock';

/** The write options of an update (a session the request read). */
export const EXISTING: WriteOptions = Object.freeze({ existing: true });

/** `id`, or InvalidSessionId: no id outside the alphabet reaches either store. */
export function checked(id: string): string {
  if (!isValidId(id)) throw new InvalidSessionId();
  return id;
}

/** Refresh `id` in `store`: its `updateTimestamp`, else an update that rewrites the same data. */
export function touch(store: Adapter, id: string, data: string, ttl: number, lock: LockHandle | undefined): Promise<boolean | void> {
  return store.updateTimestamp ? store.updateTimestamp(id, data, ttl, lock) : store.write(id, data, ttl, lock, EXISTING);
}

/** A live record (or marker) of `id` in `store`. */
export async function holds(store: Adapter, id: string): Promise<boolean> {
  return store.validateId ? store.validateId(id) : (await store.read(id)) !== null;
}

/** Waits for `call`; an outage of the store ({@link isOutage}) is let pass, anything else thrown. */
export async function tolerated(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (!isOutage(err)) throw err;
  }
}

/**
 * Take back a copy this request put into `store`: removed only while `store` still holds
 * exactly `data`. A store may release the request's lock with its write (Redis and SQL do),
 * so another request may have written and been acknowledged since; its record stays.
 */
export async function removeIfStill(store: Adapter, id: string, data: string): Promise<void> {
  if ((await store.read(id)) === data) await store.destroy(id);
}
