import { InvalidOption, InvalidSessionId } from '../errors';
import { isValidId } from '../id';
import type { Adapter, LockHandle, LockOptions, WriteOptions } from './Adapter';

/** Lock defaults of the adapters that have no options of their own: Phalcon's 5 s wait, 30 s expiry. */
export const DEFAULT_LOCK: Readonly<LockOptions> = Object.freeze({ wait: 5, expiry: 30 });

/** `options` with what it leaves out taken from `defaults`. */
export function lockOptions(options: Partial<LockOptions>, defaults: Readonly<LockOptions> = DEFAULT_LOCK): Readonly<LockOptions> {
  // The common case (session()'s locking: true): the defaults as they are, no object per lock.
  if (options.wait === undefined && options.expiry === undefined && options.renew === undefined) return defaults;
  return {
    wait: options.wait ?? defaults.wait,
    expiry: options.expiry ?? defaults.expiry,
    renew: options.renew ?? defaults.renew,
  };
}

/**
 * What adapters share: the key prefix and the id guard. A backend extends it and fills in
 * `read`, `write`, `destroy` and `gc` (Phalcon `Session\Adapter\AbstractAdapter`, Symfony's
 * `AbstractSessionHandler`).
 */
export abstract class AbstractAdapter implements Adapter {
  /** Prepended to every id to form the storage key. */
  readonly prefix: string;

  protected constructor(prefix: string) {
    if (typeof prefix !== 'string') throw new InvalidOption('prefix', 'must be a string');
    this.prefix = prefix;
  }

  /** The storage key of `id`, after checking the id again: nothing else reaches a key or a path. */
  protected key(id: string): string {
    if (!isValidId(id)) throw new InvalidSessionId();
    return this.prefix + id;
  }

  abstract read(id: string, lock?: LockHandle): Promise<string | null>;
  abstract write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean | void>;
  abstract destroy(id: string): Promise<string | null | void>;
  abstract gc(maxLifetime: number): Promise<number>;
}

/** Milliseconds from a TTL in seconds, rejecting nonsense early. */
export function ttlMs(ttl: number): number {
  if (!(ttl > 0) || !Number.isFinite(ttl)) throw new InvalidOption('ttl', `must be a positive number of seconds, got ${ttl}`);
  return ttl * 1000;
}
