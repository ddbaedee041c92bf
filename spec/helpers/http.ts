import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type Koa from 'koa';

/** A Koa app listening on a free 127.0.0.1 port. */
export interface Listening {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function listen(app: Koa): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1');
    server.once('error', reject);
    server.once('listening', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        server,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

/** A POST of urlencoded form fields, as a browser submits a form. */
export function form(fields: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

/** One Set-Cookie header, parsed. Attribute names are lower-cased. */
export interface ParsedCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

export function parseSetCookie(header: string): ParsedCookie {
  const [pair, ...rest] = header.split(';');
  const eq = pair.indexOf('=');
  const attributes: Record<string, string | true> = {};
  for (const part of rest) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    attributes[key] = at === -1 ? true : part.slice(at + 1).trim();
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

/**
 * A fetch client with a cookie jar, like a browser for one origin: it sends the cookies it holds
 * and applies every Set-Cookie (a Max-Age=0 removes the cookie). Redirects are not followed.
 */
export class Client {
  readonly jar = new Map<string, string>();
  /** The Set-Cookie headers of the last response, parsed. */
  lastCookies: ParsedCookie[] = [];

  constructor(readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.jar.size > 0) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(this.base + path, { redirect: 'manual', ...init, headers });
    this.lastCookies = response.headers.getSetCookie().map(parseSetCookie);
    for (const cookie of this.lastCookies) {
      if (cookie.attributes['max-age'] === '0') this.jar.delete(cookie.name);
      else this.jar.set(cookie.name, cookie.value);
    }
    return response;
  }

  /** GET `path` and resolve the body as text. */
  async text(path: string, init?: RequestInit): Promise<string> {
    return (await this.fetch(path, init)).text();
  }

  /** GET (or `init`) `path` and resolve the body as JSON. */
  async json<T = any>(path: string, init?: RequestInit): Promise<T> {
    return (await this.fetch(path, init)).json() as Promise<T>;
  }
}
