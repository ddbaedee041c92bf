import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, InvalidSessionAdapter, InvalidSessionId } from '../errors';
import { cryptoModule, isValidId } from '../id';
import { isMoveMarker, MOVE_MARKER_PREFIX, type Adapter, type LockHandle, type LockOptions, type WriteOptions } from './Adapter';
import { KeyRing, SEALED_V1, type EncryptionKey } from './keyRing';
import { OpenedCache } from './openedCache';

export type { EncryptionKey } from './keyRing';

/** Options of {@link EncryptedAdapter}; checked when it is made, unknown keys refused. */
export interface EncryptedAdapterOptions {
  /**
   * The key ring, newest first: the first key encrypts every write, every key decrypts. Rotate
   * by putting a new key first; drop an old one once no live record can still be under it.
   */
  keys: readonly EncryptionKey[];
  /**
   * Migration from an unencrypted store: read records (and move markers) stored in plain text
   * before encryption was turned on, and encrypt them on their next write. While it is on, a
   * plain record planted in the store is believed too: turn it off once the longest session
   * lifetime has passed. Off, such a record is invalid data (the session restarts once).
   * @default false
   */
  acceptPlaintext?: boolean;
  /**
   * How many sessions this process remembers, per id, as the stored text it last wrote or read
   * and that text's plain data: a read that finds exactly that text again gives the plain data
   * without decrypting, and a touch of unchanged data hands on that text without encrypting. Any
   * other text (changed by another process, tampered) is decrypted as without the cache. Least
   * recently used ids are forgotten first; `destroy()` and a failed or refused write forget
   * theirs. The cache holds decrypted sessions in this process's memory (about 2.4 times the
   * session size per entry); 0 turns it off.
   * @default 1000
   */
  cache?: number;
}

const OPTIONS = ['keys', 'acceptPlaintext', 'cache'];
const DEFAULT_CACHE = 1000;

/** What a sealed session record begins with: no serializer output begins with a NUL. */
const RECORD = '\u0000';
/** Associated-data kinds: a sealed record never opens as a marker, nor the other way round. */
const AS_RECORD = 'r';
const AS_MARKER = 'm';

/**
 * Encryption at rest around any store adapter (Symfony's `EncryptedSessionProxy`, as a wrapping
 * adapter): records are sealed with AES-256-GCM before they reach the store and opened after.
 *
 * Stored format (version 1):
 * - a session record: `\0e1:<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`;
 * - a move marker: `MOVE_MARKER_PREFIX` + `e1:<key id>.<base64url(…)>`, the target id sealed.
 * The associated data is the kind, the header and the session id: a record copied under
 * another id, or a marker's body pasted as a record, does not open.
 *
 * Move markers keep their prefix in clear, so the inner adapter still recognises one (an
 * `existing` update never replaces it, no touch extends it); the target behind it is sealed.
 * A plain target would point a reader of the store at the one id that a sign-in has just made
 * (the data of every record being sealed, nothing else in the store tells a signed-in session
 * from a visitor's) for the marker's 60 s; sealed, it costs one more AES-GCM call per sign-in.
 * `read()` and `destroy()` give the Manager the plain marker back.
 *
 * A record that does not open — altered, truncated, under a key not in the ring, copied from
 * another id, plain text (unless `acceptPlaintext`) — is read as {@link EncryptedAdapter.UNREADABLE}:
 * the Manager sees undecodable data, starts a new empty session under a new id and emits
 * `session:invalid` (reason 'data'); never a crash, never partial data.
 *
 * Rotation: the first key seals every write; a record under an older key is re-encrypted at its
 * next write (changed data, regenerateId, or every request with `lazyWrite: false`). A lazy
 * write only touches the record (`updateTimestamp`), and does not re-encrypt it: keep a retired
 * key in the ring for as long as a session can live without a change (its `absoluteLifetime`);
 * a session still under a removed key restarts once.
 *
 * Cache (option `cache`, 1000 ids by default): per id, the stored text this adapter last wrote
 * or read and its plain data. A read that finds exactly that text again under that id skips the
 * decryption; a touch of unchanged data hands the inner adapter that same stored text instead
 * of a new seal (when it is under the encrypting key). Anything else is decrypted as before.
 * The key ring of an adapter never changes, and the cache is the adapter's own: a ring without
 * a key is a new adapter, with an empty cache. `cache: 0` decrypts every read.
 *
 * Locks, `lock()`, `touchesOnRead`, `lifetime`, `validateId`, `gc` and `close` are the inner
 * adapter's, unchanged. Session ids are the inner store's keys as before: they are not hidden.
 *
 * @example
 * const adapter = new EncryptedAdapter(new RedisAdapter({ port: 6379 }), {
 *   keys: [{ id: '2026-12', key: process.env.SESSION_KEY_2026_12! }, { id: '2026-06', key: process.env.SESSION_KEY_2026_06! }],
 * });
 * app.use(session({ adapter }));
 */
