import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { HEAD_BYTES } from './format';

/**
 * How the adapter opens the files in its directory: read-only; never through a symlink
 * (O_NOFOLLOW: a link planted under a session's name would let whoever planted it choose what
 * is read, touched or taken); never blocking on a FIFO planted there (O_NONBLOCK, which changes
 * nothing for a regular file).
 */
export const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** An open file of this process's user: its handle, its fstat, and its first bytes when asked. */
export interface OwnFile {
  readonly handle: FileHandle;
  readonly info: Stats;
  /** The first {@link HEAD_BYTES} bytes as latin1 (empty unless asked for with `head`). */
  readonly head: string;
}

/**
 * Opens `path` as one of the adapter's files. Null when nothing is there, or when what is there
 * is not to be trusted: a symlink (never followed), a file of another user (another local user
 * could plant `{"role":"admin"}` under an id; as root, only root's files count). The check is
 * on the open descriptor (fstat), so it is about the very file read afterwards.
 *
 * Anything else that is not a regular file (a directory under a session's name) rejects: a
 * broken setup is reported, not served as "no session". With `lenient`, it is null as well
 * (gc passes over it). With `head`, the first bytes are read too. The caller closes the handle.
 */
export async function openOwn(path: string, { head: withHead = false, lenient = false } = {}): Promise<OwnFile | null> {
  let handle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || (lenient && code === 'ENXIO')) return null;
    throw err;
  }
  try {
    // The head is read alongside the fstat (one round trip less); a failed read matters only
    // for a file that passes the checks.
    const buffer = withHead ? Buffer.alloc(HEAD_BYTES) : undefined;
    const [info, read] = await Promise.all([
      handle.stat(),
      buffer && handle.read(buffer, 0, HEAD_BYTES, 0).catch((err: unknown) => err as Error),
    ]);
    const uid = process.getuid?.();
    const foreign = uid !== undefined && info.uid !== uid;
    if (foreign || (lenient && !info.isFile())) {
      await handle.close();
      return null;
    }
    if (!info.isFile()) throw new Error('not a regular file');
    if (read instanceof Error) throw read;
    const head = buffer && read ? buffer.toString('latin1', 0, read.bytesRead) : '';
    return { handle, info, head };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** The whole content of an open file of `info.size` bytes, as UTF-8, in one read. */
export async function readAll(file: OwnFile): Promise<string> {
  // A session file is replaced by rename, never changed in place, so the open file keeps the
  // size fstat gave (readFile() would fstat and read again).
  const size = file.info.size;
  if (size === 0) return '';
  const buffer = Buffer.allocUnsafe(size);
  const { bytesRead } = await file.handle.read(buffer, 0, size, 0);
  return buffer.toString('utf8', 0, bytesRead);
}

/**
 * {@link openOwn} and {@link readAll} at once, synchronously (StreamAdapter `io: 'sync'`): the
 * content of `path` as UTF-8 (with `head`, its first `head` bytes as latin1) and its fstat, or
 * null for nothing there, a symlink or a file of another user; anything else that is not a
 * regular file throws.
 */
export function readOwnSync(path: string, head?: number): { text: string; info: Stats } | null {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return null;
    throw err;
  }
  try {
    const info = fstatSync(fd);
    const uid = process.getuid?.();
    if (uid !== undefined && info.uid !== uid) return null;
    if (!info.isFile()) throw new Error('not a regular file');
    // A session file is replaced by rename, never changed in place: fstat's size is the file's.
    const size = head === undefined ? info.size : Math.min(head, info.size);
    if (size === 0) return { text: '', info };
    const buffer = Buffer.allocUnsafe(size);
    const read = readSync(fd, buffer, 0, size, 0);
    return { text: buffer.toString(head === undefined ? 'utf8' : 'latin1', 0, read), info };
  } finally {
    closeSync(fd);
  }
}
