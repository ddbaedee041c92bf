import { readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdapterRuntimeError, SessionLockTimeout } from '../errors';
import type { LockHandle, LockOptions } from './Adapter';
import type { LocalLock } from './KeyedMutex';

/**
 * A session lock held through a lock file (`O_CREAT|O_EXCL`), on top of the in-process
 * {@link LocalLock}: requests of one process queue in memory and are handed the lock at once;
 * processes meet at the file, where a waiter polls with backoff (1 ms doubling to 16 ms).
 * The file holds `<token>\n<expiry>`. The holder refreshes its mtime every `expiry / 3` seconds;
 * a file older than the expiry written in it belongs to a holder that died and is taken over.
 *
 * `held()` reads the file back only once `expiry / 3` has passed since this holder last set its
 * mtime (created or renewed it): before that no other process can take it over, since a
 * takeover needs a file idle for the whole expiry. A locked request within that time costs no
 * lock-file read on write and on release (they were 10 of some 25 file operations per request).
 * A lock file replaced by hand in that time is therefore noticed only at the next check.
 */
export class FileLock implements LockHandle {
  #renewal: NodeJS.Timeout | undefined;
  #released = false;
  /** When this holder last set the file's mtime (performance.now() ms). */
  #refreshedAt: number;
  /** How long after a refresh `held()` is answered without reading the file. */
  readonly #trustMs: number;

  private constructor(
    private readonly local: LocalLock,
    readonly path: string,
    readonly waitedMs: number,
    options: LockOptions,
    private readonly content: string,
    createdAt: number,
  ) {
    this.#refreshedAt = createdAt;
    this.#trustMs = (options.expiry * 1000) / 3;
    if (options.renew !== false) {
      this.#renewal = setInterval(() => void this.#renew(), (options.expiry * 1000) / 3);
      this.#renewal.unref();
    }
  }

  get id(): string {
    return this.local.id;
  }

  /** Take the file lock at `path` for a request that already holds `local`. */
  static async acquire(local: LocalLock, path: string, options: LockOptions, started: number): Promise<FileLock> {
    const deadline = started + options.wait * 1000;
    // Waiters in other processes judge this lock by the holder's expiry, not by their own.
    const content = `${local.token}\n${options.expiry}`;
    const claim = new Claim(path.replace(/\.lock$/, '.claim'), local.token);
    let delay = 1;
    try {
      for (let attempt = 0; ; attempt++) {
        if (!(await claim.otherHasTurn())) {
          try {
            const createdAt = performance.now(); // before the file exists: its mtime is later
            await writeFile(path, content, { flag: 'wx', mode: 0o600 });
            await claim.drop();
            const waitedMs = attempt === 0 ? local.waitedMs : performance.now() - started;
            return new FileLock(local, path, waitedMs, options, content, createdAt);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(path, err);
          }
          if (await abandoned(path, options.expiry)) continue;
          await claim.take();
        }
        if (performance.now() + delay > deadline) throw new SessionLockTimeout(path, performance.now() - started);
        await sleep(delay);
        delay = Math.min(delay * 2, 16);
      }
    } catch (err) {
      await claim.drop().catch(() => undefined);
      throw err;
    }
  }

  /**
   * True while the lock file still carries this request's token and the lock did not expire
   * (read back from the file once `expiry / 3` has passed since this holder last refreshed it).
   */
  async held(): Promise<boolean> {
    if (this.#released || this.local.lost) return false;
    if (performance.now() - this.#refreshedAt < this.#trustMs) return true;
    try {
      return (await readFile(this.path, 'utf8')) === this.content;
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.#released) return;
    clearInterval(this.#renewal);
    try {
      if (await this.held()) await unlink(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw lockError(this.path, err);
    } finally {
      this.#released = true;
      await this.local.release();
    }
  }

  async #renew(): Promise<void> {
    if (!(await this.held())) {
      clearInterval(this.#renewal);
      return;
    }
    const at = performance.now();
    const now = new Date();
    try {
      await utimes(this.path, now, now);
      this.#refreshedAt = at;
    } catch {
      // Not refreshed: the next check reads the file.
    }
  }
}

/** A claim not refreshed for this long belongs to a waiter that gave up or died. */
const CLAIM_MS = 100;

/**
 * The next turn, claimed by a refused waiter (`<file>.claim`, refreshed at every try): without
 * it, a process with a queue of its own requests would retake the lock at every release, ahead
 * of a waiter in another process that only polls. Costs one stat when nobody waits.
 */
class Claim {
  #mine = false;

  constructor(readonly path: string, private readonly token: string) {}

  /** True while another waiter's fresh claim says the next turn is theirs. */
  async otherHasTurn(): Promise<boolean> {
    if (this.#mine) return false;
    try {
      const { mtimeMs } = await stat(this.path);
      if (Date.now() - mtimeMs <= CLAIM_MS) return (await readFile(this.path, 'utf8')) !== this.token;
      await unlink(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw lockError(this.path, err);
    }
    return false;
  }

  /** Claim the next turn if nobody has; refresh the claim if it is ours. */
  async take(): Promise<void> {
    if (this.#mine) {
      const now = new Date();
      await utimes(this.path, now, now).catch(() => undefined);
      return;
    }
    try {
      await writeFile(this.path, this.token, { flag: 'wx', mode: 0o600 });
      this.#mine = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(this.path, err);
    }
  }

  async drop(): Promise<void> {
    if (!this.#mine) return;
    this.#mine = false;
    try {
      if ((await readFile(this.path, 'utf8')) === this.token) await unlink(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw lockError(this.path, err);
    }
  }
}

/**
 * A lock file not refreshed within its holder's expiry (`fallback` when the file names none) is
 * removed; true when it is gone now.
 */
async function abandoned(path: string, fallback: number): Promise<boolean> {
  try {
    const [{ mtimeMs }, content] = await Promise.all([stat(path), readFile(path, 'utf8')]);
    const written = Number(content.split('\n')[1]);
    const expiry = written > 0 ? written : fallback;
    if (Date.now() - mtimeMs <= expiry * 1000) return false;
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw lockError(path, err);
  }
}

function lockError(path: string, err: unknown): AdapterRuntimeError {
  return new AdapterRuntimeError(`Session lock file ${path}: ${(err as Error).message}`, 'ERR_SESSION_STORE', { cause: err });
}
