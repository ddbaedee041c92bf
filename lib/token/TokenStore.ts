import type * as Jose from 'jose';
import type { Adapter } from '../adapters/Adapter';
import { checkOptionKeys } from '../closedOptions';
import { AdapterRuntimeError, InvalidOption, SessionError } from '../errors';
import type { TokenRejection } from '../events';
import { isValidId } from '../id';
import { FOR_REQUEST, type CarrierRequest, type SessionCarrier } from '../koa/carrier';
import { requirePeer } from '../peer';
import type { SessionTransport } from '../manager/SessionTransport';
import { generateSecret, keyRing, type RingKey, type TokenAlgorithm, type TokenKey, type TokenMode } from './keys';
import { TokenRequest } from './TokenRequest';

const jose = requirePeer<typeof Jose>('jose', 'koa-session-manager/token');

/** Options of a {@link TokenStore}. Closed: an unknown key throws `InvalidOption`. */
export interface TokenStoreOptions {
  /**
   * `'signed'`: a JWS the client can read but not change. `'encrypted'`: a JWE (`dir` +
   * A256GCM) the client can neither read nor change. @default 'signed'
   */
  mode?: TokenMode;
  /** Signed tokens only: the one algorithm made and accepted (`none` cannot be chosen). @default 'HS256' */
  algorithm?: TokenAlgorithm;
  /** The key ring, newest first: the first key makes every new token, all of them verify. */
  keys: TokenKey[];
  /**
   * Where the token travels: `'cookie'` (the session() cookie, its name and flags) or
   * `'bearer'` (`Authorization: Bearer <token>` in, the header `header` out). @default 'cookie'
   */
  transport?: 'cookie' | 'bearer';
  /** Bearer transport: the response header that carries a new or renewed token (empty: discard yours). @default 'Session-Token' */
  header?: string;
  /** The `iss` claim made and required. */
  issuer?: string;
  /** The `aud` claim made and required. */
  audience?: string;
  /**
   * Bearer transport: the longest token made or accepted, in bytes. A cookie token's limit is
   * the browsers': 4096 bytes for name and value together. @default 8192
   */
  maxTokenSize?: number;
  /**
   * A store adapter used as a denylist (Redis, a database, files…): `destroy()` and
   * `regenerateId()` revoke the token's `jti` until its `exp`, and every request checks it (one
   * read; a write checks again). Without it a copied token lives until its `exp`.
   */
  revocation?: Adapter;
  /**
   * Seconds: a request that changes nothing renews its token only when it is older than this,
   * so reads do not sign. @default a tenth of the lifetime, at most 60
   */
  touchSlack?: number;
  /** Seconds of clock difference allowed on `exp`, `nbf` and `iat`. @default 5 */
  clockTolerance?: number;
  /** Tokens this process made or verified, kept verified (by their exact text) until their `exp`; 0 turns it off. @default 1000 */
  cacheSize?: number;
}

/** A token read and verified: its session id, the record text, its `exp` (seconds). */
export interface OpenedToken {
  readonly jti: string;
  readonly text: string;
  readonly exp: number;
}

/** Why a token gives no session (the event to report). */
export type RefusedToken = { cause: TokenRejection; id?: string } | { expired: 'idle' | 'absolute'; id: string };

const OPTION_KEYS: readonly (keyof TokenStoreOptions)[] = [
  'mode', 'algorithm', 'keys', 'transport', 'header', 'issuer', 'audience', 'maxTokenSize', 'revocation', 'touchSlack', 'clockTolerance', 'cacheSize',
];
const ALGORITHMS: readonly unknown[] = ['HS256', 'EdDSA', 'ES256'];
/** Explicit typing (RFC 8725 §3.11): a JWT of another kind signed with the same key is not a session. */
const TYP = 'session+jwt';
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** Chromium, Firefox and Safari keep a cookie whose name and value together are at most this long. */
export const COOKIE_LIMIT = 4096;

