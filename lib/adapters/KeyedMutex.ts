import { SessionLockTimeout } from '../errors';
import { idTag, redactId, uuid } from '../id';
import type { LockHandle, LockOptions } from './Adapter';

interface Waiter {
  grant(): void;
  timer?: NodeJS.Timeout;
}

/** What a release that finished at once resolves: one shared promise, none made per call. */
const DONE: Promise<void> = Promise.resolve();

/** The holder's slot at the head of a queue (granted already). */
const HOLDER: Waiter = { grant() {} };

/** One request's hold on an in-process lock. */
export class LocalLock implements LockHandle {
  /**
   * Per-request token: two requests never share one. randomUUID() draws from a cached block of
   * CSPRNG output; randomBytes() per lock was 8 % of a locked Redis request's CPU (profile).
   */
  readonly token = uuid();
  #lost = false;
  #done = false;
  #expiry: NodeJS.Timeout | undefined;

  constructor(readonly id: string, readonly waitedMs: number, private readonly free: () => void, options: LockOptions) {
    // A holder that renews is alive by definition in one process; one that does not renew is
    // treated as abandoned after `expiry`, as a crashed holder would be in a shared store.
    if (options.renew === false) {
      this.#expiry = setTimeout(() => {
        this.#lost = true;
        this.#free();
      }, options.expiry * 1000);
      this.#expiry.unref();
    }
  }

  /** True once the lock expired and may belong to another request. */
  get lost(): boolean {
    return this.#lost;
  }

  /** True until the lock is released or lost: only then may a fenced write go through. */
  get held(): boolean {
    return !this.#done;
  }

  release(): Promise<void> {
    clearTimeout(this.#expiry);
    this.#free();
    return DONE;
  }

  #free(): void {
    if (this.#done) return;
    this.#done = true;
    this.free();
  }
}

/**
 * FIFO mutexes keyed by session id, for the requests of one process. A release hands the lock
 * to the next waiter at once (no polling); a waiter gives up after `options.wait` seconds.
 */
export class KeyedMutex {
  /** Per key: the holder's slot first, then the waiters in arrival order. */
  readonly #queues = new Map<string, Waiter[]>();

  /** The lock at once when nobody holds or waits for `key`, else undefined (no promise to await). */
  tryLock(key: string, options: LockOptions): LocalLock | undefined {
    if (this.#queues.has(key)) return undefined;
    this.#queues.set(key, [HOLDER]);
    return new LocalLock(key, 0, () => this.#next(key), options);
  }

  /**
   * The lock on `key`, once every earlier holder and waiter is done; `SessionLockTimeout` after
   * `options.wait` seconds. Its message and `key` never show the session id: give `id` (the id
   * inside `key`) to have just that part replaced by its {@link idTag}, so the message still
   * matches the adapter's other messages; without it the whole key is tagged.
   */
  lock(key: string, options: LockOptions, id?: string): Promise<LocalLock> {
    const free = this.tryLock(key, options);
    if (free !== undefined) return Promise.resolve(free);
    const queue = this.#queues.get(key)!;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve(new LocalLock(key, performance.now() - started, () => this.#next(key), options));
        },
      };
      waiter.timer = setTimeout(() => {
        const at = queue.indexOf(waiter);
        if (at > 0) queue.splice(at, 1);
        reject(new SessionLockTimeout(redacted(key, id), performance.now() - started));
      }, options.wait * 1000);
      queue.push(waiter);
    });
  }

  /** Number of keys held or waited for (for tests and metrics). */
  get size(): number {
    return this.#queues.size;
  }

  #next(key: string): void {
    const queue = this.#queues.get(key);
    if (queue === undefined) return;
    queue.shift();
    if (queue.length === 0) this.#queues.delete(key);
    else queue[0].grant();
  }
}

/** `key` fit for a message: the id in it tagged, or the whole key when the id is not known. */
function redacted(key: string, id: string | undefined): string {
  return id !== undefined && id !== '' && key.includes(id) ? redactId(key, id) : idTag(key);
}