export class EncryptedAdapter implements Adapter {
  /** What `read()` gives for a record that does not open: the Manager counts it as invalid data. */
  static readonly UNREADABLE = '\u0000unreadable';

  /** 32 random bytes as base64url text, for `keys[].key`. */
  static generateKey(): string {
    return cryptoModule().randomBytes(32).toString('base64url');
  }

  /** The adapter that stores the sealed records. */
  readonly inner: Adapter;
  readonly acceptPlaintext: boolean;
  readonly lock?: (id: string, options: Partial<LockOptions>) => Promise<LockHandle>;
  readonly validateId?: (id: string) => Promise<boolean>;
  readonly updateTimestamp?: (id: string, data: string, ttl: number, lock?: LockHandle) => Promise<boolean | void>;
  /** The inner adapter's lifetime (Phalcon's adapter option), present only when the inner adapter has one. */
  declare readonly lifetime?: number;
  readonly close?: () => Promise<void>;
  readonly #ring: KeyRing;
  readonly #cache: OpenedCache;
  /** What a session record sealed with the encrypting key begins with. */
  readonly #current: string;

  constructor(inner: Adapter, options: EncryptedAdapterOptions) {
    if (typeof inner !== 'object' || inner === null || !['read', 'write', 'destroy', 'gc'].every((m) => typeof (inner as unknown as Record<string, unknown>)[m] === 'function')) {
      throw new InvalidSessionAdapter('EncryptedAdapter wraps an adapter: it must implement read, write, destroy and gc');
    }
    if (typeof options !== 'object' || options === null) throw new InvalidOption('EncryptedAdapter', 'needs options { keys }');
    if (inner.sharedFormat !== undefined) throw new InvalidOption('EncryptedAdapter', 'cannot wrap a store shared with another program (a PHP app): it could not read the sealed records');
    checkOptionKeys('EncryptedAdapter', options, OPTIONS, { key: 'use `keys: [{ id, key }]`', secret: 'use `keys: [{ id, key }]`' });
    if (options.acceptPlaintext !== undefined && typeof options.acceptPlaintext !== 'boolean') {
      throw new InvalidOption('acceptPlaintext', 'must be a boolean');
    }
    if (options.cache !== undefined && !(Number.isSafeInteger(options.cache) && options.cache >= 0)) {
      throw new InvalidOption('cache', 'must be a whole number of sessions, 0 or more (0 turns the cache off)');
    }
    this.inner = inner;
    this.acceptPlaintext = options.acceptPlaintext ?? false;
    this.#ring = new KeyRing(options.keys);
    this.#cache = new OpenedCache(options.cache ?? DEFAULT_CACHE);
    this.#current = `${RECORD}${SEALED_V1}${this.#ring.ids[0]}.`;
    // Optional methods exist exactly when the inner adapter has them: the Manager asks.
    if (inner.lock) this.lock = (id, lockOptions) => inner.lock!(id, lockOptions);
    if (inner.validateId) this.validateId = (id) => inner.validateId!(id);
    if (inner.close) this.close = () => inner.close!();
    // The inner adapter's lifetime, only when it has one (session() takes its own default otherwise).
    if (inner.lifetime !== undefined) Object.defineProperty(this, 'lifetime', { get: () => inner.lifetime, enumerable: true });
    if (inner.updateTimestamp) {
      // The data goes sealed: an inner adapter may rewrite the record on a touch. The text it
      // holds already, when this adapter knows it (and it is under the encrypting key, which a
      // new seal would use): rewriting a record with its own bytes tells the store nothing new.
      this.updateTimestamp = async (id, data, ttl, lock) => {
        if (!isValidId(id)) throw new InvalidSessionId();
        const sealed = this.#cache.textOf(id, data) ?? this.#seal(id, data);
        let touched: boolean | void;
        try {
          touched = await inner.updateTimestamp!(id, sealed, ttl, lock);
        } catch (err) {
          this.#cache.delete(id);
          throw err;
        }
        if (touched === false) this.#cache.delete(id); // nothing live to touch: gone, or moved
        return touched;
      };
    }
  }

