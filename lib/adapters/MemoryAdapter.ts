import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, SessionLockLost } from '../errors';
import { redactId } from '../id';
import { isMoveMarker, type LockHandle, type LockOptions, type WriteOptions } from './Adapter';
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

/** A live session record (not a move marker). */
function isSession(entry: Entry | undefined): entry is Entry {
  return entry !== undefined && !isMoveMarker(entry.data);
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
    checkOptionKeys('MemoryAdapter', options, ['maxEntries', 'prefix']);
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

  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    const key = this.key(id);
    const expires = Date.now() + ttlMs(ttl);
    if (lock instanceof LocalLock && !lock.held) throw new SessionLockLost(redactId(key, id));
    if (options?.existing && !isSession(this.#live(key))) return false;
    this.#entries.delete(key); // re-insert: Map order is then least recently written first
    this.#entries.set(key, { data, expires });
    if (this.#entries.size > this.maxEntries) this.#evict();
    return true;
  }

  /** Never extends a move marker: it lives the time it was written with. */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<boolean> {
    const entry = this.#live(this.key(id));
    if (!isSession(entry)) return false;
    entry.expires = Date.now() + ttlMs(ttl);
    return true;
  }

  async validateId(id: string): Promise<boolean> {
    return this.#live(this.key(id)) !== undefined;
  }

  async destroy(id: string): Promise<string | null> {
    const key = this.key(id);
    const entry = this.#live(key);
    this.#entries.delete(key);
    return entry?.data ?? null;
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
