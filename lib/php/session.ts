import { SameMemo, samePhpValue } from './equal';
import { PhpSessionKeyError, PhpSessionReferenceError, PhpValueError } from './errors';
import type { Spans } from './Parser';
import { LONE_SURROGATE, Writer, writeValue } from './serialize';
import { checkFormat, parseSession, wrap, type Entry, type PhpSessionFormat } from './sessionFormat';
import { PhpRaw, isIntegerKey, isPlainObject, setKey } from './values';

/**
 * A stored PHP session as plain data, one property per top-level key in the order PHP wrote
 * them (JS lists integer-like keys first). A value with no faithful JS form comes as a
 * {@link PhpRaw}. Malformed data throws {@link PhpSerializeError}; an empty string is an empty
 * session.
 *
 * @example
 * decodeSession(Buffer.from('user|s:3:"ada";n|i:1;')); // { user: 'ada', n: 1 }
 * decodeSession(Buffer.from('s:13:"user|s:1:"a";";'), { envelope: 'phalcon' }); // { user: 'a' }
 */
export function decodeSession(bytes: Buffer, format: PhpSessionFormat = {}): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const entry of parseSession(bytes, format).entries) setKey(data, entry.key, entry.value);
  return data;
}

/**
 * The session string PHP would read as `data`. With `previous` (the bytes this session was
 * decoded from), every key whose value is unchanged — the same PHP data as decoding `previous`
 * gives, or the same {@link PhpRaw} — is written back byte for byte, in its place, so floats
 * such as `3.0`, objects of unknown classes, private properties and references survive; a
 * changed key is written as PHP's `serialize()` would, keeping the bytes of its unchanged parts;
 * keys gone from `data` (or set to `undefined`) are dropped; new keys follow, in `data`'s order.
 *
 * References (`r:`/`R:`) count values over the whole string. Keys kept as written are
 * renumbered when an earlier key changes size; a key that a kept key references into cannot be
 * changed or removed ({@link PhpSessionReferenceError}); a changed key is written without PHP
 * references (a shared array becomes copies; an object met twice is written as `r:`). With
 * `C:` values and references in `previous`, no existing key can be changed or removed.
 *
 * Throws {@link PhpSessionKeyError} for a new or changed key PHP cannot store (a numeric key or
 * a key with `|` under the `php` handler; a key with a lone surrogate) and {@link PhpValueError}
 * for a value with no PHP form. Under `php_serialize` a numeric key such as `"5"` is written as
 * `i:5;`, as PHP writes `$_SESSION[5]`.
 *
 * @example
 * const previous = Buffer.from('total|d:3;n|i:1;');
 * const data = decodeSession(previous); // { total: 3, n: 1 }
 * data.n = 2;
 * encodeSession(data, {}, previous).toString(); // 'total|d:3;n|i:2;'
 */
export function encodeSession(data: Record<string, unknown>, format: PhpSessionFormat = {}, previous?: Buffer): Buffer {
  const { handler, envelope } = checkFormat(format);
  if (!isPlainObject(data)) throw new PhpValueError('', 'the session data must be a plain object');
  const spans: Spans = new WeakMap();
  const parsed = previous === undefined ? undefined : parseSession(previous, format, spans);
  const entries = parsed?.entries ?? [];
  const present = (key: string): boolean => Object.prototype.hasOwnProperty.call(data, key) && data[key] !== undefined;
  const memo = new SameMemo(); // one pass: each pair of objects is compared once
  const kept = entries.map((e) => present(e.key) && samePhpValue(data[e.key], e.value, memo));
  checkReferences(entries, kept, parsed?.sawCustom === true);

  const base = handler === 'php_serialize' ? 1 : 0; // php_serialize: the session array is slot 1
  const w = new Writer(format, base);
  const newStart: number[] = [];
  let count = 0;
  const writeKey = (key: string, keyBytes?: Buffer): void => {
    count++;
    if (keyBytes !== undefined) return handler === 'php' ? w.push(Buffer.concat([keyBytes, Buffer.from('|')])) : w.push(keyBytes);
    const refused = whyNotSessionKey(key, handler);
    if (refused !== undefined) throw new PhpSessionKeyError(key, refused);
    if (handler === 'php_serialize' && isIntegerKey(key)) return w.push(`i:${key};`); // as PHP writes $_SESSION[5]
    w.push(handler === 'php' ? `${key}|` : `s:${Buffer.byteLength(key)}:"${key}";`);
  };
  entries.forEach((entry, i) => {
    newStart.push(w.slots);
    if (kept[i]) {
      writeKey(entry.key, entry.keyBytes);
      const value = data[entry.key];
      // An object PHP wrote here (not an r:/R: to one written before) takes the entry's first slot.
      const opens = entry.slotEnd > entry.slotStart && (parsed!.inner[entry.start] === 0x4f || parsed!.inner[entry.start] === 0x43);
      if (opens && typeof value === 'object' && value !== null && !w.objects.has(value)) w.objects.set(value, w.slots + 1);
      w.push(renumber(parsed!.inner, entry, entries, newStart));
      w.slots += entry.slotEnd - entry.slotStart;
    } else if (present(entry.key)) {
      writeKey(entry.key);
      const prior = entry.value instanceof PhpRaw ? undefined : { value: entry.value, spans, source: parsed!.inner, memo };
      writeValue(w, data[entry.key], entry.key, 0, [], prior);
    }
  });
  const known = new Set(entries.map((e) => e.key));
  for (const key of Object.keys(data)) {
    if (known.has(key) || data[key] === undefined) continue;
    writeKey(key);
    writeValue(w, data[key], key, 0, []);
  }
  const body = w.result();
  const inner = handler === 'php' ? body : Buffer.concat([Buffer.from(`a:${count}:{`), body, Buffer.from('}')]);
  return wrap(inner, envelope);
}

