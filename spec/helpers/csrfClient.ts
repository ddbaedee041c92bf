import { Client } from './http';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A {@link Client} for the example shop, whose POSTs need the session's CSRF token: before a
 * request of another method it takes the token from `GET /api/csrf` (once per session id: again
 * after a sign-in or sign-out changed the `sid` cookie) and sends it as `X-CSRF-Token`, unless
 * the request carries one already (the header, or a `_csrf` form field). Concurrent requests of
 * a fresh visitor share one token request, so they share one session.
 *
 * @example
 * const browser = new CsrfClient(server.url);
 * await browser.fetch('/cart/add', form({ product: 'tea' })); // with the token
 */
export class CsrfClient extends Client {
  #cached: { sid: string | undefined; token: string } | undefined;
  #pending: Promise<void> | undefined;

  constructor(base: string, readonly cookieName = 'sid') {
    super(base);
  }

  override async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    const inForm = typeof init.body === 'string' && /(?:^|&)_csrf=/.test(init.body);
    if (!SAFE.has(method) && !headers.has('x-csrf-token') && !inForm) {
      headers.set('x-csrf-token', await this.token());
      init = { ...init, headers };
    }
    return super.fetch(path, init);
  }

  /** The session's token, masked (fetched when the session id changed since the last one). */
  async token(): Promise<string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const cached = this.#cached;
      if (cached !== undefined && cached.sid === this.jar.get(this.cookieName)) return cached.token;
      await (this.#pending ??= this.#fetchToken().finally(() => { this.#pending = undefined; }));
    }
    throw new Error('GET /api/csrf gave no token for the session cookie');
  }

  async #fetchToken(): Promise<void> {
    const response = await super.fetch('/api/csrf');
    if (!response.ok) throw new Error(`GET /api/csrf answered ${response.status}`);
    const { token } = (await response.json()) as { token: string };
    this.#cached = { sid: this.jar.get(this.cookieName), token };
  }
}
