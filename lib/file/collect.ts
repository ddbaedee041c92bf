import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isClaimContent, isLockContent, OWN_NAME, storedTtl } from './format';
import { openOwn } from './openOwn';
import { storeError } from './storeError';
import { removeJudged } from './take';

/**
 * Files gc() examines at once: libuv's thread pool size (4 unless UV_THREADPOOL_SIZE says
 * otherwise), so a background sweep keeps the pool busy without queueing every request's file
 * operations behind a long line of its own.
 */
const GC_PARALLEL = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

/**
 * gc() of the StreamAdapter: {@link collect} for every entry of `savePath`; resolves the number
 * of session files removed. `cutoff`: lock, claim and temp files idle since before it go.
 */
export async function collectAll(savePath: string, prefix: string, cutoff: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(savePath);
  } catch (err) {
    throw storeError('gc', savePath, err);
  }
  // GC_PARALLEL files at a time (one at a time left the thread pool idle: ~3x slower over 100k
  // files); the first failure stops the sweep and is reported once every file in flight is done.
  let removed = 0;
  let next = 0;
  let failure: unknown;
  const sweep = async (): Promise<void> => {
    while (failure === undefined && next < names.length) {
      try {
        if (await collect(savePath, prefix, names[next++], cutoff)) removed++;
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(GC_PARALLEL, names.length) }, sweep));
  if (failure !== undefined) throw failure;
  return removed;
}

/**
 * gc() for one directory entry: removes it when it is one of the adapter's own files and dead;
 * true when it was a session file (the count gc() reports).
 *
 * "Own" is decided by the name (the prefix, then an id and the suffixes of `OWN_NAME`) and by
 * the content, since a name alone proves nothing: with an empty prefix `LICENSE` is a valid id
 * and `yarn.lock` a valid lock name. Removed are only
 * - session files that begin with a TTL line, once mtime + TTL has passed (a session keeps its
 *   own lifetime, longer or shorter than `maxLifetime`);
 * - lock files holding `<token>\n<expiry>` and claim files holding a token, idle for more than
 *   `maxLifetime` (`cutoff`);
 * - temp files named like the adapter's (a random 12-hex part no one else chooses), idle as long;
 * and never a symlink, a file of another user, or anything that is not a regular file.
 * Session, lock and claim files are removed by {@link removeJudged}: a session written or a lock
 * retaken since the judgement is not removed.
 */
export async function collect(savePath: string, prefix: string, name: string, cutoff: number): Promise<boolean> {
  const own = name.startsWith(prefix) ? OWN_NAME.exec(name.slice(prefix.length)) : null;
  if (own === null) return false;
  const [, id, kind, temp] = own;
  const path = join(savePath, name);
  try {
    const file = await openOwn(path, { head: true, lenient: true });
    if (file === null) return false;
    await file.handle.close();
    const { info, head } = file;
    const whole = info.size === head.length; // a lock or claim file fits in the head
    let dead: boolean;
    if (temp !== undefined) dead = info.mtimeMs < cutoff;
    else if (kind === '.lock') dead = whole && isLockContent(head) && info.mtimeMs < cutoff;
    else if (kind === '.claim') dead = whole && isClaimContent(head) && info.mtimeMs < cutoff;
    else {
      const ttl = storedTtl(head);
      dead = ttl !== undefined && info.mtimeMs + ttl * 1000 <= Date.now();
    }
    if (!dead) return false;
    if (temp !== undefined) {
      // Its name is unique to the writer that made it and never reused: nobody can have put
      // another file there since the judgement.
      await unlink(path);
      return false;
    }
    const judged = { ino: info.ino, mtimeMs: info.mtimeMs, content: kind === undefined ? undefined : head };
    return (await removeJudged(path, judged)) === 'removed' && kind === undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError('gc', path, err, id);
    return false;
  }
}
