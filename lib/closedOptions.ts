import { InvalidOption } from './errors';

/**
 * Closes an options object: throws `InvalidOption` naming the first own key of `options` that
 * is not in `known`, as its full path (`where.key`; `where` is '' for a top-level object). The
 * reason is the hint for that key when `hints` has one (a habit from koa-session, express-session
 * or Phalcon, and what to use here instead); otherwise the known key it is closest to, or the
 * list of known keys. A key whose value is `undefined` is still checked: the name is the mistake.
 *
 * @example
 * checkOptionKeys('cookie', { maxAge: 60000 }, ['path', 'domain'], { maxAge: 'use `lifetime`, in seconds' });
 * // throws InvalidOption: Invalid session option "cookie.maxAge": use `lifetime`, in seconds
 * checkOptionKeys('RedisAdapter', { prefx: 'app-' }, ['host', 'port', 'prefix']);
 * // throws InvalidOption: Invalid session option "RedisAdapter.prefx": unknown option; did you mean "prefix"?
 */
export function checkOptionKeys(
  where: string,
  options: object,
  known: readonly string[],
  hints?: Readonly<Record<string, string>>,
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const path = where === '' ? key : `${where}.${key}`;
    // Object.hasOwn: a key such as "constructor" must not find Object.prototype's.
    if (hints !== undefined && Object.hasOwn(hints, key)) throw new InvalidOption(path, hints[key]);
    const near = closest(key, known);
    throw new InvalidOption(path, near !== undefined
      ? `unknown option; did you mean "${near}"?`
      : `unknown option; the options here are: ${known.join(', ')}`);
  }
}

/** The known key `key` is a likely misspelling of: equal ignoring case, or at most 2 edits away. */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = key.length < 5 ? 1 : 2;
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase(), bestDistance);
    if (distance <= bestDistance && (best === undefined || distance < bestDistance)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edit distance of `a` and `b` (insert, delete, replace, swap two neighbours), or `limit + 1` when the lengths alone exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j], before[j - 2] + 1);
    }
    before = previous;
    previous = row;
  }
  return previous[b.length];
}

/**
 * `value` when it is a positive (integer) number, `fallback` when undefined; else InvalidOption
 * naming `option`. The numeric options of every adapter go through it.
 *
 * @example
 * positive('lockExpiry', options.lockExpiry, 30); // 30 when unset; throws for 0, -1, NaN, '30'
 */
export function positive(option: string, value: unknown, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new InvalidOption(option, `must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}
