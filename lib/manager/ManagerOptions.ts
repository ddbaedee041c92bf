import type { EventEmitter } from 'node:events';
import type { Adapter, LockOptions } from '../adapters/Adapter';
import { InvalidOption } from '../errors';
import { checkOptionKeys } from '../closedOptions';
import type { Serializer } from '../serializers/Serializer';
import { JsonSerializer } from '../serializers/JsonSerializer';

/**
 * Manager options. The object is closed: an unknown key throws `InvalidOption` naming it
 * (Phalcon keeps unknown keys; a misspelt option silently ignored is how sessions get lost).
 */
export interface ManagerOptions {
  /** Namespace for every key: `uniqueId#key`. */
  uniqueId?: string;
  /** Idle lifetime in seconds: store TTL and cookie Max-Age. @default 3600 */
  lifetime?: number;
  /** Absolute lifetime in seconds from creation; 0 for none. @default 0 */
  absoluteLifetime?: number;
  /** Replace an id the store does not know by a fresh one (PHP `use_strict_mode`). @default true */
  strict?: boolean;
  /** Unchanged data costs only `updateTimestamp` (PHP `lazy_write`). @default true */
  lazyWrite?: boolean;
  /** @default new JsonSerializer() */
  serializer?: Serializer;
  /**
   * Per-session locking when the adapter offers `lock()`; `wait`/`expiry` left out take the
   * adapter's defaults (5 s and 30 s for the file and memory adapters). @default true
   */
  locking?: boolean | Partial<LockOptions>;
  /** Where `session:*` events go (an EventEmitter, or the Koa app). */
  events?: EventEmitter;
  /**
   * The largest serialized record, in bytes (UTF-8). A commit over it throws `SessionTooLarge`
   * before anything is written, and the lock is released. @default 1048576 (1 MiB)
   */
  maxSize?: number;
}

/**
 * The prefix of every key of a session with this `uniqueId` (Phalcon: `uniqueId#key`); none
 * for an empty (or `'0'`, PHP's falsy string) `uniqueId`.
 */
export function uniquePrefixOf(options: ManagerOptions): string {
  const u = options.uniqueId;
  return u === undefined || u === null || u === '' || u === '0' ? '' : `${u}#`;
}

/** Every key a ManagerOptions object may hold. */
export const MANAGER_OPTION_KEYS: readonly (keyof ManagerOptions)[] = [
  'uniqueId', 'lifetime', 'absoluteLifetime', 'strict', 'lazyWrite', 'serializer', 'locking', 'events', 'maxSize',
];

/** Options objects checked and frozen once (the middleware's, for every request's Manager). */
const CHECKED = new WeakSet<object>();
/** The checked options made last (one middleware's, every request): a comparison before the WeakSet lookup. */
let lastChecked: object | undefined;

/**
 * The options a Manager keeps: an object made by {@link checkedOptions} as it is (no check and
 * no copy per request), any other after checking its keys, copied (the caller may change it).
 */
export function ownOptions(options: ManagerOptions): Readonly<ManagerOptions> {
  if (options === lastChecked || CHECKED.has(options)) return options;
  if (typeof options !== 'object' || options === null) throw new InvalidOption('options', 'must be an object');
  checkOptionKeys('', options, MANAGER_OPTION_KEYS);
  return { ...options };
}

/**
 * `options` checked and frozen, for Managers made many times with them (the middleware's, one
 * per request; internal): `new Manager(checked)` keeps the object instead of checking and
 * copying it again.
 */
export function checkedOptions(options: ManagerOptions): Readonly<ManagerOptions> {
  const checked = CHECKED.has(options) ? options : Object.freeze(ownOptions(options));
  CHECKED.add(checked);
  return (lastChecked = checked);
}

/** @see ManagerOptions.maxSize */
export const DEFAULT_MAX_SIZE = 1024 * 1024;

/** The byte limit of one serialized record. */
export function maxSizeOf(options: ManagerOptions): number {
  return options.maxSize ?? DEFAULT_MAX_SIZE;
}

/** Locking on with the adapter's own defaults. */
const ADAPTER_DEFAULTS: Partial<LockOptions> = Object.freeze({});
const JSON_SERIALIZER = new JsonSerializer();

/** `locking` resolved: the lock options to pass to `adapter.lock()`, or null when locking is off. */
export function lockOptionsOf(options: ManagerOptions): Partial<LockOptions> | null {
  const locking = options.locking ?? true;
  return locking === false ? null : locking === true ? ADAPTER_DEFAULTS : locking;
}

export function serializerOf(options: ManagerOptions): Serializer {
  return options.serializer ?? JSON_SERIALIZER;
}

/**
 * Refuses a serializer the adapter's other readers cannot read (see `Adapter.sharedFormat`: a
 * PHP app's store), and the absolute lifetime with a format that keeps no creation time.
 *
 * @example
 * checkSerializer(adapter, { serializer: adapter.sharedFormat?.serializer });
 */
export function checkSerializer(adapter: Adapter | undefined, options: ManagerOptions): void {
  const serializer = serializerOf(options);
  const shared = adapter?.sharedFormat?.serializer;
  if (shared !== undefined && serializer !== shared) {
    throw new InvalidOption('serializer', 'this adapter stores sessions in a format another program reads (a PHP app): use the adapter\'s own, { serializer: adapter.sharedFormat.serializer } (the session() middleware does)');
  }
  if (serializer.storesCreationTime === false && absoluteLifetimeOf(options) > 0) {
    throw new InvalidOption('absoluteLifetime', 'this serializer keeps no creation time (PHP\'s session formats have none): the absolute lifetime cannot be enforced with it');
  }
}

/** Idle lifetime in seconds: the store TTL. */
export function ttlOf(options: ManagerOptions): number {
  return Number(options.lifetime ?? 3600);
}

/** Absolute lifetime in seconds; 0 for none. */
export function absoluteLifetimeOf(options: ManagerOptions): number {
  return Number(options.absoluteLifetime ?? 0);
}