/** The key id a token names is not in the ring. */
class UnknownKey extends Error {}

/**
 * Stateless sessions: the whole session in a signed (JWS) or encrypted (JWE) token that the
 * client carries, made and verified by `jose`. Pass it to `session({ adapter })`: `ctx.session`,
 * `ctx.persistent`, `ctx.flash`, Bags, the decorators, `regenerateId()` and `destroy()` work as
 * with a store. No lock exists: two overlapping requests of one client are last-writer-wins.
 *
 * @example
 * const tokens = new TokenStore({ keys: [{ kid: '2026-12', secret: process.env.SESSION_KEY! }] });
 * app.use(session({ adapter: tokens, lifetime: 1800 }));
 */
export class TokenStore implements SessionCarrier {
  readonly #ring: Map<string, RingKey>;
  readonly #newest: RingKey;
  readonly #mode: TokenMode;
  readonly #algorithm: TokenAlgorithm;
  readonly #claims: string;
  readonly #verifyOptions: Jose.JWTVerifyOptions & Jose.JWTDecryptOptions;
  readonly #verified = new Map<string, OpenedToken>();
  readonly #cacheSize: number;
  /** @internal read by TokenRequest */
  readonly settings: {
    readonly transport: 'cookie' | 'bearer';
    readonly header: string;
    readonly maxTokenSize: number;
    readonly revocation: Adapter | undefined;
    readonly touchSlack: number | undefined;
    readonly clockTolerance: number;
  };

