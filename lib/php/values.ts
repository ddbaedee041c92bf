/**
 * The property that carries a PHP object's class name (`O:` and `C:` values): PHP's own name for
 * it, the one `__PHP_Incomplete_Class` uses for a class the reading script does not know.
 *
 * @example
 * unserialize(Buffer.from('O:8:"stdClass":1:{s:1:"a";i:1;}'));
 * // { __PHP_Incomplete_Class_Name: 'stdClass', a: 1 }
 */
export const PHP_CLASS = '__PHP_Incomplete_Class_Name';

/**
 * The only property of an enum case (`E:` values), holding `Class:Case`.
 *
 * @example
 * unserialize(Buffer.from('E:11:"Suit:Hearts";')); // { __PHP_Enum: 'Suit:Hearts' }
 */
export const PHP_ENUM = '__PHP_Enum';

/**
 * The property holding the payload of a `C:` value (a class implementing `Serializable`),
 * beside {@link PHP_CLASS}: a string, or a Buffer when the payload is not UTF-8.
 *
 * @example
 * unserialize(Buffer.from('C:3:"Old":3:{abc}')); // { __PHP_Incomplete_Class_Name: 'Old', __PHP_Serialized: 'abc' }
 */
export const PHP_SERIALIZED = '__PHP_Serialized';

/**
 * A PHP float, to write a whole number as a float (`d:3;`) where a JS number would be written as
 * an int (`i:3;`). Decoding never produces it: PHP floats come to JS as numbers.
 *
 * @example
 * serialize({ price: new PhpFloat(3) }).toString(); // 'a:1:{s:5:"price";d:3;}'
 */
export class PhpFloat {
  constructor(readonly value: number) {}
}

/**
 * A session value kept as the bytes PHP wrote, because it has no faithful JS form (see
 * {@link PhpSerializeError}). `decodeSession()` puts one in place of such a value;
 * `encodeSession()` writes it back unchanged, and refuses one that did not come from the
 * previous session string under that key.
 *
 * @example
 * const data = decodeSession(Buffer.from('loop|a:1:{i:0;R:1;}')); // a reference cycle
 * data.loop instanceof PhpRaw; // true: data.loop.bytes is 'a:1:{i:0;R:1;}'
 */
export class PhpRaw {
  constructor(readonly bytes: Buffer) {}
}

const INT64_MAX = 9223372036854775807n;

/**
 * Whether PHP turns this array key into an integer (`"5"`, `"-3"`, not `"05"`, `"-0"`, `"+1"`
 * or anything outside 64 bits), as `$a["5"]` does.
 *
 * @example
 * isIntegerKey('5'); // true
 * isIntegerKey('05'); // false
 */
export function isIntegerKey(key: string): boolean {
  if (!/^(?:0|-?[1-9][0-9]{0,18})$/.test(key)) return false;
  if (key.length < 18) return true;
  const n = BigInt(key);
  return n <= INT64_MAX && n >= -INT64_MAX - 1n;
}

/** An int64 as a JS number when it is exact, as a BigInt beyond 2^53. */
export function toInteger(digits: string): number | bigint {
  const n = BigInt(digits);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n;
}

/** Whether a bigint fits PHP's int. */
export function isInt64(n: bigint): boolean {
  return n <= INT64_MAX && n >= -INT64_MAX - 1n;
}

/**
 * The bytes PHP accepts in a class name (`var_unserializer.re`): letters, digits, `_`, `\` and
 * 0x7f-0xff, matched against the bytes read as Latin-1.
 */
const CLASS_NAME = /^[0-9A-Za-z_\\\x7f-\xff]+$/;

/** An enum case as `E:` holds it: a class name, `:`, a case name. */
const ENUM_CASE = /^[0-9A-Za-z_\\\x7f-\xff]+:[A-Za-z_\x7f-\xff][0-9A-Za-z_\x7f-\xff]*$/;

/** Whether these bytes are a class name PHP accepts (`enumCase`: `Class:Case` of an `E:` value). */
export function isClassName(bytes: Buffer, enumCase = false): boolean {
  return (enumCase ? ENUM_CASE : CLASS_NAME).test(bytes.toString('latin1'));
}

/** Sets `key` as an own enumerable property, `__proto__` included, never reaching a prototype. */
export function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

/** A plain object (an object literal or `Object.create(null)`), not an array or class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
