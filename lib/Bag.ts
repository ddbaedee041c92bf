import type { Manager } from './Manager';
import { untyped, type UntypedSession } from './manager/data';
import { withPropertyAccess } from './propertyAccess';

type Entry = readonly [key: string, value: unknown];

/**
 * A named group of values inside the session (Phalcon `Session\Bag`): keys are case-insensitive,
 * and every change writes the whole group back under the session key `name`.
 *
 * The group is read once, at construction; a not-started session gives an empty bag whose
 * changes stay in memory. After `writeClose()` a change throws `SessionModificationDenied` and
 * leaves the bag as it was.
 *
 * Deliberate deviations from Phalcon:
 * - Construction writes nothing (Phalcon's `init` stores `session[name] = []` at once): the
 *   middleware creates `ctx.persistent` lazily, and a bag that was only read must not make a
 *   fresh visitor's session non-empty, which would cost a store write and a cookie.
 * - `init(data)` writes the whole merged group, not only `data`, so the bag's memory and the
 *   session always agree.
 *
 * @example
 * const cart = new Bag(session, 'cart');
 * cart.set('items', 3);       // or: cart.items = 3
 * cart.get('ITEMS');          // 3
 * session.get('cart');        // { items: 3 }
 */
export class Bag<T extends Record<string, unknown> = Record<string, unknown>> {
  /** Property access (`bag.foo`) reads and writes items (see `withPropertyAccess`). */
  [property: string]: unknown;

  readonly #manager: UntypedSession;
  readonly #name: string;
  /** Lower-cased key to [original key, value], in insertion order. */
  #items = new Map<string, Entry>();

  constructor(manager: Manager, name: string) {
    this.#manager = untyped(manager);
    this.#name = name;
    const group = this.#manager.get(name);
    if (isPlainObject(group)) this.#items = merge(this.#items, group);
    return withPropertyAccess(this);
  }

  /** The session key of the group. */
  getName(): string {
    return this.#name;
  }

  get<K extends keyof T & string>(key: K, defaultValue?: T[K]): T[K] | null;
  get<V = unknown>(key: string, defaultValue?: V): V | null;
  /** The value of `key` in any casing, or `defaultValue` when missing or null. */
  get(key: string, defaultValue: unknown = null): unknown {
    const value = this.#items.get(key.toLowerCase())?.[1];
    return value === undefined || value === null ? defaultValue : value;
  }

  set<K extends keyof T & string>(key: K, value: T[K]): void;
  set(key: string, value: unknown): void;
  /** Store `value` under `key`; a key differing only in case replaces the old entry and casing. */
  set(key: string, value: unknown): void {
    this.#commit(merge(this.#items, { [key]: value }));
  }

  /** True when `key` exists in any casing, even with a null value (unlike `Manager.has`). */
  has(key: string): boolean {
    return this.#items.has(key.toLowerCase());
  }

  /** Remove `key`; the group is written back even when the key was absent (Phalcon). */
  remove(key: string): void {
    const next = new Map(this.#items);
    next.delete(key.toLowerCase());
    this.#commit(next);
  }

  /** Merge `data` into the items and write the whole group back. */
  init(data: Partial<T> | Record<string, unknown> = {}): void {
    this.#commit(merge(this.#items, data));
  }

  /** Empty the bag and delete its key from the session (not set it to `{}`). */
  clear(): void {
    this.#manager.remove(this.#name);
    this.#items = new Map();
  }

  /** Replace every item with `data`: `clear()` then `init(data)`. */
  replace(data: Partial<T> | Record<string, unknown>): void {
    this.clear();
    this.init(data);
  }

  count(): number {
    return this.#items.size;
  }

  isEmpty(): boolean {
    return this.#items.size === 0;
  }

  /** The keys, lower-cased unless `insensitive` is false. */
  keys(insensitive = true): string[] {
    return insensitive ? [...this.#items.keys()] : [...this.#items.values()].map(([key]) => key);
  }

  values(): unknown[] {
    return [...this.#items.values()].map(([, value]) => value);
  }

  /** A copy of the items with their original keys (integer-like keys first, as in any JS object). */
  toArray(): Record<string, unknown> {
    return Object.fromEntries(this.#items.values());
  }

  toJSON(): Record<string, unknown> {
    return this.toArray();
  }

  /** `[key, value]` pairs with the original keys, in insertion order. */
  *[Symbol.iterator](): IterableIterator<[string, unknown]> {
    for (const [key, value] of this.#items.values()) yield [key, value];
  }

  /** Write first, so a session that refuses the write leaves the bag unchanged. */
  #commit(next: Map<string, Entry>): void {
    this.#manager.set(this.#name, Object.fromEntries(next.values()));
    this.#items = next;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A copy of `items` with `data` set in; a key in a new casing evicts the old one and moves to the end. */
function merge(items: Map<string, Entry>, data: Record<string, unknown>): Map<string, Entry> {
  const next = new Map(items);
  for (const [key, value] of Object.entries(data)) {
    const lower = key.toLowerCase();
    if (next.get(lower)?.[0] !== key) next.delete(lower);
    next.set(lower, [key, value]);
  }
  return next;
}
