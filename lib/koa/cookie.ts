import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';
import type { SessionTransport } from '../Manager';
import { COOKIE_HINTS } from './hints';

/** Cookie attributes of the session cookie. */
export interface CookieOptions {
  /** @default '/' */
  path?: string;
  /** @default undefined (host-only) */
  domain?: string;
  /** @default true */
  httpOnly?: boolean;
  /** `'none'` needs `secure: true`. @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none' | false;
  /**
   * `'auto'` sets Secure when the request came over HTTPS (or through a trusted proxy that says
   * so: Koa's `app.proxy`), and never throws over plain HTTP. `true` always sets it; a cookie
   * name starting with `__Secure-` or `__Host-`, or `sameSite: 'none'`, needs `true`.
   * @default 'auto'
   */
  secure?: boolean | 'auto';
  /**
   * A cookie without Max-Age or Expires, which the browser forgets when it closes (PHP's
   * `session.cookie_lifetime = 0`); the store still keeps the session for the idle `lifetime`.
   * @default false
   */
  browserSession?: boolean;
}

/**
 * PHP's `session.cache_limiter`, for the responses that set or clear the session cookie:
 * `'nocache'` forbids every cache, `'private'` and `'private_no_expire'` allow only the
 * browser's own, `''` sends nothing. (PHP's `'public'` is not offered: a shared cache would
 * hand one visitor's session cookie to the next.)
 */
export type CacheLimiter = 'nocache' | 'private' | 'private_no_expire' | '';

/** What the transport of every request needs, computed once per middleware. */
export interface CookieSettings {
  /** The Set-Cookie attributes that do not depend on the request (`; Path=/; HttpOnly`…). */
  readonly suffix: string;
  readonly secure: boolean | 'auto';
  readonly browserSession: boolean;
  /** Headers set with the cookie, flat: name, value, name, value… */
  readonly cacheHeaders: readonly string[];
}

const COOKIE_KEYS: readonly (keyof CookieOptions)[] = ['path', 'domain', 'httpOnly', 'sameSite', 'secure', 'browserSession'];


const DOMAIN = /^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/**
 * Check `cookie` (session() option `cookie`) for the cookie named `name`, with the rules
 * browsers enforce (a cookie breaking them is dropped silently), and build its settings.
 */
export function resolveCookie(cookie: CookieOptions, name: string): Omit<CookieSettings, 'cacheHeaders'> {
  if (typeof cookie !== 'object' || cookie === null) throw new InvalidOption('cookie', 'must be an object');
  checkOptionKeys('cookie', cookie, COOKIE_KEYS, COOKIE_HINTS);
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !/^\/[\x20-\x3a\x3c-\x7e]*$/.test(path)) throw new InvalidOption('cookie.path', 'must start with "/" and hold no ";" or control characters');
  const domain = cookie.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !DOMAIN.test(domain))) throw new InvalidOption('cookie.domain', 'must be a domain name');
  const sameSite = cookie.sameSite ?? 'lax';
  if (!['lax', 'strict', 'none', false].includes(sameSite)) throw new InvalidOption('cookie.sameSite', "must be 'lax', 'strict', 'none' or false");
  const secure = cookie.secure ?? 'auto';
  if (secure !== 'auto' && typeof secure !== 'boolean') throw new InvalidOption('cookie.secure', "must be true, false or 'auto'");
  if (sameSite === 'none' && secure !== true) {
    throw new InvalidOption('cookie.sameSite', "'none' needs cookie.secure: true (browsers drop a SameSite=None cookie without Secure, and 'auto' leaves Secure out over plain HTTP)");
  }
  // Browsers match the prefixes ignoring case (RFC 6265bis), so `__host-sid` is bound as well.
  const prefix = /^__host-/i.test(name) ? '__Host-' : /^__secure-/i.test(name) ? '__Secure-' : '';
  if (prefix !== '') {
    const rule = `a cookie named "${name}" (prefix ${prefix}) is dropped by browsers unless`;
    if (secure !== true) throw new InvalidOption('cookie.secure', `must be true: ${rule} it is Secure`);
    if (prefix === '__Host-' && path !== '/') throw new InvalidOption('cookie.path', `must be '/': ${rule} its Path is /`);
    if (prefix === '__Host-' && domain !== undefined) throw new InvalidOption('cookie.domain', `must be left out: ${rule} it is host-only (no Domain)`);
  }
  const httpOnly = cookie.httpOnly ?? true;
  if (typeof httpOnly !== 'boolean') throw new InvalidOption('cookie.httpOnly', 'must be true or false');
  const browserSession = cookie.browserSession ?? false;
  if (typeof browserSession !== 'boolean') throw new InvalidOption('cookie.browserSession', 'must be true or false');

  let suffix = `; Path=${path}`;
  if (domain) suffix += `; Domain=${domain}`;
  if (sameSite) suffix += `; SameSite=${sameSite[0].toUpperCase()}${sameSite.slice(1)}`;
  if (httpOnly) suffix += '; HttpOnly';
  return { suffix, secure, browserSession };
}

