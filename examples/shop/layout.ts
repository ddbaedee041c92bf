import type { Context } from 'koa';
import type { Flash, Manager } from '../../lib';
import { html, raw, type Html } from './html';
import { preferencesOf, GREETINGS } from './preferences';

/** The content type of every page (controllers put it on their actions with `@ContentType`). */
export const HTML = 'text/html; charset=utf-8';

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:52em;padding:1em 2em}
body.dark{background:#1d1f21;color:#e0e0e0}body.dark a{color:#8ab4f8}
nav{border-bottom:1px solid #8884;padding-bottom:.5em}nav form{display:inline}
.successMessage,.errorMessage,.noticeMessage,.warningMessage{padding:.4em .8em;margin:.6em 0;border-radius:4px}
.successMessage{background:#e3f6e3;color:#064}.errorMessage{background:#fde8e8;color:#a00}
.noticeMessage{background:#e6f0fb;color:#035}.warningMessage{background:#fff4d6;color:#640}
label{display:block;margin:.4em 0}table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left}`;

/** What the shell shows around a page: taken from the session (null on error pages). */
interface Shell {
  account?: { name: string; role: string } | null;
  theme?: string;
  language?: string;
  cartItems?: number;
  flash?: string;
}

/**
 * The page for a session: nav with the signed-in user and the cart size, the theme and language
 * from the preferences, and the pending flash messages, which `flash.output()` shows and so
 * removes (the session must be writable, i.e. not `{ readOnly: true }`).
 */
export function view(session: Manager, flash: Flash, title: string, body: Html): string {
  const { theme, language } = preferencesOf(session);
  const cart = session.get<Record<string, unknown>>('cart') ?? {};
  const cartItems = Object.values(cart).reduce<number>((sum, n) => sum + (Number(n) || 0), 0);
  return shell(title, body, { account: session.account, theme, language, cartItems, flash: flash.output() });
}

/** `view()` for a koa-router route, whose session was started by `sessionPolicy()`. */
export function page(ctx: Context, title: string, body: Html): void {
  ctx.type = HTML;
  ctx.body = view(ctx.session, ctx.flash, title, body);
}

/** The page without session data (error pages: the session may have failed or not started). */
export function bare(title: string, body: Html): string {
  return shell(title, body, {});
}

function shell(title: string, body: Html, { account, theme = 'light', language = 'en', cartItems = 0, flash = '' }: Shell): string {
  const who = account
    ? html`<a href="/account/profile">${account.name}</a> (${account.role})
<form method="post" action="/account/signout"><button>Sign out</button></form>`
    : html`<a href="/account/signin">Sign in</a>`;
  return html`<!doctype html>
<html lang="${language}"><head><meta charset="utf-8"><title>${title} · koa-session-manager shop</title>
<style>${raw(STYLE)}</style></head>
<body class="${theme}">
<nav><a href="/">${GREETINGS[language] ?? GREETINGS.en}</a> · <a href="/cart">Cart (<span id="cart-count">${cartItems}</span>)</a> ·
<a href="/wizard">Checkout wizard</a> · <a href="/preferences">Preferences</a> · <a href="/parallel">Parallel requests</a> ·
<a href="/account/admin">Admin</a> · ${who}</nav>
<div id="flash">${raw(flash)}</div>
<h1>${title}</h1>
${body}
</body></html>
`.text;
}