  constructor(options: TokenStoreOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidOption('options', 'must be an object with keys');
    checkOptionKeys('', options, OPTION_KEYS);
    const mode = options.mode ?? 'signed';
    if (mode !== 'signed' && mode !== 'encrypted') throw new InvalidOption('mode', "must be 'signed' or 'encrypted'");
    const algorithm = options.algorithm ?? 'HS256';
    if (mode === 'encrypted' && options.algorithm !== undefined) throw new InvalidOption('algorithm', 'applies to signed tokens; encrypted tokens are always dir + A256GCM');
    if (!ALGORITHMS.includes(algorithm)) throw new InvalidOption('algorithm', `must be 'HS256', 'EdDSA' or 'ES256' (${JSON.stringify(algorithm)} is refused)`);
    const transport = options.transport ?? 'cookie';
    if (transport !== 'cookie' && transport !== 'bearer') throw new InvalidOption('transport', "must be 'cookie' or 'bearer'");
    const header = options.header ?? 'Session-Token';
    if (typeof header !== 'string' || !HEADER_NAME.test(header)) throw new InvalidOption('header', 'must be an HTTP header name');
    if (transport === 'cookie' && options.header !== undefined) throw new InvalidOption('header', "applies to transport: 'bearer'; a cookie token travels in the session cookie");
    if (transport === 'cookie' && options.maxTokenSize !== undefined) throw new InvalidOption('maxTokenSize', `applies to transport: 'bearer'; a cookie token's limit is the browsers' (${COOKIE_LIMIT} bytes with the cookie name)`);
    const maxTokenSize = options.maxTokenSize ?? 8192;
    if (!Number.isSafeInteger(maxTokenSize) || maxTokenSize < 256) throw new InvalidOption('maxTokenSize', 'must be a whole number of bytes, at least 256');
    for (const claim of ['issuer', 'audience'] as const) {
      const value = options[claim];
      if (value !== undefined && (typeof value !== 'string' || value === '')) throw new InvalidOption(claim, 'must be a non-empty string');
    }
    const revocation = options.revocation;
    if (revocation !== undefined && (typeof revocation?.read !== 'function' || typeof revocation?.write !== 'function' || typeof revocation?.gc !== 'function')) {
      throw new InvalidOption('revocation', 'must be a store adapter (read, write, gc), e.g. a RedisAdapter');
    }
    const touchSlack = options.touchSlack === undefined ? undefined : seconds('touchSlack', options.touchSlack);
    const clockTolerance = options.clockTolerance === undefined ? 5 : seconds('clockTolerance', options.clockTolerance);
    const cacheSize = options.cacheSize ?? 1000;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new InvalidOption('cacheSize', 'must be a whole number, 0 or more');

    this.#mode = mode;
    this.#algorithm = algorithm;
    this.#ring = keyRing(options.keys, mode, algorithm);
    this.#newest = this.#ring.values().next().value!;
    this.#cacheSize = cacheSize;
    // The claims every token repeats, JSON-escaped once.
    this.#claims = (options.issuer === undefined ? '' : `"iss":${JSON.stringify(options.issuer)},`)
      + (options.audience === undefined ? '' : `"aud":${JSON.stringify(options.audience)},`);
    this.#verifyOptions = {
      typ: TYP,
      requiredClaims: ['jti', 'iat', 'exp'],
      clockTolerance,
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
      ...(options.audience === undefined ? {} : { audience: options.audience }),
      ...(mode === 'signed' ? { algorithms: [algorithm] } : { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] }),
    };
    this.settings = { transport, header, maxTokenSize, revocation, touchSlack, clockTolerance };
  }

  /** 32 random bytes, base64url: a `secret` for HS256 or encrypted tokens. */
  static generateSecret(): string {
    return generateSecret();
  }

  /** @internal session() calls it with its own options. */
  checkSessionOptions({ name, locking, serializer }: { name: string; lifetime: number; locking: unknown; serializer: unknown }): void {
    if (locking !== undefined && locking !== false) {
      throw new InvalidOption('locking', 'a TokenStore keeps no session on the server, so there is nothing to lock: two overlapping requests of one client are last-writer-wins (docs/tokens.md). Leave locking out, or use a store adapter');
    }
    if (serializer !== undefined) throw new InvalidOption('serializer', "a token's session is JSON inside its claims; the serializer cannot be changed");
    if (this.settings.transport === 'cookie' && name.length > 64) throw new InvalidOption('name', 'a token cookie shares its 4096 bytes with its name: keep the name at most 64 characters');
  }

  /** @internal */
  [FOR_REQUEST](request: CarrierRequest): { adapter: Adapter; transport: SessionTransport } {
    const one = new TokenRequest(this, request);
    return { adapter: one, transport: one };
  }

  /** Removes expired entries of the revocation list (nothing to do without one). */
  gc(maxLifetime: number): Promise<number> {
    return this.settings.revocation?.gc(maxLifetime) ?? Promise.resolve(0);
  }

  /** Closes the revocation list's adapter. */
  async close(): Promise<void> {
    await this.settings.revocation?.close?.();
  }

  /**
   * @internal A token for session `jti` holding record `text`, valid until `exp` (seconds).
   * The claims are spliced in front of the record's JSON (`{"c":…,"d":…}`): one encoding, not two.
   */
  async issue(jti: string, text: string, exp: number): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(`{"jti":"${jti}","iat":${iat},"exp":${exp},${this.#claims}${text.slice(1)}`);
    const key = this.#newest;
    const token = this.#mode === 'signed'
      ? await new jose.CompactSign(payload).setProtectedHeader({ alg: this.#algorithm, kid: key.kid, typ: TYP }).sign((await key.sign())!)
      : await new jose.CompactEncrypt(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.kid, typ: TYP }).encrypt((await key.sign())!);
    this.#remember(token, { jti, text, exp });
    return token;
  }

  /**
   * @internal Verify `token` (signature or decryption, algorithm, key id, claims, expiry):
   * the session it carries, or why it carries none.
   */
  async open(token: string, lifetime: number, absoluteLifetime: number): Promise<OpenedToken | RefusedToken> {
    const known = this.#verified.get(token);
    if (known !== undefined) {
      if (known.exp * 1000 > Date.now()) return known;
      this.#verified.delete(token);
    }
    const options = { ...this.#verifyOptions, maxTokenAge: lifetime };
    let payload: Jose.JWTPayload;
    try {
      payload = this.#mode === 'signed'
        ? (await jose.jwtVerify(token, this.#keyOf, options)).payload
        : (await jose.jwtDecrypt(token, this.#keyOf, options)).payload;
    } catch (err) {
      return refusal(err, absoluteLifetime);
    }
    const { jti, c, d, exp } = payload as { jti: unknown; c: unknown; d: unknown; exp: number };
    if (!isValidId(jti) || typeof c !== 'number' || !Number.isFinite(c) || typeof d !== 'object' || d === null || Array.isArray(d)) {
      return { cause: 'claims' };
    }
    const opened = { jti, text: JSON.stringify({ c, d }), exp };
    this.#remember(token, opened);
    return opened;
  }

  /** jose's key lookup: the ring's key named by the token's `kid`. */
  readonly #keyOf = (header: Jose.JWSHeaderParameters | Jose.CompactJWEHeaderParameters): Promise<Jose.CryptoKey | Jose.KeyObject> => {
    const key = typeof header.kid === 'string' ? this.#ring.get(header.kid) : undefined;
    if (key === undefined) throw new UnknownKey();
    return key.verify() as Promise<Jose.CryptoKey | Jose.KeyObject>;
  };

  #remember(token: string, opened: OpenedToken): void {
    if (this.#cacheSize === 0) return;
    const cache = this.#verified;
    cache.set(token, opened);
    if (cache.size > this.#cacheSize) cache.delete(cache.keys().next().value!);
  }

  /** @internal Forget a token made or verified here (it was revoked). */
  forget(token: string): void {
    this.#verified.delete(token);
  }

  /** @internal True when `jti` is on the revocation list (a store failure throws AdapterRuntimeError). */
  async isRevoked(jti: string): Promise<boolean> {
    try {
      return (await this.settings.revocation!.read(revokedKey(jti))) !== null;
    } catch (err) {
      throw storeError('read', err);
    }
  }

  /** @internal Put `jti` on the revocation list until `exp` (seconds) and the clock tolerance have passed. */
  async revoke(jti: string, exp: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(exp - Date.now() / 1000 + this.settings.clockTolerance));
    try {
      await this.settings.revocation!.write(revokedKey(jti), '1', ttl);
    } catch (err) {
      throw storeError('write', err);
    }
  }
}

/** The revocation list's key of `jti`, kept apart from session ids when the list shares a store with sessions. */
function revokedKey(jti: string): string {
  return `revoked-${jti}`;
}

function seconds(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidOption(option, 'must be a number of seconds, 0 or more');
  return value;
}

function storeError(operation: string, err: unknown): SessionError {
  if (err instanceof SessionError) return err;
  return new AdapterRuntimeError(`Session revocation list ${operation} failed: ${(err as Error)?.message ?? err}`, 'ERR_SESSION_STORE', { cause: err });
}

/** What a jose error says about the token. */
function refusal(err: unknown, absoluteLifetime: number): RefusedToken {
  if (err instanceof UnknownKey) return { cause: 'unknownKey' };
  const e = err as { code?: unknown; claim?: unknown; payload?: Jose.JWTPayload };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED': {
      const { jti, c } = e.payload ?? {};
      if (!isValidId(jti)) return { cause: 'claims' };
      const absolute = absoluteLifetime > 0 && typeof c === 'number' && Date.now() >= c + absoluteLifetime * 1000;
      return { expired: absolute ? 'absolute' : 'idle', id: jti };
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWE_DECRYPTION_FAILED':
      return { cause: 'signature' };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return { cause: 'algorithm' };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return { cause: e.claim === 'nbf' || e.claim === 'iat' ? 'notYetValid' : 'claims' };
    case 'ERR_JWS_INVALID':
    case 'ERR_JWE_INVALID':
    case 'ERR_JWT_INVALID':
      return { cause: 'malformed' };
    default:
      // Not a verdict on the token (a bug, a broken install): not hidden behind a new session.
      throw err;
  }
}