/** PHP's date for "already expired" (ext/session/session.c), sent by 'nocache' and 'private'. */
const PHP_EXPIRED = 'Thu, 19 Nov 1981 08:52:00 GMT';

/**
 * The headers of `limiter`, as PHP's ext/session sends them (without its Last-Modified of the
 * script file); `maxAge` in seconds.
 */
export function cacheHeadersOf(limiter: CacheLimiter, maxAge: number): readonly string[] {
  switch (limiter) {
    case 'nocache': return ['Expires', PHP_EXPIRED, 'Cache-Control', 'no-store, no-cache, must-revalidate', 'Pragma', 'no-cache'];
    case 'private': return ['Expires', PHP_EXPIRED, 'Cache-Control', `private, max-age=${maxAge}`];
    case 'private_no_expire': return ['Cache-Control', `private, max-age=${maxAge}`];
    default: return [];
  }
}

/** The first value of cookie `name` in a Cookie header, without building a map of all cookies. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const wanted = `${name}=`;
  let at = 0;
  while (at < header.length) {
    while (header.charCodeAt(at) === 32) at++;
    let end = header.indexOf(';', at);
    if (end === -1) end = header.length;
    if (header.startsWith(wanted, at)) return header.slice(at + wanted.length, end).trim();
    at = end + 1;
  }
  return undefined;
}

let expiresAt = 0;
let expiresText = '';

/** The HTTP date `seconds` from now; made once per second (it was 1.3 % of a request's CPU). */
function expiresIn(seconds: number): string {
  const at = Math.floor(Date.now() / 1000) + seconds;
  if (at !== expiresAt) {
    expiresAt = at;
    expiresText = new Date(at * 1000).toUTCString();
  }
  return expiresText;
}

/**
 * The Koa side of a Manager: reads the Cookie header, writes Set-Cookie, and with every
 * Set-Cookie of the session the cache headers (a shared cache must never store a response that
 * carries a session cookie, whatever Cache-Control the route set).
 */
export class KoaTransport implements SessionTransport {
  /** Set when the response may lose its headers (an error that cannot carry them): nothing is spared then. */
  #unreliable = false;

  /** `sent`: the middleware's memory of the cookies it sent (the cookie rule's, for read-only requests). */
  constructor(readonly context: Context, private readonly settings: CookieSettings, private readonly sent?: SentCookies) {}

  sentUntil(id: string): number {
    return this.sent === undefined ? 0 : this.sent.get(id);
  }

  /** The cookie rule may spare a fresh cookie while the headers can still go out and will be kept. */
  get sparesCookie(): boolean {
    return !this.#unreliable && !this.context.res.headersSent; // (Koa's ctx.headerSent: two getters more)
  }

  /** The response may not carry the headers set from now on (an error Koa answers without them). */
  unreliable(): void {
    this.#unreliable = true;
  }

  /**
   * The response shows a session's data (a write or a touch that sent no cookie): the cache
   * headers of `cacheLimiter`, as PHP sends them with every session, not only with the cookie.
   */
  keepPrivate(): void {
    const res = this.context.res;
    if (!res.headersSent) this.#cacheHeaders(res);
  }

