import type { Manager } from '../../lib';
import { CSRF_FIELD, csrfToken } from '../../lib/csrf';
import { html, type Html } from './html';

/**
 * The hidden field every POST form of the shop carries: the session's CSRF token, masked afresh
 * for this response (`csrfToken()`), checked by `@CsrfProtected()` on the controllers and by
 * `csrf()` on the koa-router routes. The first form of a session stores its token (a write: the
 * visitor gets a session cookie), later ones only read it.
 *
 * @example
 * html`<form method="post" action="/cart/clear">${csrfField(session)}<button>Empty</button></form>`;
 */
export function csrfField(session: Manager): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${csrfToken(session)}">`;
}
