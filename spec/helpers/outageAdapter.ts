import type { Adapter, LockHandle, LockOptions, WriteOptions } from '../../lib/adapters/Adapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { AdapterRuntimeError } from '../../lib/errors';

/**
 * A MemoryAdapter that can be taken down: while `down` is true every call rejects with an
 * AdapterRuntimeError (code ERR_SESSION_STORE), as a real adapter does for a store outage.
 * The records stay, as in a store that comes back.
 *
 * @example
 * const old = new OutageAdapter();
 * old.down = true; // every call now rejects
 */
export class OutageAdapter implements Adapter {
  down = false;
  readonly inner = new MemoryAdapter();
  readonly lock: (id: string, options: Partial<LockOptions>) => Promise<LockHandle>;

  constructor() {
    this.lock = async (id, options) => (this.#check('lock'), this.inner.lock(id, options));
  }

  #check(operation: string): void {
    if (this.down) throw new AdapterRuntimeError(`store down (${operation})`, 'ERR_SESSION_STORE');
  }

  async read(id: string): Promise<string | null> { this.#check('read'); return this.inner.read(id); }
  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    this.#check('write');
    return this.inner.write(id, data, ttl, lock, options);
  }
  async updateTimestamp(id: string, data: string, ttl: number): Promise<boolean> { this.#check('touch'); return this.inner.updateTimestamp(id, data, ttl); }
  async validateId(id: string): Promise<boolean> { this.#check('validateId'); return this.inner.validateId(id); }
  async destroy(id: string): Promise<string | null> { this.#check('destroy'); return this.inner.destroy(id); }
  async gc(): Promise<number> { this.#check('gc'); return this.inner.gc(); }
}