  readId(name: string): string | undefined {
    return readCookie(this.context.request.header.cookie, name);
  }

  writeId(name: string, id: string, maxAge: number): void {
    const { suffix } = this.settings;
    // Noted only when it can reach the browser: headers not out, nor an error that drops them.
    if (this.sent !== undefined && this.sparesCookie) this.sent.note(id, Date.now() + maxAge * 1000);
    if (this.settings.browserSession) {
      this.#set(name, `${name}=${id}${suffix}`);
      return;
    }
    // Rounded up: the cookie may outlive the record by under a second (the server still checks),
    // but must not vanish while the record is alive.
    const seconds = Math.ceil(maxAge);
    this.#set(name, `${name}=${id}; Max-Age=${seconds}; Expires=${expiresIn(seconds)}${suffix}`);
  }

  clearId(name: string): void {
    this.#set(name, `${name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${this.settings.suffix}`);
  }

  headersSent(): boolean {
    return this.context.res.headersSent;
  }

  /**
   * The `cacheLimiter` headers, replacing the route's. Straight on Node's response: Koa's
   * `response.set()` around the same call cost 0.7 µs a header (issue #17, bench/extras/layer.ts).
   */
  #cacheHeaders(res: ServerResponse): void {
    const headers = this.settings.cacheHeaders;
    for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i], headers[i + 1]);
  }

  /** Replaces an earlier Set-Cookie of the same name from this response, keeps all others. */
  #set(name: string, value: string): void {
    const res = this.context.res;
    if (res.headersSent) return; // (as Koa's response.set(): nothing can reach the browser now)
    const secure = this.settings.secure === 'auto' ? this.context.secure : this.settings.secure;
    const cookie = secure ? `${value}; Secure` : value;
    this.#cacheHeaders(res);
    const previous = res.getHeader('Set-Cookie') as string | string[] | number | undefined;
    if (previous === undefined || (Array.isArray(previous) && previous.length === 0)) {
      // One cookie as a string: Node checks an array's characters by joining it first (issue #17).
      // Koa's ctx.cookies and ctx.append() take a string Set-Cookie as a list of one.
      res.setHeader('Set-Cookie', cookie);
      return;
    }
    const list = (Array.isArray(previous) ? previous : [String(previous)]).filter((c) => !c.startsWith(`${name}=`));
    list.push(cookie);
    res.setHeader('Set-Cookie', list);
  }
}

/** How many ids {@link SentCookies} remembers by default (about 1 MB at most). */
const SENT_LIMIT = 10_000;

/**
 * What this process last sent as the session cookie, per id: when that cookie expires (ms since
 * the epoch). A read-only request stores nothing, so after it re-sent a due cookie the record
 * still holds the old expiry (`s`, the cookie rule in lib/manager/storeCalls.ts) and every later
 * read-only request would find the cookie due again, until a write stored the new one. This
 * memory lets the requests this process serves see the re-send: a read-mostly session gets its
 * cookie once per due window and process, not on every read. One per session() middleware (one
 * cookie name); only sends that can reach the browser are noted (KoaTransport.writeId).
 * Bounded: past `limit` ids the oldest note goes first, and a forgotten id is only re-sent once
 * more.
 *
 * @example
 * const sent = new SentCookies();
 * sent.note('abc', Date.now() + 3_960_000);
 * sent.get('abc'); // when that cookie expires
 */
export class SentCookies {
  readonly #expires = new Map<string, number>();

  constructor(private readonly limit = SENT_LIMIT) {}

  /** When the cookie last sent for `id` expires (ms), 0 when none is remembered. */
  get(id: string): number {
    return this.#expires.get(id) ?? 0;
  }

  /** Remember that the cookie sent for `id` now expires at `expires` (ms). */
  note(id: string, expires: number): void {
    const map = this.#expires;
    // Re-inserted at the end: the oldest note is the one forgotten first.
    if (!map.delete(id) && map.size >= this.limit) map.delete(map.keys().next().value as string);
    map.set(id, expires);
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#expires.size;
  }
}
