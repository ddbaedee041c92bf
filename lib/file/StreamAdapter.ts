import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SessionLockLost, SessionLockTimeout } from '../errors';
import { redactId } from '../id';
import type { LockHandle, LockOptions, WriteOptions } from '../adapters/Adapter';
import { AbstractAdapter, lockOptions, ttlMs } from '../adapters/AbstractAdapter';
import type * as collect from './collect';
import { dataOf, HEAD_BYTES, isLiveSession, sessionContent, storedTtl, tempName } from './format';
import { openOwn, readAll, readOwnSync, type OwnFile } from './openOwn';
import { checkStreamOptions, type StreamAdapterOptions } from './options';
import { checkSavePath } from './savePath';
import { storeError } from './storeError';
import { putBack } from './take';
import { FileLock } from './FileLock';
import { KeyedMutex } from '../adapters/KeyedMutex';

export type { StreamAdapterOptions };

/**
 * Sessions as files (Phalcon `Session\Adapter\Stream`), one per session: `<savePath>/<prefix><id>`,
 * named `sess_<id>` by default as PHP's files handler names them. Beyond Phalcon: ids are checked
 * again before they touch a path, writes are atomic (temp file and rename, mode 0600), a record
 * past its TTL is never served even before gc, a touch never recreates a destroyed session, an
 * update never recreates a destroyed or moved one, and `lock()` serializes the requests of one
 * session within a process and across processes sharing the directory.
 *
 * Only this user's files are trusted: the save path must be private to it, a symlink or a file
 * of another user under a session's name is no session (never followed, never served), and gc
 * removes only files in the adapter's own formats (`file/format.ts`).
 *
 * A file holds `<ttl seconds>\n<data>`; it is alive until its mtime plus that TTL.
 *
 * @example
 * app.use(session({ adapter: new StreamAdapter({ savePath: '/var/lib/myapp/sessions' }) }));
 */
export class StreamAdapter extends AbstractAdapter {
  readonly savePath: string;
  readonly #mutex = new KeyedMutex();
  /** How the files are read and written (the `io` option, or what the save path's file system called for). */
  readonly io: 'sync' | 'async';
  readonly #sync: boolean;

  constructor(options: StreamAdapterOptions) {
    const { savePath, prefix, sync } = checkStreamOptions(options);
    super(prefix);
    this.#sync = sync;
    this.io = sync ? 'sync' : 'async';
    checkSavePath(savePath);
    this.savePath = resolve(savePath);
  }

  async read(id: string): Promise<string | null> {
    const path = this.#file(id);
    if (this.#sync) {
      try {
        const file = readOwnSync(path);
        return file === null ? null : dataOf(file.text, file.info.mtimeMs);
      } catch (err) {
        throw storeError('read', path, err, id);
      }
    }
    let file: OwnFile | null = null;
    try {
      file = await openOwn(path);
      return file === null ? null : dataOf(await readAll(file), file.info.mtimeMs);
    } catch (err) {
      throw storeError('read', path, err, id);
    } finally {
      await file?.handle.close();
    }
  }

