import type { Adapter, LockHandle, LockOptions, WriteOptions } from '../../lib/adapters/Adapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { AdapterRuntimeError } from '../../lib/errors';

/**
 * A MemoryAdapter that can be taken down: while `down` is true every call rejects with an
 * AdapterRuntimeError (code ERR_SESSION_STORE), as a real adapter does for a store outage.
 * The records stay, as in a store that comes back. `fail` names single operations that reject
 * ('lock', 'read', 'write', 'touch', 'validateId', 'destroy', 'gc'); with `stall` set, they
 * first wait for it (a hung store that times out). `inner` may be shared with other adapters.
 *
 * @example
 * const old = new OutageAdapter();
 * old.down = true; // every call now rejects
 */
export class OutageAdapter implements Adapter {
  down = false;
  readonly fail = new Set<string>();
  stall: Promise<void> | undefined;
  readonly lock: (id: string, options: Partial<LockOptions>) => Promise<LockHandle>;

  constructor(readonly inner = new MemoryAdapter()) {
    this.lock = async (id, options) => (await this.#check('lock'), this.inner.lock(id, options));
  }

  async #check(operation: string): Promise<void> {
    if (this.fail.has(operation) && this.stall) await this.stall;
    if (this.down || this.fail.has(operation)) throw new AdapterRuntimeError(`store down (${operation})`, 'ERR_SESSION_STORE');
  }

  async read(id: string): Promise<string | null> { await this.#check('read'); return this.inner.read(id); }
  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    await this.#check('write');
    return this.inner.write(id, data, ttl, lock, options);
  }
  async updateTimestamp(id: string, data: string, ttl: number): Promise<boolean> { await this.#check('touch'); return this.inner.updateTimestamp(id, data, ttl); }
  async validateId(id: string): Promise<boolean> { await this.#check('validateId'); return this.inner.validateId(id); }
  async destroy(id: string): Promise<string | null> { await this.#check('destroy'); return this.inner.destroy(id); }
  async gc(): Promise<number> { await this.#check('gc'); return this.inner.gc(); }
}

/**
 * A MemoryAdapter whose locked write releases the lock in the same step, as the Redis
 * (WRITE_UNLOCK) and SQL (writeUnlock) adapters do: another request may lock right after.
 *
 * @example
 * const to = new ReleasingAdapter();
 */
export class ReleasingAdapter extends MemoryAdapter {
  override async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    const written = await super.write(id, data, ttl, lock, options);
    await lock?.release();
    return written;
  }
}

/**
 * A MemoryAdapter without `lock` (a store whose locking is off).
 *
 * @example
 * const plain = new UnlockedAdapter();
 */
export class UnlockedAdapter implements Adapter {
  readonly inner = new MemoryAdapter();
  read(id: string): Promise<string | null> { return this.inner.read(id); }
  write(id: string, data: string, ttl: number, _lock?: LockHandle, options?: WriteOptions): Promise<boolean> { return this.inner.write(id, data, ttl, undefined, options); }
  updateTimestamp(id: string, data: string, ttl: number): Promise<boolean> { return this.inner.updateTimestamp(id, data, ttl); }
  destroy(id: string): Promise<string | null> { return this.inner.destroy(id); }
  gc(): Promise<number> { return this.inner.gc(); }
}
