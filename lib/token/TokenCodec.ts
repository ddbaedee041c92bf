import type * as Jose from 'jose';
import type { TokenRejection } from '../events';
import { isValidId } from '../id';
import { requirePeer } from '../peer';
import { encryptDirA256Gcm, headerB64, signHs256 } from './compact';
import type { RingKey, TokenAlgorithm, TokenMode } from './keys';

const jose = requirePeer<typeof Jose>('jose', 'koa-session-manager/token');

/** A token read and verified: its session id, the record text, its `exp` (seconds). */
export interface OpenedToken {
  readonly jti: string;
  readonly text: string;
  readonly exp: number;
  /** When it was made (seconds): its renewal is due once it is older than the touch slack. */
  readonly iat: number;
}

/** A token kept verified: what it carries, and its own copy of the text (the cache's key). */
interface Kept {
  readonly opened: OpenedToken;
  readonly token: string;
}

/** Why a token gives no session (the event to report). */
export type RefusedToken = { cause: TokenRejection; id?: string } | { expired: 'idle' | 'absolute'; id: string };

/** What a codec makes and checks besides the keys. */
export interface CodecOptions {
  mode: TokenMode;
  algorithm: TokenAlgorithm;
  issuer: string | undefined;
  audience: string | undefined;
  clockTolerance: number;
  /** Verified tokens kept (0: none). */
  cacheSize: number;
}

/** Explicit typing (RFC 8725 §3.11): a JWT of another kind signed with the same key is not a session. */
const TYP = 'session+jwt';

/** The key id a token names is not in the ring. */
class UnknownKey extends Error {}

/**
 * Session records to tokens and back: signs (JWS) or encrypts (JWE `dir` + A256GCM) with the
 * ring's newest key (a secret's tokens are made with node:crypto in jose's compact form,
 * compact.ts; a key pair's by jose). jose verifies or decrypts every token that is not in the
 * cache and checks the algorithm (pinned), the key id, `typ`, `iss`/`aud`, `exp`, `nbf` and
 * `iat`. Tokens it made or verified are kept, by their exact text, until their `exp` (at most `cacheSize`, the least
 * recently used out first): a token that comes straight back is not verified again. A different
 * text (one changed bit) is a miss and is verified in full; the key ring cannot change while the
 * codec lives, so a kept token's key is still in it.
 *
 * @example
 * const token = await codec.issue(id, '{"c":1733500000000,"d":{"n":1}}', exp);
 * const opened = await codec.open(token, 3600, 0);   // { jti: id, text, exp }
 */
export class TokenCodec {
  readonly #ring: ReadonlyMap<string, RingKey>;
  readonly #newest: RingKey;
  readonly #mode: TokenMode;
  readonly #algorithm: TokenAlgorithm;
  /** The claims every token repeats (`iss`, `aud`), JSON-escaped once. */
  readonly #claims: string;
  readonly #verifyOptions: Jose.JWTVerifyOptions & Jose.JWTDecryptOptions;
  readonly #verified = new Map<string, Kept>();
  readonly #cacheSize: number;
  /** The newest key's protected header, as its base64url text (tokens made from a secret). */
  readonly #header: string;

