import { accessSync, constants, statSync } from 'node:fs';
import { SavePathUnavailable } from '../errors';

/**
 * Checks that `savePath` can hold sessions safely, or throws `SavePathUnavailable` saying why.
 * Phalcon checks only `is_writable`; here the directory must also belong to this process's user
 * and be writable by nobody else (`mode & 0o022` is 0): whoever else can write it can plant a
 * file under any id (`{"role":"admin"}`) or swap a session file for a symlink. A symlink as
 * the save path itself is followed (a link to a data volume is common); the target is checked.
 *
 * @example
 * checkSavePath('/tmp'); // throws: The session save path [/tmp] is writable by its group or others (mode 01777) …
 */
export function checkSavePath(savePath: string): void {
  let info;
  try {
    info = statSync(savePath);
  } catch (err) {
    // Phalcon says "is not writable" for every case; a missing directory is the common one (a
    // first deploy, a typo) and its fix is not chmod, so it is named.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SavePathUnavailable(savePath, `does not exist: create it first (mkdir -m 700 ${savePath})`);
    throw new SavePathUnavailable(savePath);
  }
  if (!info.isDirectory()) throw new SavePathUnavailable(savePath, 'is not a directory');
  try {
    accessSync(savePath, constants.W_OK | constants.X_OK);
  } catch {
    throw new SavePathUnavailable(savePath); // Phalcon's case and message
  }
  const uid = process.getuid?.();
  if (uid === undefined) return; // Windows: no owner or mode bits to check
  if (info.uid !== uid) {
    throw new SavePathUnavailable(savePath, `is owned by uid ${info.uid}, not by this process's user (uid ${uid}); its owner could plant or replace sessions`);
  }
  if ((info.mode & 0o022) !== 0) {
    const mode = `0${(info.mode & 0o7777).toString(8)}`;
    throw new SavePathUnavailable(savePath, `is writable by its group or others (mode ${mode}); another local user could plant or replace sessions: chmod go-w it, or use a directory of its own`);
  }
}
