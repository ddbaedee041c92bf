/** One remembered record: the stored text and what it opens to. */
interface Opened {
  /** The stored text exactly as the inner adapter holds it (prefix, header and body). */
  readonly text: string;
  /** What `EncryptedAdapter.read()` gives for it: the plain data, or the plain move marker. */
  readonly plain: string;
  /** True for a session record sealed with the ring's encrypting key: a touch may hand it on. */
  readonly current: boolean;
}

/**
 * The {@link EncryptedAdapter}'s memory of what it last wrote or read per session id: a
 * memo of "the stored text T of id X opens to P", bounded to `max` ids, least recently used
 * dropped first. Opening is a function of (key ring, kind, id, text) alone, so an entry is
 * used only when the stored text equals the remembered one exactly, under the same id, and
 * a stale entry can only miss, never give other data: a record changed in any way (tampered,
 * rewritten by another process, older) is opened as if there were no cache, and fails as it
 * would. The key ring of an adapter never changes (a new ring is a new adapter, with an empty
 * cache), so a remembered plaintext never outlives the key that opened it.
 *
 * Synchronous and per instance: no request state, nothing shared between adapters.
 */
export class OpenedCache {
  readonly #max: number;
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Opened>();

  constructor(max: number) {
    this.#max = max;
  }

  /** The remembered plain text of `id` when `text` is exactly the remembered stored text. */
  plainOf(id: string, text: string): string | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.text !== text) return undefined;
    this.#touch(id, entry);
    return entry.plain;
  }

  /**
   * The remembered stored text of `id` when it is a record under the encrypting key that opens
   * to exactly `plain`: the very text in the store, which a touch may hand on instead of a new
   * seal (same bytes, nothing new for anyone who reads the store).
   */
  textOf(id: string, plain: string): string | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined || !entry.current || entry.plain !== plain) return undefined;
    this.#touch(id, entry);
    return entry.text;
  }

  /** Remember that `text`, stored under `id`, opens to `plain`. */
  set(id: string, text: string, plain: string, current: boolean): void {
    if (this.#max === 0) return;
    this.#entries.delete(id);
    this.#entries.set(id, { text, plain, current });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Forget `id`. */
  delete(id: string): void {
    this.#entries.delete(id);
  }

  #touch(id: string, entry: Opened): void {
    // Most recent last.
    this.#entries.delete(id);
    this.#entries.set(id, entry);
  }
}
