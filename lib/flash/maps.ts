import type { FlashClasses } from './options';

/**
 * The stored messages: type → raw messages, in insertion order.
 *
 * @example
 * const all: FlashMessages = flash.getMessages(); // { error: ['Not found'], success: ['Saved'] }
 */
export type FlashMessages = Record<string, string[]>;

/**
 * Define an own property, so a type named `__proto__` is stored like any other; an existing key keeps its place.
 *
 * @example
 * put(map, '__proto__', ['stored as a message type']);
 */
export function put(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A copy of a class map, its lists copied too, so the caller's map and the Flash's never share.
 *
 * @example
 * const classes = copyClasses({ error: ['alert', 'alert-danger'] });
 */
export function copyClasses(classes: FlashClasses): FlashClasses {
  const copy: FlashClasses = {};
  for (const [type, value] of Object.entries(classes)) put(copy, type, Array.isArray(value) ? [...value] : value);
  return copy;
}

/**
 * True for an object literal or a null-prototype object: what a stored message map can be.
 *
 * @example
 * isPlainObject({ error: ['x'] }); // true
 * isPlainObject(new Map()); // false
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A stored list as an array (Phalcon renders a lone string as one message).
 *
 * @example
 * listOf('Saved'); // ['Saved']
 */
export function listOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return [...value];
  return value === undefined || value === null ? [] : [value];
}

/**
 * PHP `empty()` on a type: undefined, '' and '0' mean "every type".
 *
 * @example
 * isAnyType('0'); // true
 */
export function isAnyType(type: string | undefined): type is undefined {
  return type === undefined || type === '' || type === '0';
}
