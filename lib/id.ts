import { createHash, randomBytes } from 'node:crypto';

/** The id alphabet (PHP's 6-bits-per-character set, Phalcon's cookie check). */
export const ID_PATTERN = /^[a-zA-Z0-9,-]{1,128}$/;

/** The longest id accepted from a cookie or `setId()`; longer ones are hostile or broken. */
export const MAX_ID_LENGTH = 128;

/**
 * A new session id: 24 bytes from the CSPRNG as 32 characters of `[a-zA-Z0-9-]`, about 191 bits.
 * Incoming ids may also hold `,` (PHP's alphabet), but generated ones do not: RFC 6265 does not
 * allow a comma in a cookie value.
 *
 * @example
 * generateId(); // 'kX3v-9QmZ...' (32 chars)
 */
export function generateId(): string {
  // base64url is [A-Za-z0-9-_]; '_' becomes '-', which costs 1 bit in 64 per character.
  return randomBytes(24).toString('base64url').replaceAll('_', '-');
}

/** True when `id` is a string of 1 to 128 characters from `[a-zA-Z0-9,-]`. */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

const NAME_PATTERN = /^[\p{L}\p{N}_-]+$/u;
const DIGITS_ONLY = /^[0-9]+$/;

/** Phalcon's session-name rule: Unicode letters and numbers, `_`, `-`; not ASCII digits only. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name) && !DIGITS_ONLY.test(name);
}

/**
 * A short, stable stand-in for a session id in messages and logs (`id#` + 8 characters of its
 * SHA-256): enough to match two log lines, useless for taking over the session.
 *
 * @example
 * idTag('kX3v9QmZ...'); // 'id#Qm3f0aZ1'
 */
export function idTag(id: string): string {
  return `id#${createHash('sha256').update(id).digest('base64url').slice(0, 8)}`;
}

/** `text` (a key, a path) with every occurrence of `id` replaced by its {@link idTag}. */
export function redactId(text: string, id: string): string {
  return id === '' ? text : text.replaceAll(id, idTag(id));
}
