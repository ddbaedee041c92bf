import { PHP_CLASS, PhpFloat, PhpRaw } from './values';

/**
 * What comparisons of one pass have found, to share between calls of {@link samePhpValue} over
 * the same (unchanging) values: each pair of objects is then compared once in all.
 */
export class SameMemo {
  /** Finished comparisons: a result stays valid for as long as neither value changes. */
  readonly done = new Map<object, Map<object, boolean>>();
  /** Pairs being compared (assumed equal when met again, for cycles). */
  readonly open = new Map<object, Set<object>>();
  /** How many times an open pair was assumed equal: a `true` that leaned on one is not kept. */
  assumed = 0;
}

/**
 * Whether two session values are the same PHP data: `Object.is` for primitives (so `NaN`
 * equals `NaN` and `-0` differs from `0`), bytes for Buffers, the same keys in the same order
 * with equal values for objects (PHP's `===` on arrays compares order too; JS lists
 * integer-like keys first on both sides; an `undefined` property counts as absent, as
 * serialize() skips it; where {@link PHP_CLASS} stands does not count), the same items for
 * arrays, arrays and objects never equal to each other. Pairs already being compared count as
 * equal, so shared values and cycles cost one visit each; pass one `memo` to several calls over
 * values that do not change in between to compare each pair once in all.
 *
 * @example
 * samePhpValue({ a: [1, NaN] }, { a: [1, NaN] }); // true
 * samePhpValue(-0, 0); // false: PHP writes d:-0 for one, i:0 for the other
 * samePhpValue({ b: 1, a: 2 }, { a: 2, b: 1 }); // false: PHP keeps the order
 */
export function samePhpValue(a: unknown, b: unknown, memo = new SameMemo()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (a instanceof PhpRaw || b instanceof PhpRaw) return a instanceof PhpRaw && b instanceof PhpRaw && a.bytes.equals(b.bytes);
  if (a instanceof PhpFloat || b instanceof PhpFloat) return a instanceof PhpFloat && b instanceof PhpFloat && Object.is(a.value, b.value);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const known = memo.done.get(a)?.get(b);
  if (known !== undefined) return known;
  let pairs = memo.open.get(a);
  if (pairs?.has(b)) {
    memo.assumed++;
    return true;
  }
  if (pairs === undefined) memo.open.set(a, (pairs = new Set()));
  pairs.add(b);
  const assumed = memo.assumed;
  const result = compare(a, b, memo);
  pairs.delete(b);
  if (pairs.size === 0) memo.open.delete(a);
  // A false is always sound; a true is kept only when no open pair was assumed equal on the way.
  if (!result || memo.assumed === assumed) {
    let results = memo.done.get(a);
    if (results === undefined) memo.done.set(a, (results = new Map()));
    results.set(b, result);
  }
  return result;
}

function compare(a: object, b: object, memo: SameMemo): boolean {
  if (Array.isArray(a)) {
    const other = b as unknown[];
    if (a.length !== other.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!(i in a) || !(i in other) || !samePhpValue(a[i], other[i], memo)) return false;
    }
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left).filter((k) => left[k] !== undefined && k !== PHP_CLASS);
  const others = Object.keys(right).filter((k) => right[k] !== undefined && k !== PHP_CLASS);
  if (keys.length !== others.length || keys.some((k, i) => others[i] !== k)) return false;
  return Object.is(left[PHP_CLASS], right[PHP_CLASS]) && keys.every((k) => samePhpValue(left[k], right[k], memo));
}
