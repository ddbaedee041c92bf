import { InvalidOption, SessionLockLost } from '../errors';
import type { LockHandle, LockOptions } from './Adapter';
import { AbstractAdapter, lockOptions, ttlMs } from './AbstractAdapter';
import { KeyedMutex, LocalLock } from './KeyedMutex';

/** Options of {@link MemoryAdapter}. */
export interface MemoryAdapterOptions {
  /** Most sessions kept; past it, expired ones are pruned, then the least recently written. @default 10000 */
  maxEntries?: number;
  /** @default '' */
  prefix?: string;
}

interface Entry {
  data: string;
  expires: number;
}

/**
 * Sessions in this process's memory, with per-session locking. Bounded and self-expiring; for
 * tests, development and single-process apps that can lose sessions on restart.
 *
 * @example
 * app.use(session({ adapter: new MemoryAdapter({ maxEntries: 1000 }) }));
 */
export class MemoryAdapter extends AbstractAdapter {
  readonly maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  readonly #mutex = new KeyedMutex();

  constructor(options: MemoryAdapterOptions = {}) {
    super(options.prefix ?? '');
    const max = options.maxEntries ?? 10000;
    if (!Number.isInteger(max) || max < 1) throw new InvalidOption('maxEntries', 'must be a positive integer');
    this.maxEntries = max;
  }

  /** Sessions currently held (expired ones included until pruned). */
  get size(): number {
    return this.#entries.size;
  }

  async read(id: string): Promise<string | null> {
    return this.#live(this.key(id))?.data ?? null;
  }

  async write(id: string, data: string, ttl: number, lock?: LockHandle): Promise<void> {
    const key = this.key(id);
    const expires = Date.now() + ttlMs(ttl);
    if (lock instanceof LocalLock && !lock.held) throw new SessionLockLost(key);
    this.#entries.delete(key); // re-insert: Map order is then least recently written first
    this.#entries.set(key, { data, expires });
    if (this.#entries.size > this.maxEntries) this.#evict();
  }

  async updateTimestamp(id: string, _data: string, ttl: number): Promise<void> {
    const entry = this.#live(this.key(id));
    if (entry) entry.expires = Date.now() + ttlMs(ttl);
  }

  async validateId(id: string): Promise<boolean> {
    return this.#live(this.key(id)) !== undefined;
  }

  async destroy(id: string): Promise<void> {
    this.#entries.delete(this.key(id));
  }

  async lock(id: string, options: Partial<LockOptions> = {}): Promise<LockHandle> {
    return this.#mutex.lock(this.key(id), lockOptions(options));
  }

  /** Removes expired entries; `maxLifetime` is not needed, each entry carries its own expiry. */
  async gc(): Promise<number> {
    return this.#prune();
  }

  #prune(): number {
    const now = Date.now();
    let removed = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.expires <= now) {
        this.#entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.expires <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #evict(): void {
    this.#prune();
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
