import type { Serializer } from './Serializer';

const FORBIDDEN = /"(?:__proto__|constructor|prototype)"\s*:/;

function dropForbidden(key: string, value: unknown): unknown {
  return key === '__proto__' || key === 'constructor' || key === 'prototype' ? undefined : value;
}

/**
 * JSON, the default. Keys named `__proto__`, `constructor` and `prototype` are dropped while
 * decoding, at any depth, so stored data can never reach an object prototype when app code
 * later merges it. The scan costs one regular-expression test; the reviver only runs when the
 * text may contain such a key (it names one, or holds a `\u` escape).
 */
export class JsonSerializer implements Serializer {
  stringify(value: unknown): string {
    return JSON.stringify(value);
  }

  /**
   * What JSON would not give back as it is: functions, symbols, BigInt, cycles, non-finite
   * numbers, `undefined` in an array, Date (a string after reload: store `toISOString()` or
   * `getTime()`), Map, Set, class instances (plain objects after reload), and the keys the
   * parser drops. `undefined` as an object property is allowed: it reads back as missing.
   * Shared references are fine (each comes back as its own copy).
   */
  check(value: unknown): string | undefined {
    return whyNotJson(value, '', []);
  }

  parse(text: string): unknown {
    // A key can be spelled with escapes ("\u005f_proto__"): then the reviver runs as well.
    return text.includes('\\u') || FORBIDDEN.test(text) ? JSON.parse(text, dropForbidden) : JSON.parse(text);
  }
}

/** Why `value` (at `path` inside the value set) would not survive JSON, or undefined. */
function whyNotJson(value: unknown, path: string, parents: object[]): string | undefined {
  const at = path === '' ? '' : ` at ${path}`;
  switch (typeof value) {
    case 'string': case 'boolean': return undefined;
    case 'number': return Number.isFinite(value) ? undefined : `${value}${at} would come back as null`;
    case 'bigint': return `a BigInt${at} cannot be stored as JSON: store it as a string`;
    case 'function': return `a function${at} cannot be stored`;
    case 'symbol': return `a symbol${at} cannot be stored`;
    case 'undefined': return `undefined${at} in an array would come back as null`;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (parents.includes(object)) return `the value refers to itself${at} (a cycle)`;
  if (Array.isArray(object)) {
    parents.push(object);
    for (let i = 0; i < object.length; i++) {
      const why = whyNotJson(object[i], `${path}[${i}]`, parents);
      if (why !== undefined) return why;
    }
    parents.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    if (object instanceof Date) return `a Date${at} would come back as a string: store date.toISOString() or date.getTime()`;
    const name = (proto as { constructor?: { name?: string } }).constructor?.name || 'object';
    return `${name === 'Map' || name === 'Set' ? `a ${name}` : `an instance of ${name}`}${at} would come back as a plain object: store plain data (arrays, plain objects)`;
  }
  parents.push(object);
  for (const key of Object.keys(object)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return `the key "${key}"${at} is dropped when the session is read back`;
    const item = (object as Record<string, unknown>)[key];
    if (item === undefined) continue;
    const why = whyNotJson(item, path === '' ? key : `${path}.${key}`, parents);
    if (why !== undefined) return why;
  }
  parents.pop();
  return undefined;
}