  /** The inner adapter's (false when it has none). */
  get touchesOnRead(): boolean {
    return this.inner.touchesOnRead === true;
  }


  /** The key ids of the ring, the encrypting one first. */
  get keyIds(): string[] {
    return this.#ring.ids;
  }

  async read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null> {
    const text = await this.inner.read(id, lock, ttl);
    const known = text === null ? undefined : this.#cache.plainOf(id, text);
    if (known !== undefined) return known;
    const plain = this.#open(id, text);
    // Remembered only when it was sealed and opened; anything else is forgotten (plain === text:
    // none, '', or a plain record or marker read with acceptPlaintext).
    if (plain !== null && plain !== text && plain !== EncryptedAdapter.UNREADABLE) this.#cache.set(id, text!, plain, text!.startsWith(this.#current));
    else this.#cache.delete(id);
    return plain;
  }

  async write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean | void> {
    const sealed = this.#seal(id, data);
    let written: boolean | void;
    try {
      written = await this.inner.write(id, sealed, ttl, lock, options);
    } catch (err) {
      this.#cache.delete(id); // whatever the store holds now, it is not known here
      throw err;
    }
    if (written === false) this.#cache.delete(id); // a refused update: the record is gone or moved
    else this.#cache.set(id, sealed, data, !isMoveMarker(data));
    return written;
  }

  /** The plain text removed (a marker plain again, for the Manager to follow), as `read()` gives it. */
  async destroy(id: string): Promise<string | null | void> {
    this.#cache.delete(id);
    let removed: string | null | void;
    try {
      removed = await this.inner.destroy(id);
    } finally {
      this.#cache.delete(id); // also what a read or write finished meanwhile remembered
    }
    return typeof removed === 'string' ? this.#open(id, removed) : removed;
  }

  gc(maxLifetime: number): Promise<number> {
    return this.inner.gc(maxLifetime);
  }

  /**
   * The id of the key the stored text was sealed with; '' for a plain text. For migration
   * tooling and specs: a record under a retired key can be found before the key is dropped.
   */
  keyIdOf(stored: string): string {
    const body = isMoveMarker(stored) ? stored.slice(MOVE_MARKER_PREFIX.length) : stored.startsWith(RECORD) ? stored.slice(1) : '';
    return this.#ring.keyIdOf(body) ?? '';
  }

  /** What the store gets for `data`: a sealed record, or a marker with its target sealed. */
  #seal(id: string, data: string): string {
    if (!isValidId(id)) throw new InvalidSessionId(); // before any work; the inner adapter checks again
    if (isMoveMarker(data)) return MOVE_MARKER_PREFIX + this.#ring.seal(AS_MARKER, id, data.slice(MOVE_MARKER_PREFIX.length));
    return RECORD + this.#ring.seal(AS_RECORD, id, data);
  }

  /** What the Manager gets for stored `text`: the plain text, or UNREADABLE. */
  #open(id: string, text: string | null): string | null {
    if (text === null || text === '') return text;
    let plain: string | null;
    if (isMoveMarker(text)) {
      const body = text.slice(MOVE_MARKER_PREFIX.length);
      // A plain marker's target is an id, which never holds the ':' of a sealed text.
      if (!body.startsWith(SEALED_V1)) return this.acceptPlaintext ? text : EncryptedAdapter.UNREADABLE;
      plain = this.#ring.open(AS_MARKER, id, body);
      return plain === null ? EncryptedAdapter.UNREADABLE : MOVE_MARKER_PREFIX + plain;
    }
    if (text.startsWith(RECORD)) {
      plain = this.#ring.open(AS_RECORD, id, text.slice(1));
      return plain ?? EncryptedAdapter.UNREADABLE;
    }
    return this.acceptPlaintext ? text : EncryptedAdapter.UNREADABLE;
  }
}
