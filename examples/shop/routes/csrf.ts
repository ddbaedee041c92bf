import { sessionPolicy } from '../../../lib';
import { csrfToken } from '../../../lib/csrf';
import type { ShopRouter } from '../types';

/**
 * `GET /api/csrf`: the session's CSRF token, masked, as JSON (`{ "token": "…" }`), for a script
 * or an API client that posts without a page of the shop: it sends the token back in the
 * `X-CSRF-Token` header. Another site cannot read this answer (no CORS), so it learns nothing.
 * The first call of a session stores the token (the session cookie is set).
 */
export function csrfApi(router: ShopRouter): void {
  router.get('/api/csrf', sessionPolicy(), (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { token: csrfToken(ctx) };
  });
}
