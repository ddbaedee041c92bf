import { isUtf8 } from 'node:buffer';
import { PhpSerializeError } from './errors';
import { PHP_CLASS, PHP_ENUM, PHP_SERIALIZED, isClassName, isInt64, setKey, toInteger } from './values';

/** Where one child of a decoded array or object was in the input, and what it held. */
export interface Span {
  readonly start: number;
  readonly end: number;
  /** How many reference slots its values take. */
  readonly slots: number;
  /** Whether it holds an `r:` or `R:`. */
  readonly refs: boolean;
}

/** Each decoded array or object's children by key, when the caller asks for them. */
export type Spans = WeakMap<object, Map<string, Span>>;

/** One `r:n;` or `R:n;` of the input: its bytes and the 1-based slot it points to. */
export interface RefToken {
  readonly start: number;
  readonly end: number;
  readonly target: number;
  readonly kind: 'r' | 'R';
}

/** The default limit on nesting (PHP's own `unserialize_max_depth` is 4096). */
export const DEFAULT_MAX_DEPTH = 512;

const IN_PROGRESS = Symbol('in progress');
const OPAQUE = Symbol('opaque');
const FLOAT = /^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NAN|-?INF)$/;
const MIN_MEMBER = 6; // the shortest array member: `i:0;N;`

interface Members {
  readonly members: Array<[string, unknown]>;
  readonly spans: Map<string, Span> | undefined;
}

/**
 * A strict reader of PHP `serialize()` output over bytes. Every value but `R:` takes a reference
 * slot, numbered from 1 over the whole input, as PHP numbers them; `r:`/`R:` resolve to the
 * value of their slot (the same JS object for arrays and objects). Work is linear in the input:
 * lengths and counts are checked against the bytes left before anything is allocated.
 */
export class Parser {
  pos = 0;
  readonly slots: unknown[] = [];
  readonly refs: RefToken[] = [];
  /** Set by a `C:` value: the payload may hold slots of its own, so later numbers are unknown. */
  sawCustom = false;
  /** Why the value read has no faithful JS form, if it has none. */
  unrepresentable: string | undefined;
  #depth = 0;

  constructor(readonly buf: Buffer, readonly maxDepth = DEFAULT_MAX_DEPTH, readonly spans?: Spans) {}

  fail(reason: string, at = this.pos): never {
    throw new PhpSerializeError(reason, at);
  }

  flag(reason: string): void {
    this.unrepresentable ??= `${reason} (byte ${this.pos})`;
  }

  /** Takes a slot for a container the caller reads itself; a reference to it reads as a cycle. */
  reserveSlot(): void {
    this.slots.push(IN_PROGRESS);
  }

  /** Marks slots `[from, to)` as belonging to a value kept opaque: a reference to one is opaque too. */
  hide(from: number, to: number): void {
    for (let i = from; i < to; i++) this.slots[i] = OPAQUE;
  }

  expect(text: string): void {
    for (let i = 0; i < text.length; i++) {
      if (this.buf[this.pos] !== text.charCodeAt(i)) this.fail(this.pos >= this.buf.length ? `unexpected end, "${text[i]}" expected` : `"${text[i]}" expected`);
      this.pos++;
    }
  }

  /** An unsigned decimal (a length or a count), at most `max` (`limit` says what bounds it). */
  uint(max: number, limit = `the ${max} bytes left could hold`): number {
    const start = this.pos;
    let n = 0;
    while (this.pos < this.buf.length && this.buf[this.pos] >= 0x30 && this.buf[this.pos] <= 0x39) {
      n = n * 10 + this.buf[this.pos] - 0x30;
      this.pos++;
      if (n > max) this.fail(`${n} is more than ${limit}`, start);
    }
    if (this.pos === start) this.fail('a number expected');
    return n;
  }

  /** Bytes up to the next `;`, for numbers (bounded: no valid number is longer). */
  token(): string {
    const end = this.buf.indexOf(0x3b, this.pos);
    if (end < 0 || end - this.pos > 1100) this.fail('unterminated number');
    const text = this.buf.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return text;
  }

  int(): number | bigint {
    const at = this.pos;
    const text = this.token();
    const m = /^([+-]?)0*([0-9]+)$/.exec(text);
    if (m === null) this.fail(`"${text}" is not an integer`, at);
    if (m[2].length > 19 || !isInt64(BigInt(m[1] + m[2]))) this.fail(`${text} is beyond PHP's 64-bit int`, at);
    const n = toInteger(m[1] === '-' ? `-${m[2]}` : m[2]);
    return n === 0 ? 0 : n; // `i:-0;` is 0
  }

  /** `s:n:"…"` without its `;`: the bytes of a string (PHP strings are bytes). */
  bytes(prefix: string, close = '"'): Buffer {
    this.expect(prefix);
    const n = this.uint(this.buf.length - this.pos);
    this.expect(':"');
    if (this.pos + n > this.buf.length) this.fail(`a string of ${n} bytes runs past the end`);
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.expect(close);
    return bytes;
  }

  text(bytes: Buffer): string | Buffer {
    return isUtf8(bytes) ? bytes.toString('utf8') : Buffer.from(bytes);
  }

  /** An array key or property name: `i:…;` or `s:…;`, as a JS property name. */
  key(): string {
    const at = this.pos;
    const c = this.buf[this.pos];
    if (c === 0x69) { this.expect('i:'); return String(this.int()); }
    if (c === 0x73) {
      const bytes = this.bytes('s:', '";');
      if (!isUtf8(bytes)) this.flag('a key that is not UTF-8');
      return bytes.toString(isUtf8(bytes) ? 'utf8' : 'latin1');
    }
    return this.fail('an array key (i: or s:) expected', at);
  }

