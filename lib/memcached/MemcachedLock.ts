import type { LockHandle, LockOptions } from '../adapters/Adapter';
import type { LocalLock } from '../adapters/KeyedMutex';
import { expiry } from './expiry';
import type { Shard } from './Shard';

/**
 * One request's hold on a session lock in memcached: its per-request token stored under
 * `<key>.lock` by an atomic `add`, on top of the in-process {@link LocalLock}.
 *
 * Memcached has no compare-and-delete and the adapter does not use CAS, so the ownership checks
 * below (renew, release, the fence before a write) are a `get` followed by a second command:
 * best effort, with a window of one round trip in which the lock may change hands.
 */
export class MemcachedLock implements LockHandle {
  /** The renewal interval, or the expiry timer of a lock that is not renewed. */
  #renewal: NodeJS.Timeout | undefined;
  #done = false;
  #lost = false;

  constructor(
    private readonly shard: Shard,
    private readonly local: LocalLock,
    readonly dataKey: string,
    readonly lockKey: string,
    readonly waitedMs: number,
    private readonly options: LockOptions,
  ) {
    if (options.renew !== false) {
      this.#renewal = setInterval(() => void this.#renew(), (options.expiry * 1000) / 3);
    } else {
      // A holder that does not renew counts as gone `expiry` after it took the lock in memcached
      // (not after its turn in the process queue began: polling memcached may take a while).
      this.#renewal = setTimeout(() => {
        this.#loseIt();
        void this.local.release();
      }, options.expiry * 1000);
    }
    this.#renewal.unref();
  }

  get id(): string {
    return this.local.id;
  }

  get token(): string {
    return this.local.token;
  }

  /** False once released, or once the lock was found gone or taken. */
  get held(): boolean {
    return !this.#done && !this.#lost && !this.local.lost;
  }

  /** True while memcached still holds this request's token (one `get`). */
  async owned(): Promise<boolean> {
    if (!this.held) return false;
    if ((await this.shard.get(this.lockKey)) === this.token) return true;
    this.#loseIt();
    return false;
  }

  async release(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#renewal);
    try {
      // Not atomic: the lock may expire and be taken between the get and the delete. With an
      // expiry that renewal keeps far ahead, that needs a stall of the whole lockExpiry here.
      // (A lock counted as lost may still hold our token: deleting it then frees it sooner.)
      if ((await this.shard.get(this.lockKey)) === this.token) await this.shard.delete(this.lockKey);
    } catch (err) {
      releaseLater(this.shard, this.lockKey, this.token, this.options.expiry);
      throw err;
    } finally {
      await this.local.release();
    }
  }

  /**
   * Best effort, like release: extend the lock only if it still holds our token. A lock that
   * changed hands between the get and the touch gets its new holder's expiry extended once.
   */
  async #renew(): Promise<void> {
    if (!this.held) return;
    try {
      if ((await this.owned()) && !(await this.shard.touch(this.lockKey, expiry(this.options.expiry)))) this.#loseIt();
    } catch {
      // Memcached unreachable: the next renewal tries again; a write checks ownership anyway.
    }
  }

  #loseIt(): void {
    this.#lost = true;
    clearInterval(this.#renewal);
  }
}

/**
 * Delete the lock `key` in the background if it holds `token`: for a lock command whose answer
 * never came (memcached hung, then resumed and applied it), so that the lock does not stay until
 * it expires. Tries after 1 s, then 2 s, 4 s…, and stops once memcached answered twice (the
 * second time a second after the first, when anything it had buffered is applied) or the lock
 * has expired anyway. Best effort, like every check here; the timers never keep the process up.
 */
export function releaseLater(shard: Shard, key: string, token: string, lockExpiry: number): void {
  const giveUpAt = Date.now() + expiry(lockExpiry) * 1000;
  let answers = 0;
  const attempt = (delay: number) => {
    if (shard.closed || Date.now() + delay > giveUpAt) return;
    setTimeout(async () => {
      try {
        if ((await shard.get(key)) === token) return void (await shard.delete(key));
        if (++answers === 2) return;
        attempt(1000);
      } catch {
        attempt(Math.min(delay * 2, 8000));
      }
    }, delay).unref();
  };
  attempt(1000);
}
