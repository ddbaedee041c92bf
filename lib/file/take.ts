import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { tempName } from './format';
import { READ_FLAGS } from './openOwn';

/** What a caller saw of a file when it judged it dead (abandoned, expired). */
export interface Judged {
  readonly ino: number;
  readonly mtimeMs: number;
  /** The whole content: checked too when given (a lock's token is unique, an inode number is not). */
  readonly content?: string;
}

/** How {@link removeJudged} ended. */
export type TakeResult = 'removed' | 'gone' | 'kept';

/**
 * Removes the file at `path` only if it is still the file judged dead, for a caller that judged
 * it by what it read (stat, content). `unlink(path)` after a judgement removes whatever is there
 * by then: two processes that both judged a lock stale both unlink, and the second removes the
 * lock the first has just created. Instead:
 *
 * 0. lstat the path: a file of another inode or mtime is not the one judged, and is left alone;
 * 1. rename the file to a unique name: atomic, so of several takers exactly one gets any one file;
 * 2. check that what was taken is the file judged: same inode and mtime, and same content when
 *    `judged.content` is given (an inode number is reused as soon as it is freed; a token is not);
 * 3. it is: unlink it ('removed'). It is not (another holder's fresh lock, a session written
 *    since): put it back with link(), which keeps its inode and mtime, so that its holder's stamp
 *    still matches, then unlink the unique name ('kept'). If link() fails with EEXIST, a third
 *    file took the name meanwhile: the holder of the one taken sees that file at its next check
 *    and its write is refused (fenced), never two holders.
 *
 * Step 0 alone would leave the window between the lstat and the rename; steps 1 to 3 close it,
 * and step 0 makes it rare that they have to (each time they do, the holder of the file taken
 * may have lost its lock to a third one). 'gone': nothing was at `path` (another taker was
 * first, or its holder released it). While a file is away (between 1 and 3), its holder's check
 * fails and a reader finds nothing: a window of a few file operations, opened only over a file
 * someone judged dead.
 */
export async function removeJudged(path: string, judged: Judged): Promise<TakeResult> {
  const taken = tempName(path);
  try {
    // Step 0: not the judged file any more (a taker was first, its holder's new lock is there).
    const now = await lstat(path);
    if (now.ino !== judged.ino || now.mtimeMs !== judged.mtimeMs) return 'kept';
    await rename(path, taken);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  let same: boolean | undefined;
  try {
    same = await matches(taken, judged);
  } catch (err) {
    // Unread: leave it where its holder looks for it.
    await putBack(taken, path);
    throw err;
  }
  if (same === undefined) return 'gone'; // the taken name was swept meanwhile (gc of an old temp file)
  if (same) {
    await unlink(taken).catch(ignoreMissing);
    return 'removed';
  }
  await putBack(taken, path);
  return 'kept';
}

/** True when the file at `path` is the one judged; undefined when there is none. */
async function matches(path: string, judged: Judged): Promise<boolean | undefined> {
  let handle;
  try {
    if (judged.content === undefined) {
      const info = await lstat(path);
      return info.ino === judged.ino && info.mtimeMs === judged.mtimeMs;
    }
    handle = await open(path, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const info = await handle.stat();
    if (info.ino !== judged.ino || info.mtimeMs !== judged.mtimeMs) return false;
    return (await handle.readFile('utf8')) === judged.content;
  } finally {
    await handle.close();
  }
}

/**
 * Puts a taken file back under `path`, never over a file created there since (link() fails
 * with EEXIST then, and the taken file is dropped: the newer one wins).
 */
export async function putBack(taken: string, path: string): Promise<void> {
  try {
    await link(taken, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A directory cannot be linked; rename() cannot put one over a file, so it is as safe.
    if (code === 'EPERM' || code === 'EISDIR') return rename(taken, path).catch(() => undefined);
    if (code !== 'EEXIST') throw err;
  }
  await unlink(taken).catch(ignoreMissing);
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
