import type { Context } from 'koa';
import type { SessionTransport } from '../Manager';

/** Cookie attributes of the session cookie. */
export interface CookieOptions {
  /** @default '/' */
  path?: string;
  /** @default undefined (host-only) */
  domain?: string;
  /** @default true */
  httpOnly?: boolean;
  /** @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none' | false;
  /**
   * `'auto'` sets Secure when the request came over HTTPS (or through a trusted proxy that says
   * so: Koa's `app.proxy`), and never throws over plain HTTP. `true` always sets it.
   * @default 'auto'
   */
  secure?: boolean | 'auto';
}

/** The parts of every Set-Cookie value that do not depend on the request, built once. */
export function cookieSuffix(options: Required<Omit<CookieOptions, 'domain' | 'secure'>> & Pick<CookieOptions, 'domain'>): string {
  let suffix = `; Path=${options.path}`;
  if (options.domain) suffix += `; Domain=${options.domain}`;
  if (options.sameSite) suffix += `; SameSite=${options.sameSite[0].toUpperCase()}${options.sameSite.slice(1)}`;
  if (options.httpOnly) suffix += '; HttpOnly';
  return suffix;
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

/** The Koa side of a Manager: reads the Cookie header, writes Set-Cookie. */
export class KoaTransport implements SessionTransport {
  constructor(readonly context: Context, private readonly suffix: string, private readonly secure: boolean | 'auto') {}

  readId(name: string): string | undefined {
    return readCookie(this.context.request.header.cookie, name);
  }

  writeId(name: string, id: string, maxAge: number): void {
    // Rounded up: the cookie may outlive the record by under a second (the server still checks),
    // but must not vanish while the record is alive.
    const seconds = Math.ceil(maxAge);
    this.#set(name, `${name}=${id}; Max-Age=${seconds}; Expires=${expiresIn(seconds)}${this.suffix}`);
  }

  clearId(name: string): void {
    this.#set(name, `${name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${this.suffix}`);
  }

  headersSent(): boolean {
    return this.context.headerSent;
  }

  /** Replaces an earlier Set-Cookie of the same name from this response, keeps all others. */
  #set(name: string, value: string): void {
    const secure = this.secure === 'auto' ? this.context.secure : this.secure;
    const cookie = secure ? `${value}; Secure` : value;
    const response = this.context.response;
    const previous = response.get('Set-Cookie') as string | string[] | undefined;
    if (!previous || previous.length === 0) {
      response.set('Set-Cookie', [cookie]);
      return;
    }
    const list = (Array.isArray(previous) ? previous : [previous]).filter((c) => !c.startsWith(`${name}=`));
    list.push(cookie);
    response.set('Set-Cookie', list);
  }
}