  constructor(ring: ReadonlyMap<string, RingKey>, options: CodecOptions) {
    this.#ring = ring;
    this.#newest = ring.values().next().value!;
    this.#mode = options.mode;
    this.#algorithm = options.algorithm;
    this.#cacheSize = options.cacheSize;
    this.#header = headerB64(this.#protectedHeader());
    const { issuer, audience } = options;
    this.#claims = (issuer === undefined ? '' : `"iss":${JSON.stringify(issuer)},`) + (audience === undefined ? '' : `"aud":${JSON.stringify(audience)},`);
    this.#verifyOptions = {
      typ: TYP,
      requiredClaims: ['jti', 'iat', 'exp'],
      clockTolerance: options.clockTolerance,
      ...(issuer === undefined ? {} : { issuer }),
      ...(audience === undefined ? {} : { audience }),
      ...(options.mode === 'signed' ? { algorithms: [options.algorithm] } : { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] }),
    };
  }

  /**
   * A token for session `jti` holding record `text`, valid until `exp` (seconds). The claims
   * are spliced in front of the record's JSON (`{"c":…,"d":…}`): one encoding, not two. Made from
   * a secret it is the string itself (node:crypto answers at once); from a key pair, a promise
   * (jose signs).
   */
  issue(jti: string, text: string, exp: number): string | Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(`{"jti":"${jti}","iat":${iat},"exp":${exp},${this.#claims}${text.slice(1)}`);
    const key = this.#newest;
    if (key.secret === undefined) return this.#signWithPair(payload, { jti, text, exp, iat });
    // HS256 and `dir` + A256GCM: made with node:crypto at once, not as a WebCrypto job (compact.ts).
    const token = this.#mode === 'signed' ? signHs256(key.secret, this.#header, payload) : encryptDirA256Gcm(key.secret, this.#header, payload);
    this.#remember(token, { jti, text, exp, iat });
    return token;
  }

  /** A token signed by jose with the newest key's private key. */
  async #signWithPair(payload: Buffer, opened: OpenedToken): Promise<string> {
    // (keyRing() makes no encrypting key without a secret)
    if (this.#mode !== 'signed') throw new Error('an encrypted token needs a secret key');
    const token = await new jose.CompactSign(payload).setProtectedHeader(this.#protectedHeader()).sign((await this.#newest.sign())!);
    this.#remember(token, opened);
    return token;
  }

  /** The header of every new token: the algorithm, the newest key's id, the session type. */
  #protectedHeader(): { alg: string; kid: string; typ: string; enc?: string } {
    const kid = this.#newest.kid;
    return this.#mode === 'signed' ? { alg: this.#algorithm, kid, typ: TYP } : { alg: 'dir', enc: 'A256GCM', kid, typ: TYP };
  }

  /**
   * Verify `token` (signature or decryption, algorithm, key id, claims, idle and absolute
   * lifetime): the session it carries, or why it carries none. A token kept in the cache is
   * answered at once (no promise: the path of nearly every request); any other through jose.
   */
  open(token: string, lifetime: number, absoluteLifetime: number): OpenedToken | Promise<OpenedToken | RefusedToken> {
    const kept = this.#verified.get(token);
    if (kept !== undefined) {
      this.#verified.delete(token);
      if (kept.opened.exp * 1000 > Date.now()) {
        // The most recently used goes last, under its own key: the request's text is a slice of
        // its whole Cookie (or Authorization) header, which the cache would otherwise keep alive.
        this.#verified.set(kept.token, kept);
        return kept.opened;
      }
    }
    return this.#verify(token, lifetime, absoluteLifetime);
  }

  /** {@link open} for a token not in the cache: jose verifies or decrypts it. */
  async #verify(token: string, lifetime: number, absoluteLifetime: number): Promise<OpenedToken | RefusedToken> {
    const options = { ...this.#verifyOptions, maxTokenAge: lifetime };
    let payload: Jose.JWTPayload;
    try {
      payload = this.#mode === 'signed'
        ? (await jose.jwtVerify(token, this.#keyOf, options)).payload
        : (await jose.jwtDecrypt(token, this.#keyOf, options)).payload;
    } catch (err) {
      return refusal(err, absoluteLifetime);
    }
    const { jti, c, d, exp, iat } = payload as { jti: unknown; c: unknown; d: unknown; exp: number; iat: number };
    if (!isValidId(jti) || typeof c !== 'number' || !Number.isFinite(c) || typeof d !== 'object' || d === null || Array.isArray(d)) {
      return { cause: 'claims' };
    }
    const opened = { jti, text: JSON.stringify({ c, d }), exp, iat };
    // A copy of the text as the key, not the slice of the request's header (above).
    this.#remember(Buffer.from(token, 'latin1').toString('latin1'), opened);
    return opened;
  }

  /** Forget a token made or verified here (it was revoked, or is too large to send). */
  forget(token: string): void {
    this.#verified.delete(token);
  }

  /** jose's key lookup: the ring's key named by the token's `kid`. */
  readonly #keyOf = (header: Jose.JWSHeaderParameters | Jose.CompactJWEHeaderParameters): Promise<Jose.CryptoKey | Jose.KeyObject> => {
    const key = typeof header.kid === 'string' ? this.#ring.get(header.kid) : undefined;
    if (key === undefined) throw new UnknownKey();
    return key.verify() as Promise<Jose.CryptoKey | Jose.KeyObject>;
  };

  /** Keep `token` at the back of the cache; the least recently used out when it is full. */
  #remember(token: string, opened: OpenedToken): void {
    if (this.#cacheSize === 0) return;
    const cache = this.#verified;
    cache.set(token, { opened, token });
    if (cache.size > this.#cacheSize) cache.delete(cache.keys().next().value!);
  }
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
