import { randomBytes } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AdapterRuntimeError, InvalidOption, InvalidSavePath, SavePathUnavailable, SessionLockLost } from '../errors';
import type { LockHandle, LockOptions } from './Adapter';
import { AbstractAdapter, lockOptions, ttlMs } from './AbstractAdapter';
import { FileLock } from './FileLock';
import { KeyedMutex } from './KeyedMutex';

/** Options of {@link StreamAdapter}. */
export interface StreamAdapterOptions {
  /** Directory of the session files; must exist and be writable. */
  savePath: string;
  /** Prepended to the id to form the file name. @default '' */
  prefix?: string;
}

/**
 * Files gc() examines at once: libuv's thread pool size (4 unless UV_THREADPOOL_SIZE says
 * otherwise), so a background sweep keeps the pool busy without queueing every request's file
 * operations behind a long line of its own.
 */
const GC_PARALLEL = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

const SAFE_PREFIX = /^[A-Za-z0-9_.-]*$/;
/** What follows the prefix in the names gc may remove: a session, its temp file, its lock file. */
const OWN_FILE = /^[a-zA-Z0-9,-]{1,128}(\.[0-9a-f]{12}\.tmp|\.lock|\.claim)?$/;

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
      // fstat, then one read of that size: a session file is replaced by rename, never changed
      // in place, so the open file keeps its size (readFile() would fstat and read again).
      const { mtimeMs, size } = await handle.stat();
      const buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = size > 0 ? await handle.read(buffer, 0, size, 0) : { bytesRead: 0 };
      const text = buffer.toString('utf8', 0, bytesRead);
      const ttl = storedTtl(text);
      // Not our format: hand it over whole, the Manager reports it as invalid data.
      if (ttl === undefined) return text;
      return mtimeMs + ttl * 1000 <= Date.now() ? null : text.slice(text.indexOf('\n') + 1);
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

  /**
   * Moves the mtime so that the file lives `ttl` seconds from now; a missing or expired file
   * stays gone (unlike PHP's `touch`). The data, and the TTL written with it, are unchanged: the
   * mtime is set to `now + ttl - stored ttl`.
   */
  async updateTimestamp(id: string, _data: string, ttl: number): Promise<void> {
    const path = this.#file(id);
    const ms = ttlMs(ttl);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw storeError('touch', path, err);
    }
    try {
      const first = Buffer.alloc(64);
      const [{ mtimeMs }, { bytesRead }] = await Promise.all([handle.stat(), handle.read(first, 0, first.length, 0)]);
      const stored = storedTtl(first.toString('latin1', 0, bytesRead));
      const now = Date.now();
      if (stored !== undefined && mtimeMs + stored * 1000 <= now) return;
      // Through the open handle: a file destroyed meanwhile is not recreated.
      const mtime = new Date(now + ms - (stored ?? ttl) * 1000);
      await handle.utimes(mtime, mtime);
    } catch (err) {
      throw storeError('touch', path, err);
    } finally {
      await handle.close();
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

  async lock(id: string, request: Partial<LockOptions> = {}): Promise<LockHandle> {
    const options = lockOptions(request);
    const path = `${this.#file(id)}.lock`;
    const started = performance.now();
    const local = this.#mutex.tryLock(id, options) ?? await this.#mutex.lock(id, options);
    try {
      return await FileLock.acquire(local, path, options, started);
    } catch (err) {
      await local.release();
      throw err;
    }
  }

  /**
   * Removes the session files of this prefix whose own TTL has passed since their mtime (files
   * not in the adapter's format: idle more than `maxLifetime` seconds), and leftover temp and
   * lock files idle more than `maxLifetime`. Resolves the number of sessions removed.
   */
  async gc(maxLifetime: number): Promise<number> {
    const cutoff = Date.now() - maxLifetime * 1000;
    let names: string[];
    try {
      names = await readdir(this.savePath);
    } catch (err) {
      throw storeError('gc', this.savePath, err);
    }
    // GC_PARALLEL files at a time (one at a time left the thread pool idle: ~3x slower over 100k
    // files); the first failure stops the sweep and is reported once every file in flight is done.
    let removed = 0;
    let next = 0;
    let failure: unknown;
    const sweep = async (): Promise<void> => {
      while (failure === undefined && next < names.length) {
        try {
          if (await this.#collect(names[next++], cutoff)) removed++;
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(GC_PARALLEL, names.length) }, sweep));
    if (failure !== undefined) throw failure;
    return removed;
  }

  /** gc() for one directory entry: true when it was a dead session file and is removed now. */
  async #collect(name: string, cutoff: number): Promise<boolean> {
    const own = name.startsWith(this.prefix) ? OWN_FILE.exec(name.slice(this.prefix.length)) : null;
    if (own === null) return false;
    const session = own[1] === undefined;
    const path = join(this.savePath, name);
    try {
      const info = await stat(path);
      if (!info.isFile()) return false;
      // A session file carries its own TTL: it is dead once mtime + TTL has passed, and alive
      // until then even when idle longer than maxLifetime (a longer per-session lifetime).
      const ttl = session ? storedTtl(await head(path)) : undefined;
      if (ttl !== undefined ? info.mtimeMs + ttl * 1000 > Date.now() : info.mtimeMs >= cutoff) return false;
      await unlink(path);
      return session;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError('gc', path, err);
      return false;
    }
  }

  #file(id: string): string {
    return join(this.savePath, this.key(id));
  }
}

/** The first bytes of a file: enough for the TTL line. */
async function head(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.toString('latin1', 0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The TTL in the first line of a session file, or undefined when the file is not in that format. */
function storedTtl(text: string): number | undefined {
  const newline = text.indexOf('\n');
  const ttl = newline > 0 ? Number(text.slice(0, newline)) : NaN;
  return ttl > 0 ? ttl : undefined;
}

function storeError(operation: string, path: string, err: unknown): AdapterRuntimeError {
  const code = (err as NodeJS.ErrnoException).code;
  return new AdapterRuntimeError(`Session file ${operation} failed for ${path}: ${code ?? (err as Error).message}`, 'ERR_SESSION_STORE', { cause: err });
}
