import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';
import type { SessionRecord } from '../record';
import type { Serializer } from '../serializers/Serializer';
import { bytesOfText, textOfBytes } from './bytes';
import { PhpValueError } from './errors';
import { serialize } from './serialize';
import { decodeSession, encodeSession, whyNotSessionKey } from './session';
import { checkFormat, type PhpSessionFormat } from './sessionFormat';

const FORMAT_KEYS: readonly (keyof PhpSessionFormat)[] = ['handler', 'envelope', 'maxDepth', 'maxBytes'];

/**
 * The session record as a PHP app stores `$_SESSION`: the `php` or `php_serialize` serialize
 * handler's string, optionally in Phalcon's envelope (see {@link PhpSessionFormat}). The Redis
 * and Memcached adapters' `php` mode make one and hand it to `session()`; a Manager without the
 * middleware passes `{ serializer: adapter.sharedFormat.serializer }`.
 *
 * - Reading: PHP values come as the plain data the `koa-session-manager/php` module notes list
 *   (a float `3.0` as `3`, an object of a PHP class as a plain object with
 *   `__PHP_Incomplete_Class_Name`, bytes that are no UTF-8 as a Buffer, an int beyond 2^53 as a
 *   BigInt).
 * - Writing (`stringifyOver`): what Node did not change is written back as PHP wrote it, byte
 *   for byte; changed and new keys as PHP's `serialize()` would write them.
 * - `set()` refuses, with `InvalidSessionValue`, a key PHP cannot store (`a|b` or `"5"` under the
 *   `php` handler) and a value PHP has no form for (a Date, a Map, a class instance, a function).
 * - PHP keeps no creation time: the absolute lifetime is refused with this serializer.
 *
 * @example
 * const serializer = new PhpSerializer({ handler: 'php' });
 * serializer.parse('user|s:3:"ada";'); // { c: <now>, d: { user: 'ada' } }
 */
export class PhpSerializer implements Serializer {
  /** PHP's session strings keep no creation time. */
  readonly storesCreationTime = false;
  readonly format: Readonly<PhpSessionFormat>;
  readonly #handler: 'php' | 'php_serialize';

  constructor(format: PhpSessionFormat = {}) {
    if (typeof format !== 'object' || format === null) throw new InvalidOption('php', 'must be an object: { handler, envelope }');
    checkOptionKeys('php', format, FORMAT_KEYS);
    this.#handler = checkFormat(format).handler;
    this.format = Object.freeze({ ...format });
  }

  /** The session record of a stored PHP session; throws for data PHP did not write. */
  parse(text: string): { c: number; d: Record<string, unknown> } {
    return { c: Date.now(), d: decodeSession(bytesOfText(text), this.format) };
  }

  stringify(record: unknown): string {
    return textOfBytes(encodeSession(dataOf(record), this.format));
  }

  stringifyOver(record: unknown, previous: string): string {
    return textOfBytes(encodeSession(dataOf(record), this.format, bytesOfText(previous)));
  }

  check(value: unknown, key?: string): string | undefined {
    const refused = key === undefined ? undefined : whyNotSessionKey(key, this.#handler);
    if (refused !== undefined) return refused;
    try {
      serialize(value, this.format);
      return undefined;
    } catch (err) {
      if (err instanceof PhpValueError) return err.message;
      throw err;
    }
  }
}

/** The data of a session record (what the Manager hands `stringify`). */
function dataOf(record: unknown): Record<string, unknown> {
  const data = (record as Partial<SessionRecord> | null)?.d;
  if (typeof data !== 'object' || data === null) throw new PhpValueError('', 'PhpSerializer writes session records ({ c, d })');
  return data;
}