  /**
   * With `options.existing`, an update: written only over a live session file of this user that
   * is not a move marker, else `false`. Files have no compare-and-swap, so the check comes as
   * late as it can: the temp file is written first, then the existing file is opened
   * (O_NOFOLLOW) and checked, then the temp file is renamed over it. What remains is the window
   * between that check and rename(2), a few microseconds: a destroy or a move marker landing
   * in it is overwritten (without the check, the window was the whole request). Resolves true
   * when written.
   */
  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    const path = this.#file(id);
    ttlMs(ttl);
    const temp = tempName(path);
    let held = true;
    try {
      if (this.#sync) writeFileSync(temp, sessionContent(ttl, data), { flag: 'wx', mode: 0o600 });
      else await writeFile(temp, sessionContent(ttl, data), { flag: 'wx', mode: 0o600 });
      // Both checks right before the rename, side by side: the fence (one stat) and the update's
      // check (one open, then its fstat and first bytes at once) take the time of one, and leave
      // the least time for the lock to be lost or the session destroyed before the rename.
      let live: boolean;
      [held, live] = await Promise.all([
        lock instanceof FileLock ? lock.held() : true,
        options?.existing === true ? this.#isLive(path) : true,
      ]);
      if (held && live) {
        if (this.#sync) renameSync(temp, path);
        else await rename(temp, path);
        return true;
      }
    } catch (err) {
      await this.#drop(temp);
      throw storeError('write', path, err, id);
    }
    await this.#drop(temp); // refused; a temp file left behind is gc's
    if (!held) throw new SessionLockLost(redactId((lock as FileLock).path, id));
    return false;
  }

  /** Remove a temp file of a write that failed or was refused; one left behind is gc's. */
  async #drop(temp: string): Promise<void> {
    try {
      if (this.#sync) unlinkSync(temp);
      else await unlink(temp);
    } catch {
      // gc removes it
    }
  }

  /**
   * Moves the mtime so that the file lives `ttl` seconds from now; a missing or expired file
   * stays gone (unlike PHP's `touch`), and a move marker keeps the life it was written with. The
   * data, and the TTL written with it, are unchanged: the mtime is set to `now + ttl - stored
   * ttl`. False when there was no live session to touch.
   */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<boolean> {
    const path = this.#file(id);
    const ms = ttlMs(ttl);
    let file: OwnFile | null = null;
    try {
      file = await openOwn(path, { head: true });
      const now = Date.now();
      if (file === null || !isLiveSession(file.head, file.info.mtimeMs, now)) return false;
      const mtime = new Date(now + ms - (storedTtl(file.head) ?? ttl) * 1000);
      // Through the open handle: a file destroyed meanwhile is not recreated.
      await file.handle.utimes(mtime, mtime);
      return true;
    } catch (err) {
      throw storeError('touch', path, err, id);
    } finally {
      await file?.handle.close();
    }
  }

  async validateId(id: string): Promise<boolean> {
    return (await this.read(id)) !== null;
  }

  /**
   * Removes the session file and resolves the data it held, as `read()` would have served it
   * (null when there was none, or when it was expired, a symlink or another user's file). The
   * file is first renamed to a unique name: of two requests destroying one session, exactly one
   * gets the file, and its content is read after the take, so it is the very data removed.
   * Whatever is under the session's name goes: a symlink (never its target), another user's file.
   */
  async destroy(id: string): Promise<string | null> {
    const path = this.#file(id);
    const taken = tempName(path);
    try {
      await rename(path, taken);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw storeError('destroy', path, err, id);
    }
    let file: OwnFile | null = null;
    try {
      file = await openOwn(taken);
      const data = file === null ? null : dataOf(await readAll(file), file.info.mtimeMs);
      await unlink(taken).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err; // gc swept the taken name already
      });
      return data;
    } catch (err) {
      // Not destroyed: put it back (a directory under a session's name, an unreadable file).
      await putBack(taken, path).catch(() => undefined);
      throw storeError('destroy', path, err, id);
    } finally {
      await file?.handle.close();
    }
  }

  async lock(id: string, request: Partial<LockOptions> = {}): Promise<LockHandle> {
    const options = lockOptions(request);
    const path = `${this.#file(id)}.lock`;
    const started = performance.now();
    let local;
    try {
      local = this.#mutex.tryLock(id, options) ?? await this.#mutex.lock(id, options);
    } catch (err) {
      // The in-process queue's timeout names the lock by the id: the file lock's name instead,
      // redacted as the file lock's own timeout is.
      if (err instanceof SessionLockTimeout) throw new SessionLockTimeout(redactId(path, id), err.waitedMs);
      throw err;
    }
    try {
      return await FileLock.acquire(local, path, options, started, this.#sync);
    } catch (err) {
      await local.release();
      throw err;
    }
  }

  /**
   * Removes the adapter's own dead files: session files of this prefix whose own TTL has passed
   * since their mtime, and leftover lock, claim and temp files idle more than `maxLifetime`
   * seconds. A file not in the adapter's format, a symlink, another user's file stay, whatever
   * their age (see `file/collect.ts`). Resolves the number of sessions removed.
   */
  async gc(maxLifetime: number): Promise<number> {
    // Loaded by the first sweep, not by require('koa-session-manager'): gc runs in the background.
    const { collectAll } = require('./collect') as typeof collect;
    return collectAll(this.savePath, this.prefix, Date.now() - maxLifetime * 1000);
  }

  /** True when a live session file of this user that is not a move marker is at `path`. */
  async #isLive(path: string): Promise<boolean> {
    if (this.#sync) {
      const file = readOwnSync(path, HEAD_BYTES);
      return file !== null && isLiveSession(file.text, file.info.mtimeMs);
    }
    const file = await openOwn(path, { head: true });
    if (file === null) return false;
    try {
      return isLiveSession(file.head, file.info.mtimeMs);
    } finally {
      await file.handle.close();
    }
  }

  #file(id: string): string {
    return join(this.savePath, this.key(id));
  }
}
