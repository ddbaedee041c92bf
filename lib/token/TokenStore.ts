import type { Adapter } from '../adapters/Adapter';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';
import { FOR_REQUEST, type CarrierRequest, type SessionCarrier } from '../koa/carrier';
import type { SessionTransport } from '../manager/SessionTransport';
import type { SessionOptionsSeen } from '../koa/carrier';
import { generateSecret, keyRing, type TokenAlgorithm, type TokenKey, type TokenMode } from './keys';
import { Revocations } from './Revocations';
import { TokenCodec } from './TokenCodec';
import { COOKIE_LIMIT, TokenRequest, type TokenParts, type TokenSettings } from './TokenRequest';

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

const OPTION_KEYS: readonly (keyof TokenStoreOptions)[] = [
  'mode', 'algorithm', 'keys', 'transport', 'header', 'issuer', 'audience', 'maxTokenSize', 'revocation', 'touchSlack', 'clockTolerance', 'cacheSize',
];
const ALGORITHMS: readonly unknown[] = ['HS256', 'EdDSA', 'ES256'];
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const MAX_CLOCK_TOLERANCE = 300;

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
  /** What each request uses (TokenRequest). */
  readonly #parts: TokenParts;

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
    // Seconds, not milliseconds: 5000 would accept expired tokens for another 83 minutes.
    if (clockTolerance > MAX_CLOCK_TOLERANCE) throw new InvalidOption('clockTolerance', `is in seconds and at most ${MAX_CLOCK_TOLERANCE} (a tolerance accepts expired tokens that long)`);
    const cacheSize = options.cacheSize ?? 1000;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new InvalidOption('cacheSize', 'must be a whole number, 0 or more');

    const codec = new TokenCodec(keyRing(options.keys, mode, algorithm), {
      mode, algorithm, issuer: options.issuer, audience: options.audience, clockTolerance, cacheSize,
    });
    const settings: TokenSettings = { transport, header, maxTokenSize, touchSlack };
    this.#parts = {
      settings,
      codec,
      revocations: revocation === undefined ? undefined : new Revocations(revocation, clockTolerance),
    };
  }

  /** 32 random bytes, base64url: a `secret` for HS256 or encrypted tokens. */
  static generateSecret(): string {
    return generateSecret();
  }

  /** @internal session() calls it with its own options. */
  checkSessionOptions({ name, lifetime, locking, serializer, cookie, fingerprint }: SessionOptionsSeen): void {
    const onMismatch = (fingerprint as { onMismatch?: unknown } | undefined)?.onMismatch ?? 'destroy';
    if (fingerprint !== undefined && onMismatch !== 'event' && this.#parts.revocations === undefined) {
      throw new InvalidOption('fingerprint.onMismatch', `'${String(onMismatch)}' cannot end a copied token without a revocation list: the owner's token (and the copy) would stay valid until it expires. Give the TokenStore a \`revocation\` adapter, or use onMismatch: 'event'`);
    }
    if (locking !== undefined && locking !== false) {
      throw new InvalidOption('locking', 'a TokenStore keeps no session on the server, so there is nothing to lock: two overlapping requests of one client are last-writer-wins (docs/tokens.md). Leave locking out, or use a store adapter');
    }
    if (serializer !== undefined) throw new InvalidOption('serializer', "a token's session is JSON inside its claims; the serializer cannot be changed");
    const { transport, touchSlack } = this.#parts.settings;
    if (transport === 'bearer' && cookie !== undefined) throw new InvalidOption('cookie', "a TokenStore with transport: 'bearer' sends no cookie: leave cookie out");
    if (touchSlack !== undefined && touchSlack >= lifetime) {
      throw new InvalidOption('touchSlack', `must be shorter than the lifetime (${lifetime} s): a session that is only read would end at its token's exp however active it is`);
    }
    if (transport === 'cookie' && name.length > 64) throw new InvalidOption('name', 'a token cookie shares its 4096 bytes with its name: keep the name at most 64 characters');
  }

  /** The bearer transport's response header, which an error response must keep (see SessionCarrier). */
  get responseHeader(): string | undefined {
    return this.#parts.settings.transport === 'bearer' ? this.#parts.settings.header : undefined;
  }

  /** @internal */
  [FOR_REQUEST](request: CarrierRequest): { adapter: Adapter; transport: SessionTransport } {
    const one = new TokenRequest(this.#parts, request);
    return { adapter: one, transport: one };
  }

  /** Removes expired entries of the revocation list (nothing to do without one). */
  gc(maxLifetime: number): Promise<number> {
    return this.#parts.revocations?.adapter.gc(maxLifetime) ?? Promise.resolve(0);
  }

  /** Closes the revocation list's adapter. */
  async close(): Promise<void> {
    await this.#parts.revocations?.adapter.close?.();
  }

}

function seconds(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidOption(option, 'must be a number of seconds, 0 or more');
  return value;
}
