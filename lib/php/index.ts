/**
 * `koa-session-manager/php`: PHP's session formats, byte-accurate (no peer dependency). A strict
 * `serialize()` / `unserialize()` over Buffers (PHP strings are bytes; every length is a byte
 * count), the session strings of the `php` and `php_serialize` serialize handlers, optionally in
 * Phalcon's `serialize()` envelope, and {@link PhpSerializer}, the session format of the Redis
 * and Memcached adapters' `php` mode (sessions shared with a PHP app: docs/php.md).
 *
 * @example
 * import { session } from 'koa-session-manager';
 * import { RedisAdapter } from 'koa-session-manager/redis';
 * // PHP: session.save_handler = redis, session.save_path = "tcp://127.0.0.1:6379"
 * app.use(session({ adapter: new RedisAdapter({ url: 'redis://127.0.0.1:6379', php: { handler: 'php' } }) }));
 *
 * @example
 * import { decodeSession, encodeSession } from 'koa-session-manager/php';
 * const stored = Buffer.from('user|s:3:"ada";total|d:3;');
 * const data = decodeSession(stored); // { user: 'ada', total: 3 }
 * data.cart = ['book'];
 * encodeSession(data, {}, stored).toString();
 * // 'user|s:3:"ada";total|d:3;cart|a:1:{i:0;s:4:"book";}' (total still d:3, not i:3)
 *
 * ## How PHP values come to JS
 *
 * | PHP (`serialize()`) | JS | written back as |
 * |---|---|---|
 * | `N;` | `null` | `N;` |
 * | `b:0;` `b:1;` | `false` `true` | the same |
 * | `i:…;` | a number; a BigInt beyond ±2^53 | `i:` (BigInt beyond 64 bits: refused) |
 * | `d:…;` | a number: `INF` → `Infinity`, `-INF`, `NAN` → `NaN`, `-0` → `-0` | `d:` as PHP 8 writes it (`1.0E-7`, `0.1`); a whole number → `i:`, unless a {@link PhpFloat} |
 * | `s:n:"…";` | a string when the bytes are UTF-8, else a Buffer of them | `s:` with the UTF-8 byte length / the Buffer's bytes |
 * | `a:` with keys 0…n-1 in order (and `a:0:{}`) | an array | a list |
 * | other `a:` | a plain object; int keys become strings (`5` → `"5"`) | keys like `"5"` as `i:5`, as PHP itself does |
 * | `O:n:"Class":…` | a plain object `{ __PHP_Incomplete_Class_Name: 'Class', …props }`; protected and private props keep PHP's names `"\0*\0prop"` / `"\0Class\0prop"` (as `(array)$object` shows them) | `O:` |
 * | `E:n:"Suit:Hearts";` | `{ __PHP_Enum: 'Suit:Hearts' }` | `E:` |
 * | `C:n:"Class":n:{…}` | `{ __PHP_Incomplete_Class_Name: 'Class', __PHP_Serialized: '…' }` (a Buffer when not UTF-8) | `C:` |
 * | `r:n;` `R:n;` | the value of slot n: the same JS object for arrays and objects (JS has no PHP references) | see "References" |
 *
 * JS reorders integer-like keys of objects (`{b, 1}` lists `1` first): a changed map is written
 * in JS's order. A value with no faithful JS form — a reference cycle, an array key equal to a
 * marker property (`__PHP_Incomplete_Class_Name`, `__PHP_Enum`), an object property equal to one
 * (or to `__PHP_Serialized`), a non-UTF-8 key or class name,
 * a reference after a `C:` value — is refused by {@link unserialize}
 * (`ERR_PHP_UNREPRESENTABLE`) and kept as a {@link PhpRaw} by {@link decodeSession}. Dates,
 * Maps, Sets, class instances, functions, symbols, `undefined` in arrays and holes are refused
 * by the encoder ({@link PhpValueError}); an `undefined` property is left out.
 *
 * ## Nothing PHP wrote is damaged
 *
 * `encodeSession(data, format, previous)` compares each key with a fresh decoding of `previous`
 * (see {@link samePhpValue}: same types, `NaN` equal, `-0` not `0`, object keys in the same order): a key
 * whose value is the same PHP data is written back as PHP wrote it, byte for byte. Inside a changed
 * key, each array member or property equal to the one it replaces keeps its bytes too (unless it
 * holds a reference), so `3.0` beside a changed counter stays `d:3;`. The same goes for a whole
 * number the app writes where PHP had `d:3;`: `3` is the same data, so it stays a float; write
 * `3n` (a BigInt) to store the int `i:3;`, or a {@link PhpFloat} for a float that changed.
 *
 * ## References
 *
 * PHP numbers values over the whole session string (every value takes a slot, `R:` does not;
 * with `php_serialize` the session array itself is slot 1). A kept key's `r:`/`R:` numbers are
 * rewritten when a key before it changes size or goes away. A key that a kept key references
 * into cannot be changed or removed (`ERR_PHP_SESSION_REFERENCE`, naming both keys): change or
 * remove the referencing key too, and both are written fresh. A changed key is written without
 * PHP references (`R:`), as copies; an object met twice within what Node writes is written as
 * `r:`, as PHP writes an instance it has seen. Object identity is not carried into byte spans
 * written back as PHP wrote them: an object inside a kept key or an unchanged member (other than
 * the kept value itself) that Node writes again elsewhere is written as a copy, not as `r:` to
 * it. A session with `C:` values and references allows new keys only.
 *
 * ## Keys PHP cannot store
 *
 * New or changed top-level keys that are numeric (`"5"`, PHP skips them) or hold `|` under the
 * `php` handler, or hold a lone surrogate under either, are refused by {@link encodeSession}
 * with {@link PhpSessionKeyError}. Under `php_serialize` a numeric key is written as `i:5;`, as
 * PHP writes `$_SESSION[5]`.
 *
 * @module koa-session-manager/php
 */
export { serialize } from './serialize';
export type { SerializeOptions } from './serialize';
export { unserialize } from './unserialize';
export type { UnserializeOptions } from './unserialize';
export { decodeSession, encodeSession, whyNotSessionKey } from './session';
export { PhpSerializer } from './PhpSerializer';
export type { PhpStoreOptions } from './store';
export type { PhpSessionFormat } from './sessionFormat';
export { samePhpValue, SameMemo } from './equal';
export { phpFloatText } from './float';
export { PHP_CLASS, PHP_ENUM, PHP_SERIALIZED, PhpFloat, PhpRaw, isIntegerKey } from './values';
export { PhpSerializeError, PhpValueError, PhpSessionKeyError, PhpSessionReferenceError } from './errors';
