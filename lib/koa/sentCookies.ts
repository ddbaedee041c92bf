/** How many ids {@link SentCookies} remembers by default (about 1 MB at most). */
const LIMIT = 10_000;

/**
 * What this process last sent as the session cookie, per id: when that cookie expires (ms since
 * the epoch). A read-only request stores nothing, so after it re-sent a due cookie the record
 * still holds the old expiry (`s`, the cookie rule in lib/manager/storeCalls.ts) and every later
 * read-only request would find the cookie due again, until a write stored the new one. This
 * memory lets the requests this process serves see the re-send: a read-mostly session gets its
 * cookie once per due window and process, not on every read. One per session() middleware (one
 * cookie name); only sends that can reach the browser are noted (KoaTransport.writeId).
 * Bounded: past `limit` ids the oldest note goes first, and a forgotten id is only re-sent once
 * more.
 *
 * @example
 * const sent = new SentCookies();
 * sent.note('abc', Date.now() + 3_960_000);
 * sent.get('abc'); // when that cookie expires
 */
export class SentCookies {
  readonly #expires = new Map<string, number>();

  constructor(private readonly limit = LIMIT) {}

  /** When the cookie last sent for `id` expires (ms), 0 when none is remembered. */
  get(id: string): number {
    return this.#expires.get(id) ?? 0;
  }

  /** Remember that the cookie sent for `id` now expires at `expires` (ms). */
  note(id: string, expires: number): void {
    const map = this.#expires;
    // Re-inserted at the end: the oldest note is the one forgotten first.
    if (!map.delete(id) && map.size >= this.limit) map.delete(map.keys().next().value as string);
    map.set(id, expires);
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#expires.size;
  }
}
