import type { Context, Next } from 'koa';
import { SessionAlreadyStarted } from '../../lib';
import { html } from './html';
import { HTML, shell, shellOf, type Demo, type Shell } from './layout';

const TEXTS: Record<number, string> = {
  400: 'The request was not understood.',
  403: 'Your account does not have the role this page needs.',
  404: 'There is no page here.',
  405: 'This page does not take that method.',
  413: 'The form is too large.',
  415: 'Send the form as application/x-www-form-urlencoded.',
  503: 'The session store is unavailable. Please try again in a moment.',
};

/**
 * A POST without this session's CSRF token (`InvalidCsrfToken`, 403): a form from another site,
 * or one from before a sign-in, a sign-out or an expired session.
 */
const CSRF_TEXT = 'This form has expired or was not sent from this shop. Reload the page and send it again.';

const DEMO: Demo = {
  api: html`error pages with the visitor's session: the one the route started, else <code>session.setPolicy({ readOnly: true })</code> and <code>start()</code> (no lock, no write, no cookie), and none for a visitor without a session cookie`,
  source: ['examples/shop/errors.ts', 'examples/shop/app.ts'],
};

/**
 * Mounted first: what the session middleware itself throws (a store failure while it commits)
 * and anything `errorPages` could not answer becomes a page without session data. The session
 * is over for this request by then: its commit failed or already ran.
 *
 * @example
 * app.use(errors).use(session({ start: 'lazy' })).use(errorPages);
 */
export async function errors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    await answer(ctx, err, false);
  }
}

/**
 * Mounted right after `session()`: errors from Koa, koa-router, koa-bodyparser and
 * routing-controllers (`useKoaServer(…, { defaultErrorHandler: false })` lets them through), and
 * requests no route answered, become a page with a fixed text in the shop's layout, read from
 * the visitor's session (theme, account, cart, flash); stack traces go to the server log only.
 * Anonymous visitors on a guarded page (401) are sent to the sign-in form instead. Inside the
 * session middleware, so a session the route started is committed (and unlocked) after the
 * page is made, as for any page.
 */
export async function errorPages(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    // No route, or not this method.
    if ((ctx.status === 404 || ctx.status === 405) && ctx.body == null) render(ctx, ctx.status, await sessionShell(ctx));
  } catch (err) {
    await answer(ctx, err, true);
  }
}

async function answer(ctx: Context, err: unknown, withSession: boolean): Promise<void> {
  const { status, httpCode, expose, message, code: errorCode } = err as { status?: unknown; httpCode?: unknown; expose?: unknown; message?: unknown; code?: unknown };
  const code = [status, httpCode].find((c): c is number => typeof c === 'number' && c >= 400 && c < 600) ?? 500;
  if (code === 401) return signIn(ctx);
  // A 503 is the session store failing for this request: asking it again would only wait again.
  const data = withSession && code !== 503 ? await sessionShell(ctx) : {};
  // A fixed text per status; else the message of a 4xx error that Koa marks `expose` (ctx.throw).
  const text = errorCode === 'ERR_CSRF_TOKEN_INVALID' ? CSRF_TEXT : TEXTS[code];
  render(ctx, code, data, text ?? (expose === true && code < 500 && typeof message === 'string' ? message : undefined));
  if (code >= 500) ctx.app.emit('error', err, ctx);
}

/**
 * The layout's data from the visitor's session, for an error page; never throws.
 * - The route started the session (and may have closed it with `writeClose()` since): it is
 *   read as it is. Its flash messages are consumed only if it is still open and writable.
 * - It did not, and the visitor sent no session cookie: nothing is started (no store call, no
 *   event, no cookie) and the page shows no session.
 * - It did not, and there is a cookie: the session is started read-only, which takes no lock
 *   (the page never waits for a slow request of the same visitor), writes nothing and sends no
 *   cookie. Pending flash messages are shown and kept: removing them would be a write.
 * - The store fails: the page shows no session; its status stays (the failure was emitted as
 *   `session:storeError`).
 */
async function sessionShell(ctx: Context): Promise<Shell> {
  try {
    if (!(await started(ctx))) return {};
    const session = ctx.session;
    return shellOf(session, ctx.flash, { consume: session.exists() && !session.getPolicy().readOnly });
  } catch {
    return {};
  }
}

/** Whether the session can be read for an error page, starting it read-only when the route did not. */
async function started(ctx: Context): Promise<boolean> {
  const session = ctx.session;
  // An id is set once a start succeeded (exists() is false again after writeClose()).
  if (session.exists() || session.getId() !== '') return true;
  try {
    session.setPolicy({ readOnly: true });
  } catch (err) {
    if (!(err instanceof SessionAlreadyStarted)) throw err;
    // The route's own start is still on its way: routing-controllers resolves an action's
    // parameters together, and `@Param` failed before `@Session()` was done. Join it, so the
    // session middleware commits it and releases its lock; left behind, the lock would outlive
    // the request and hold up the visitor's next one.
    return session.start();
  }
  if (ctx.cookies.get(session.getName(), { signed: false }) === undefined) return false;
  return session.start();
}

function signIn(ctx: Context): void {
  const back = ctx.method === 'GET' ? `?next=${encodeURIComponent(ctx.originalUrl)}` : '';
  ctx.redirect(`/account/signin${back}`);
}

function render(ctx: Context, status: number, data: Shell, message = TEXTS[status] ?? 'Something went wrong.'): void {
  ctx.type = HTML;
  ctx.body = shell(`Error ${status}`, DEMO, html`<p id="error">${message}</p><p><a href="/">Back to the shop</a></p>`, data);
  ctx.status = status;
}
