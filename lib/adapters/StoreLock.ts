import type { LockHandle, LockOptions } from './Adapter';
import type { LocalLock } from './KeyedMutex';

const DONE: Promise<void> = Promise.resolve();

/** What a StoreLock needs from its adapter: end the lock in the store, renew it there. */
export interface LockOwner {
  unlock(lock: StoreLock): Promise<void>;
  renew(lock: StoreLock): Promise<boolean>;
}

/**
 * One request's hold on a session lock in a shared store (Redis, a database): a per-request
 * token in the store, on top of the in-process {@link LocalLock}. Carries the data read together
 * with the lock, and the TTL to refresh when it is released (so a read-only request costs
 * lock+read and unlock+touch); renews the lock while held, and notices when a renewal finds it
 * gone. `dataKey` names the record in the store, `lockKey` the lock in error messages.
 */
export class StoreLock implements LockHandle {
  /** The data read with the lock (false once taken by `read`). */
  #prefetched: string | null | false;
  /** Data TTL in ms to refresh on release (set by a read that did not refresh it itself). */
  touchMs = 0;
  #renewal: NodeJS.Timeout | undefined;
  #done = false;
  #lost = false;
  /** Seconds: the expiry this lock was taken with, which every renewal extends it to. */
  readonly expiry: number;

  constructor(
    private readonly owner: LockOwner,
    private readonly local: LocalLock,
    readonly dataKey: string,
    readonly lockKey: string,
    readonly waitedMs: number,
    data: string | null,
    options: LockOptions,
    /** The session id it was taken for (the adapter's key of it is `dataKey`). */
    readonly sessionId: string = dataKey,
  ) {
    this.#prefetched = data;
    this.expiry = options.expiry;
    if (options.renew !== false) {
      this.#renewal = setInterval(() => void this.#renew(), (options.expiry * 1000) / 3);
      this.#renewal.unref();
    }
  }

  /**
   * Whether this is `owner`'s lock on session `id`: the adapter then uses `dataKey` without
   * checking the id and making its key again (a regular expression per call, issue #17).
   */
  ownedBy(owner: LockOwner, id: string): boolean {
    return this.owner === owner && this.sessionId === id;
  }

  get id(): string {
    return this.local.id;
  }

  get token(): string {
    return this.local.token;
  }

  /** False once released, or once a renewal found the lock gone. */
  get held(): boolean {
    return !this.#done && !this.#lost && !this.local.lost;
  }

  /** The data read with the lock, once; undefined when already taken. */
  take(): string | null | undefined {
    const data = this.#prefetched;
    if (data === false) return undefined;
    this.#prefetched = false;
    return data;
  }

  /** The lock ended in the store (a fenced write released it): stop renewing, free the local queue. */
  ended(): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#renewal);
    void this.local.release(); // in-process: settles at once
  }

  release(): Promise<void> {
    return this.#done ? DONE : this.#release();
  }

  async #release(): Promise<void> {
    try {
      await this.owner.unlock(this);
    } finally {
      this.ended();
    }
  }

  async #renew(): Promise<void> {
    if (!this.held) return;
    try {
      if (!(await this.owner.renew(this))) {
        this.#lost = true;
        clearInterval(this.#renewal);
      }
    } catch {
      // The store is unreachable: the next renewal tries again; a write is fenced anyway.
    }
  }
}
