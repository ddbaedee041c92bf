import type { Context, Next } from 'koa';
import { bare, HTML } from './layout';
import { html } from './html';

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
 * Errors from Koa, koa-router, routing-controllers (`useKoaServer(…, { defaultErrorHandler:
 * false })` lets them through) and the session (AdapterRuntimeError: 503) become a plain page
 * with a fixed text; stack traces go to the server log only. Anonymous visitors on a guarded
 * page (401) are sent to the sign-in form instead. Mounted first, so it also catches a store
 * failure while the session starts or commits.
 */
export async function errors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if ((ctx.status === 404 || ctx.status === 405) && ctx.body == null) render(ctx, ctx.status); // no route, or not this method
  } catch (err) {
    const { status, httpCode, expose, message } = err as { status?: unknown; httpCode?: unknown; expose?: unknown; message?: unknown };
    const code = [status, httpCode].find((c): c is number => typeof c === 'number' && c >= 400 && c < 600) ?? 500;
    if (code === 401) return signIn(ctx);
    // A fixed text per status; else the message of a 4xx error that Koa marks `expose` (ctx.throw).
    render(ctx, code, TEXTS[code] ?? (expose === true && code < 500 && typeof message === 'string' ? message : undefined));
    if (code >= 500) ctx.app.emit('error', err, ctx);
  }
}

function signIn(ctx: Context): void {
  const back = ctx.method === 'GET' ? `?next=${encodeURIComponent(ctx.originalUrl)}` : '';
  ctx.redirect(`/account/signin${back}`);
}

function render(ctx: Context, status: number, message = TEXTS[status] ?? 'Something went wrong.'): void {
  ctx.type = HTML;
  ctx.body = bare(`Error ${status}`, html`<p id="error">${message}</p><p><a href="/">Back to the shop</a></p>`);
  ctx.status = status;
}