/**
 * Why PHP cannot store the top-level session key `key` under `handler`, or undefined when it
 * can: with `php`, a key holding `|` (PHP would store the whole session as an empty string) or a
 * numeric one (PHP skips it); with either, a key with a lone surrogate (no UTF-8 form).
 *
 * @example
 * whyNotSessionKey('a|b', 'php'); // 'PHP\'s php serialize handler cannot store a key with "|" …'
 */
export function whyNotSessionKey(key: string, handler: 'php' | 'php_serialize'): string | undefined {
  if (handler === 'php' && key.includes('|')) return 'PHP\'s php serialize handler cannot store a key with "|" (it would store the whole session as an empty string)';
  if (LONE_SURROGATE.test(key)) return 'a key with a lone surrogate has no UTF-8 form';
  if (handler === 'php' && isIntegerKey(key)) return 'PHP\'s php serialize handler does not store numeric top-level keys ("Skipping numeric key")';
  return undefined;
}

/** The index of the entry holding 1-based slot `target`, or -1 for php_serialize's session array. */
function entryOf(entries: readonly Entry[], target: number): number {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (target - 1 < entries[mid].slotStart) hi = mid - 1;
    else if (target - 1 >= entries[mid].slotEnd) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** Refuses to rewrite or drop a key that a key kept as PHP wrote it references into. */
function checkReferences(entries: readonly Entry[], kept: readonly boolean[], sawCustom: boolean): void {
  const changed = entries.findIndex((_, i) => !kept[i]);
  if (changed < 0) return;
  if (sawCustom && entries.some((e) => e.refs.length > 0)) {
    throw new PhpSessionReferenceError(entries[changed].key, 'the session holds C: values and references, whose numbering Node cannot follow');
  }
  entries.forEach((entry, i) => {
    if (!kept[i]) return;
    for (const ref of entry.refs) {
      const j = entryOf(entries, ref.target);
      if (j >= 0 && j !== i && !kept[j]) {
        throw new PhpSessionReferenceError(entries[j].key, `the key "${entry.key}", kept as PHP wrote it, holds a reference (${ref.kind}:${ref.target}) into it; change or remove "${entry.key}" as well`);
      }
    }
  });
}

/** The bytes of a kept entry with each reference pointing to its target's new slot number. */
function renumber(inner: Buffer, entry: Entry, entries: readonly Entry[], newStart: readonly number[]): Buffer {
  const parts: Buffer[] = [];
  let at = entry.start;
  for (const ref of entry.refs) {
    const j = entryOf(entries, ref.target);
    const target = j < 0 ? ref.target : ref.target - 1 - entries[j].slotStart + newStart[j] + 1;
    if (target === ref.target) continue;
    parts.push(inner.subarray(at, ref.start), Buffer.from(`${ref.kind}:${target};`));
    at = ref.end;
  }
  parts.push(inner.subarray(at, entry.end));
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
