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

  parse(text: string): unknown {
    // A key can be spelled with escapes ("\u005f_proto__"): then the reviver runs as well.
    return text.includes('\\u') || FORBIDDEN.test(text) ? JSON.parse(text, dropForbidden) : JSON.parse(text);
  }
}