  value(): unknown {
    const at = this.pos;
    const c = this.buf[this.pos];
    if (c === 0x52) return this.ref('R'); // R: takes no slot of its own
    const slot = this.slots.length;
    this.slots.push(IN_PROGRESS);
    let v: unknown;
    switch (c) {
      case 0x4e: this.expect('N;'); v = null; break;
      case 0x62: {
        this.expect('b:');
        const b = this.buf[this.pos];
        if (b !== 0x30 && b !== 0x31) this.fail('b:0 or b:1 expected');
        this.pos++;
        this.expect(';');
        v = b === 0x31;
        break;
      }
      case 0x69: this.expect('i:'); v = this.int(); break;
      case 0x64: {
        this.expect('d:');
        const text = this.token();
        if (!FLOAT.test(text)) this.fail(`"${text}" is not a float`, at + 2);
        v = text === 'NAN' ? NaN : text === 'INF' ? Infinity : text === '-INF' ? -Infinity : Number(text);
        break;
      }
      case 0x73: v = this.text(this.bytes('s:', '";')); break;
      case 0x61: v = this.array(); break;
      case 0x4f: v = this.object(); break;
      case 0x43: v = this.custom(); break;
      case 0x45: {
        const name = this.bytes('E:', '";');
        if (!isClassName(name, true)) this.fail('an enum case must be "Class:Case"', at);
        v = { [PHP_ENUM]: this.className(name) };
        break;
      }
      case 0x72: v = this.ref('r'); break;
      default: this.fail(this.pos >= this.buf.length ? 'unexpected end, a value expected' : 'a value (N b i d s a O C E r R) expected');
    }
    this.slots[slot] = v;
    return v;
  }

  private ref(kind: 'r' | 'R'): unknown {
    const start = this.pos;
    this.expect(`${kind}:`);
    const target = this.uint(Number.MAX_SAFE_INTEGER, `the largest slot number Node can follow (${Number.MAX_SAFE_INTEGER})`);
    this.expect(';');
    if (target < 1 || target > this.slots.length) this.fail(`${kind}:${target} points to no value`, start);
    this.refs.push({ start, end: this.pos, target, kind });
    if (this.sawCustom) this.flag('a reference after a C: value, whose payload may number values of its own');
    const v = this.slots[target - 1];
    if (v === IN_PROGRESS) this.flag('a reference cycle');
    else if (v === OPAQUE) this.flag('a reference into a value kept opaque');
    else return v;
    return null;
  }

  private className(bytes: Buffer): string {
    if (!isUtf8(bytes)) this.flag('a class name that is not UTF-8');
    return bytes.toString(isUtf8(bytes) ? 'utf8' : 'latin1');
  }

  private enter(): void {
    if (++this.#depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
  }

  /** `n:{` key/value pairs `}`, each key once. */
  private members(kind: string): Members {
    const n = this.uint(Math.floor((this.buf.length - this.pos) / MIN_MEMBER));
    this.expect(':{');
    this.enter();
    const members: Array<[string, unknown]> = [];
    const seen = new Set<string>();
    const spans = this.spans === undefined ? undefined : new Map<string, Span>();
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const key = this.key();
      if (seen.has(key)) this.fail(`the ${kind} key "${key}" appears twice`, at);
      seen.add(key);
      const start = this.pos;
      const slots = this.slots.length;
      const refs = this.refs.length;
      members.push([key, this.value()]);
      spans?.set(key, { start, end: this.pos, slots: this.slots.length - slots, refs: this.refs.length > refs });
    }
    this.expect('}');
    this.#depth--;
    return { members, spans };
  }

  private keep<T extends object>(container: T, spans: Map<string, Span> | undefined): T {
    if (spans !== undefined) this.spans?.set(container, spans);
    return container;
  }

  private array(): unknown {
    this.expect('a:');
    const { members, spans } = this.members('array');
    if (members.every(([key], i) => key === String(i))) return this.keep(members.map(([, v]) => v), spans);
    const result: Record<string, unknown> = {};
    for (const [key, v] of members) {
      if (key === PHP_CLASS || key === PHP_ENUM) this.flag(`an array key "${key}", which marks objects in JS`);
      setKey(result, key, v);
    }
    return this.keep(result, spans);
  }

  private object(): unknown {
    const at = this.pos;
    const name = this.bytes('O:', '":');
    if (!isClassName(name)) this.fail('a class name expected', at);
    const result: Record<string, unknown> = { [PHP_CLASS]: this.className(name) };
    const { members, spans } = this.members('property');
    for (const [key, v] of members) {
      if (key === PHP_CLASS || key === PHP_ENUM || key === PHP_SERIALIZED) this.flag(`a property "${key}", which marks ${key === PHP_CLASS ? 'the class' : key === PHP_ENUM ? 'enums' : 'C: values'} in JS`);
      setKey(result, key, v);
    }
    return this.keep(result, spans);
  }

  private custom(): unknown {
    const at = this.pos;
    const name = this.bytes('C:', '":');
    if (!isClassName(name)) this.fail('a class name expected', at);
    const n = this.uint(this.buf.length - this.pos);
    this.expect(':{');
    if (this.pos + n > this.buf.length) this.fail(`a payload of ${n} bytes runs past the end`);
    const payload = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.expect('}');
    this.sawCustom = true;
    return { [PHP_CLASS]: this.className(name), [PHP_SERIALIZED]: this.text(payload) };
  }
}
