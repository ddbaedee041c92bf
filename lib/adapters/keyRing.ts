import type * as nodeCrypto from 'node:crypto';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';
import { cryptoModule } from '../id';

/** One key of an encryption key ring: its id (stored beside each record) and 32 bytes of key. */
export interface EncryptionKey {
  /** 1 to 32 characters of `[A-Za-z0-9_-]`, stored in clear in every record sealed with it. */
  id: string;
  /**
   * 32 bytes from a CSPRNG: a Buffer/Uint8Array, 64 hex digits, or base64/base64url text
   * (`EncryptedAdapter.generateKey()` makes one).
   */
  key: Uint8Array | string;
}

/** What every sealed text of format version 1 begins with: `e1:<key id>.<base64url>`. */
export const SEALED_V1 = 'e1:';
/** AES-GCM nonce: 96 bits, random per encryption (see {@link KeyRing}). */
export const NONCE_BYTES = 12;
/** AES-GCM tag: the full 128 bits. */
export const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;
const ALGORITHM = 'aes-256-gcm';
const GCM = { authTagLength: TAG_BYTES } as const;

/**
 * CSPRNG bytes for nonces, drawn 256 nonces at a time (a randomFillSync per nonce cost ~2 µs, a
 * third of the encryption of a 1 KB session). Buffer.alloc: its own memory, never a slice of
 * Node's shared pool. Shared by every ring in the process: a nonce is used once, whatever key.
 */
const pool = Buffer.alloc(NONCE_BYTES * 256);
let poolOffset = pool.length;

/** The next unused random nonce: 12 bytes of the pool, valid until the next call. */
function nextNonce(): Buffer {
  if (poolOffset === pool.length) {
    cryptoModule().randomFillSync(pool);
    poolOffset = 0;
  }
  return pool.subarray(poolOffset, (poolOffset += NONCE_BYTES));
}

/**
 * Where `seal()` assembles nonce ‖ ciphertext ‖ tag and `open()` decodes them, for records of up
 * to 16 KB (a Buffer.concat or a Buffer.from per call cost ~0.3 µs of allocation and garbage
 * collection for a 1 KB session). Used synchronously and overwritten by the next call: nothing
 * keeps a view of it (base64url makes a string of it, the decipher copies what it is given).
 */
const scratch = Buffer.alloc(16 * 1024);

interface RingKey {
  /** `e1:<id>.`: what sealed texts of this key begin with, and part of their associated data. */
  readonly header: string;
  readonly key: nodeCrypto.KeyObject;
}

/** The 32 bytes of `value`, or InvalidOption naming `option`. */
function keyBytes(option: string, value: unknown): Buffer {
  let bytes: Buffer | undefined;
  if (value instanceof Uint8Array) bytes = Buffer.from(value);
  else if (typeof value === 'string' && HEX_KEY.test(value)) bytes = Buffer.from(value, 'hex');
  else if (typeof value === 'string' && BASE64_KEY.test(value)) bytes = Buffer.from(value, 'base64'); // Node's base64 reads base64url too
  if (bytes?.length !== KEY_BYTES) {
    throw new InvalidOption(option, 'must be 32 random bytes: a Buffer, 64 hex digits or 43 base64url characters (EncryptedAdapter.generateKey())');
  }
  return bytes;
}

/**
 * An AES-256-GCM key ring: the first key seals, every key opens. A sealed text is
 * `e1:<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>` (12 + n + 16 bytes, so 4/3 × n + about
 * 42 characters plus the key id), its associated data the kind (record or marker), that header
 * and the session id: a text moved to another id, to another kind or to another key id does
 * not open.
 *
 * Nonces are 96 random bits per encryption (NIST SP 800-38D §8.2.2): no state to lose across
 * processes, restarts or forks, and the chance that two of 2^32 encryptions under one key share a
 * nonce stays below 2^-32. So a key seals at most 2^32 records (a session write or touch each)
 * before it is rotated: ~1.4 years at a steady 100 000 writes a second, 136 years at 1 000. A
 * counter with a random per-process prefix was not taken: with 96 bits, the prefix space of
 * many processes and restarts over a key's life gives no better bound, and a counter adds state.
 */
export class KeyRing {
  readonly #primary: RingKey;
  readonly #keys = new Map<string, RingKey>();

