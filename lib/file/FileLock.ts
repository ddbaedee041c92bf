import { closeSync, fstatSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionLockTimeout } from '../errors';
import { redactId } from '../id';
import type { LockHandle, LockOptions } from '../adapters/Adapter';
import { Claim } from './Claim';
import { lockContent } from './format';
import { READ_FLAGS } from './openOwn';
import { lockError } from './storeError';
import { removeJudged, type Judged } from './take';
import type { LocalLock } from '../adapters/KeyedMutex';

/**
 * A session lock held through a lock file (`O_CREAT|O_EXCL`), on top of the in-process
 * {@link LocalLock}: requests of one process queue in memory and are handed the lock at once;
 * processes meet at the file, where a waiter polls with backoff (1 ms doubling to 16 ms).
 * The file holds `<token>\n<expiry>`. The holder refreshes its mtime every `expiry / 3` seconds;
 * a file older than the expiry written in it belongs to a holder that died and is taken over,
 * by exactly one waiter: it removes only the very file it judged (see `abandoned`).
 *
 * `held()` (before a write, and before the release removes the file) is one `stat`: the file at
 * the path must still be the one this holder created, with the mtime it last gave it (its
 * stamp). A takeover removes the file and creates another, a rewrite changes the mtime: either
 * way the stamp no longer matches, whatever the clocks say. (Reading the token back cost five
 * file operations per check; a locked write made two checks.) The stamp alone cannot tell a
 * brand-new file that reuses the inode number within the same clock tick; that is why a takeover
 * never removes a fresh file: only one judged stale, whose mtime is far from any new file's.
 * The renewal, which moves the mtime, confirms the token and takes the new stamp; checks wait
 * for a renewal in flight.
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
    /** StreamAdapter `io: 'sync'`: the checks and the release without the thread pool. */
    private readonly sync: boolean,
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
  static async acquire(local: LocalLock, path: string, options: LockOptions, started: number, sync = false): Promise<FileLock> {
    const deadline = started + options.wait * 1000;
    // Waiters in other processes judge this lock by the holder's expiry, not by their own.
    const content = lockContent(local.token, options.expiry);
    const claim = new Claim(path.replace(/\.lock$/, '.claim'), local.token, local.id, sync);
    let delay = 1;
    try {
      for (let attempt = 0; ; attempt++) {
        if (!(await claim.otherHasTurn())) {
          const stamp = sync ? createSync(path, content, local.id) : await create(path, content, local.id);
          if (stamp !== undefined) {
            await claim.drop();
            const waitedMs = attempt === 0 ? local.waitedMs : performance.now() - started;
            return new FileLock(local, path, waitedMs, options, content, stamp, sync);
          }
          // Claim the next turn first, then judge the holder: the claim stops other requests of
          // the holder's process from retaking the lock while the judging waits on the disk.
          await claim.take();
          if (await abandoned(path, options.expiry, local.id)) continue;
        }
        if (performance.now() + delay > deadline) throw new SessionLockTimeout(redactId(path, local.id), performance.now() - started);
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
      const { ino, mtimeMs } = this.sync ? statSync(this.path) : await stat(this.path);
      return ino === this.#stamp.ino && mtimeMs === this.#stamp.mtimeMs;
    } catch {
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.#released) return;
    clearInterval(this.#renewal);
    try {
      if (await this.held()) {
        if (this.sync) unlinkSync(this.path);
        else await unlink(this.path);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw lockError(this.path, err, this.id);
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
    const stamp = await stampOf(this.path, this.id, this.content).catch(() => undefined);
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
 * Creates the lock file (O_CREAT|O_EXCL) and takes its stamp from the descriptor it was written
 * through; undefined when a lock file exists already. Not a stat of the path: a waiter that
 * judged an older file stale may move this brand-new one away for a moment (it puts it back,
 * see `removeJudged`), and a stat of the path then would stamp whatever is there meanwhile:
 * nothing, or another waiter's lock, and two requests would hold one lock.
 */
async function create(path: string, content: string, id: string): Promise<Stamp | undefined> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw lockError(path, err, id);
  }
  try {
    await handle.writeFile(content);
    const { ino, mtimeMs } = await handle.stat();
    return { ino, mtimeMs };
  } catch (err) {
    // Not a lock anyone holds: remove it, and only it.
    const info = await handle.stat().catch(() => undefined);
    if (info) await removeJudged(path, info).catch(() => undefined);
    throw lockError(path, err, id);
  } finally {
    await handle.close();
  }
}

/** {@link create}, synchronously (StreamAdapter `io: 'sync'`): the same stamp from the descriptor. */
function createSync(path: string, content: string, id: string): Stamp | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw lockError(path, err, id);
  }
  try {
    const bytes = Buffer.from(content);
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    const { ino, mtimeMs } = fstatSync(fd);
    return { ino, mtimeMs };
  } catch (err) {
    // Not a lock anyone holds: remove it, and only it.
    let info;
    try { info = fstatSync(fd); } catch { info = undefined; }
    if (info) void removeJudged(path, info).catch(() => undefined);
    throw lockError(path, err, id);
  } finally {
    closeSync(fd);
  }
}

/**
 * The stamp of the lock file at `path` if the file carries `content` (this holder's token).
 * Undefined when the file is gone or another holder's. The content is read after the stat: a
 * file replaced in between carries another token.
 */
async function stampOf(path: string, id: string, content: string): Promise<Stamp | undefined> {
  try {
    const { ino, mtimeMs } = await stat(path);
    return (await readFile(path, 'utf8')) === content ? { ino, mtimeMs } : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw lockError(path, err, id);
  }
}

/**
 * True when `path` is free now: nothing is there, or a lock file not refreshed within its
 * holder's expiry (`fallback` when the file names none) was there and this call removed it.
 * The judgement reads the mtime and the content through one descriptor, so both are of one
 * file; the removal then takes exactly that file, never a fresh lock created meanwhile by
 * another waiter that judged the same file (see {@link removeJudged}).
 */
async function abandoned(path: string, fallback: number, id: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw lockError(path, err, id); // ELOOP: a symlink where the lock should be is a broken setup
  }
  try {
    let judged: Judged & { content: string };
    try {
      const [{ ino, mtimeMs }, content] = await Promise.all([handle.stat(), handle.readFile('utf8')]);
      judged = { ino, mtimeMs, content };
    } finally {
      await handle.close();
    }
    const written = Number(judged.content.split('\n')[1]);
    const expiry = written > 0 ? written : fallback;
    if (Date.now() - judged.mtimeMs <= expiry * 1000) return false;
    return (await removeJudged(path, judged)) !== 'kept';
  } catch (err) {
    throw lockError(path, err, id);
  }
}
