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
 * `held()` (before a write, and before the release removes the file) is one `stat`: the file at
 * the path must still be the one this holder created, with the mtime it last gave it (its
 * stamp). A takeover removes the file and creates another, a rewrite changes the mtime: either
 * way the stamp no longer matches, whatever the clocks say. (Reading the token back cost five
 * file operations per check; a locked write made two checks.) The renewal, which moves the mtime,
 * confirms the token and takes the new stamp; checks wait for a renewal in flight.
 */
export class FileLock implements LockHandle {
  #renewal: NodeJS.Timeout | undefined;
  /** A renewal in flight: it moves the mtime, so a check waits for it. */
  #renewing: Promise<void> | undefined;
  #released = false;
  #lost = false;
  /** The identity and mtime of this holder's lock file, as it last left it. */
  #stamp: Stamp;

  private constructor(
    private readonly local: LocalLock,
    readonly path: string,
    readonly waitedMs: number,
    options: LockOptions,
    private readonly content: string,
    stamp: Stamp,
  ) {
    this.#stamp = stamp;
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
          let created = false;
          try {
            await writeFile(path, content, { flag: 'wx', mode: 0o600 });
            created = true;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(path, err);
          }
          // Just created with O_EXCL: nobody can have taken a brand-new file over, so the stat
          // alone is the stamp (the renewal reads the token back as well).
          const stamp = created
            ? await stampOf(path).catch(async (err: unknown) => {
              await unlink(path).catch(() => undefined); // not a lock anyone holds
              throw err;
            })
            : undefined;
          if (stamp !== undefined) {
            await claim.drop();
            const waitedMs = attempt === 0 ? local.waitedMs : performance.now() - started;
            return new FileLock(local, path, waitedMs, options, content, stamp);
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

  /** True while the file at the path is still this holder's lock file (one stat) and the lock did not expire. */
  async held(): Promise<boolean> {
    if (this.#renewing) await this.#renewing;
    if (this.#released || this.#lost || this.local.lost) return false;
    return this.#matches();
  }

  async #matches(): Promise<boolean> {
    try {
      const { ino, mtimeMs } = await stat(this.path);
      return ino === this.#stamp.ino && mtimeMs === this.#stamp.mtimeMs;
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

  #renew(): void {
    this.#renewing ??= this.#refresh().finally(() => { this.#renewing = undefined; });
  }

  /** Move the mtime, then take the new stamp if the file still carries this holder's token. */
  async #refresh(): Promise<void> {
    if (this.#released || this.#lost || this.local.lost) return;
    if (!(await this.#matches())) {
      this.#lose();
      return;
    }
    const now = new Date();
    try {
      await utimes(this.path, now, now);
    } catch {
      return; // not moved: the stamp still holds, the next renewal tries again
    }
    const stamp = await stampOf(this.path, this.content).catch(() => undefined);
    if (stamp === undefined) this.#lose(); // taken over at that moment, or unreadable: refuse writes
    else this.#stamp = stamp;
  }

  #lose(): void {
    this.#lost = true;
    clearInterval(this.#renewal);
  }
}

/** Which file a lock is, and the mtime its holder last gave it. */
interface Stamp {
  readonly ino: number;
  readonly mtimeMs: number;
}

/**
 * The stamp of the lock file at `path`; with `content`, only if the file carries it (this
 * holder's token). Undefined when the file is gone or another holder's. The content is read
 * after the stat: a file replaced in between carries another token.
 */
async function stampOf(path: string, content?: string): Promise<Stamp | undefined> {
  try {
    const { ino, mtimeMs } = await stat(path);
    if (content === undefined) return { ino, mtimeMs };
    return (await readFile(path, 'utf8')) === content ? { ino, mtimeMs } : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw lockError(path, err);
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
