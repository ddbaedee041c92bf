import { statfsSync } from 'node:fs';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, InvalidSavePath } from '../errors';

/** Options of {@link StreamAdapter}. */
export interface StreamAdapterOptions {
  /**
   * Directory of the session files: it must exist, be writable, belong to this process's user
   * and be writable by no one else (not group- or world-writable).
   */
  savePath: string;
  /**
   * Prepended to the id to form the file name. The default follows PHP's files handler
   * (`session.save_handler = files` names its files `sess_<id>`), not Phalcon's Stream adapter,
   * which uses none (`''`, still allowed). The content differs from PHP's (a TTL line first):
   * a directory that PHP's handler also uses needs another prefix.
   * @default 'sess_'
   */
  prefix?: string;
  /**
   * How a session file is read and written: `'sync'` (open, fstat, read, close; write, rename)
   * blocks the event loop for those few system calls, about 10 µs for a session file in the page
   * cache, where `'async'` hands each to libuv's thread pool: about 200 µs of CPU for the same
   * read here (docs/benchmarks.md), and queued behind DNS lookups and other file work in the pool.
   * PHP's files handler is synchronous too. On a network file system (NFS, SMB/CIFS, FUSE,
   * Ceph…, recognised by `statfs`) one call can take milliseconds or hang: there the default is
   * `'async'`. The uncontended lock (create, check, release) follows this option; waits for a
   * held lock, touches and gc are always asynchronous.
   * @default 'sync', or 'async' on a network file system
   */
  io?: 'sync' | 'async';
}

const SAFE_PREFIX = /^[A-Za-z0-9_.-]*$/;

/** `statfs` types of network and user-space file systems (Linux magic numbers): NFS, SMB, CIFS, SMB2, FUSE, Ceph, 9P, AFS, Coda, GFS2, OCFS2, Lustre. */
const NETWORK_FS = new Set([0x6969, 0x517b, 0xff534d42, 0xfe534d42, 0x65735546, 0x00c36400, 0x01021997, 0x5346414f, 0x73757245, 0x01161970, 0x7461636f, 0x0bd00bd0]);

/** True when `path` lies on a network file system (false when it cannot be told). */
function onNetworkFs(path: string): boolean {
  try {
    return NETWORK_FS.has(statfsSync(path).type);
  } catch {
    return false; // a missing directory is checkSavePath's to report
  }
}

/**
 * The options of `new StreamAdapter()`, checked as it checks them: known keys only, a save path
 * given (`InvalidSavePath` otherwise), a prefix safe in a file name; the prefix defaulted. The
 * directory itself is `checkSavePath`'s to check.
 *
 * @example
 * checkStreamOptions({ savePath: '/var/lib/myapp/sessions' }); // { savePath: '/var/lib/myapp/sessions', prefix: 'sess_', sync: true }
 * checkStreamOptions({ savePath: '/tmp/s', prefix: '../' }); // throws InvalidOption
 */
export function checkStreamOptions(options: StreamAdapterOptions): { savePath: string; prefix: string; sync: boolean } {
  if (typeof options === 'object' && options !== null) {
    checkOptionKeys('StreamAdapter', options, ['savePath', 'prefix', 'io'], { path: 'use `savePath`', save_path: 'use `savePath`' });
  }
  const savePath = options?.savePath;
  if (savePath === undefined || savePath === null || savePath === '') throw new InvalidSavePath();
  const prefix = options.prefix ?? 'sess_';
  if (!SAFE_PREFIX.test(prefix)) throw new InvalidOption('prefix', 'may hold only letters, digits, "_", "-" and "."');
  const io = options.io ?? (onNetworkFs(savePath) ? 'async' : 'sync');
  if (io !== 'sync' && io !== 'async') throw new InvalidOption('io', "must be 'sync' or 'async'");
  return { savePath, prefix, sync: io === 'sync' };
}
