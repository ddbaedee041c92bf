import type { Context } from 'koa';
import { SessionModificationDenied, type Flash, type Manager } from '../../lib';
import { CSRF_FIELD, csrfToken } from '../../lib/csrf';
import { cartBag } from './catalog';
import { html, raw, type Html } from './html';
import { preferencesOf, GREETINGS } from './preferences';

/** The content type of every page (controllers put it on their actions with `@ContentType`). */
export const HTML = 'text/html; charset=utf-8';

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:52em;padding:1em 2em}
body.dark{background:#1d1f21;color:#e0e0e0}body.dark a{color:#8ab4f8}
nav{border-bottom:1px solid #8884;padding-bottom:.5em}nav form{display:inline}
#demo{margin-top:-.6em;font-size:.9em;opacity:.8}
.successMessage,.errorMessage,.noticeMessage,.warningMessage{padding:.4em .8em;margin:.6em 0;border-radius:4px}
.successMessage{background:#e3f6e3;color:#064}.errorMessage{background:#fde8e8;color:#a00}
.noticeMessage{background:#e6f0fb;color:#035}.warningMessage{background:#fff4d6;color:#640}
label{display:block;margin:.4em 0}table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left}`;

/** A file of this example, from the repository root (the pages name it; a spec checks it exists). */
export type SourcePath = `examples/shop/${string}.ts`;

/**
 * What a page demonstrates, shown in one line under its heading: the library API it uses and
 * the file(s) to read. Every page-rendering function takes one, so no page can go without it.
 *
 * @example
 * const DEMO: Demo = { api: html`<code>@SessionBag('cart')</code>`, source: 'examples/shop/controllers/CartController.ts' };
 */
export interface Demo {
  /** The API, as markup (`<code>` around names). */
  api: Html;
  /** The file that shows it, or the files, most important first. */
  source: SourcePath | readonly SourcePath[];
}

/** What the shell shows around a page, read from the session; empty for a page without one. */
export interface Shell {
  account?: { name: string; role: string } | null;
  theme?: string;
  language?: string;
  cartItems?: number;
  /** The flash messages' HTML (escaped by Flash). */
  flash?: string;
  /** The masked CSRF token for the sign-out form of a signed-in visitor. */
  csrf?: string;
}

/**
 * The shell's data from a started session: the signed-in user, the cart size, the preferences
 * and the pending flash messages. `flash.output()` consumes them, which is a write: a session that
 * cannot be changed (read-only or closed) passes `consume: false` and shows them without removing.
 *
 * @example
 * shell('Error 404', DEMO, body, shellOf(ctx.session, ctx.flash, { consume: false }));
 */
export function shellOf(session: Manager, flash: Flash, { consume = true } = {}): Shell {
  const { theme, language } = preferencesOf(session);
  const cartItems = [...cartBag(session)].reduce((sum, [, n]) => sum + (Number(n) || 0), 0);
  const account = session.account;
  return { account, theme, language, cartItems, flash: flash.output(consume), csrf: account ? navToken(session) : undefined };
}

/**
 * The token for the nav's sign-out form. An error page's read-only session cannot make one (that
 * is a write) and then has none: its sign-out button is refused with the 403 page, and any
 * other page of the shop makes the token.
 */
function navToken(session: Manager): string {
  try {
    return csrfToken(session);
  } catch (err) {
    if (err instanceof SessionModificationDenied) return '';
    throw err;
  }
}

/**
 * The page for a session (controllers): nav with the signed-in user and the cart size, the theme
 * and language from the preferences, the pending flash messages (consumed: the session must be
 * writable), and the line saying what the page demonstrates.
 *
 * @example
 * return view(session, flash, 'Cart', DEMO, html`<p>…</p>`);
 */
export function view(session: Manager, flash: Flash, title: string, demo: Demo, body: Html): string {
  return shell(title, demo, body, shellOf(session, flash));
}

/** `view()` for a koa-router route, whose session was started by `sessionPolicy()`. */
export function page(ctx: Context, title: string, demo: Demo, body: Html): void {
  ctx.type = HTML;
  ctx.body = view(ctx.session, ctx.flash, title, demo, body);
}

/** The whole page around `body`; without `data` it shows no session (a visitor without one). */
export function shell(title: string, demo: Demo, body: Html, data: Shell = {}): string {
  const { account, theme = 'light', language = 'en', cartItems = 0, flash = '', csrf = '' } = data;
  const who = account
    ? html`<a href="/account/profile">${account.name}</a> (${account.role})
<form method="post" action="/account/signout"><input type="hidden" name="${CSRF_FIELD}" value="${csrf}"><button>Sign out</button></form>`
    : html`<a href="/account/signin">Sign in</a>`;
  const sources = (typeof demo.source === 'string' ? [demo.source] : demo.source).map((s, i) => html`${i ? ', ' : ''}<code>${s}</code>`);
  return html`<!doctype html>
<html lang="${language}"><head><meta charset="utf-8"><title>${title} · koa-session-manager shop</title>
<style>${raw(STYLE)}</style></head>
<body class="${theme}">
<nav><a href="/">${GREETINGS[language] ?? GREETINGS.en}</a> · <a href="/cart">Cart (<span id="cart-count">${cartItems}</span>)</a> ·
<a href="/wizard">Checkout wizard</a> · <a href="/preferences">Preferences</a> · <a href="/parallel">Parallel requests</a> ·
<a href="/account/admin">Admin</a> · ${who}</nav>
<div id="flash">${raw(flash)}</div>
<h1>${title}</h1>
<p id="demo">Demonstrates: ${demo.api} — source: ${sources}</p>
${body}
</body></html>
`.text;
}
