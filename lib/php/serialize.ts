import { samePhpValue, type SameMemo } from './equal';
import { PhpValueError } from './errors';
import { phpFloatText } from './float';
import { DEFAULT_MAX_DEPTH, type Spans } from './Parser';
import { PHP_CLASS, PHP_ENUM, PHP_SERIALIZED, PhpFloat, PhpRaw, isClassName, isInt64, isIntegerKey, isPlainObject } from './values';

/** Limits of {@link serialize}. */
export interface SerializeOptions {
  /**
   * Deepest nesting written.
   * @default 512
   */
  readonly maxDepth?: number;
  /**
   * Largest output, in bytes: a value that shares one array in many places is written as copies,
   * as PHP would, and this bounds how far that can grow.
   * @default 67108864 (64 MiB)
   */
  readonly maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** A UTF-16 surrogate without its pair: such a string has no UTF-8 form. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The value a new value replaces, decoded with its spans: children equal to the old ones keep PHP's bytes. */
export interface Prior {
  readonly value: unknown;
  readonly spans: Spans;
  readonly source: Buffer;
  /** Comparisons already made in this pass (each pair of objects is compared once). */
  readonly memo: SameMemo;
}

/** The output being built, with PHP's reference slot count and the objects already written. */
export class Writer {
  readonly #parts: Buffer[] = [];
  #size = 0;
  /** Values written so far, numbered as PHP numbers reference slots. */
  slots: number;
  readonly objects = new Map<object, number>();
  readonly enums = new Map<string, number>();
  readonly maxDepth: number;
  readonly maxBytes: number;

  constructor(options: SerializeOptions = {}, slotBase = 0) {
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.slots = slotBase;
  }

  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.#size += bytes.length;
    if (this.#size > this.maxBytes) throw new PhpValueError('', `the output is over maxBytes (${this.maxBytes})`);
    this.#parts.push(bytes);
  }

  get size(): number {
    return this.#size;
  }

