import { SessionError } from '../errors';

/**
 * PHP `serialize()` data that cannot be read: truncated, a length that does not match the bytes,
 * trailing bytes, nesting deeper than `maxDepth`, a count larger than the input could hold
 * (`code` `ERR_PHP_SERIALIZE`, with the byte `offset` where reading stopped); or well-formed data
 * that has no faithful plain-data form in JS (`code` `ERR_PHP_UNREPRESENTABLE`: a reference
 * cycle, an array key that collides with a marker key, a non-UTF-8 key or class name).
 *
 * @example
 * try { unserialize(Buffer.from('s:5:"abc";')); } catch (err) {
 *   if (err instanceof PhpSerializeError) console.log(err.code, err.offset); // ERR_PHP_SERIALIZE 10
 * }
 */
export class PhpSerializeError extends SessionError {
  constructor(readonly reason: string, readonly offset: number, code = 'ERR_PHP_SERIALIZE') {
    super(`PHP serialized data ${code === 'ERR_PHP_SERIALIZE' ? 'is malformed' : 'has no plain-data form in JS'} at byte ${offset}: ${reason}`, code);
  }
}

/**
 * A JS value that PHP's `serialize()` has no form for (a function, a symbol, a Date, a Map, a
 * class instance, a cycle through arrays, an integer beyond 64 bits, an array with holes, a
 * string with a lone surrogate), or nesting deeper than `maxDepth`; `path` names where it is.
 *
 * @example
 * try { serialize({ at: new Date() }); } catch (err) {
 *   if (err instanceof PhpValueError) console.log(err.code, err.path); // ERR_PHP_VALUE at
 * }
 */
export class PhpValueError extends SessionError {
  constructor(readonly path: string, reason: string) {
    super(`Cannot serialize for PHP${path === '' ? '' : ` the value at ${path}`}: ${reason}`, 'ERR_PHP_VALUE');
  }
}

/**
 * A top-level session key PHP cannot store: with the `php` serialize handler a key containing
 * `|` (PHP would store the whole session as an empty string) or a numeric key such as `"5"`
 * (PHP skips it: "Skipping numeric key 5"; `php_serialize` stores it, as `i:5;`), and with
 * either handler a key with a lone surrogate (it has no UTF-8 form).
 *
 * @example
 * try { encodeSession({ 'a|b': 1 }); } catch (err) {
 *   if (err instanceof PhpSessionKeyError) console.log(err.code, err.key); // ERR_PHP_SESSION_KEY a|b
 * }
 */
export class PhpSessionKeyError extends SessionError {
  constructor(readonly key: string, reason: string) {
    super(`Session key "${key}" cannot be stored for PHP: ${reason}`, 'ERR_PHP_SESSION_KEY');
  }
}

/**
 * A change to a session key that PHP references (`r:` / `R:`) point into from keys Node keeps
 * as PHP wrote them: rewriting it would leave those references pointing at the wrong value.
 *
 * @example
 * try { encodeSession({ a: [9], b: [1] }, {}, previous); } catch (err) { // previous: 'a|a:1:{i:0;i:1;}b|R:1;'
 *   if (err instanceof PhpSessionReferenceError) console.log(err.code, err.key); // ERR_PHP_SESSION_REFERENCE a
 * }
 */
export class PhpSessionReferenceError extends SessionError {
  constructor(readonly key: string, reason: string) {
    super(`Session key "${key}" cannot be changed or removed from Node: ${reason}`, 'ERR_PHP_SESSION_REFERENCE');
  }
}
