import { randomBytes } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { open, readdir, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AdapterRuntimeError, InvalidOption, InvalidSavePath, SavePathUnavailable, SessionLockLost } from '../errors';
import { isValidId } from '../id';
import type { LockHandle, LockOptions } from './Adapter';
import { AbstractAdapter, ttlMs } from './AbstractAdapter';
import { FileLock } from './FileLock';
import { KeyedMutex } from './KeyedMutex';

/** Options of {@link StreamAdapter}. */
export interface StreamAdapterOptions {
  /** Directory of the session files; must exist and be writable. */
  savePath: string;
  /** Prepended to the id to form the file name. @default '' */
  prefix?: string;
}

const SAFE_PREFIX = /^[A-Za-z0-9_.-]*$/;

/**
 * Sessions as files (Phalcon `Session\Adapter\Stream`), one per session: `<savePath>/<prefix><id>`.
 * Beyond Phalcon: ids are checked again before they touch a path, writes are atomic (temp file
 * and rename, mode 0600), a record past its TTL is never served even before gc, a touch never
 * recreates a destroyed session, and `lock()` serializes the requests of one session within a
 * process and across processes sharing the directory.
 *
 * A file holds `<ttl seconds>\n<data>`; it is alive until its mtime plus that TTL.
 *
 * @example
 * app.use(session({ adapter: new StreamAdapter({ savePath: '/var/lib/myapp/sessions' }) }));
 */
export class StreamAdapter extends AbstractAdapter {
  readonly savePath: string;
  readonly #mutex = new KeyedMutex();

  constructor(options: StreamAdapterOptions) {
    const savePath = options?.savePath;
    if (savePath === undefined || savePath === null || savePath === '') throw new InvalidSavePath();
    const prefix = options.prefix ?? '';
    if (!SAFE_PREFIX.test(prefix)) throw new InvalidOption('prefix', 'may hold only letters, digits, "_", "-" and "."');
    super(prefix);
    try {
      if (!statSync(savePath).isDirectory()) throw new Error('not a directory');
      accessSync(savePath, constants.W_OK | constants.X_OK);
    } catch {
      throw new SavePathUnavailable(savePath);
    }
    this.savePath = resolve(savePath);
  }

  async read(id: string): Promise<string | null> {
    const path = this.#file(id);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw storeError('read', path, err);
    }
    try {
      const [{ mtimeMs }, text] = await Promise.all([handle.stat(), handle.readFile('utf8')]);
      const newline = text.indexOf('\n');
      const ttl = newline > 0 ? Number(text.slice(0, newline)) : NaN;
      // Not our format: hand it over whole, the Manager reports it as invalid data.
      if (!(ttl > 0)) return text;
      return mtimeMs + ttl * 1000 <= Date.now() ? null : text.slice(newline + 1);
    } catch (err) {
      throw storeError('read', path, err);
    } finally {
      await handle.close();
    }
  }

  async write(id: string, data: string, ttl: number, lock?: LockHandle): Promise<void> {
    const path = this.#file(id);
    ttlMs(ttl);
    if (lock instanceof FileLock && !(await lock.held())) throw new SessionLockLost(lock.path);
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temp, `${ttl}\n${data}`, { flag: 'wx', mode: 0o600 });
      await rename(temp, path);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw storeError('write', path, err);
    }
  }

  /** Refreshes the mtime; a missing file stays missing (unlike PHP's `touch`). */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<void> {
    const path = this.#file(id);
    ttlMs(ttl);
    const now = new Date();
    try {
      await utimes(path, now, now);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError('touch', path, err);
    }
  }

  async validateId(id: string): Promise<boolean> {
    return (await this.read(id)) !== null;
  }

  async destroy(id: string): Promise<void> {
    const path = this.#file(id);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError('destroy', path, err);
    }
  }

  async lock(id: string, options: LockOptions): Promise<LockHandle> {
    const path = `${this.#file(id)}.lock`;
    const started = performance.now();
    const local = await this.#mutex.lock(id, options);
    try {
      return await FileLock.acquire(local, path, options, started);
    } catch (err) {
      await local.release();
      throw err;
    }
  }

  /**
   * Removes the session files (and leftover temp and lock files) of this prefix whose mtime is
   * more than `maxLifetime` seconds old. Resolves the number of sessions removed.
   */
  async gc(maxLifetime: number): Promise<number> {
    const cutoff = Date.now() - maxLifetime * 1000;
    let names: string[];
    try {
      names = await readdir(this.savePath);
    } catch (err) {
      throw storeError('gc', this.savePath, err);
    }
    let removed = 0;
    for (const name of names) {
      if (!name.startsWith(this.prefix)) continue;
      const rest = name.slice(this.prefix.length);
      const dot = rest.indexOf('.');
      const session = dot === -1;
      if (!isValidId(session ? rest : rest.slice(0, dot))) continue;
      if (!session && !rest.endsWith('.tmp') && !rest.endsWith('.lock')) continue;
      const path = join(this.savePath, name);
      try {
        const info = await stat(path);
        if (!info.isFile() || info.mtimeMs >= cutoff) continue;
        await unlink(path);
        if (session) removed++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError('gc', path, err);
      }
    }
    return removed;
  }

  #file(id: string): string {
    return join(this.savePath, this.key(id));
  }
}

function storeError(operation: string, path: string, err: unknown): AdapterRuntimeError {
  const code = (err as NodeJS.ErrnoException).code;
  return new AdapterRuntimeError(`Session file ${operation} failed for ${path}: ${code ?? (err as Error).message}`, 'ERR_SESSION_STORE', { cause: err });
}
