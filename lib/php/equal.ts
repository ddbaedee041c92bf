import { PhpFloat, PhpRaw } from './values';

/**
 * Whether two session values are the same PHP data: `Object.is` for primitives (so `NaN`
 * equals `NaN` and `-0` differs from `0`), bytes for Buffers, the same keys with equal values for
 * objects in any order (an `undefined` property counts as absent, as serialize() skips it),
 * the same items for arrays, arrays and objects never equal to each other. Pairs already being
 * compared count as equal, so shared values and cycles cost one visit each.
 *
 * @example
 * samePhpValue({ a: [1, NaN] }, { a: [1, NaN] }); // true
 * samePhpValue(-0, 0); // false: PHP writes d:-0 for one, i:0 for the other
 */
export function samePhpValue(a: unknown, b: unknown, seen = new Map<object, Set<object>>()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (a instanceof PhpRaw || b instanceof PhpRaw) return a instanceof PhpRaw && b instanceof PhpRaw && a.bytes.equals(b.bytes);
  if (a instanceof PhpFloat || b instanceof PhpFloat) return a instanceof PhpFloat && b instanceof PhpFloat && Object.is(a.value, b.value);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  let pairs = seen.get(a);
  if (pairs?.has(b)) return true;
  if (pairs === undefined) seen.set(a, (pairs = new Set()));
  pairs.add(b);
  if (Array.isArray(a)) {
    const other = b as unknown[];
    if (a.length !== other.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!(i in a) || !(i in other) || !samePhpValue(a[i], other[i], seen)) return false;
    }
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left).filter((k) => left[k] !== undefined);
  if (keys.length !== Object.keys(right).filter((k) => right[k] !== undefined).length) return false;
  return keys.every((k) => Object.prototype.hasOwnProperty.call(right, k) && samePhpValue(left[k], right[k], seen));
}
