import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';
import { isValidName, RESERVED_ID_PREFIX } from '../id';
import { PhpSerializer } from './PhpSerializer';
import type { PhpSessionFormat } from './sessionFormat';

/**
 * The `php` option of the Redis and Memcached adapters: share the store with a PHP app, whose
 * records, keys, lock and cookie Node then uses as PHP does (docs/php.md).
 */
export interface PhpStoreOptions extends PhpSessionFormat {
  /**
   * Whose records (Redis only; Memcached speaks php-memcached's):
   * - `phpredis`: PHP's own `session.save_handler = redis` (phpredis): keys `PHPREDIS_SESSION:<id>`,
   *   lock `<key>_LOCK` (`redis.session.locking_enabled`), TTL `session.gc_maxlifetime` (1440).
   * - `phalcon`: Phalcon 5's `Session\Adapter\Redis`: keys `sess-reds-<id>`, lock
   *   `sess-reds-<id>-lock` (`lockingEnabled`, Phalcon 5.14.2+), the session string in Phalcon's
   *   `serialize()` envelope, TTL 3600.
   * @default 'phpredis'
   */
  readonly flavor?: 'phpredis' | 'phalcon';
  /** PHP's `session.name`: the `session()` cookie name unless it names one. @default 'PHPSESSID' */
  readonly name?: string;
}

/** What a store's `php` option resolves to. */
export interface PhpStore {
  readonly flavor: 'phpredis' | 'phalcon' | 'php-memcached';
  readonly serializer: PhpSerializer;
  readonly cookieName: string;
  /** The key prefix PHP uses by default. */
  readonly prefix: string;
  /** The TTL PHP writes by default, in seconds. */
  readonly lifetime: number;
}

const KEYS: readonly (keyof PhpStoreOptions)[] = ['flavor', 'name', 'handler', 'envelope', 'maxDepth', 'maxBytes'];

/** Each flavor's key prefix, TTL and envelope, as PHP sets them by default. */
const FLAVORS = {
  phpredis: { prefix: 'PHPREDIS_SESSION:', lifetime: 1440, envelope: 'none' },
  phalcon: { prefix: 'sess-reds-', lifetime: 3600, envelope: 'phalcon' },
  'php-memcached': { prefix: 'memc.sess.key.', lifetime: 1440, envelope: 'none' },
} as const;

/**
 * The `php` option of a store, checked: `flavors` lists what that store speaks, the first being
 * the default.
 *
 * @example
 * resolvePhpStore({ flavor: 'phalcon' }, ['phpredis', 'phalcon']).prefix; // 'sess-reds-'
 */
export function resolvePhpStore(options: PhpStoreOptions, flavors: readonly PhpStore['flavor'][]): PhpStore {
  if (typeof options !== 'object' || options === null) throw new InvalidOption('php', 'must be an object: { handler, flavor, name }');
  checkOptionKeys('php', options, KEYS, { serializeHandler: 'use `handler`', serialize_handler: 'use `handler`', prefix: 'the key prefix is the adapter\'s own `prefix` option' });
  const flavor = (options.flavor ?? flavors[0]) as PhpStore['flavor'];
  if (!flavors.includes(flavor)) throw new InvalidOption('php.flavor', `must be ${flavors.map((f) => `'${f}'`).join(' or ')}`);
  const name = options.name ?? 'PHPSESSID';
  if (typeof name !== 'string' || !isValidName(name) || !/^[A-Za-z0-9_-]+$/.test(name)) throw new InvalidOption('php.name', 'must be a cookie name: ASCII letters, digits, "_" and "-", not only digits');
  const { flavor: _flavor, name: _name, ...format } = options;
  const defaults = FLAVORS[flavor];
  return {
    flavor,
    serializer: new PhpSerializer({ ...format, envelope: format.envelope ?? defaults.envelope }),
    cookieName: name,
    prefix: defaults.prefix,
    lifetime: defaults.lifetime,
  };
}

/**
 * The key of `id` in a store shared with PHP: `key` (`<prefix><id>`), except for the library's
 * own records (ids beginning `ksm-`, the per-user index of `UserSessions`), which go under
 * `<prefix>ksm:…`: `:` is outside PHP's session id alphabet, so no PHP request can read (and,
 * failing to decode, destroy) them.
 *
 * @example
 * phpKey('PHPREDIS_SESSION:', 'ksm-user-ab12', 'PHPREDIS_SESSION:ksm-user-ab12'); // 'PHPREDIS_SESSION:ksm:user-ab12'
 */
export function phpKey(prefix: string, id: string, key: string): string {
  return id.startsWith(RESERVED_ID_PREFIX) ? `${prefix}ksm:${id.slice(RESERVED_ID_PREFIX.length)}` : key;
}
