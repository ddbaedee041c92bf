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
}

const SAFE_PREFIX = /^[A-Za-z0-9_.-]*$/;

/**
 * The options of `new StreamAdapter()`, checked as it checks them: known keys only, a save path
 * given (`InvalidSavePath` otherwise), a prefix safe in a file name; the prefix defaulted. The
 * directory itself is `checkSavePath`'s to check.
 *
 * @example
 * checkStreamOptions({ savePath: '/var/lib/myapp/sessions' }); // { savePath: '/var/lib/myapp/sessions', prefix: 'sess_' }
 * checkStreamOptions({ savePath: '/tmp/s', prefix: '../' }); // throws InvalidOption
 */
export function checkStreamOptions(options: StreamAdapterOptions): { savePath: string; prefix: string } {
  if (typeof options === 'object' && options !== null) {
    checkOptionKeys('StreamAdapter', options, ['savePath', 'prefix'], { path: 'use `savePath`', save_path: 'use `savePath`' });
  }
  const savePath = options?.savePath;
  if (savePath === undefined || savePath === null || savePath === '') throw new InvalidSavePath();
  const prefix = options.prefix ?? 'sess_';
  if (!SAFE_PREFIX.test(prefix)) throw new InvalidOption('prefix', 'may hold only letters, digits, "_", "-" and "."');
  return { savePath, prefix };
}