  constructor(keys: unknown) {
    if (!Array.isArray(keys) || keys.length === 0) throw new InvalidOption('keys', 'must be a non-empty array of { id, key }; the first one encrypts');
    keys.forEach((entry: unknown, n) => {
      const where = `keys[${n}]`;
      if (typeof entry !== 'object' || entry === null) throw new InvalidOption(where, 'must be an object { id, key }');
      checkOptionKeys(where, entry, ['id', 'key']);
      const { id, key } = entry as EncryptionKey;
      if (typeof id !== 'string' || !KEY_ID.test(id)) throw new InvalidOption(`${where}.id`, 'must be 1 to 32 characters of [A-Za-z0-9_-]');
      if (this.#keys.has(id)) throw new InvalidOption(`${where}.id`, `the key id "${id}" is used twice`);
      this.#keys.set(id, { header: `${SEALED_V1}${id}.`, key: cryptoModule().createSecretKey(keyBytes(`${where}.key`, key)) });
    });
    this.#primary = this.#keys.get((keys[0] as EncryptionKey).id)!;
  }

  /** The key ids, the encrypting one first. */
  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  /** `plain` sealed under the first key, bound to `kind` and `id` (the associated data). */
  seal(kind: string, id: string, plain: string): string {
    const { header, key } = this.#primary;
    const nonce = nextNonce();
    const cipher = cryptoModule().createCipheriv(ALGORITHM, key, nonce, GCM);
    cipher.setAAD(Buffer.from(kind + header + id, 'latin1'));
    const body = cipher.update(plain, 'utf8');
    const last = cipher.final(); // empty for GCM, kept for form's sake
    const tag = cipher.getAuthTag();
    const total = NONCE_BYTES + body.length + last.length + TAG_BYTES;
    if (total > scratch.length) return header + Buffer.concat([nonce, body, last, tag]).toString('base64url');
    scratch.set(nonce, 0);
    scratch.set(body, NONCE_BYTES);
    scratch.set(last, NONCE_BYTES + body.length);
    scratch.set(tag, total - TAG_BYTES);
    return header + scratch.toString('base64url', 0, total);
  }

  /**
   * The plain text of `sealed` (as {@link seal} made it for `kind` and `id`), or null when it does
   * not open: unknown format or key id, too short, altered, or sealed for another kind or id.
   * Nothing is returned before the tag is checked, so a damaged text never gives partial data.
   */
  open(kind: string, id: string, sealed: string): string | null {
    if (!sealed.startsWith(SEALED_V1)) return null;
    const dot = sealed.indexOf('.', SEALED_V1.length);
    const ring = dot < 0 ? undefined : this.#keys.get(sealed.slice(SEALED_V1.length, dot));
    if (ring === undefined) return null;
    const text = sealed.slice(dot + 1);
    // A text longer than the scratch decodes to a Buffer of its own (write() would truncate).
    const bytes = text.length <= (scratch.length / 3) * 4 ? scratch.subarray(0, scratch.write(text, 'base64url')) : Buffer.from(text, 'base64url');
    // Canonical base64url only: Node skips foreign characters and ignores the spare bits of the
    // last one, so an altered text could otherwise still open (to the same, authentic data).
    if (bytes.length < NONCE_BYTES + TAG_BYTES || bytes.toString('base64url') !== text) return null;
    try {
      const decipher = cryptoModule().createDecipheriv(ALGORITHM, ring.key, bytes.subarray(0, NONCE_BYTES), GCM);
      decipher.setAAD(Buffer.from(kind + ring.header + id, 'latin1'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const body = decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES));
      const last = decipher.final(); // throws for a wrong tag: then nothing is returned
      return last.length === 0 ? body.toString('utf8') : Buffer.concat([body, last]).toString('utf8');
    } catch {
      return null;
    }
  }

  /** The id of the key `sealed` was sealed with, or undefined when it is not a sealed text. */
  keyIdOf(sealed: string): string | undefined {
    if (!sealed.startsWith(SEALED_V1)) return undefined;
    const dot = sealed.indexOf('.', SEALED_V1.length);
    return dot < 0 ? undefined : sealed.slice(SEALED_V1.length, dot);
  }
}
