import type * as nodeCrypto from 'node:crypto';

/**
 * node:crypto, loaded by the first id made or tagged rather than by `require()` of the package
 * (it is a tenth of the main entry's require time; every request that makes a session needs it).
 */
let crypto: typeof nodeCrypto | undefined;
export const cryptoModule = (): typeof nodeCrypto => (crypto ??= require('node:crypto') as typeof nodeCrypto);

/**
 * A random UUID (a lock's per-request token): `crypto.randomUUID()`, which draws from a cached
 * block of CSPRNG bytes, with node:crypto loaded at the first call.
 *
 * @example
 * const token = uuid(); // '3b241101-e2bb-4255-8caf-4136c566a962'
 */
export function uuid(): string {
  return cryptoModule().randomUUID();
}

/** The id alphabet (PHP's 6-bits-per-character set, Phalcon's cookie check). */
export const ID_PATTERN = /^[a-zA-Z0-9,-]{1,128}$/;

/**
 * Ids beginning so name the library's own records in a session store (a user's index of
 * sessions); a cookie naming one is refused like an id outside the alphabet, so that no client
 * can hold (and lock) such a record as its session, whatever `strict` says.
 */
export const RESERVED_ID_PREFIX = 'ksm-';

/** The longest id accepted from a cookie or `setId()`; longer ones are hostile or broken. */
export const MAX_ID_LENGTH = 128;

/** Characters in a generated id: 32 × log2(63) ≈ 191 bits. */
const ID_LENGTH = 32;
/** Bytes per draw: 64 base64url characters, of which about 63 survive the rejection below. */
const DRAW = 48;
/**
 * CSPRNG bytes drawn 64 ids at a time: one randomBytes() call per id cost ~3 µs on the
 * new-session path, a slice of this pool ~0.4 µs (the same trade as randomUUID()'s cache).
 * Buffer.alloc, not allocUnsafe: its own memory, never a slice of Node's shared pool.
 */
const pool = Buffer.alloc(DRAW * 64);
let poolOffset = pool.length;

/**
 * A new session id: 32 characters uniform over `[a-zA-Z0-9-]` from the CSPRNG, about 191 bits.
 * Incoming ids may also hold `,` (PHP's alphabet), but generated ones do not: RFC 6265 does not
 * allow a comma in a cookie value.
 *
 * @example
 * generateId(); // 'kX3v-9QmZ...' (32 chars)
 */
export function generateId(): string {
  // Rejection sampling: base64url turns each 6 random bits into one of 64 characters; dropping
  // '_' leaves the other 63 equally likely (mapping '_' to '-' made '-' twice as likely).
  // One draw keeps fewer than 32 of its 64 characters with odds below 1e-40: the loop is for
  // correctness, never for speed.
  let id = '';
  while (id.length < ID_LENGTH) {
    if (poolOffset === pool.length) {
      cryptoModule().randomFillSync(pool);
      poolOffset = 0;
    }
    id += pool.toString('base64url', poolOffset, (poolOffset += DRAW)).replaceAll('_', '');
  }
  id = id.length === ID_LENGTH ? id : id.slice(0, ID_LENGTH);
  // Never an id a cookie could not bring back (reserved) nor one that names a lock key in a store
  // shared with Phalcon (`<id>-lock`): about one draw in ten million, drawn again.
  return id.startsWith(RESERVED_ID_PREFIX) || id.endsWith('-lock') ? generateId() : id;
}

/** `ID_PATTERN` without its counted repetition, which cost twice the instructions (the length is checked first). */
const ID_CHARACTERS = /^[a-zA-Z0-9,-]+$/;

/**
 * The id last found valid: a request's id is checked where it enters (the cookie) and again by
 * the adapter's `key()` a moment later; the second check is then a comparison (issue #17).
 */
let validId = '';

/** True when `id` is a string of 1 to 128 characters from `[a-zA-Z0-9,-]` (`ID_PATTERN`). */
export function isValidId(id: unknown): id is string {
  // (the first characters first: two different ids rarely share one, and a cookie's id is a slice
  // of the Cookie header, which V8 compares with another string through its runtime)
  if (typeof id === 'string' && id.charCodeAt(0) === validId.charCodeAt(0) && id === validId) return true;
  const valid = typeof id === 'string' && id.length <= MAX_ID_LENGTH && ID_CHARACTERS.test(id);
  if (valid) validId = id;
  return valid;
}

const NAME_PATTERN = /^[\p{L}\p{N}_-]+$/u;
const DIGITS_ONLY = /^[0-9]+$/;

/** The name last found valid: the middleware sets the same one on every request's Manager. */
let validName = '';

/** Phalcon's session-name rule: Unicode letters and numbers, `_`, `-`; not ASCII digits only. */
export function isValidName(name: unknown): name is string {
  if (name === validName && name !== '') return true; // (two Unicode regular expressions saved)
  const valid = typeof name === 'string' && NAME_PATTERN.test(name) && !DIGITS_ONLY.test(name);
  if (valid) validName = name;
  return valid;
}

/**
 * A short, stable stand-in for a session id in messages and logs (`id#` + 8 characters of its
 * SHA-256): enough to match two log lines, useless for taking over the session.
 *
 * @example
 * idTag('kX3v9QmZ...'); // 'id#Qm3f0aZ1'
 */
export function idTag(id: string): string {
  return `id#${cryptoModule().createHash('sha256').update(id).digest('base64url').slice(0, 8)}`;
}

/** `text` (a key, a path) with every occurrence of `id` replaced by its {@link idTag}. */
export function redactId(text: string, id: string): string {
  return id === '' ? text : text.replaceAll(id, idTag(id));
}
