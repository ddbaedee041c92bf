import { isUtf8 } from 'node:buffer';
import { InvalidOption } from '../errors';
import { Parser, type RefToken, type Spans } from './Parser';
import type { SerializeOptions } from './serialize';
import { PhpRaw } from './values';

/** How a PHP app stores its sessions. */
export interface PhpSessionFormat extends SerializeOptions {
  /**
   * PHP's `session.serialize_handler`: `php` writes `key|<serialize(value)>` one after another,
   * `php_serialize` writes `serialize($_SESSION)`. (igbinary and msgpack are not supported.)
   * @default 'php'
   */
  readonly handler?: 'php' | 'php_serialize';
  /**
   * `phalcon`: the session string is wrapped in `serialize()` once more (`s:27:"user|…";`), as
   * Phalcon 5's session adapters store it through their "php" storage serializer; an empty
   * session is stored as an empty string, unwrapped, as Phalcon does.
   * @default 'none'
   */
  readonly envelope?: 'none' | 'phalcon';
}

/** One top-level key of a session string, with where its value is and what it holds. */
export interface Entry {
  readonly key: string;
  /** The key as written: `name` (php handler) or `s:4:"name";` / `i:5;` (php_serialize). */
  readonly keyBytes: Buffer;
  readonly start: number;
  readonly end: number;
  /** Its reference slots, 0-based, `[slotStart, slotEnd)`. */
  readonly slotStart: number;
  readonly slotEnd: number;
  readonly refs: readonly RefToken[];
  /** The decoded value, or a PhpRaw when it has no faithful JS form. */
  readonly value: unknown;
}

/** A session string split into its keys. */
export interface ParsedSession {
  /** The session string (inside the envelope). */
  readonly inner: Buffer;
  readonly entries: readonly Entry[];
  /** Whether a `C:` value was met: with references present, their numbering is not followed. */
  readonly sawCustom: boolean;
}

/** The options, checked. */
export function checkFormat(format: PhpSessionFormat): { handler: 'php' | 'php_serialize'; envelope: 'none' | 'phalcon' } {
  const { handler = 'php', envelope = 'none' } = format;
  if (handler !== 'php' && handler !== 'php_serialize') throw new InvalidOption('handler', `"${String(handler)}" is not php or php_serialize`);
  if (envelope !== 'none' && envelope !== 'phalcon') throw new InvalidOption('envelope', `"${String(envelope)}" is not none or phalcon`);
  for (const name of ['maxDepth', 'maxBytes'] as const) {
    const n = format[name];
    if (n !== undefined && !(Number.isSafeInteger(n) && n > 0)) throw new InvalidOption(name, 'must be a positive integer');
  }
  return { handler, envelope };
}

/** The session string inside Phalcon's envelope (`s:n:"…";`), or the bytes themselves. */
export function unwrap(bytes: Buffer, envelope: 'none' | 'phalcon'): Buffer {
  if (envelope === 'none' || bytes.length === 0) return bytes;
  const p = new Parser(bytes);
  const inner = p.bytes('s:', '";');
  if (p.pos !== bytes.length) p.fail('trailing bytes after the envelope');
  return inner;
}

/** The session string in Phalcon's envelope, or as it is. */
export function wrap(inner: Buffer, envelope: 'none' | 'phalcon'): Buffer {
  if (envelope === 'none' || inner.length === 0) return inner;
  return Buffer.concat([Buffer.from(`s:${inner.length}:"`), inner, Buffer.from('";')]);
}

/**
 * Splits a stored session into its keys, byte-accurately (a `|` inside a value is part of the
 * value), reading each value once with reference slots numbered over the whole string.
 */
export function parseSession(bytes: Buffer, format: PhpSessionFormat, spans?: Spans): ParsedSession {
  const { handler, envelope } = checkFormat(format);
  const inner = unwrap(bytes, envelope);
  const p = new Parser(inner, format.maxDepth, spans);
  const entries: Entry[] = [];
  const seen = new Set<string>();
  const read = (key: string, keyBytes: Buffer, at: number): void => {
    if (seen.has(key)) p.fail(`the session key "${key}" appears twice`, at);
    seen.add(key);
    const start = p.pos;
    const slotStart = p.slots.length;
    const refStart = p.refs.length;
    p.unrepresentable = undefined;
    let value = p.value();
    if (p.unrepresentable !== undefined) {
      value = new PhpRaw(Buffer.from(inner.subarray(start, p.pos)));
      p.hide(slotStart, p.slots.length);
    }
    entries.push({ key, keyBytes, start, end: p.pos, slotStart, slotEnd: p.slots.length, refs: p.refs.slice(refStart), value });
  };
  if (handler === 'php') {
    while (p.pos < inner.length) {
      const at = p.pos;
      const bar = inner.indexOf(0x7c, at);
      if (bar < 0) p.fail('bytes after the last value that are no "key|value"');
      const keyBytes = inner.subarray(at, bar);
      if (!isUtf8(keyBytes)) p.fail('a session key that is not UTF-8', at);
      p.pos = bar + 1;
      read(keyBytes.toString('utf8'), keyBytes, at);
    }
  } else if (inner.length > 0) {
    p.expect('a:');
    p.reserveSlot();
    const n = p.uint(inner.length);
    p.expect(':{');
    for (let i = 0; i < n; i++) {
      const at = p.pos;
      p.unrepresentable = undefined;
      const key = p.key();
      if (p.unrepresentable !== undefined) p.fail('a session key that is not UTF-8', at);
      read(key, inner.subarray(at, p.pos), at);
    }
    p.expect('}');
    if (p.pos !== inner.length) p.fail('trailing bytes after the session array');
  }
  return { inner, entries, sawCustom: p.sawCustom };
}
