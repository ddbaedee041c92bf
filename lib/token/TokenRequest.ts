import { isMoveMarker, type Adapter, type LockHandle, type WriteOptions } from '../adapters/Adapter';
import { encodeMarker } from '../record';
import type { CarrierRequest } from '../koa/carrier';
import type { SessionTransport } from '../manager/SessionTransport';
import { TokenTooLarge } from './errors';
import type { Revocations } from './Revocations';
import type { OpenedToken, RefusedToken, TokenCodec } from './TokenCodec';

/** Chromium, Firefox and Safari keep a cookie whose name and value together are at most this long. */
export const COOKIE_LIMIT = 4096;

/** How a TokenStore's tokens travel and are renewed. */
export interface TokenSettings {
  readonly transport: 'cookie' | 'bearer';
  readonly header: string;
  readonly maxTokenSize: number;
  readonly touchSlack: number | undefined;
}

/** What every request of one TokenStore shares. */
export interface TokenParts {
  readonly settings: TokenSettings;
  readonly codec: TokenCodec;
  readonly revocations: Revocations | undefined;
}

/** `Authorization: Bearer <token>` (RFC 6750's b64token). */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** What write() resolves when the token was made at once (no promise made per call). */
const WRITTEN: Promise<boolean> = Promise.resolve(true);

/**
 * One request of a TokenStore: the Manager's adapter and transport at once. It reads
 * and verifies the token the client sent (cookie or bearer), answers the Manager's read with
 * its record, turns the Manager's write or touch into a new token (sent by `writeId`), and its
 * destroy, or the old id's marker after `regenerateId()`, into a revocation.
 */
export class TokenRequest implements Adapter, SessionTransport {
  readonly #settings: TokenSettings;
  readonly #codec: TokenCodec;
  readonly #revocations: Revocations | undefined;
  readonly #request: CarrierRequest;
  /** The token the client sent, once verified: its text, session id, record and expiry. */
  #token: string | undefined;
  #jti: string | undefined;
  #text: string | null = null;
  #exp = 0;
  #iat = 0;
  /** The token made in this request (by write or touch), sent by writeId. */
  #issued: { id: string; token: string; exp: number } | null = null;

  constructor({ settings, codec, revocations }: TokenParts, request: CarrierRequest) {
    this.#settings = settings;
    this.#codec = codec;
    this.#revocations = revocations;
    this.#request = request;
  }

  get context(): unknown {
    return this.#request.context;
  }

  // --- transport ---

  readId(name: string): string | undefined | null | Promise<string | null> {
    const raw = this.#settings.transport === 'cookie' ? this.#request.cookie.readId(name) : bearerToken(this.#request.context.get('Authorization'));
    if (raw === undefined || raw === '') return undefined;
    return this.#verify(raw);
  }

  /** The session id of a verified token, null for one refused (reported); at once when the codec kept it and no list is kept. */
  #verify(token: string): string | null | Promise<string | null> {
    if (token.length > this.#limit(this.#request.name)) {
      this.#request.report('session:invalid', { reason: 'token', cause: 'tooLarge' });
      return null;
    }
    const opened = this.#codec.open(token, this.#request.lifetime, this.#request.absoluteLifetime);
    return opened instanceof Promise ? opened.then((verified) => this.#accept(token, verified)) : this.#accept(token, opened);
  }

