/** Memcached reads a relative expiry above 30 days (in seconds) as a unix timestamp. */
export const RELATIVE_LIMIT = 2_592_000;

/**
 * The memcached expiry for a TTL in seconds, so that the item lives at least `ttl` seconds and
 * at most about a second longer. Memcached counts in whole seconds on a clock that ticks once a
 * second: an item set with N expires at the N-th tick, after N-1 to N seconds. So a TTL becomes
 * `ceil(ttl) + 1`. Past 30 days that is sent as an absolute unix time (memcached would take
 * the plain number for a date in 1970 and expire the item at once).
 *
 * @example
 * expiry(0.5); // 2
 * expiry(3600); // 3601
 * expiry(40 * 86400, Date.now()); // now in unix seconds + 3456001
 */
export function expiry(ttl: number, nowMs: number = Date.now()): number {
  const relative = Math.ceil(ttl) + 1;
  return relative > RELATIVE_LIMIT ? Math.ceil(nowMs / 1000) + relative : relative;
}