  result(): Buffer {
    return Buffer.concat(this.#parts, this.#size);
  }
}

/**
 * PHP's `serialize()` of a JS value, as bytes: null → `N;`, booleans → `b:`, safe integers and
 * BigInts within 64 bits → `i:`, other numbers and {@link PhpFloat} → `d:` (`INF`, `NAN`, `-0`,
 * `1.0E-7` as PHP writes them), strings → `s:` with their UTF-8 byte length, Buffers → `s:` of
 * their bytes, arrays → lists, plain objects → arrays (keys like `"5"` become int keys, as in
 * PHP), objects marked with {@link PHP_CLASS} / {@link PHP_ENUM} / {@link PHP_SERIALIZED} →
 * `O:` / `E:` / `C:`. A marked object met again is written as `r:`, as PHP writes an instance
 * it has written before; arrays met again are written again (PHP arrays are values). Anything
 * else throws {@link PhpValueError}.
 *
 * @example
 * serialize({ name: 'Zoë', tags: ['a'] }).toString(); // 'a:2:{s:4:"name";s:4:"Zoë";s:4:"tags";a:1:{i:0;s:1:"a";}}'
 */
export function serialize(value: unknown, options?: SerializeOptions): Buffer {
  const w = new Writer(options);
  writeValue(w, value, '', 0, []);
  return w.result();
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
}

function writeString(w: Writer, path: string, text: string): void {
  if (LONE_SURROGATE.test(text)) throw new PhpValueError(path, 'a string with a lone surrogate has no UTF-8 form');
  w.push(`s:${Buffer.byteLength(text, 'utf8')}:"`);
  w.push(text);
  w.push('";');
}

function writeBytes(w: Writer, prefix: string, bytes: Uint8Array, suffix: string, open = '"'): void {
  w.push(`${prefix}${bytes.length}:${open}`);
  w.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  w.push(suffix);
}

/** Writes one value (taking its reference slots) or throws {@link PhpValueError} naming `path`. */
export function writeValue(w: Writer, value: unknown, path: string, depth: number, parents: object[], prior?: Prior): void {
  if (typeof value === 'object' && value !== null && w.objects.has(value)) {
    w.push(`r:${w.objects.get(value)};`);
    w.slots++;
    return;
  }
  const slot = ++w.slots;
  switch (typeof value) {
    case 'boolean': return w.push(value ? 'b:1;' : 'b:0;');
    case 'number':
      return w.push(Number.isSafeInteger(value) && !Object.is(value, -0) ? `i:${value};` : `d:${phpFloatText(value)};`);
    case 'bigint':
      if (!isInt64(value)) throw new PhpValueError(path, `${value} is beyond PHP's 64-bit int`);
      return w.push(`i:${value};`);
    case 'string': return writeString(w, path, value);
    case 'undefined': throw new PhpValueError(path, 'undefined has no PHP form (leave the key out, or use null)');
    case 'function': case 'symbol': throw new PhpValueError(path, `a ${typeof value} has no PHP form`);
  }
  if (value === null) return w.push('N;');
  if (value instanceof PhpFloat) return w.push(`d:${phpFloatText(value.value)};`);
  if (value instanceof Uint8Array) return writeBytes(w, 's:', value, '";');
  if (value instanceof PhpRaw) throw new PhpValueError(path, 'a PhpRaw is written back only under the session key it was read from');
  if (depth >= w.maxDepth) throw new PhpValueError(path, `nesting deeper than ${w.maxDepth}`);
  if (parents.includes(value as object)) throw new PhpValueError(path, 'the value contains itself through an array (a cycle PHP arrays cannot hold)');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!(i in value)) throw new PhpValueError(join(path, i), 'an array with holes (use an object for sparse keys)');
    w.push(`a:${value.length}:{`);
    parents.push(value);
    value.forEach((item, i) => writeMember(w, true, String(i), item, join(path, i), depth, parents, prior));
    parents.pop();
    return w.push('}');
  }
  if (!isPlainObject(value)) {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object';
    throw new PhpValueError(path, `${name === 'Date' || name === 'Map' || name === 'Set' ? `a ${name}` : `an instance of ${name}`} has no PHP form: use plain data`);
  }
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (Object.prototype.hasOwnProperty.call(value, PHP_ENUM)) {
    const name = value[PHP_ENUM];
    if (keys.length !== 1 || typeof name !== 'string' || !isClassName(Buffer.from(name), true)) throw new PhpValueError(path, `an enum is { ${PHP_ENUM}: 'Class:Case' } alone`);
    // A case is a singleton in PHP: serialize() writes it once and r: after.
    const before = w.enums.get(name);
    if (before !== undefined) return w.push(`r:${before};`);
    w.enums.set(name, slot);
    return writeBytes(w, 'E:', Buffer.from(name), '";');
  }
  if (!Object.prototype.hasOwnProperty.call(value, PHP_CLASS)) {
    w.push(`a:${keys.length}:{`);
    parents.push(value);
    for (const k of keys) writeMember(w, isIntegerKey(k), k, value[k], join(path, k), depth, parents, prior);
    parents.pop();
    return w.push('}');
  }
  const name = value[PHP_CLASS];
  if (typeof name !== 'string' || !isClassName(Buffer.from(name))) throw new PhpValueError(path, `${PHP_CLASS} must be a PHP class name`);
  if (Object.prototype.hasOwnProperty.call(value, PHP_SERIALIZED)) {
    const payload = value[PHP_SERIALIZED];
    if (keys.length !== 2 || (typeof payload !== 'string' && !(payload instanceof Uint8Array))) throw new PhpValueError(path, `a C: value is { ${PHP_CLASS}, ${PHP_SERIALIZED}: string | Buffer } alone`);
    if (typeof payload === 'string' && LONE_SURROGATE.test(payload)) throw new PhpValueError(path, 'a string with a lone surrogate has no UTF-8 form');
    w.objects.set(value, slot);
    w.push(`C:${Buffer.byteLength(name)}:"${name}":`);
    return writeBytes(w, '', typeof payload === 'string' ? Buffer.from(payload) : payload, '}', '{');
  }
  w.objects.set(value, slot);
  const props = keys.filter((k) => k !== PHP_CLASS);
  w.push(`O:${Buffer.byteLength(name)}:"${name}":${props.length}:{`);
  for (const k of props) writeMember(w, false, k, value[k], join(path, k), depth, parents, prior);
  w.push('}');
}

/** A key (`i:` or `s:`) and its value; a value equal to the one it replaces keeps PHP's bytes. */
function writeMember(w: Writer, intKey: boolean, name: string, item: unknown, path: string, depth: number, parents: object[], prior: Prior | undefined): void {
  if (intKey) w.push(`i:${name};`);
  else writeString(w, path, name);
  const old = prior !== undefined && typeof prior.value === 'object' && prior.value !== null ? prior.spans.get(prior.value)?.get(name) : undefined;
  if (old !== undefined && prior !== undefined) {
    const before = (prior.value as Record<string, unknown>)[name];
    const seen = typeof item === 'object' && item !== null && w.objects.has(item);
    if (!old.refs && !seen && samePhpValue(item, before, prior.memo)) {
      if (typeof item === 'object' && item !== null && Object.prototype.hasOwnProperty.call(item, PHP_CLASS)) w.objects.set(item, w.slots + 1);
      w.slots += old.slots;
      return w.push(prior.source.subarray(old.start, old.end));
    }
    return writeValue(w, item, path, depth + 1, parents, { ...prior, value: before });
  }
  writeValue(w, item, path, depth + 1, parents);
}