  /** The verdict on a token: refused (reported), looked up in the revocation list, or taken. */
  #accept(token: string, opened: OpenedToken | RefusedToken): string | null | Promise<string | null> {
    const { report } = this.#request;
    if ('expired' in opened) {
      report('session:expired', { id: opened.id, reason: opened.expired });
      return null;
    }
    if ('cause' in opened) {
      report('session:invalid', { reason: 'token', cause: opened.cause });
      return null;
    }
    return this.#revocations === undefined ? this.#take(token, opened, opened.text) : this.#checkListed(token, opened, this.#revocations);
  }

  /** A verified token, looked up in the revocation list before it is taken. */
  async #checkListed(token: string, opened: OpenedToken, revocations: Revocations): Promise<string | null> {
    const { report } = this.#request;
    let entry: string | null;
    try {
      entry = await revocations.entry(opened.jti);
    } catch (err) {
      report('session:storeError', { id: opened.jti, operation: 'revocation read', error: err });
      throw err;
    }
    if (entry === '1') {
      this.#codec.forget(token);
      report('session:invalid', { id: opened.jti, reason: 'token', cause: 'revoked' });
      return null;
    }
    // Moved away by a sign-in: the Manager sees a move marker, as with a store. This request
    // (in flight during the sign-in) gets a throwaway session that is never sent, so it cannot
    // replace the signed-in token; a logout with it follows the marker.
    return this.#take(token, opened, entry === null ? opened.text : encodeMarker(entry));
  }

  /** This request's session: the token's id, and `text` as what the Manager reads. */
  #take(token: string, opened: OpenedToken, text: string): string {
    this.#token = token;
    this.#jti = opened.jti;
    this.#text = text;
    this.#exp = opened.exp;
    this.#iat = opened.iat;
    return opened.jti;
  }

  writeId(name: string, id: string, maxAge: number): void {
    const issued = this.#issued;
    // No token made (a touch within the slack): the client's token is still good.
    if (issued === null || issued.id !== id) return;
    if (this.#settings.transport === 'cookie') this.#request.cookie.writeId(name, issued.token, maxAge);
    else this.#setHeader(issued.token);
  }

  clearId(name: string): void {
    if (this.#settings.transport === 'cookie') this.#request.cookie.clearId(name);
    else this.#setHeader('');
  }

  headersSent(): boolean {
    return this.#request.context.res.headersSent; // (Koa's ctx.headerSent: two delegating getters more)
  }

  #setHeader(value: string): void {
    const response = this.#request.context.response;
    const headers = this.#request.cacheHeaders;
    for (let i = 0; i < headers.length; i += 2) response.set(headers[i], headers[i + 1]);
    response.set(this.#settings.header, value);
  }

  /** The longest token the transport carries: a cookie's name and value share 4096 bytes. */
  #limit(name: string): number {
    return this.#settings.transport === 'cookie' ? COOKIE_LIMIT - name.length : this.#settings.maxTokenSize;
  }

  // --- adapter ---

  read(id: string): Promise<string | null> {
    return Promise.resolve(id === this.#jti ? this.#text : null);
  }

  write(id: string, data: string, ttl: number, _lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    const revocations = this.#revocations;
    if (this.#issued !== null && this.#issued.id !== id) return this.#writeOld(id, data, revocations);
    // An update of the session this request read: not when a logout or sign-in ended it meanwhile.
    if (options?.existing && revocations !== undefined && id === this.#jti) return this.#writeListed(id, data, ttl, revocations);
    // Without a list, nothing to wait for: a token made from a secret is made at once.
    try {
      const made = this.#issue(id, data, ttl);
      return made === undefined ? WRITTEN : made.then(() => true);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * regenerateId() committing: the new token is made, this is the old id. A marker ends it
   * (listed as moved, unless a logout ended it first: then the sign-in is undone); a copy
   * (regenerateId(false)) leaves the old token as it is.
   */
  async #writeOld(id: string, data: string, revocations: Revocations | undefined): Promise<boolean> {
    if (!isMoveMarker(data) || revocations === undefined || id !== this.#jti) return true;
    const to = this.#issued!.id;
    const until = this.#listedUntil(this.#exp);
    await revocations.markMoved(id, to, until);
    if ((await revocations.entry(id)) !== null) return false;
    await revocations.revokeMoved(id, to, until);
    this.#codec.forget(this.#token!);
    return true;
  }

  /** An update of the session this request read, unless the list says a logout or sign-in ended it. */
  async #writeListed(id: string, data: string, ttl: number, revocations: Revocations): Promise<boolean> {
    if ((await revocations.entry(id)) !== null) return false;
    await this.#issue(id, data, ttl);
    return true;
  }

  async updateTimestamp(id: string, data: string, ttl: number): Promise<boolean> {
    const slack = this.#settings.touchSlack ?? Math.min(60, ttl / 10);
    // Renewed only once older than the slack: a read does not sign. (By its age, not its exp:
    // an exp capped by the absolute lifetime would otherwise make every later read sign.)
    if (id === this.#jti && Date.now() / 1000 - this.#iat < slack) return true;
    if (this.#revocations !== undefined && id === this.#jti && (await this.#revocations.entry(id)) !== null) return false;
    await this.#issue(id, data, ttl);
    return true;
  }

  /**
   * End `id`: list it (write first), then look for a sign-in that moved it (read second): when
   * one did, resolve a move marker naming the session the sign-in made, which the Manager then
   * ends too (a logout that read the session before the sign-in committed).
   */
  async destroy(id: string): Promise<string | null> {
    const revocations = this.#revocations;
    if (revocations === undefined) return null;
    const entry = await revocations.entry(id);
    if (entry === null) await revocations.revoke(id, this.#listedUntil(id === this.#jti ? this.#exp : this.#issued?.id === id ? this.#issued.exp : 0));
    if (id === this.#jti) this.#codec.forget(this.#token!);
    const movedTo = entry !== null && entry !== '1' ? entry : await revocations.movedTo(id);
    return movedTo === null ? null : encodeMarker(movedTo);
  }

  gc(): Promise<number> {
    return Promise.resolve(0);
  }

  /**
   * How long a session id stays listed: past the `exp` of every token of it that can still be
   * in use. A request in flight may renew it (same id, later `exp`) up to a lifetime from now.
   */
  #listedUntil(exp: number): number {
    return Math.max(exp, Date.now() / 1000 + this.#request.lifetime);
  }

  /**
   * Make the token of session `id` holding `data` (the record's JSON), for `ttl` seconds: at once
   * (undefined) when made from a secret, a promise when jose signs with a key pair.
   */
  #issue(id: string, data: string, ttl: number): Promise<void> | undefined {
    let exp = Math.floor(Date.now() / 1000 + ttl);
    const { absoluteLifetime } = this.#request;
    if (absoluteLifetime > 0) {
      // The record begins `{"c":<created ms>,`: the absolute limit is in the token's `exp`, so
      // other services that verify it honour the limit too.
      const created = Number(data.slice(5, data.indexOf(',', 5)));
      if (Number.isFinite(created)) exp = Math.min(exp, Math.floor(created / 1000 + absoluteLifetime));
    }
    const token = this.#codec.issue(id, data, exp);
    if (typeof token === 'string') return this.#made(id, token, exp);
    return token.then((made) => this.#made(id, made, exp));
  }

  /** The token made for `id`, sent by writeId; refused when the transport cannot carry it. */
  #made(id: string, token: string, exp: number): undefined {
    const limit = this.#limit(this.#request.name);
    if (token.length > limit) {
      this.#codec.forget(token);
      throw new TokenTooLarge(token.length, limit, this.#settings.transport);
    }
    this.#issued = { id, token, exp };
    return undefined;
  }
}

/** The token of an `Authorization: Bearer` header, or undefined (no header, another scheme). */
function bearerToken(header: string): string | undefined {
  if (header === '') return undefined;
  return BEARER.exec(header)?.[1];
}
