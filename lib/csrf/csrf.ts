import type { Context, Middleware, Next } from 'koa';
import { SessionNotMounted } from '../errors';
import { Manager } from '../Manager';
import { startOnce } from '../koa/policy';
import { requestState, type RequestState } from '../koa/state';
import { InvalidCsrfToken } from './errors';
import { resolveCsrfOptions, type CsrfOptions, type ResolvedCsrfOptions } from './options';
import { maskToken, rejectionOf, tokenOf, unmaskToken } from './token';

/**
 * Koa middleware that refuses a request that may change state (every method but GET, HEAD and
 * OPTIONS) unless it carries this session's CSRF token, masked as `csrfToken()` gave it, in the
 * `X-CSRF-Token` header or the `_csrf` form field (parsed by koa-bodyparser before it). A
 * refusal is an {@link InvalidCsrfToken} (403, code `ERR_CSRF_TOKEN_INVALID`), thrown before
 * the route runs; a missing or malformed value is refused without reading the session.
 *
 * It starts the session when nothing did (the default policy). With `session({ start: 'lazy' })`
 * put it after the route's `sessionPolicy()`, so that the route's policy applies.
 *
 * @example
 * app.use(session()).use(bodyParser()).use(csrf());          // every unsafe request checked
 * router.post('/cart/add', sessionPolicy(), csrf(), addToCart); // or per route, with start: 'lazy'
 */
export function csrf(options: CsrfOptions = {}): Middleware {
  const resolved = resolveCsrfOptions(options);
  return async function csrf(ctx: Context, next: Next): Promise<void> {
    if (!resolved.ignore.has(ctx.method)) await verifyRequest(ctx, mounted(ctx), resolved);
    await next();
  };
}

/**
 * The check of `csrf()` on one request (whatever its method): throws {@link InvalidCsrfToken}
 * when the request does not carry the session's token. Starts the session when nothing did.
 */
export async function verifyRequest(ctx: Context, state: RequestState, options: ResolvedCsrfOptions): Promise<void> {
  const value = submittedToken(ctx, options);
  // Refused before the session is read: a request without a well-formed token costs no store call.
  if (value === undefined || value === '') throw new InvalidCsrfToken('missing');
  if (unmaskToken(value) === undefined) throw new InvalidCsrfToken('malformed');
  if (!state.raw.exists()) await startOnce(state, undefined);
  const reason = rejectionOf(state.raw, value);
  if (reason !== null) throw new InvalidCsrfToken(reason);
}

/** The token the request carries: the header, else the form field of the parsed body (an array when repeated). */
export function submittedToken(ctx: Context, options: ResolvedCsrfOptions = resolveCsrfOptions()): unknown {
  const header = ctx.get(options.header);
  if (header !== '') return header;
  const body = (ctx.request as { body?: unknown }).body;
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, options.field)) return undefined;
  return (body as Record<string, unknown>)[options.field];
}

/**
 * The session's CSRF token for a form or a page (Phalcon `Security::getToken()`), masked afresh
 * on every call (against BREACH): put it in a hidden `_csrf` field of every form that posts, or
 * in a `<meta>` for `fetch()` to send as `X-CSRF-Token`. The first call of a session (and of a
 * new id after `regenerateId()`) makes and stores the token: a write, so the session must be
 * started and writable; later calls only read. Takes the Koa context, or a started Manager
 * (`@Session()` in a controller).
 *
 * @example
 * router.get('/cart', sessionPolicy(), (ctx) => {
 *   ctx.body = `<form method="post" action="/cart/clear"><input type="hidden" name="_csrf" value="${csrfToken(ctx)}"><button>Empty</button></form>`;
 * });
 */
export function csrfToken(source: Context | Manager): string {
  return maskToken(tokenOf(managerOf(source)));
}

/**
 * True when `value` is the session's token (Phalcon `Security::checkToken()`, without its
 * `destroyIfValid`: the token stays for the session); never throws for a bad value. With a Koa
 * context and no `value`, the request's header or `_csrf` field is checked. Reads only.
 *
 * @example
 * if (!checkCsrfToken(ctx)) ctx.throw(403);
 */
export function checkCsrfToken(source: Context | Manager, value?: unknown): boolean {
  const session = managerOf(source);
  const submitted = value === undefined && !(source instanceof Manager) ? submittedToken(source) : value;
  return rejectionOf(session, submitted) === null;
}

function managerOf(source: Context | Manager): Manager {
  if (source instanceof Manager) return source;
  return mounted(source).raw;
}

function mounted(ctx: Context): RequestState {
  const state = requestState(ctx);
  if (state === undefined) throw new SessionNotMounted();
  return state;
}
